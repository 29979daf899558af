// /revocations: revoke, list and un-revoke credentials by jti.
import { createRoute, z } from '@hono/zod-openapi';
import { ServiceError } from '../../core/errors.js';
import { MAX_REVOCATIONS_PER_CALL } from '../../service/revocations.js';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import {
  BrokerParams,
  ErrorEnvelope,
  JtiBody,
  JtiQuery,
  Revocation,
  RevocationFeed,
  RevocationListQuery,
} from '../schemas.js';
import { pagedSuccess, revocationFeedJson, revocationJson } from '../views.js';
import { adminErrors, adminSecurity, errorResponses, jsonBody, jsonResponse, writeErrors } from './common.js';

const tags = ['Revocations'];
const path = '/namespaces/{namespace}/brokers/{broker}/revocations';

function requireJtis(jtis: string[]): string[] {
  if (jtis.length === 0) throw new ServiceError('invalid_input', 'give at least one jti', 'jti');
  if (jtis.length > MAX_REVOCATIONS_PER_CALL) {
    throw new ServiceError('invalid_input', `at most ${MAX_REVOCATIONS_PER_CALL} jti per call`, 'jti');
  }
  return jtis;
}

export function registerRevocationRoutes(api: Api) {
  api.openapi(
    createRoute({
      method: 'post',
      path,
      tags,
      summary: 'Revoke credentials by jti (query `jti=A&jti=B` or `jti=A,B`, and/or a JSON body)',
      description:
        'Idempotent. Every credential refreshed from a revoked one, directly or not, is revoked with it, in ' +
        'the same transaction, and listed with `descendant_of` naming it; descendants do not count against ' +
        'the 100 jtis a call nor the cap. A jti this broker never issued (or whose credential expired and ' +
        'was pruned) refuses the whole call with 404, naming it, and nothing is written. The revocation ' +
        'keeps each token’s `exp`, so it is pruned once the token has expired anyway. An empty body is no ' +
        'body.',
      security: adminSecurity,
      request: { params: BrokerParams, query: JtiQuery, body: jsonBody(JtiBody, false) },
      responses: {
        200: jsonResponse(
          'The revoked jtis (as named; their descendants are in the list and the feed)',
          z.array(z.string()),
        ),
        ...writeErrors,
        ...errorResponses(429),
        409: {
          description:
            'error `revocation_limit`: the broker’s revocation list would pass GATEPASS_MAX_REVOCATIONS_PER_BROKER',
          content: { 'application/json': { schema: ErrorEnvelope } },
        },
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const body = c.req.valid('json') as Partial<z.infer<typeof JtiBody>>;
      const jtis = requireJtis([...c.req.valid('query').jti, ...(body.jti ?? [])]);
      return c.json(
        success(await c.var.services.revocations.revoke(c.get('actor'), namespace, broker, jtis)),
        200,
      );
    },
  );

  api.openapi(
    createRoute({
      method: 'get',
      path,
      tags,
      summary: 'List revoked credentials, or with `since`, follow the feed of changes',
      description:
        'Without `since`: the current list, paginated. With `since=<cursor>` (0 at first): the revokes and ' +
        'un-revokes after the cursor, oldest first, and the cursor to pass next time, so a verifier keeps ' +
        'its in-memory list current by pulling only what changed.',
      security: adminSecurity,
      request: { params: BrokerParams, query: RevocationListQuery },
      responses: {
        200: jsonResponse(
          'Revocations, oldest first; or, with `since`, the changes',
          z.union([z.array(Revocation), RevocationFeed]),
          'sometimes',
        ),
        ...adminErrors,
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const { page, per_page, since, limit } = c.req.valid('query');
      if (since !== undefined) {
        const feed = await c.var.services.revocations.changes(
          c.get('actor'),
          namespace,
          broker,
          since,
          limit,
        );
        return c.json(success(revocationFeedJson(feed)), 200);
      }
      const result = await c.var.services.revocations.list(c.get('actor'), namespace, broker, {
        page,
        perPage: per_page,
      });
      return c.json(pagedSuccess(result, revocationJson), 200);
    },
  );

  api.openapi(
    createRoute({
      method: 'delete',
      path,
      tags,
      summary: 'Un-revoke credentials by jti',
      description:
        'Also un-revokes what was revoked because these jtis were (their `descendant_of` entries); ' +
        'descendants revoked by name or by a refresh stay revoked. Idempotent: un-revoking a jti that is ' +
        'not revoked succeeds; a jti this broker never issued (nor revoked) refuses the call with 404.',
      security: adminSecurity,
      request: { params: BrokerParams, query: JtiQuery },
      responses: {
        200: jsonResponse('The un-revoked jtis', z.array(z.string())),
        ...adminErrors,
        ...errorResponses(429),
      },
    }),
    async (c) => {
      const { namespace, broker } = c.req.valid('param');
      const jtis = requireJtis(c.req.valid('query').jti);
      return c.json(
        success(await c.var.services.revocations.unrevoke(c.get('actor'), namespace, broker, jtis)),
        200,
      );
    },
  );
}
