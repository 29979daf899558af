// /credentials/refresh: a client trades its current credential for a fresh one. Public: the token is the key.
import { createRoute, z } from '@hono/zod-openapi';
import { ServiceError } from '../../core/errors.js';
import type { RefreshRefusal } from '../../service/refresh.js';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import { renderRateLimited } from '../limits.js';
import { BrokerParams, Credentials, ErrorEnvelope } from '../schemas.js';
import { errorResponses, jsonBody, jsonResponse } from './common.js';

/** Far above any gatepass token (at most 32 filters a direction), far below the body limit. */
const MAX_TOKEN_CHARACTERS = 8192;

export const RefreshRequest = z
  .strictObject({
    token: z
      .string()
      .max(MAX_TOKEN_CHARACTERS)
      .regex(
        /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
        'must be a compact JWS (three base64url parts)',
      )
      .openapi({ description: 'The credential the client holds now: valid, unexpired, unrevoked' }),
    revoke_old: z
      .boolean()
      .default(false)
      .openapi({ description: 'Revoke the presented token at once, in the same write as the new one' }),
  })
  .openapi('RefreshRequest');

const errorEnvelope = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorEnvelope } },
});

const route = createRoute({
  method: 'post',
  path: '/namespaces/{namespace}/brokers/{broker}/credentials/refresh',
  tags: ['Credentials'],
  summary: 'Refresh a credential (no admin key: the presented token is the credential)',
  description:
    'Returns a new token for the same client ID with the same topic ACL (copied from the verified token, ' +
    'never from the request), a new `jti` and fresh `iat`/`exp`. The presented token must verify against ' +
    'this broker’s published keys, with its issuer, audience and algorithm, unexpired and unrevoked. The new ' +
    '`exp` follows the shorter of the broker’s expiration and the presented token’s own lifetime, and never ' +
    'passes `orig_iat + max_lifetime` (the chain’s first issue time, carried in `orig_iat`). With ' +
    '`revoke_old`, the presented jti is revoked at once; of concurrent refreshes of one token with ' +
    '`revoke_old`, only one succeeds.',
  request: { params: BrokerParams, body: jsonBody(RefreshRequest) },
  responses: {
    200: jsonResponse('Client ID -> the new JWT', Credentials),
    ...errorResponses(400, 404, 413, 415),
    401: errorEnvelope(
      'error `invalid_token`: the token is malformed, expired, revoked, not yet valid, or not signed for ' +
        'this broker (the reason is logged, not returned)',
    ),
    403: errorEnvelope(
      'error `lifetime_exceeded`: the credential reached the broker’s max_lifetime; get a new one',
    ),
    429: errorEnvelope(
      'error `rate_limited`: this credential, or this client id, was refreshed more than ' +
        'GATEPASS_RATE_REFRESH_PER_MINUTE times in the last minute; retry after the `Retry-After` seconds',
    ),
  },
});

/** One exhaustive switch from refusal reasons to the wire: specific in the log, generic in the response. */
function refusalError(reason: RefreshRefusal): ServiceError {
  switch (reason) {
    case 'lifetime_exceeded':
      return new ServiceError(
        'lifetime_exceeded',
        'this credential reached the broker’s max_lifetime and cannot be refreshed; obtain a new one',
      );
    case 'malformed':
    case 'unknown_key':
    case 'algorithm_not_allowed':
    case 'bad_signature':
    case 'wrong_type':
    case 'wrong_issuer':
    case 'wrong_audience':
    case 'expired':
    case 'not_yet_valid':
    case 'invalid_claims':
    case 'revoked':
      return new ServiceError(
        'invalid_token',
        'the token is not a valid, unexpired, unrevoked credential of this broker',
      );
    default: {
      const unknown: never = reason;
      throw new Error(`unhandled refusal ${String(unknown)}`);
    }
  }
}

/**
 * Public on purpose, like the publickeys route: the presented token is the credential, and it can only
 * ever be renewed into the same client ID, the same ACL and no longer than the broker allows. An admin key
 * would make every device hold a secret that can issue anything.
 */
export function registerRefreshRoutes(api: Api) {
  api.openapi(route, async (c) => {
    const { namespace, broker } = c.req.valid('param');
    const { token, revoke_old } = c.req.valid('json');
    const result = await c.var.services.refresh.refresh(namespace, broker, { token, revokeOld: revoke_old });
    if (!result.ok) {
      c.set('refusal', result.reason);
      if (result.reason === 'rate_limited') {
        return renderRateLimited(
          c,
          result.retryAfterMs,
          `a credential and a client id may be refreshed at most ${result.perMinute} times a minute; ` +
            'retry after the Retry-After seconds',
        );
      }
      throw refusalError(result.reason);
    }
    return c.json(success({ [result.clientId]: result.token }), 200);
  });
}
