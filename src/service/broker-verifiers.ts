// Per-broker verifiers for the broker webhooks: the verifier library fed from the store's keys and revocations.
import type { SigningAlgorithm } from '../core/claims.js';
import { toEpochSeconds } from '../core/clock.js';
import { toPublicJwk } from '../crypto/keys.js';
import type { BrokerRecord, Store } from '../store/port.js';
import { createRabbitMqAuth, type RabbitMqAuth } from '../verifier/adapters/rabbitmq.js';
import { createLocalKeySource, type KeyLookup, type KeySource } from '../verifier/keys.js';
import type { RevocationSource } from '../verifier/revocation.js';
import { createVerifier, type Verifier } from '../verifier/verify.js';
import type { BrokerChangeListener, ServiceDeps } from './deps.js';

/** One broker's verifier, its revocation set, and the RabbitMQ logins it remembers. */
export interface BrokerVerification {
  readonly brokerId: string;
  readonly verifier: Verifier;
  readonly revocations: RevocationSource;
  readonly rabbitmq: RabbitMqAuth;
  /** The clock the verifier runs on (epoch milliseconds). */
  readonly now: () => number;
}

export interface BrokerVerifierOptions {
  /**
   * How long a broker's settings (issuer, audience, lifetimes, existence) and key set are trusted before
   * re-reading, for changes made by another process sharing the database. Changes made through this
   * process's services apply to the very next call.
   */
  recheckMs?: number;
  /** At most one key re-read per this many milliseconds when a token names a kid we do not know. */
  keyReloadFloorMs?: number;
  /**
   * How often the revocation feed is read for changes made elsewhere (another process or isolate sharing
   * the database). Changes made through this process's services are seen by the very next call.
   */
  feedPollMs?: number;
  /** Brokers kept in memory at once. */
  maxBrokers?: number;
  /** RabbitMQ logins remembered per broker. */
  maxRabbitMqSessions?: number;
}

const DEFAULTS = {
  recheckMs: 5_000,
  keyReloadFloorMs: 1_000,
  feedPollMs: 1_000,
  maxBrokers: 1024,
  maxRabbitMqSessions: 10_000,
} satisfies Required<BrokerVerifierOptions>;

/** Feed events read per query while catching up. */
const FEED_PAGE = 1000;

/** Seconds past a revoked token's `exp` before its jti is forgotten (the verifier's default tolerance). */
const CLOCK_TOLERANCE_SECONDS = 5;

interface BrokerState {
  readonly broker: BrokerRecord;
  readonly keys: ReloadableKeys;
  /** Revoked jti -> the token's `exp` (seconds) when known. */
  readonly revoked: Map<string, number | null>;
  cursor: number;
  /** When the feed was last read; and whether this process has changed the broker's revocations since. */
  syncedAt: number;
  dirty: boolean;
  /** When the broker and its keys were last read; and whether this process has changed them since. */
  checkedAt: number;
  stale: boolean;
  readonly verification: BrokerVerification;
}

interface ReloadableKeys extends KeySource {
  /** Re-reads the broker's keys now. */
  reload(): Promise<void>;
}

/**
 * The verifiers behind the broker webhooks, one per broker, built with the same `createVerifier` that
 * brokers embed, so a webhook decides exactly as the library does.
 *
 * - Keys: a local key source over the broker's published keys, re-read every `recheckMs`, and at once
 *   (at most once per `keyReloadFloorMs`) when a token names an unknown kid, so a rotation takes effect on
 *   the first token signed with the new key.
 * - Revocations: an in-memory set kept from the store's revocation feed, read from the last cursor at
 *   once after a change through this process and at least every `feedPollMs` for changes made elsewhere.
 *   On SQLite that read is one indexed query.
 * - Settings: the broker is re-read every `recheckMs`; a changed issuer, audience, algorithm, expiration or
 *   max_lifetime (or a broker deleted and created again) gets a new verifier. The broker's current
 *   expiration and max_lifetime are verifier options (`requireExpiry`, `maxTokenLifetime`,
 *   `maxTotalLifetime`), so tokens issued under an earlier, longer rule stop passing when it changes.
 *
 * Changes made through this process's services arrive through the {@link BrokerChangeListener} these
 * verifiers implement (createServices wires it), and apply to the very next call.
 */
