// Key sources: the broker's public keys by `kid`, from a configured JWKS or fetched from gatepass.
import { importJWK, type JWK } from 'jose';
import { SIGNING_ALGORITHMS, type SigningAlgorithm } from '../core/claims.js';

/**
 * A public key the verifier trusts, pinned to the one algorithm it was published for.
 *
 * @example
 * const found = await keys.getKey(kid);
 * if (found.ok) console.log(found.key.kid, found.key.algorithm); // 'k1' 'EdDSA'
 */
export interface VerificationKey {
  readonly kid: string;
  readonly algorithm: SigningAlgorithm;
  readonly key: CryptoKey;
}

/**
 * The answer of {@link KeySource.getKey}; failures are values, a source never throws.
 *
 * @example
 * const lookup: KeyLookup = await keys.getKey(kid);
 * if (!lookup.ok) return lookup.reason; // 'unknown_key' or 'keys_unavailable'
 */
export type KeyLookup =
  | { readonly ok: true; readonly key: VerificationKey }
  | { readonly ok: false; readonly reason: 'unknown_key' | 'keys_unavailable' };

/**
 * Where the verifier finds keys. Keys are selected by `kid` only: a token's embedded `jwk`, `jku`, `x5u`
 * or `x5c` headers are never consulted.
 *
 * @example
 * const keys: KeySource = createLocalKeySource(jwks, { algorithms: ['EdDSA'] });
 * const found = await keys.getKey(kid);
 */
export interface KeySource {
  /** The key for `kid`, fetching if the source does so. */
  getKey(kid: string): Promise<KeyLookup>;
  /**
   * Whether `kid` is still trusted, synchronously. Cache hits ask this, so a key withdrawn from the set
   * also ends the cached sessions of the tokens it signed.
   */
  isTrusted(kid: string): boolean;
}

/**
 * A JSON Web Key Set as gatepass publishes it: `{ keys: [{ kty, crv, x, y?, kid, alg, use: 'sig' }] }`.
 *
 * @example
 * const jwks: JsonWebKeySet = JSON.parse(readFileSync('plant-1.jwks.json', 'utf8'));
 * const verifier = createVerifier({ keys: jwks, issuer, audience, algorithms: ['EdDSA'], revocations });
 */
export interface JsonWebKeySet {
  keys: JWK[];
}

/**
 * Options of {@link createLocalKeySource}.
 *
 * @example
 * const options: LocalKeySourceOptions = { algorithms: ['EdDSA', 'ES256'] };
 */
export interface LocalKeySourceOptions {
  /** Keys published for other algorithms are ignored. */
  algorithms: readonly SigningAlgorithm[];
}

/**
 * Trusts a fixed key set. Throws a TypeError when the set is not a JWKS or holds no usable key (one with
 * a `kid`, a pinned algorithm and a matching curve, for signatures); other keys are skipped, and a `kid`
 * that appears twice is dropped as ambiguous.
 *
 * @example
 * const keys = createLocalKeySource(
 *   { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k1', alg: 'EdDSA', use: 'sig' }] },
 *   { algorithms: ['EdDSA'] },
 * );
 */
export function createLocalKeySource(jwks: JsonWebKeySet, options: LocalKeySourceOptions): KeySource {
  const usable = usableKeys(jwks, options.algorithms);
  if (usable === undefined) throw new TypeError('keys must be a JSON Web Key Set: { keys: [...] }');
  if (usable.size === 0) throw new TypeError('the key set holds no usable key for the pinned algorithms');
  // Importing is asynchronous; start now and let the first verification wait for it.
  const imported = importKeys(usable);
  return {
    async getKey(kid) {
      const key = (await imported).get(kid);
      return key === undefined ? UNKNOWN_KEY : { ok: true, key };
    },
    isTrusted: (kid) => usable.has(kid),
  };
}

