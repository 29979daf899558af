// /revocation-sinks: where a broker's revocations (and, for webhooks, issues and key rotations) are delivered.
import { createRoute, z } from '@hono/zod-openapi';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import { BrokerParams, PageQuery } from '../schemas.js';
import {
  RevocationSink,
  RevocationSinkCreate,
  RevocationSinkCreated,
  RevocationSinkParams,
  RevocationSinkUpdate,
  revocationSinkJson,
  toRevocationSinkChanges,
  toRevocationSinkInput,
} from '../sink-schemas.js';
import { pagedSuccess } from '../views.js';
import { adminErrors, adminSecurity, errorResponses, jsonBody, jsonResponse, writeErrors } from './common.js';

const tags = ['Revocation sinks'];
const path = '/namespaces/{namespace}/brokers/{broker}/revocation-sinks';

const description =
  'Called when a change lands, in order, retried with backoff until it succeeds. `rabbitmq` closes a revoked ' +
  'credential’s client connections through RabbitMQ’s management API (`DELETE /api/connections/username/{client ' +
  'id}`); `emqx` kicks the client through EMQX’s REST API (`DELETE /api/v5/clients/{client id}`); `webhook` posts ' +
  'Standard Webhooks messages (`credentials.issued`, `credentials.revoked`, `credentials.unrevoked`, ' +
  '`signing_key.rotated`, `signing_key.revoked`, `signing_key.published`) signed with its `whsec_` secret. ' +
  'A new sink delivers what happens after its creation. Secrets are sealed at rest and never returned.';

export function registerRevocationSinkRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'post',
      path,
      tags,
      summary: 'Create a revocation sink',
      description,
      security: adminSecurity,
      request: { params: BrokerParams, body: jsonBody(RevocationSinkCreate) },
      responses: {
        200: jsonResponse('The new sink (a webhook’s generated secret, this once)', RevocationSinkCreated),
        ...writeErrors,
        ...errorResponses(409),
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const { sink, generatedSecret } = await c.var.services.revocationSinks.create(
        c.get('actor'),
        namespace,
        broker,
        toRevocationSinkInput(c.req.valid('json')),
      );
      return c.json(
        success({
          ...revocationSinkJson(sink),
          ...(generatedSecret === undefined ? {} : { secret: generatedSecret }),
        }),
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path,
      tags,
      summary: 'List the revocation sinks of a broker, with their delivery status',
      security: adminSecurity,
      request: { params: BrokerParams, query: PageQuery },
      responses: { 200: jsonResponse('Sinks, by name', z.array(RevocationSink), true), ...adminErrors },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const { page, per_page } = c.req.valid('query');
      const result = await c.var.services.revocationSinks.list(c.get('actor'), namespace, broker, {
        page,
        perPage: per_page,
      });
      return c.json(pagedSuccess(result, revocationSinkJson), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path: `${path}/{name}`,
      tags,
      summary: 'Describe a revocation sink and its delivery status (secrets are never returned)',
      security: adminSecurity,
      request: { params: RevocationSinkParams },
      responses: { 200: jsonResponse('The sink', RevocationSink), ...adminErrors },
    }),
    async (c) => {
      const { namespace, broker, name } = c.req.valid('param');
      const sink = await c.var.services.revocationSinks.get(c.get('actor'), namespace, broker, name);
      return c.json(success(revocationSinkJson(sink)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'patch',
      path: `${path}/{name}`,
      tags,
      summary: 'Update a revocation sink (name and kind are fixed); the next attempt is made at once',
      security: adminSecurity,
      request: { params: RevocationSinkParams, body: jsonBody(RevocationSinkUpdate) },
      responses: { 200: jsonResponse('The updated sink', RevocationSink), ...writeErrors },
    }),
    async (c) => {
      const { namespace, broker, name } = c.req.valid('param');
      const sink = await c.var.services.revocationSinks.update(
        c.get('actor'),
        namespace,
        broker,
        name,
        toRevocationSinkChanges(c.req.valid('json')),
      );
      return c.json(success(revocationSinkJson(sink)), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path: `${path}/{name}`,
      tags,
      summary: 'Delete a revocation sink (what it has not delivered is not delivered)',
      security: adminSecurity,
      request: { params: RevocationSinkParams },
      responses: { 200: jsonResponse('Deleted', z.null()), ...adminErrors },
    }),
    async (c) => {
      const { namespace, broker, name } = c.req.valid('param');
      await c.var.services.revocationSinks.delete(c.get('actor'), namespace, broker, name);
      return c.json(success(null), 200);
    },
  );
}