export function createBrokerVerifiers(
  { store, clock }: Pick<ServiceDeps, 'store' | 'clock'>,
  options: BrokerVerifierOptions = {},
) {
  const settings = { ...DEFAULTS, ...options };
  const brokers = new Map<string, BrokerState>();
  /** Loads under way, with the count of broker changes they started after (see `load`). */
  const loading = new Map<string, { changes: number; pending: Promise<BrokerState | undefined> }>();
  /** Broker and namespace changes told so far: a load that overlaps one cannot be trusted. */
  let changes = 0;

  async function findBroker(namespaceName: string, brokerName: string): Promise<BrokerRecord | undefined> {
    const namespace = await store.findNamespace(namespaceName);
    return namespace && (await store.findBroker(namespace.id, brokerName));
  }

  function build(broker: BrokerRecord): BrokerState {
    const revoked = new Map<string, number | null>();
    const revocations: RevocationSource = { isRevoked: (jti) => revoked.has(jti) };
    const keys = reloadableKeys(store, broker.id, broker.algorithm, clock, settings.keyReloadFloorMs);
    const verifier = createVerifier({
      keys,
      issuer: broker.issuer,
      audience: broker.audience,
      algorithms: [broker.algorithm],
      revocations,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      now: clock,
      // The broker issues no token without exp once it has either limit (freshCredentialLifetime).
      requireExpiry: broker.expiration !== null || broker.maxLifetime !== null,
      ...(broker.expiration === null ? {} : { maxTokenLifetime: broker.expiration }),
      ...(broker.maxLifetime === null ? {} : { maxTotalLifetime: broker.maxLifetime }),
    });
    const rabbitmq = createRabbitMqAuth({
      verifier,
      revocations,
      maxSessions: settings.maxRabbitMqSessions,
      now: clock,
    });
    return {
      broker,
      keys,
      revoked,
      cursor: 0,
      syncedAt: Number.NEGATIVE_INFINITY,
      dirty: true,
      checkedAt: clock(),
      stale: false,
      verification: { brokerId: broker.id, verifier, revocations, rabbitmq, now: clock },
    };
  }

  /** Applies the feed after the cursor, in order; concurrent calls skip what another already applied. */
  async function catchUp(state: BrokerState): Promise<void> {
    // Cleared before reading: a change made while the read is under way marks the state again.
    state.dirty = false;
    state.syncedAt = clock();
    for (;;) {
      const events = await store.listRevocationEvents(state.broker.id, state.cursor, FEED_PAGE);
      for (const event of events) {
        if (event.seq <= state.cursor) continue;
        if (event.revoked) state.revoked.set(event.jti, event.expiresAt);
        else state.revoked.delete(event.jti);
        state.cursor = event.seq;
      }
      if (events.length < FEED_PAGE) return;
    }
  }

  /** Forgets revocations of tokens that have expired anyway, so the set does not grow forever. */
  function forgetExpired(state: BrokerState): void {
    const cutoff = toEpochSeconds(clock()) - CLOCK_TOLERANCE_SECONDS;
    for (const [jti, exp] of state.revoked) {
      if (exp !== null && exp < cutoff) state.revoked.delete(jti);
    }
  }

  function sameVerification(a: BrokerRecord, b: BrokerRecord): boolean {
    return (
      a.id === b.id &&
      a.issuer === b.issuer &&
      a.audience === b.audience &&
      a.algorithm === b.algorithm &&
      a.expiration === b.expiration &&
      a.maxLifetime === b.maxLifetime
    );
  }

  /**
   * Reads the broker and its keys. A change told while the read is under way may have landed before or
   * after it: the state is then marked stale, so the caller reads again.
   */
  async function load(cacheKey: string, namespaceName: string, brokerName: string, previous?: BrokerState) {
    const startedAfter = changes;
    const broker = await findBroker(namespaceName, brokerName);
    if (broker === undefined) {
      brokers.delete(cacheKey);
      return undefined;
    }
    let state = previous;
    if (state !== undefined && sameVerification(state.broker, broker)) {
      await state.keys.reload();
      forgetExpired(state);
    } else {
      state = build(broker);
      await state.keys.reload();
      if (!brokers.delete(cacheKey) && brokers.size >= settings.maxBrokers) {
        brokers.delete(brokers.keys().next().value!);
      }
      brokers.set(cacheKey, state);
    }
    state.checkedAt = clock();
    state.stale = changes !== startedAfter;
    return state;
  }

  /** One load per broker at a time, joined only by callers that came before any later change. */
  function loadOnce(cacheKey: string, namespaceName: string, brokerName: string, previous?: BrokerState) {
    const running = loading.get(cacheKey);
    if (running !== undefined && running.changes === changes) return running.pending;
    const pending = load(cacheKey, namespaceName, brokerName, previous).finally(() => {
      if (loading.get(cacheKey)?.pending === pending) loading.delete(cacheKey);
    });
    loading.set(cacheKey, { changes, pending });
    return pending;
  }

  function markStale(matches: (broker: BrokerRecord) => boolean): void {
    changes++;
    for (const state of brokers.values()) if (matches(state.broker)) state.stale = true;
  }

  const listener: BrokerChangeListener = {
    brokerChanged: (brokerId) => markStale((broker) => broker.id === brokerId),
    namespaceDeleted: (namespaceId) => markStale((broker) => broker.namespaceId === namespaceId),
    revocationsChanged(brokerId) {
      for (const state of brokers.values()) if (state.broker.id === brokerId) state.dirty = true;
    },
    // A new credential changes nothing a verifier holds.
    credentialsIssued() {},
  };

  return {
    /**
     * The verification for a broker, current as of this call (revocations included); undefined when the
     * namespace or broker does not exist.
     */
    async get(namespaceName: string, brokerName: string): Promise<BrokerVerification | undefined> {
      const cacheKey = `${namespaceName}/${brokerName}`;
      let state = brokers.get(cacheKey);
      while (state === undefined || state.stale || clock() - state.checkedAt >= settings.recheckMs) {
        state = await loadOnce(cacheKey, namespaceName, brokerName, state);
        if (state === undefined) return undefined;
      }
      if (state.dirty || clock() - state.syncedAt >= settings.feedPollMs) await catchUp(state);
      return state.verification;
    },

    /** Give it to the services that change brokers, keys and revocations (createServices does). */
    listener,
  };
}

