// Hono middleware: gatepass credentials as OAuth 2.0 bearer tokens (RFC 6750) on HTTP and WebSocket routes.
import type { Context, MiddlewareHandler } from 'hono';
import type { AclAction, AclDenial } from '../../core/acl.js';
import { type ConnectFailureReason, connackCode } from '../reasons.js';
import { authorize, type ConnectSuccess, type Verifier } from '../verify.js';

/**
 * What {@link gatepassAuth} puts in the context: `c.get('gatepass')` is the verified session.
 *
 * @example
 * const app = new Hono<GatepassEnv>();
 * app.get('/me', gatepassAuth({ verifier }), (c) => c.json({ client: c.get('gatepass').clientId }));
 */
export interface GatepassEnv {
  Variables: { gatepass: ConnectSuccess };
}

/**
 * Options of {@link gatepassAuth}.
 *
 * @example
 * const options: GatepassAuthOptions = { verifier, topic: (c) => c.req.param('topic'), action: 'publish' };
 */
export interface GatepassAuthOptions {
  verifier: Verifier;
  /**
   * The MQTT topic (a topic name for `publish`, a filter for `subscribe`) the route acts on, checked
   * against the token's ACL; requires `action`. Undefined or empty from the function is a 400.
   */
  // biome-ignore lint/suspicious/noExplicitAny: any app's context; the middleware reads only the request.
  topic?: (c: Context<any>) => string | undefined;
  action?: AclAction;
  /** The `realm` of `WWW-Authenticate` challenges. Default `gatepass`. */
  realm?: string;
  /**
   * Also accept the token as the `access_token` query parameter (RFC 6750 §2.3), for WebSocket clients in
   * browsers, which cannot set headers on the upgrade request. URLs end up in logs: off by default.
   */
  queryToken?: boolean;
  /** Called with the specific reason of every refusal, for logs and metrics; the response stays generic. */
  // biome-ignore lint/suspicious/noExplicitAny: any app's context.
  onRefusal?: (reason: GatepassRefusal, c: Context<any>) => void;
}

/**
 * Why {@link gatepassAuth} refused a request: a {@link ConnectFailureReason} for a refused token, an
 * {@link AclDenial} for the route's topic, or a problem with the request itself.
 *
 * @example
 * gatepassAuth({ verifier, onRefusal: (reason) => metrics.increment('http_refused', { reason }) });
 */
export type GatepassRefusal =
  | ConnectFailureReason
  | AclDenial
  | 'missing_token'
  | 'malformed_authorization'
  | 'token_sent_twice'
  | 'missing_topic';

/** RFC 6750 §2.1: `Bearer` (any case), one or more spaces, a b64token. */
const BEARER = /^Bearer +([A-Za-z0-9_.~+/-]+=*) *$/i;
const BEARER_SCHEME = /^Bearer(?: |$)/i;
const REALM = /^[\x20-\x7e]*$/;

/**
 * Protects a route with gatepass credentials sent as `Authorization: Bearer <token>`, the same tokens MQTT
 * clients send as their password. Answers as RFC 6750 §3 says, with JSON bodies `{ error,
 * error_description }` that never say which check failed:
 *
 * - 401 with `WWW-Authenticate: Bearer realm="gatepass"` and no error when no token is sent;
 * - 400 `invalid_request` when the `Authorization` header is malformed, the token is sent twice, or the
 *   route's topic is missing or not a valid MQTT topic;
 * - 401 `invalid_token` when the token is refused (the specific reason goes to `onRefusal` only);
 * - 403 `insufficient_scope` when the token's ACL does not allow `action` on the route's `topic`;
 * - 503 when the verifier's keys or revocations are unavailable.
 *
 * HTTP has no MQTT client id, so the token's `sub` is the identity: the session is verified as a CONNECT
 * with an empty client id and `session.clientId` is the `sub`. Works in front of `upgradeWebSocket` too:
 * the check runs on the upgrade request. Throws a TypeError on bad options.
 *
 * @example
 * import { Hono } from 'hono';
 * import { createVerifier } from 'gatepass/verifier';
 * import { gatepassAuth, type GatepassEnv } from 'gatepass/verifier/hono';
 *
 * const app = new Hono<GatepassEnv>();
 * app.post(
 *   '/topics/:topic{.+}',
 *   gatepassAuth({ verifier, topic: (c) => c.req.param('topic'), action: 'publish' }),
 *   async (c) => {
 *     await broker.publish(c.req.param('topic'), await c.req.arrayBuffer(), { from: c.get('gatepass').clientId });
 *     return c.body(null, 204);
 *   },
 * );
 */