/**
 * Options of {@link createRemoteKeySource}; the verifier fills them from its own options for a `keys` URL.
 *
 * @example
 * const options: RemoteKeySourceOptions = { algorithms: ['EdDSA'], refetchFloorMs: 60_000, fetch: myFetch };
 */
export interface RemoteKeySourceOptions {
  /** Keys published for other algorithms are ignored. */
  algorithms: readonly SigningAlgorithm[];
  /** Defaults to the global `fetch`. */
  fetch?: typeof fetch;
  /** At most one fetch per this many milliseconds, whatever asks for it (unknown `kid`s, retries). 30 s. */
  refetchFloorMs?: number;
  /** Keys older than this are refetched before use, so withdrawn keys stop working. 10 minutes. */
  maxAgeMs?: number;
  /** A fetch that takes longer is abandoned. 5 s. */
  timeoutMs?: number;
  /** Epoch milliseconds; injectable so tests can cross the refetch floor without sleeping. */
  now?: () => number;
}

/**
 * Fetches the key set from gatepass's `GET /v1/namespaces/{ns}/brokers/{broker}/jwks.json` (a plain JWKS),
 * from its `publickeys` (the same keys in the Cloudflare v4 envelope, `{ success, result: { keys } }`), or
 * from any URL serving a plain JWKS.
 *
 * Keys are fetched on first use; refetched when older than `maxAgeMs` or when a token names an unknown
 * `kid` (so a rotation is picked up at once); never more than once per `refetchFloorMs`, so a flood of
 * made-up `kid`s cannot turn into a flood of requests. Concurrent callers share one fetch. A failed fetch
 * keeps the previous keys: a broker keeps accepting its clients while gatepass is briefly down.
 *
 * @example
 * const keys = createRemoteKeySource(
 *   'https://gatepass.example.com/v1/namespaces/acme/brokers/plant-1/jwks.json',
 *   { algorithms: ['EdDSA', 'ES256'], refetchFloorMs: 30_000 },
 * );
 */