export type BrokerVerifiers = ReturnType<typeof createBrokerVerifiers>;

/** A local key source over the broker's keys in the store, replaced whenever they are re-read. */
function reloadableKeys(
  store: Store,
  brokerId: string,
  algorithm: SigningAlgorithm,
  clock: () => number,
  reloadFloorMs: number,
): ReloadableKeys {
  let current: KeySource = NO_KEYS;
  let kids = '';
  let loadedAt = Number.NEGATIVE_INFINITY;
  let reloading: Promise<void> | undefined;

  async function read(): Promise<void> {
    loadedAt = clock();
    const records = await store.listSigningKeys(brokerId);
    const jwks = { keys: records.map((key) => toPublicJwk(key.publicJwk, key.kid, key.algorithm)) };
    const signature = jwks.keys.map((key) => key.kid).join(',');
    // Unchanged keys keep their source: its imported CryptoKeys, and the verifier's cache entries.
    if (signature === kids) return;
    kids = signature;
    try {
      current = createLocalKeySource(jwks, { algorithms: [algorithm] });
    } catch {
      current = NO_KEYS;
    }
  }

  function reload(): Promise<void> {
    reloading ??= read().finally(() => {
      reloading = undefined;
    });
    return reloading;
  }

  return {
    reload,
    async getKey(kid) {
      const found = await current.getKey(kid);
      if (found.ok || clock() - loadedAt < reloadFloorMs) return found;
      // A kid we do not know: perhaps the broker's key was rotated since we last read.
      await reload();
      return current.getKey(kid);
    },
    isTrusted: (kid) => current.isTrusted(kid),
  };
}

const KEYS_UNAVAILABLE: KeyLookup = Object.freeze({ ok: false, reason: 'keys_unavailable' });
const NO_KEYS: KeySource = { getKey: async () => KEYS_UNAVAILABLE, isTrusted: () => false };
