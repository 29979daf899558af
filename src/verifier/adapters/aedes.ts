// The Aedes adapter: gatepass credentials checked in Aedes's authentication and authorization hooks.
//
// Aedes is never imported: the types below describe the few members the adapter touches, so the verifier
// package does not depend on aedes, and any version with these hooks (1.x, 2.x) fits.
import type { ConnectFailureReason } from '../reasons.js';
import { connackCode } from '../reasons.js';
import { authorize, type ConnectSuccess, type Verifier } from '../verify.js';

/**
 * The members of an Aedes `Client` the adapter uses (aedes 1.x and 2.x have them).
 *
 * @example
 * const client: AedesClientLike = aedesClient; // an aedes Client fits
 */
export interface AedesClientLike {
  /** Rewritten by the adapter when the CONNECT had an empty client id (see {@link createAedesAuth}). */
  id: string;
  readonly clean?: boolean;
  /** The CONNECT's protocol level: 3, 4, or 5 on aedes 2. */
  readonly version?: number | null;
  readonly closed?: boolean;
  readonly conn?: { once(event: 'close', listener: () => void): unknown } | undefined;
  close(callback?: () => void): void;
  /** aedes 2: sends an MQTT 5 DISCONNECT with a reason code before closing. */
  disconnect?(options: { reasonCode: number }, callback?: () => void): void;
}

/**
 * The parts of the CONNECT packet Aedes passes to `preConnect`.
 *
 * @example
 * const packet: AedesConnectPacketLike = { clientId: '', clean: true, protocolVersion: 4 };
 */
export interface AedesConnectPacketLike {
  readonly clientId: string;
  readonly clean?: boolean;
  readonly protocolVersion?: number;
}

/**
 * The parts of a PUBLISH packet Aedes passes to `authorizePublish`.
 *
 * @example
 * const packet: AedesPublishPacketLike = { topic: 'plant/line-3/temperature' };
 */
export interface AedesPublishPacketLike {
  readonly topic: string;
}

/**
 * One subscription as Aedes passes it to `authorizeSubscribe`.
 *
 * @example
 * const subscription: AedesSubscriptionLike = { topic: 'plant/commands/sensor-17', qos: 1 };
 */
export interface AedesSubscriptionLike {
  topic: string;
  qos: number;
}

/**
 * The error Aedes turns into a CONNACK: `returnCode` is the MQTT 3.1.1 code (aedes 2 maps it to the MQTT 5
 * reason code); `reason` is the verifier's, for logs (Aedes emits the error on `clientError` or
 * `connectionError`). Never holds the token.
 *
 * @example
 * aedes.on('connectionError', (client, error) => log.info({ reason: (error as AedesAuthError).reason }));
 */
export interface AedesAuthError extends Error {
  readonly returnCode: 2 | 3 | 4 | 5;
  readonly reason: ConnectFailureReason;
}

/**
 * The members of an `Aedes` broker {@link AedesAuth.attach} sets and listens to.
 *
 * @example
 * const broker: AedesLike = await Aedes.createBroker();
 */
export interface AedesLike {
  preConnect(
    client: AedesClientLike,
    packet: AedesConnectPacketLike,
    callback: (error: Error | null, success: boolean) => void,
  ): void;
  authenticate(
    client: AedesClientLike,
    username: string | undefined,
    password: Uint8Array | undefined,
    callback: (error: (Error & { returnCode: number }) | null, success: boolean | null) => void,
  ): void;
  authorizePublish(
    client: AedesClientLike | null,
    packet: AedesPublishPacketLike,
    callback: (error?: Error | null) => void,
  ): void;
  authorizeSubscribe(
    client: AedesClientLike,
    subscription: AedesSubscriptionLike,
    callback: (error: Error | null, subscription?: AedesSubscriptionLike | null) => void,
  ): void;
  on(event: 'clientDisconnect', listener: (client: AedesClientLike) => void): unknown;
  removeListener(event: 'clientDisconnect', listener: (client: AedesClientLike) => void): unknown;
}