export function createRemoteKeySource(url: string | URL, options: RemoteKeySourceOptions): KeySource {
  const endpoint = new URL(url);
  if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') {
    throw new TypeError('the key set URL must be http: or https:');
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const refetchFloorMs = nonNegative(options.refetchFloorMs ?? 30_000, 'refetchFloorMs');
  const maxAgeMs = nonNegative(options.maxAgeMs ?? 600_000, 'maxAgeMs');
  const timeoutMs = nonNegative(options.timeoutMs ?? 5_000, 'timeoutMs');
  const now = options.now ?? Date.now;

  let keys: Map<string, VerificationKey> | undefined;
  let fetchedAt = Number.NEGATIVE_INFINITY;
  let attemptedAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<void> | undefined;

  async function load(): Promise<void> {
    try {
      const response = await fetchImpl(endpoint, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) return;
      const body: unknown = await response.json();
      const usable = usableKeys(unwrapEnvelope(body), options.algorithms);
      if (usable === undefined) return;
      keys = await importKeys(usable);
      fetchedAt = now();
    } catch {
      // Network error, timeout or bad JSON: keep the keys we have; the floor paces the next attempt.
    }
  }

  /** Starts a fetch unless one is running or the floor forbids it; resolves when the current one ends. */
  function refresh(): Promise<void> | undefined {
    if (inFlight !== undefined) return inFlight;
    if (now() - attemptedAt < refetchFloorMs) return undefined;
    attemptedAt = now();
    inFlight = load().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  return {
    async getKey(kid) {
      if (keys === undefined || now() - fetchedAt >= maxAgeMs) await refresh();
      let key = keys?.get(kid);
      if (key === undefined && keys !== undefined) {
        await refresh();
        key = keys.get(kid);
      }
      if (key !== undefined) return { ok: true, key };
      return keys === undefined ? KEYS_UNAVAILABLE : UNKNOWN_KEY;
    },
    isTrusted(kid) {
      // Stale keys that could be refetched now cannot vouch for a cached token: answering false sends it
      // through getKey, which refetches. When the floor forbids a fetch (gatepass just failed to answer),
      // the keys we have are the best we will get, and cache hits keep working through the outage.
      if (now() - fetchedAt >= maxAgeMs && inFlight === undefined && now() - attemptedAt >= refetchFloorMs) {
        return false;
      }
      return keys?.has(kid) ?? false;
    },
  };
}

const UNKNOWN_KEY: KeyLookup = Object.freeze({ ok: false, reason: 'unknown_key' });
const KEYS_UNAVAILABLE: KeyLookup = Object.freeze({ ok: false, reason: 'keys_unavailable' });

interface UsableKey {
  kid: string;
  algorithm: SigningAlgorithm;
  jwk: JWK;
}

/** The one curve each pinned algorithm is used with. */
const CURVES: Record<SigningAlgorithm, { kty: string; crv: string }> = {
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
};

function unwrapEnvelope(body: unknown): unknown {
  if (isRecord(body) && 'result' in body) {
    // gatepass answers in the Cloudflare v4 envelope; an unsuccessful one holds no key set.
    return body.success === false ? undefined : body.result;
  }
  return body;
}

/** Usable keys by kid, or undefined when `jwks` is not a key set at all. */
function usableKeys(
  jwks: unknown,
  algorithms: readonly SigningAlgorithm[],
): Map<string, UsableKey> | undefined {
  if (!isRecord(jwks) || !Array.isArray(jwks.keys)) return undefined;
  const usable = new Map<string, UsableKey>();
  const ambiguous = new Set<string>();
  for (const candidate of jwks.keys as unknown[]) {
    const key = usableKey(candidate, algorithms);
    if (key === undefined) continue;
    if (usable.has(key.kid) || ambiguous.has(key.kid)) {
      usable.delete(key.kid);
      ambiguous.add(key.kid);
      continue;
    }
    usable.set(key.kid, key);
  }
  return usable;
}

function usableKey(jwk: unknown, algorithms: readonly SigningAlgorithm[]): UsableKey | undefined {
  if (!isRecord(jwk)) return undefined;
  const { kid, kty, crv, x, y, alg, use } = jwk;
  if (typeof kid !== 'string' || kid.length === 0) return undefined;
  if (use !== undefined && use !== 'sig') return undefined;
  const algorithm = alg === undefined ? algorithmForCurve(kty, crv) : alg;
  if (!isSigningAlgorithm(algorithm) || !algorithms.includes(algorithm)) return undefined;
  const curve = CURVES[algorithm];
  if (kty !== curve.kty || crv !== curve.crv || typeof x !== 'string') return undefined;
  if (kty === 'EC' && typeof y !== 'string') return undefined;
  // Only the public members: a stray private `d` or `key_ops` must not change what is imported.
  const publicJwk: JWK = kty === 'EC' ? { kty, crv, x, y: y as string } : { kty, crv, x };
  return { kid, algorithm, jwk: publicJwk };
}

function algorithmForCurve(kty: unknown, crv: unknown): SigningAlgorithm | undefined {
  return SIGNING_ALGORITHMS.find(
    (algorithm) => CURVES[algorithm].kty === kty && CURVES[algorithm].crv === crv,
  );
}

async function importKeys(usable: Map<string, UsableKey>): Promise<Map<string, VerificationKey>> {
  const imported = new Map<string, VerificationKey>();
  await Promise.all(
    [...usable.values()].map(async ({ kid, algorithm, jwk }) => {
      try {
        const key = await importJWK(jwk, algorithm);
        if (key instanceof CryptoKey) imported.set(kid, { kid, algorithm, key });
      } catch {
        // A point not on the curve, say: the key cannot verify anything, so it is simply not trusted.
      }
    }),
  );
  return imported;
}

function isSigningAlgorithm(value: unknown): value is SigningAlgorithm {
  return (SIGNING_ALGORITHMS as readonly unknown[]).includes(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`${name} must be a non-negative number`);
  return value;
}
