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
 * with `/`, which no MQTT topic maps to); `resource_not_permitted`; `queue_not_owned` (a server-named
 * queue another login declared, or one this login's memory no longer holds); or an {@link AclDenial}.
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
  | 'resource_not_permitted'
  | 'queue_not_owned';

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
   * subscribe do: each only the queues its own login declared. Default true.
   */
  serverNamedQueues?: boolean;
  /**
   * Server-named queues remembered per login (least recently declared or used first out; a forgotten
   * queue is refused to everyone, its owner included). Default 64.
   */
  maxQueuesPerSession?: number;
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
  /** `resource_path`: the MQTT exchange, the client's MQTT queues, and the server-named queues its login declared. */
  resource(params: RabbitMqParams): RabbitMqAnswer;
  /** `topic_path`: the routing key, translated to an MQTT topic, against the token's ACL. */
  topic(params: RabbitMqParams): RabbitMqAnswer;
  /** Logins remembered now. */
  readonly size: number;
}

interface RememberedLogin {
  readonly session: ConnectSuccess;
  readonly deadlineMs: number;
  /** Server-named queues this username declared, in least recently used order. */
  readonly queues: Set<string>;
}

const ALLOW: RabbitMqAnswer = Object.freeze({ decision: 'allow' });
const deny = (reason: RabbitMqDenial): RabbitMqAnswer => ({ decision: 'deny', reason });

const DEFAULT_MAX_SESSIONS = 10_000;
const DEFAULT_MAX_QUEUES_PER_SESSION = 64;
const SERVER_NAMED = 'amq.gen-';

