// /token-exchange: a backend trades its user's identity (a JWT, or credentials a webhook vouches for) for a
// broker credential whose client ID and topic ACL come from the identity source's template.
import { createRoute } from '@hono/zod-openapi';
import { ServiceError } from '../../core/errors.js';
import { type Exchanged, JWT_TOKEN_TYPE } from '../../service/token-exchange.js';
import type { Api } from '../context.js';
import { success } from '../envelope.js';
import { TokenExchangeRequest, TokenExchangeResult } from '../exchange-schemas.js';
import { BrokerParams, ErrorEnvelope } from '../schemas.js';
import { adminSecurity, errorResponses, jsonBody, jsonResponse } from './common.js';

const errorEnvelope = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorEnvelope } },
});

const route = createRoute({
  method: 'post',
  path: '/namespaces/{namespace}/brokers/{broker}/token-exchange',
  tags: ['Token exchange'],
  summary: 'Exchange an identity for a broker credential (RFC 8693 for JWTs; webhook sources)',
  description:
    'Needs an admin key with `write` or `exchange` permission for the namespace. With `subject_token`, the ' +
    'JWT is verified by the named `identity_source`, or else by the broker’s JWT sources whose issuer is the ' +
    'token’s `iss`; with `identity_source` naming a webhook source, `username`, `password`, `clientid`, ' +
    '`peerhost` and `protocol` go to the webhook, which vouches with a 2xx answer that meets the source’s ' +
    'success rule. The credential’s client ID and ACL come from the source’s template; a value that could ' +
    'widen the ACL is refused. It lives an hour, or less by the broker’s expiration and ' +
    'max_lifetime, or the request’s `expiration`.',
  security: adminSecurity,
  request: { params: BrokerParams, body: jsonBody(TokenExchangeRequest) },
  responses: {
    200: jsonResponse('The credential', TokenExchangeResult),
    ...errorResponses(400, 404, 413, 415, 429),
    401: errorEnvelope(
      'Missing or unknown admin key (`unauthorized`), or the subject token was refused: `untrusted_issuer`, ' +
        '`invalid_signature`, `token_expired`, `invalid_audience`, `invalid_subject_token`',
    ),
    403: errorEnvelope(
      'The admin key may not exchange (`forbidden`), the webhook denied the credentials (`identity_denied`: ' +
        'not 2xx, not meeting the success rule, or without a principal), ' +
        'or a claim or attribute cannot fill the ACL template safely (`template_value_refused`)',
    ),
    424: errorEnvelope(
      'The identity source did not answer in time (`identity_source_timeout`) or could not be used ' +
        '(`identity_source_unavailable`: unreachable, or an unusable JWKS)',
    ),
  },
});

export function registerTokenExchangeRoutes(api: Api) {
  api.openapi(route, async (c) => {
    const { namespace, broker } = c.req.valid('param');
    const body = c.req.valid('json');
    let exchanged: Exchanged;
    try {
      exchanged = await c.var.services.tokenExchange.exchange(c.get('actor'), namespace, broker, {
        identitySource: body.identity_source,
        subjectToken: body.subject_token,
        webhook: {
          username: body.username,
          password: body.password,
          clientid: body.clientid,
          peerhost: body.peerhost,
          protocol: body.protocol,
        },
        expiration: body.expiration,
      });
    } catch (error) {
      // The request log names the refusal, so operators see why without the response saying more.
      if (error instanceof ServiceError) c.set('refusal', `${error.code}: ${error.message}`);
      throw error;
    }
    return c.json(
      success({
        client_id: exchanged.clientId,
        token: exchanged.token,
        jti: exchanged.jti,
        expires_in: exchanged.expiresIn,
        access_token: exchanged.token,
        issued_token_type: JWT_TOKEN_TYPE,
        token_type: 'N_A' as const,
      }),
      200,
    );
  });
}