/**
 * What the adapter reports through `onEvent`, for logs and metrics: refusals with the verifier's specific
 * reason (the wire only gets the generic code), denials, and sessions it ended.
 *
 * @example
 * const onEvent = (event: AedesAuthEvent) => log.info(event, `mqtt ${event.type}`);
 */
export type AedesAuthEvent =
  | { readonly type: 'connect_refused'; readonly clientId: string; readonly reason: ConnectFailureReason }
  | { readonly type: 'connected'; readonly clientId: string; readonly jti: string }
  | {
      readonly type: 'publish_denied' | 'subscribe_denied';
      readonly clientId: string;
      readonly topic: string;
      readonly reason: SessionDenial;
    }
  | { readonly type: 'session_ended'; readonly clientId: string; readonly reason: 'expired' | 'revoked' };

/**
 * Why a PUBLISH or SUBSCRIBE of a connected client was refused: an ACL denial, `reserved_topic` (a PUBLISH
 * to `$SYS/`), or the session's credential having expired or been revoked since CONNECT, or no session.
 *
 * @example
 * const reason: SessionDenial = 'not_permitted';
 */
export type SessionDenial =
  | 'invalid_topic'
  | 'invalid_filter'
  | 'invalid_shared_subscription'
  | 'not_permitted'
  | 'reserved_topic'
  | 'expired'
  | 'revoked'
  | 'no_session';

/**
 * Options of {@link createAedesAuth}.
 *
 * @example
 * const options: AedesAuthOptions = { verifier, revocations: feed, clockTolerance: 5 };
 */
export interface AedesAuthOptions {
  verifier: Verifier;
  /**
   * The verifier's revocation source, when it can announce revocations (a {@link RevocationFeed}): sessions
   * whose `jti` is revoked are ended at once. Also re-checked on every PUBLISH and SUBSCRIBE.
   */
  revocations?: {
    isRevoked(jti: string): boolean;
    subscribe?(listener: (jti: string) => void): () => void;
  };
  /** Epoch milliseconds; pass the verifier's clock. Default `Date.now`. */
  now?: () => number;
  /** The verifier's `clockTolerance` (seconds): a session ends at its `expiresAt` plus this. Default 5, as there. */
  clockTolerance?: number;
  onEvent?: (event: AedesAuthEvent) => void;
}

/**
 * The hooks, in Aedes's signatures, and what ties them to a broker. Build with {@link createAedesAuth}.
 *
 * @example
 * const auth: AedesAuth = createAedesAuth({ verifier, revocations: feed });
 * auth.attach(aedes);
 */
export interface AedesAuth {
  /** Records whether the CONNECT's client id was empty; delegates to the hook it replaces, if any. */
  preConnect: AedesLike['preConnect'];
  authenticate: AedesLike['authenticate'];
  authorizePublish: AedesLike['authorizePublish'];
  authorizeSubscribe: AedesLike['authorizeSubscribe'];
  /** Installs the four hooks on the broker and follows its `clientDisconnect` events. */
  attach(aedes: AedesLike): void;
  /**
   * Stops following the revocation source and the broker, and cancels expiry timers, for shutting down. The
   * hooks stay installed and, the sessions forgotten, deny every PUBLISH and SUBSCRIBE from then on.
   */
  close(): void;
  /** Sessions currently authenticated. */
  readonly size: number;
}

const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
/** setTimeout's limit (2^31 - 1 ms, ~24.8 days); longer expiries re-arm. */
const MAX_TIMER_MS = 2_147_483_647;
/** MQTT 5 DISCONNECT 0x87 Not authorized: the session's credential expired or was revoked. */
const DISCONNECT_NOT_AUTHORIZED = 0x87;
const RESERVED_PREFIX = '$SYS/';

interface Session {
  readonly client: AedesClientLike;
  readonly connected: ConnectSuccess;
  /** Epoch milliseconds from which the verifier would refuse the token (expired, or past its lifetime). */
  readonly deadlineMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  ended: 'expired' | 'revoked' | undefined;
}