/**
 * Decides rabbitmq_auth_backend_http's checks with a gatepass verifier. The `user` check carries the
 * token (RabbitMQ username = MQTT client id = the token's `sub`, password = the token); the other checks
 * carry only the username, so what a login's token allows is remembered in memory: bounded, least recently
 * used first out, each login dying at its token's `exp`, and its `jti` checked against the revocation
 * source again on every later check, so a revocation stops the next publish or subscribe of a connection
 * that is already open.
 *
 * Server-named queues (`amq.gen-...`) belong to the username that declared them: RabbitMQ's resource
 * checks carry the username, not the connection, and a declaration's `configure` check is the first check
 * that names a new queue. So the first `configure` of an unknown one claims it for that username's login,
 * and every check of it by another username is denied; a queue the memory no longer holds (its login
 * forgotten, or past `maxQueuesPerSession`) is denied to all.
 *
 * Routing keys are translated back to MQTT topics as RabbitMQ's MQTT plugin translated them
 * (`rabbit_mqtt_util:to_amqp`, the same in every release: each `/` became `.` and each `+` became `*`):
 * `.` separates levels, and in `read` checks (bindings) a whole-level `*` is `+` and `#` is `#`. A key
 * containing `/` comes from no MQTT topic, yet the topic exchange would read it as fewer levels than MQTT
 * subscribers are shown (`to_mqtt` turns `.` into `/`): denied. So on RabbitMQ, MQTT topic levels must not
 * contain `.`, which the plugin would make a separator.
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
  const maxQueues = options.maxQueuesPerSession ?? DEFAULT_MAX_QUEUES_PER_SESSION;
  if (!Number.isInteger(maxQueues) || maxQueues < 1) {
    throw new TypeError('maxQueuesPerSession must be an integer >= 1');
  }
  const now = options.now ?? Date.now;
  // Insertion order is recency order: a hit moves the entry to the back, eviction takes the front.
  const logins = new Map<string, RememberedLogin>();
  /** Server-named queue -> the username whose login declared it; only queues some login holds. */
  const queueOwners = new Map<string, string>();

  function forget(username: string): void {
    const entry = logins.get(username);
    if (entry === undefined) return;
    for (const queue of entry.queues) queueOwners.delete(queue);
    logins.delete(username);
  }

  function remember(username: string, session: ConnectSuccess): void {
    // A new login of the same username (another connection, a new token) keeps the queues it declared.
    const queues = logins.get(username)?.queues ?? new Set<string>();
    if (!logins.delete(username) && logins.size >= maxSessions) forget(logins.keys().next().value!);
    const deadlineMs = session.expiresAt === null ? Number.POSITIVE_INFINITY : session.expiresAt * 1000;
    logins.set(username, { session, deadlineMs, queues });
  }

  /** The live login behind a vhost, resource or topic check, or why there is none. */
  function login(params: RabbitMqParams, clientId: string | undefined): RememberedLogin | RabbitMqDenial {
    const username = params.username;
    if (!username) return 'missing_username';
    const entry = logins.get(username);
    if (entry === undefined) return 'no_session';
    if (entry.deadlineMs <= now()) {
      forget(username);
      return 'no_session';
    }
    if (revocations.isRevoked(entry.session.jti)) {
      forget(username);
      return 'session_revoked';
    }
    if (clientId !== undefined && clientId !== '' && clientId !== entry.session.clientId) {
      return 'client_id_mismatch';
    }
    logins.delete(username);
    logins.set(username, entry);
    return entry;
  }

  /**
   * A check of a server-named queue: a `configure` of one nobody holds claims it (RabbitMQ asks that when
   * the queue is declared, and only the server can pick an `amq.gen-` name); anything else needs the claim.
   */
  function serverNamedQueue(username: string, entry: RememberedLogin, queue: string, permission: string) {
    const owner = queueOwners.get(queue);
    if (owner === undefined && permission === 'configure') {
      if (entry.queues.size >= maxQueues) {
        const oldest = entry.queues.values().next().value!;
        entry.queues.delete(oldest);
        queueOwners.delete(oldest);
      }
      queueOwners.set(queue, username);
      entry.queues.add(queue);
      return ALLOW;
    }
    if (owner !== username) return deny('queue_not_owned');
    entry.queues.delete(queue);
    entry.queues.add(queue);
    return ALLOW;
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
      const entry = login(params, params.client_id);
      return typeof entry === 'string' ? deny(entry) : ALLOW;
    },

    resource(params) {
      const entry = login(params, params.client_id);
      if (typeof entry === 'string') return deny(entry);
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
        const own = `mqtt-subscription-${entry.session.clientId}`;
        if (name === `${own}qos0` || name === `${own}qos1`) return ALLOW;
        if (serverNamedQueues && name?.startsWith(SERVER_NAMED)) {
          return serverNamedQueue(params.username!, entry, name, permission);
        }
        return deny('resource_not_permitted');
      }
      return deny(resource === 'topic' ? 'resource_not_permitted' : 'bad_request');
    },

    topic(params) {
      const entry = login(params, params['variable_map.client_id'] ?? params.client_id);
      if (typeof entry === 'string') return deny(entry);
      if (params.name !== exchange) return deny('wrong_exchange');
      const { permission, routing_key: routingKey } = params;
      if (routingKey === undefined || (permission !== 'read' && permission !== 'write')) {
        return deny('bad_request');
      }
      const topic = mqttTopicFromRoutingKey(routingKey, permission);
      if (topic === undefined) return deny('untranslatable_routing_key');
      const decision = authorize(entry.session, permission === 'write' ? 'publish' : 'subscribe', topic);
      return decision.ok ? ALLOW : deny(decision.reason);
    },

    get size() {
      return logins.size;
    },
  };
}

/**
 * The MQTT topic (for `write`: a published routing key) or topic filter (for `read`: a binding key) that
 * RabbitMQ's MQTT plugin maps to `routingKey`, or undefined for a key with `/`, which no MQTT topic maps to
 * (see {@link createRabbitMqAuth}). In a binding, a whole-level `*` is MQTT's `+`; in a published key it is
 * a literal `*`, as in MQTT.
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
