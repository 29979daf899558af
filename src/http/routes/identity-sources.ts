// /identity-sources: what a broker trusts for token exchange (JWT issuers, webhooks) and their ACL templates.
import { createRoute, z } from '@hono/zod-openapi';
import type {
  AclTemplateInput,
  IdentitySourceUpdate as IdentitySourceChanges,
  IdentitySourceInput,
} from '../../service/identity-sources.js';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import {
  type AclTemplateSchema,
  IdentitySource,
  IdentitySourceCreate,
  IdentitySourceParams,
  IdentitySourceUpdate,
  identitySourceJson,
} from '../exchange-schemas.js';
import { BrokerParams, PageQuery } from '../schemas.js';
import { pagedSuccess } from '../views.js';
import { adminErrors, adminSecurity, errorResponses, jsonBody, jsonResponse, writeErrors } from './common.js';

const tags = ['Identity sources'];
const path = '/namespaces/{namespace}/brokers/{broker}/identity-sources';

function toAclTemplate(template: z.infer<typeof AclTemplateSchema>): AclTemplateInput {
  return { clientId: template.client_id, pub: template.pub, sub: template.sub };
}

function toChanges(body: z.infer<typeof IdentitySourceUpdate>): IdentitySourceChanges {
  return {
    issuer: body.issuer,
    audience: body.audience,
    jwksUrl: body.jwks_url,
    secret: body.secret,
    algorithms: body.algorithms,
    clockTolerance: body.clock_tolerance,
    url: body.url,
    body: body.body,
    headers: body.headers,
    timeoutMs: body.timeout_ms,
    principalPath: body.principal_path,
    attributesPath: body.attributes_path,
    successPath: body.success_path,
    successValues: body.success_values,
    aclTemplate: body.acl_template && toAclTemplate(body.acl_template),
  };
}

function toInput(body: z.infer<typeof IdentitySourceCreate>): IdentitySourceInput {
  const { name, kind, acl_template, ...fields } = body;
  const changes = toChanges(fields);
  const aclTemplate = toAclTemplate(acl_template);
  if (kind === 'jwt') {
    const { issuer, audience } = body as Extract<typeof body, { kind: 'jwt' }>;
    return { ...changes, name, kind, issuer, audience, aclTemplate };
  }
  const { url } = body as Extract<typeof body, { kind: 'webhook' }>;
  return { ...changes, name, kind, url, aclTemplate };
}

const description =
  'A `jwt` source verifies subject tokens with the issuer’s keys (`jwks_url`, fetched and cached, refetched ' +
  'for an unknown key at most every 30 s) or a shared HMAC `secret`, pinning issuer, audience and algorithms. ' +
  'A `webhook` source POSTs the filled body template (and header values) and, when its 2xx JSON answer meets ' +
  'the success rule (`success_path`, `success_values`), reads the principal and attributes from it. Secrets (the HMAC secret, header values) are sealed at rest and never returned.';

export function registerIdentitySourceRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'post',
      path,
      tags,
      summary: 'Create an identity source for token exchange',
      description,
      security: adminSecurity,
      request: { params: BrokerParams, body: jsonBody(IdentitySourceCreate) },
      responses: {
        200: jsonResponse('The new identity source', IdentitySource),
        ...writeErrors,
        ...errorResponses(409),
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const source = await c.var.services.identitySources.create(
        c.get('actor'),
        namespace,
        broker,
        toInput(c.req.valid('json')),
      );
      return c.json(success(identitySourceJson(source)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path,
      tags,
      summary: 'List the identity sources of a broker',
      security: adminSecurity,
      request: { params: BrokerParams, query: PageQuery },
      responses: {
        200: jsonResponse('Identity sources, by name', z.array(IdentitySource), true),
        ...adminErrors,
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const { page, per_page } = c.req.valid('query');
      const result = await c.var.services.identitySources.list(c.get('actor'), namespace, broker, {
        page,
        perPage: per_page,
      });
      return c.json(pagedSuccess(result, identitySourceJson), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: `${path}/{name}`,
      tags,
      summary: 'Describe an identity source (secrets are never returned)',
      security: adminSecurity,
      request: { params: IdentitySourceParams },
      responses: { 200: jsonResponse('The identity source', IdentitySource), ...adminErrors },
    }),
    async (c) => {
      const { namespace, broker, name } = c.req.valid('param');
      const source = await c.var.services.identitySources.get(c.get('actor'), namespace, broker, name);
      return c.json(success(identitySourceJson(source)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'patch',
      path: `${path}/{name}`,
      tags,
      summary: 'Update an identity source (name and kind are fixed)',
      security: adminSecurity,
      request: { params: IdentitySourceParams, body: jsonBody(IdentitySourceUpdate) },
      responses: { 200: jsonResponse('The updated identity source', IdentitySource), ...writeErrors },
    }),
    async (c) => {
      const { namespace, broker, name } = c.req.valid('param');
      const source = await c.var.services.identitySources.update(
        c.get('actor'),
        namespace,
        broker,
        name,
        toChanges(c.req.valid('json')),
      );
      return c.json(success(identitySourceJson(source)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: `${path}/{name}`,
      tags,
      summary: 'Delete an identity source',
      security: adminSecurity,
      request: { params: IdentitySourceParams },
      responses: { 200: jsonResponse('Deleted', z.null()), ...adminErrors },
    }),
    async (c) => {
      const { namespace, broker, name } = c.req.valid('param');
      await c.var.services.identitySources.delete(c.get('actor'), namespace, broker, name);
      return c.json(success(null), 200);
    },
  );
}
