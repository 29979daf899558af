// /namespaces/{namespace}/brokers: create, list, describe, update, delete; and the public keys.
import { createRoute, z } from '@hono/zod-openapi';
import { etag } from 'hono/etag';
import { KEY_SET_MAX_AGE_SECONDS } from '../../core/signing-keys.js';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import {
  Broker,
  BrokerCreate,
  BrokerParams,
  BrokerUpdate,
  JsonWebKeySet,
  NamespaceParams,
  PageQuery,
} from '../schemas.js';
import { brokerJson, pagedSuccess } from '../views.js';
import { adminErrors, adminSecurity, errorResponses, jsonBody, jsonResponse, writeErrors } from './common.js';

const tags = ['Brokers'];

const keySetHeaders = {
  'Cache-Control': {
    schema: { type: 'string' as const },
    description: `public, max-age=${KEY_SET_MAX_AGE_SECONDS}`,
  },
  ETag: { schema: { type: 'string' as const }, description: 'Changes whenever the key set does' },
};

type BrokerWire = z.infer<typeof BrokerUpdate>;

function toSettings({
  default_topic_acl,
  key_rotation_period,
  max_lifetime,
  max_client_id_length,
  claim_profile,
  ...rest
}: BrokerWire) {
  return {
    ...rest,
    ...(claim_profile === undefined ? {} : { claimProfile: claim_profile }),
    ...(max_client_id_length === undefined ? {} : { maxClientIdLength: max_client_id_length }),
    ...(default_topic_acl === undefined ? {} : { defaultTopicAcl: default_topic_acl }),
    ...(key_rotation_period === undefined ? {} : { keyRotationPeriod: key_rotation_period }),
    ...(max_lifetime === undefined ? {} : { maxLifetime: max_lifetime }),
  };
}

export function registerBrokerRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'post',
      path: '/namespaces/{namespace}/brokers',
      tags,
      summary: 'Create a broker (and its first signing key)',
      security: adminSecurity,
      request: { params: NamespaceParams, body: jsonBody(BrokerCreate) },
      responses: { 200: jsonResponse('The new broker', Broker), ...writeErrors, ...errorResponses(409) },
    }),
    async (c) => {
      const { name, algorithm, auth_type: _, ...settings } = c.req.valid('json');
      const broker = await c.var.services.brokers.create(c.get('actor'), c.req.valid('param').namespace, {
        name,
        ...(algorithm === undefined ? {} : { algorithm }),
        ...toSettings(settings),
      });
      return c.json(success(brokerJson(broker)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/namespaces/{namespace}/brokers',
      tags,
      summary: 'List the brokers of a namespace',
      security: adminSecurity,
      request: { params: NamespaceParams, query: PageQuery },
      responses: { 200: jsonResponse('Brokers, by name', z.array(Broker), true), ...adminErrors },
    }),
    async (c) => {
      const { page, per_page } = c.req.valid('query');
      const result = await c.var.services.brokers.list(c.get('actor'), c.req.valid('param').namespace, {
        page,
        perPage: per_page,
      });
      return c.json(pagedSuccess(result, brokerJson), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/namespaces/{namespace}/brokers/{broker}',
      tags,
      summary: 'Describe a broker',
      security: adminSecurity,
      request: { params: BrokerParams },
      responses: { 200: jsonResponse('The broker', Broker), ...adminErrors },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      return c.json(
        success(brokerJson(await c.var.services.brokers.get(c.get('actor'), namespace, broker))),
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'patch',
      path: '/namespaces/{namespace}/brokers/{broker}',
      tags,
      summary: 'Update a broker (description, expiration, default ACL, issuer, audience)',
      security: adminSecurity,
      request: { params: BrokerParams, body: jsonBody(BrokerUpdate) },
      responses: { 200: jsonResponse('The updated broker', Broker), ...writeErrors },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const updated = await c.var.services.brokers.update(
        c.get('actor'),
        namespace,
        broker,
        toSettings(c.req.valid('json')),
      );
      return c.json(success(brokerJson(updated)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: '/namespaces/{namespace}/brokers/{broker}',
      tags,
      summary: 'Delete a broker with its keys, credential records and revocations',
      security: adminSecurity,
      request: { params: BrokerParams },
      responses: { 200: jsonResponse('Deleted', z.null()), ...adminErrors },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      await c.var.services.brokers.delete(c.get('actor'), namespace, broker);
      return c.json(success(null), 200);
    },
  );
}

const keySetPath = '/namespaces/{namespace}/brokers/{broker}/jwks.json';

/** Public: brokers and verifiers fetch the keys without an admin key. */
export function registerPublicKeyRoutes(api: Api) {
  // Before the route, so that it sees the response: ETag from the body, 304 for a matching If-None-Match.
  api.use(keySetPath.replace(/\{(\w+)\}/g, ':$1'), etag());
  api.openapi(
    createRoute({
      method: 'get',
      path: keySetPath,
      tags,
      summary:
        'The broker’s key set as a plain JWK Set (RFC 7517), for JWT libraries and brokers (no admin key needed)',
      description:
        'The keys a verifier must trust: the next key (published before it signs), the current one, and retired ones ' +
        'whose tokens may still be valid; never a revoked key. No envelope: what `jose.createRemoteJWKSet`, EMQX and TBMQ ' +
        `read. Cacheable for ${KEY_SET_MAX_AGE_SECONDS} s; the ETag answers a matching If-None-Match with 304.`,
      request: { params: BrokerParams },
      responses: {
        200: {
          description: 'JSON Web Key Set',
          headers: keySetHeaders,
          content: { 'application/json': { schema: JsonWebKeySet } },
        },
        304: { description: 'Not modified: the If-None-Match ETag is current', headers: keySetHeaders },
        ...errorResponses(400, 404),
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const keys = await c.var.services.brokers.publicKeys(namespace, broker);
      c.header('Cache-Control', `public, max-age=${KEY_SET_MAX_AGE_SECONDS}`);
      return c.json(keys, 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: '/namespaces/{namespace}/brokers/{broker}/publickeys',
      tags,
      summary: 'The broker’s JWKS: every key whose tokens may still be valid (no admin key needed)',
      request: { params: BrokerParams },
      responses: {
        200: jsonResponse('JSON Web Key Set', JsonWebKeySet),
        ...errorResponses(400, 404),
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      c.header('Cache-Control', 'public, max-age=60');
      return c.json(success(await c.var.services.brokers.publicKeys(namespace, broker)), 200);
    },
  );
}
