// RabbitMQ's rabbitmq_auth_backend_http: user, vhost, resource and topic checks decided by gatepass.
import type { AclDenial } from '../../core/acl.js';
import type { ConnectFailureReason } from '../reasons.js';
import type { RevocationSource } from '../revocation.js';
import { authorize, type ConnectSuccess, type Verifier } from '../verify.js';

/**
 * The parameters rabbitmq_auth_backend_http sends, by their names on the wire (query string for GET,
 * form body for POST). RabbitMQ's MQTT plugin adds `client_id` to user, vhost and resource checks and
 * `variable_map.client_id` to topic checks; AMQP 0-9-1 connections send neither.
 *
 * @example
 * const params: RabbitMqParams = Object.fromEntries(new URLSearchParams(await request.text()));
 */
export type RabbitMqParams = Readonly<Record<string, string | undefined>>;

/**
 * Why a check was denied, for logs (RabbitMQ is only ever told `deny`):
 * a {@link ConnectFailureReason} for a refused `user` check; `missing_username`; `no_session` (no live
 * login for this user: never logged in, evicted, or its token expired since); `session_revoked`;
 * `client_id_mismatch` (a check for another client id than the login's); `wrong_exchange`; `bad_request`
 * (an unknown resource kind or permission, or no routing key); `untranslatable_routing_key` (a routing key
 * with `/`, which no MQTT topic maps to unambiguously); `resource_not_permitted`; or an {@link AclDenial}.
 *
 * @example
 * const answer = await rabbit.topic(params);
 * if (answer.decision === 'deny') log.info({ reason: answer.reason }, 'topic refused');
 */
export type RabbitMqDenial =
  | ConnectFailureReason
  | AclDenial
  | 'missing_username'
  | 'no_session'
  | 'session_revoked'
  | 'client_id_mismatch'
  | 'wrong_exchange'
  | 'bad_request'
  | 'untranslatable_routing_key'
  | 'resource_not_permitted';

/**
 * A decision: answer RabbitMQ with the text `allow` or `deny`, status 200.
 *
 * @example
 * const answer: RabbitMqAnswer = { decision: 'deny', reason: 'no_session' };
 */
export type RabbitMqAnswer =
  | { readonly decision: 'allow' }
  | { readonly decision: 'deny'; readonly reason: RabbitMqDenial };

/**
 * Options of {@link createRabbitMqAuth}.
 *
 * @example
 * const options: RabbitMqAuthOptions = { verifier, revocations, maxSessions: 50_000 };
 */