export function gatepassAuth(options: GatepassAuthOptions): MiddlewareHandler<GatepassEnv> {
  const { verifier, topic, action } = options;
  if (typeof verifier?.verifyConnect !== 'function') throw new TypeError('verifier must be a Verifier');
  if (topic !== undefined && typeof topic !== 'function') throw new TypeError('topic must be a function');
  if (action !== undefined && action !== 'publish' && action !== 'subscribe') {
    throw new TypeError("action must be 'publish' or 'subscribe'");
  }
  if (topic !== undefined && action === undefined) {
    throw new TypeError("a topic needs an action: 'publish' or 'subscribe'");
  }
  const realm = options.realm ?? 'gatepass';
  if (typeof realm !== 'string' || !REALM.test(realm) || realm.includes('"') || realm.includes('\\')) {
    throw new TypeError('realm must be printable ASCII without quotes or backslashes');
  }
  const queryToken = options.queryToken ?? false;
  const { onRefusal } = options;
  if (onRefusal !== undefined && typeof onRefusal !== 'function') {
    throw new TypeError('onRefusal must be a function');
  }

  const challenge = (error?: string, description?: string) =>
    `Bearer realm="${realm}"${error === undefined ? '' : `, error="${error}", error_description="${description}"`}`;

  function refuse(
    c: Context,
    reason: GatepassRefusal,
    status: 400 | 401 | 403,
    error: string,
    description: string,
  ): Response {
    onRefusal?.(reason, c);
    c.header('WWW-Authenticate', challenge(error, description));
    return c.json({ error, error_description: description }, status);
  }

  return async (c, next) => {
    const header = c.req.header('authorization');
    const fromQuery = queryToken ? c.req.queries('access_token') : undefined;
    let token: string | undefined;
    if (header !== undefined && BEARER_SCHEME.test(header)) {
      const match = BEARER.exec(header);
      if (match === null)
        return refuse(c, 'malformed_authorization', 400, 'invalid_request', 'malformed Authorization header');
      token = match[1];
    }
    if (fromQuery !== undefined) {
      // §2: a client must not use more than one method to send the token in a request.
      if (token !== undefined || fromQuery.length !== 1) {
        return refuse(c, 'token_sent_twice', 400, 'invalid_request', 'send the access token once');
      }
      token = fromQuery[0];
    }
    if (token === undefined || token === '') {
      // §3.1: a request without credentials gets the challenge, without an error code.
      onRefusal?.('missing_token', c);
      c.header('WWW-Authenticate', challenge());
      return c.json({ error: 'unauthorized', error_description: 'a bearer token is required' }, 401);
    }

    const session = await verifier.verifyConnect({ clientId: '', password: token });
    if (!session.ok) {
      if (connackCode(session.reason, 5) === 0x88) {
        onRefusal?.(session.reason, c);
        return c.json({ error: 'temporarily_unavailable', error_description: 'try again later' }, 503, {
          'Retry-After': '5',
        });
      }
      return refuse(c, session.reason, 401, 'invalid_token', 'the access token is not valid');
    }

    if (topic !== undefined && action !== undefined) {
      let name: string | undefined;
      try {
        name = topic(c);
      } catch {
        name = undefined;
      }
      if (typeof name !== 'string' || name === '') {
        return refuse(c, 'missing_topic', 400, 'invalid_request', 'the request names no topic');
      }
      const decision = authorize(session, action, name);
      if (!decision.ok) {
        return decision.reason === 'not_permitted'
          ? refuse(c, decision.reason, 403, 'insufficient_scope', `the access token may not ${action} here`)
          : refuse(c, decision.reason, 400, 'invalid_request', 'the topic is not a valid MQTT topic');
      }
    }
    c.set('gatepass', session);
    await next();
  };
}