/**
 * Checks gatepass credentials in an [Aedes](https://github.com/moscajs/aedes) broker (1.x, which speaks
 * MQTT 3.1 and 3.1.1, and 2.x, which adds MQTT 5). The MQTT password carries the token; the client id must
 * be the token's `sub`; a user name, when given, must equal the client id. (MQTT 3.1.1 sends no password
 * without a user name, MQTT-3.1.2-22: such clients send an empty user name or their client id.)
 *
 * - **CONNECT** (`authenticate`): refused with `connackCode(reason, 4)` as the error's `returnCode` (aedes 2
 *   sends the matching MQTT 5 reason code). An empty client id is assigned the token's `sub`: the session
 *   runs under it, so a second session with the same credential takes the first over, as with an explicit
 *   id. MQTT 3.1.1 cannot tell the client (MQTT 5 does, as Assigned Client Identifier, on aedes 2); an
 *   empty id with a persistent session (clean session 0) is refused with 0x02 (MQTT-3.1.3-8).
 * - **PUBLISH** (`authorizePublish`): allowed when a `pub` filter matches; never to `$SYS/`. A denial is an
 *   error to Aedes: on MQTT 3.1.1, which has no negative acknowledgement, aedes closes the connection
 *   (MQTT-3.3.5-2) and the message goes nowhere; on MQTT 5 (aedes 2) the connection stays, a QoS 1 or 2
 *   PUBLISH gets PUBACK/PUBREC 0x87 and a QoS 0 one is dropped. A Will message is checked the same way when
 *   aedes publishes it, and refused when the session's credential expired or was revoked.
 * - **SUBSCRIBE** (`authorizeSubscribe`): allowed when one `sub` filter covers the requested filter;
 *   otherwise the subscription is negated: SUBACK 0x80 on MQTT 3.1.1, 0x87 on MQTT 5 (aedes 2).
 * - **Session end**: a session is closed when its token expires (a timer per session, at `expiresAt` plus
 *   `clockTolerance`, not keeping the process alive) and when its `jti` is revoked while connected (from
 *   `revocations.subscribe`). On MQTT 5 (aedes 2) the client first gets DISCONNECT 0x87. A revocation
 *   source that has gone stale ends no session: new CONNECTs are refused until it is current again.
 *
 * Install with {@link AedesAuth.attach}, or set all four hooks yourself: without `preConnect` the adapter
 * cannot tell an empty client id from aedes's generated one, and refuses it with 0x02.
 *
 * @example
 * import { createServer } from 'node:net';
 * import { Aedes } from 'aedes';
 * import { createAedesAuth, createRevocationFeed, createVerifier } from 'gatepass/verifier';
 *
 * const base = 'https://gatepass.example.com/v1/namespaces/acme/brokers/plant-1';
 * const revocations = createRevocationFeed({ url: `${base}/revocations`, token: readKey });
 * await revocations.start();
 * const verifier = createVerifier({
 *   keys: `${base}/jwks.json`,
 *   issuer: 'gatepass',
 *   audience: 'plant-1.acme',
 *   algorithms: ['EdDSA'],
 *   revocations,
 * });
 * const aedes = await Aedes.createBroker();
 * createAedesAuth({ verifier, revocations }).attach(aedes);
 * createServer(aedes.handle).listen(1883);
 */