export interface RabbitMqAuthOptions {
  verifier: Verifier;
  /** The verifier's revocation source, consulted again on every vhost, resource and topic check. */
  revocations: RevocationSource;
  /** The topic exchange MQTT publishes to (`mqtt.exchange`). Default `amq.topic`. */
  exchange?: string;
  /** Logins remembered at once (least recently used first out). Default 10,000. */
  maxSessions?: number;
  /**
   * Let clients declare, read and write server-named queues (`amq.gen-...`), as AMQP 0-9-1 clients that
   * subscribe do. Default true.
   */
  serverNamedQueues?: boolean;
  /** Epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/**
 * The four checks of rabbitmq_auth_backend_http for one broker.
 *
 * @example
 * const rabbit: RabbitMqAuth = createRabbitMqAuth({ verifier, revocations });
 * (await rabbit.user({ username: 'sensor-17', password: token, client_id: 'sensor-17' })).decision; // 'allow'
 */
export interface RabbitMqAuth {
  /** `user_path`: verifies the token in `password` and remembers what it allows. */
  user(params: RabbitMqParams): Promise<RabbitMqAnswer>;
  /** `vhost_path`: allowed while the user's login is live (the token is not bound to a vhost). */
  vhost(params: RabbitMqParams): RabbitMqAnswer;
  /** `resource_path`: the MQTT exchange, and the client's own queues. */
  resource(params: RabbitMqParams): RabbitMqAnswer;
  /** `topic_path`: the routing key, translated to an MQTT topic, against the token's ACL. */
  topic(params: RabbitMqParams): RabbitMqAnswer;
  /** Logins remembered now. */
  readonly size: number;
}

interface RememberedLogin {
  readonly session: ConnectSuccess;
  readonly deadlineMs: number;
}

const ALLOW: RabbitMqAnswer = Object.freeze({ decision: 'allow' });
const deny = (reason: RabbitMqDenial): RabbitMqAnswer => ({ decision: 'deny', reason });

const DEFAULT_MAX_SESSIONS = 10_000;

/**
 * Decides rabbitmq_auth_backend_http's checks with a gatepass verifier. The `user` check carries the
 * token (RabbitMQ username = MQTT client id = the token's `sub`, password = the token); the other checks
 * carry only the username, so what a login's token allows is remembered in memory: bounded, least recently
 * used first out, each login dying at its token's `exp`, and its `jti` checked against the revocation
 * source again on every later check, so a revocation stops the next publish or subscribe of a connection
 * that is already open.
 *
 * Routing keys are translated back to MQTT topics as RabbitMQ's MQTT plugin translated them (`/` became
 * `.`; in a binding, `+` became `*`): `.` separates levels, and in `read` checks (bindings) a whole-level
 * `*` is `+` and `#` is `#`. A key containing `/` is denied: RabbitMQ 3.12 and later swap `.` and `/`, and
 * refusing such keys is what keeps one translation sound for both. So on RabbitMQ, topic levels must not
 * contain `.`.
 *
 * @example
 * const rabbit = createRabbitMqAuth({ verifier, revocations });
 * app.post('/rabbitmq/:check', async (c) => {
 *   const params = Object.fromEntries(new URLSearchParams(await c.req.text()));
 *   const check = c.req.param('check');
 *   const answer =
 *     check === 'user' ? await rabbit.user(params)
 *     : check === 'vhost' ? rabbit.vhost(params)
 *     : check === 'resource' ? rabbit.resource(params)
 *     : rabbit.topic(params);
 *   return c.text(answer.decision);
 * });
 */
export function createRabbitMqAuth(options: RabbitMqAuthOptions): RabbitMqAuth {
  const { verifier, revocations } = options;
  if (typeof verifier?.verifyConnect !== 'function') throw new TypeError('verifier must be a Verifier');
  if (typeof revocations?.isRevoked !== 'function') {
    throw new TypeError('revocations must be the RevocationSource the verifier uses');
  }
  const exchange = options.exchange ?? 'amq.topic';
  if (typeof exchange !== 'string' || exchange === '') throw new TypeError('exchange must be a name');
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  if (!Number.isInteger(maxSessions) || maxSessions < 1) {
    throw new TypeError('maxSessions must be an integer >= 1');
  }
  const serverNamedQueues = options.serverNamedQueues ?? true;
  const now = options.now ?? Date.now;
  // Insertion order is recency order: a hit moves the entry to the back, eviction takes the front.
  const logins = new Map<string, RememberedLogin>();

  function remember(username: string, session: ConnectSuccess): void {
    if (!logins.delete(username) && logins.size >= maxSessions) {
      logins.delete(logins.keys().next().value!);
    }
    const deadlineMs = session.expiresAt === null ? Number.POSITIVE_INFINITY : session.expiresAt * 1000;
    logins.set(username, { session, deadlineMs });
  }

  /** The live login behind a vhost, resource or topic check, or why there is none. */
  function login(params: RabbitMqParams, clientId: string | undefined): ConnectSuccess | RabbitMqDenial {
    const username = params.username;
    if (!username) return 'missing_username';
    const entry = logins.get(username);
    if (entry === undefined) return 'no_session';
    if (entry.deadlineMs <= now()) {
      logins.delete(username);
      return 'no_session';
    }
    if (revocations.isRevoked(entry.session.jti)) {
      logins.delete(username);
      return 'session_revoked';
    }
    if (clientId !== undefined && clientId !== '' && clientId !== entry.session.clientId) {
      return 'client_id_mismatch';
    }
    logins.delete(username);
    logins.set(username, entry);
    return entry.session;
  }

  return {
    async user(params) {
      const username = params.username;
      if (!username) return deny('missing_username');
      const result = await verifier.verifyConnect({
        // AMQP 0-9-1 sends no client id: the username stands for it, as it must equal it anyway.
        clientId: params.client_id || username,
        username,
        password: params.password,
      });
      // A refused login leaves an earlier one of the same username alone: anyone who can reach the hook
      // could otherwise end another client's login with a wrong password.
      if (!result.ok) return deny(result.reason);
      remember(username, result);
      return ALLOW;
    },

    vhost(params) {
      const session = login(params, params.client_id);
      return typeof session === 'string' ? deny(session) : ALLOW;
    },

    resource(params) {
      const session = login(params, params.client_id);
      if (typeof session === 'string') return deny(session);
      const { resource, name, permission } = params;
      if (permission !== 'configure' && permission !== 'write' && permission !== 'read') {
        return deny('bad_request');
      }
      if (resource === 'exchange') {
        // Publishing to and binding from the MQTT exchange; the topic checks decide what. Never its
        // configuration, and never another exchange (the default one would bypass the topic checks).
        return name === exchange && permission !== 'configure' ? ALLOW : deny('resource_not_permitted');
      }
      if (resource === 'queue') {
        const own = `mqtt-subscription-${session.clientId}`;
        if (name === `${own}qos0` || name === `${own}qos1`) return ALLOW;
        if (serverNamedQueues && name?.startsWith('amq.gen-')) return ALLOW;
        return deny('resource_not_permitted');
      }
      return deny(resource === 'topic' ? 'resource_not_permitted' : 'bad_request');
    },

    topic(params) {
      const session = login(params, params['variable_map.client_id'] ?? params.client_id);
      if (typeof session === 'string') return deny(session);
      if (params.name !== exchange) return deny('wrong_exchange');
      const { permission, routing_key: routingKey } = params;
      if (routingKey === undefined || (permission !== 'read' && permission !== 'write')) {
        return deny('bad_request');
      }
      const topic = mqttTopicFromRoutingKey(routingKey, permission);
      if (topic === undefined) return deny('untranslatable_routing_key');
      const decision = authorize(session, permission === 'write' ? 'publish' : 'subscribe', topic);
      return decision.ok ? ALLOW : deny(decision.reason);
    },

    get size() {
      return logins.size;
    },
  };
}

/**
 * The MQTT topic (for `write`: a published routing key) or topic filter (for `read`: a binding key) that
 * RabbitMQ's MQTT plugin maps to `routingKey`, or undefined for a key with `/` (see
 * {@link createRabbitMqAuth}). In a binding, a whole-level `*` is MQTT's `+`; in a published key it is a
 * literal `*`, as in MQTT.
 *
 * @example
 * mqttTopicFromRoutingKey('plant.line-3.temp', 'write'); // 'plant/line-3/temp'
 * mqttTopicFromRoutingKey('plant.*.temp', 'read'); // 'plant/+/temp'
 * mqttTopicFromRoutingKey('plant/3.temp', 'write'); // undefined
 */
export function mqttTopicFromRoutingKey(
  routingKey: string,
  permission: 'read' | 'write',
): string | undefined {
  if (routingKey.includes('/')) return undefined;
  const levels = routingKey.split('.');
  if (permission === 'read') {
    for (let i = 0; i < levels.length; i++) if (levels[i] === '*') levels[i] = '+';
  }
  return levels.join('/');
}