export function createAedesAuth(options: AedesAuthOptions): AedesAuth {
  const { verifier, revocations, onEvent } = options;
  if (typeof verifier?.verifyConnect !== 'function') throw new TypeError('verifier must be a Verifier');
  if (revocations !== undefined && typeof revocations.isRevoked !== 'function') {
    throw new TypeError('revocations must be a RevocationSource');
  }
  const now = options.now ?? Date.now;
  const tolerance = options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0)
    throw new TypeError('clockTolerance must be seconds >= 0');

  const sessions = new Map<AedesClientLike, Session>();
  /** Sessions by jti: one credential may serve several sessions (a takeover overlaps the old one briefly). */
  const byJti = new Map<string, Set<Session>>();
  /** Clients whose CONNECT had an empty client id, recorded by preConnect before aedes generates one. */
  const emptyClientIds = new WeakSet<AedesClientLike>();
  const unsubscribe = revocations?.subscribe?.((jti) => {
    const held = byJti.get(jti);
    if (held !== undefined) for (const session of [...held]) end(session, 'revoked');
  });
  let attached: AedesLike | undefined;
  let previousPreConnect: AedesLike['preConnect'] | undefined;

  function emit(event: AedesAuthEvent): void {
    try {
      onEvent?.(event);
    } catch {
      // A logging hook must not break the broker's flow.
    }
  }

  function forget(client: AedesClientLike): void {
    const session = sessions.get(client);
    if (session === undefined) return;
    sessions.delete(client);
    if (session.timer !== undefined) clearTimeout(session.timer);
    session.timer = undefined;
    const held = byJti.get(session.connected.jti);
    held?.delete(session);
    if (held?.size === 0) byJti.delete(session.connected.jti);
  }

  /** Ends a session: marked first, so the Will that closing may publish is refused. */
  function end(session: Session, reason: 'expired' | 'revoked'): void {
    if (session.ended !== undefined) return;
    session.ended = reason;
    if (session.timer !== undefined) clearTimeout(session.timer);
    session.timer = undefined;
    emit({ type: 'session_ended', clientId: session.client.id, reason });
    const { client } = session;
    if (client.version === 5 && typeof client.disconnect === 'function') {
      client.disconnect({ reasonCode: DISCONNECT_NOT_AUTHORIZED });
    } else {
      client.close();
    }
  }

  function arm(session: Session): void {
    if (session.deadlineMs === Number.POSITIVE_INFINITY) return;
    const delay = session.deadlineMs - now();
    if (delay <= 0) {
      end(session, 'expired');
      return;
    }
    session.timer = setTimeout(
      () => {
        session.timer = undefined;
        // A long expiry re-arms in steps; a clock that has not reached the deadline yet re-arms too.
        if (sessions.get(session.client) === session && session.ended === undefined) arm(session);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    (session.timer as { unref?: () => void }).unref?.();
  }

  /** Whether the session may still act; ends it (and says why not) when its credential no longer holds. */
  function check(client: AedesClientLike | null): Session | SessionDenial {
    const session = client === null ? undefined : sessions.get(client);
    if (session === undefined) return 'no_session';
    if (session.ended !== undefined) return session.ended;
    if (now() >= session.deadlineMs) {
      end(session, 'expired');
      return 'expired';
    }
    if (revocations?.isRevoked(session.connected.jti) === true) {
      end(session, 'revoked');
      return 'revoked';
    }
    return session;
  }

  function refuse(reason: ConnectFailureReason): AedesAuthError {
    const returnCode = connackCode(reason, 4);
    // The reason names the failed check, for the broker's logs; the client only sees the CONNACK code.
    return Object.assign(new Error(`gatepass refused the CONNECT: ${reason}`), { returnCode, reason });
  }

  const preConnect: AedesLike['preConnect'] = (client, packet, callback) => {
    if (packet.clientId === '') emptyClientIds.add(client);
    else emptyClientIds.delete(client);
    if (previousPreConnect !== undefined) previousPreConnect.call(attached, client, packet, callback);
    else callback(null, true);
  };

  const authenticate: AedesLike['authenticate'] = (client, username, password, callback) => {
    const emptyId = emptyClientIds.has(client);
    const clientId = emptyId ? '' : client.id;
    const refused = (reason: ConnectFailureReason) => {
      emit({ type: 'connect_refused', clientId, reason });
      callback(refuse(reason), null);
    };
    // MQTT-3.1.3-8: before MQTT 5, an empty client id is only for clean sessions (aedes 1 lets it through).
    if (emptyId && client.clean === false && client.version !== 5) {
      refused('client_id_mismatch');
      return;
    }
    verifier.verifyConnect({ clientId, username, password }).then(
      (result) => {
        if (!result.ok) return refused(result.reason);
        // The list may have changed while the signature was checked; a revocation announced in between
        // found no session to end, so look again now that the session is about to exist.
        if (revocations?.isRevoked(result.jti) === true) return refused('revoked');
        if (client.closed === true) return callback(null, false);
        if (result.assignedClientId !== undefined) {
          client.id = result.assignedClientId;
          // aedes 2 reports the generated id as MQTT 5 Assigned Client Identifier: report ours instead.
          if ('_assignedClientId' in client) {
            (client as { _assignedClientId?: string })._assignedClientId = result.assignedClientId;
          }
        }
        forget(client);
        const session: Session = {
          client,
          connected: result,
          deadlineMs:
            result.expiresAt === null ? Number.POSITIVE_INFINITY : (result.expiresAt + tolerance) * 1000,
          timer: undefined,
          ended: undefined,
        };
        sessions.set(client, session);
        const held = byJti.get(result.jti) ?? new Set<Session>();
        byJti.set(result.jti, held);
        held.add(session);
        // Sessions that never reach clientDisconnect (a connect that fails after this) still get forgotten.
        client.conn?.once('close', () => forget(client));
        emit({ type: 'connected', clientId: client.id, jti: result.jti });
        callback(null, true);
        arm(session);
      },
      () => {
        // verifyConnect never rejects; a custom Verifier that does is a server problem, not the client's.
        refused('keys_unavailable');
      },
    );
  };

  const authorizePublish: AedesLike['authorizePublish'] = (client, packet, callback) => {
    const checked = check(client);
    let denial: SessionDenial | undefined;
    if (typeof checked === 'string') denial = checked;
    else if (packet.topic.startsWith(RESERVED_PREFIX)) denial = 'reserved_topic';
    else {
      const decision = authorize(checked.connected, 'publish', packet.topic);
      if (!decision.ok) denial = decision.reason;
    }
    if (denial === undefined) {
      callback(null);
      return;
    }
    emit({ type: 'publish_denied', clientId: client?.id ?? '', topic: packet.topic, reason: denial });
    callback(Object.assign(new Error(`gatepass denied the PUBLISH: ${denial}`), { reason: denial }));
  };

  const authorizeSubscribe: AedesLike['authorizeSubscribe'] = (client, subscription, callback) => {
    const checked = check(client);
    const decision =
      typeof checked === 'string' ? checked : authorize(checked.connected, 'subscribe', subscription.topic);
    if (typeof decision !== 'string' && decision.ok) {
      callback(null, subscription);
      return;
    }
    const reason = typeof decision === 'string' ? decision : decision.reason;
    emit({ type: 'subscribe_denied', clientId: client.id, topic: subscription.topic, reason });
    // A null subscription is a negated one: SUBACK 0x80 (MQTT 3.1.1) or 0x87 (MQTT 5), the session goes on.
    callback(null, null);
  };

  return {
    preConnect,
    authenticate,
    authorizePublish,
    authorizeSubscribe,
    attach(aedes) {
      if (attached !== undefined) throw new Error('this AedesAuth is attached to a broker already');
      attached = aedes;
      previousPreConnect = aedes.preConnect;
      aedes.preConnect = preConnect;
      aedes.authenticate = authenticate;
      aedes.authorizePublish = authorizePublish;
      aedes.authorizeSubscribe = authorizeSubscribe;
      aedes.on('clientDisconnect', forget);
    },
    close() {
      unsubscribe?.();
      attached?.removeListener('clientDisconnect', forget);
      for (const session of sessions.values()) if (session.timer !== undefined) clearTimeout(session.timer);
      sessions.clear();
      byJti.clear();
    },
    get size() {
      return sessions.size;
    },
  };
}
