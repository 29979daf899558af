// Verifying a CONNECT: the credential in the password, pinned checks, client binding, and the storm cache.
import { z } from 'zod';
import {
  type AclAction,
  type AclDecision,
  authorize as authorizeAcl,
  type CompiledAcl,
  compileValidAcl,
} from '../core/acl.js';
import {
  type CredentialClaims,
  clientIdSchema,
  SIGNING_ALGORITHMS,
  type SigningAlgorithm,
  TOKEN_TYPE,
  type TopicAcl,
  topicAclSchema,
} from '../core/claims.js';
import { asciiBytes, decodeBase64url, decodeJsonObject, isCompactJws } from './base64url.js';
import { createTokenCache, type TokenCache } from './cache.js';
import {
  createLocalKeySource,
  createRemoteKeySource,
  type JsonWebKeySet,
  type KeyLookup,
  type KeySource,
  type VerificationKey,
} from './keys.js';
import { CONNECT_FAILURE_REASONS, type ConnectFailureReason, MAX_TOKEN_BYTES } from './reasons.js';
import type { RevocationSource } from './revocation.js';

/**
 * The parts of an MQTT CONNECT packet the verifier looks at.
 *
 * @example
 * const input: ConnectInput = { clientId: packet.clientId, username: packet.username, password: packet.password };
 */
export interface ConnectInput {
  /** The Client Identifier; empty asks the broker to assign one, which will be the token's `sub`. */
  clientId: string;
  /** When present and not empty, must equal the (effective) client id. */
  username?: string | undefined;
  /** The credential: a compact JWS, as text or as the raw bytes of the CONNECT password field. */
  password?: string | Uint8Array | undefined;
}

/**
 * The claims of a verified credential (unknown claims are dropped).
 *
 * @example
 * if (session.ok) log.info({ sub: session.claims.sub, jti: session.claims.jti, iat: session.claims.iat });
 */
export interface VerifiedClaims extends CredentialClaims {
  nbf?: number;
}

/**
 * A CONNECT the verifier accepts: the session's identity, lifetime and compiled ACL.
 *
 * @example
 * const session = await verifier.verifyConnect(input);
 * if (session.ok) {
 *   client.id = session.clientId;
 *   if (session.assignedClientId) connack.properties.assignedClientIdentifier = session.assignedClientId;
 *   if (session.expiresAt !== null) scheduleDisconnect(client, session.expiresAt * 1000);
 * }
 */
export interface ConnectSuccess {
  readonly ok: true;
  /** The client id the session runs under: the CONNECT's, or the assigned one. */
  readonly clientId: string;
  /** Set when the CONNECT had an empty client id; MQTT 5 brokers return it as Assigned Client Identifier. */
  readonly assignedClientId?: string;
  readonly jti: string;
  /**
   * When the session must end, in epoch seconds: the token's `exp`, or earlier when `maxTokenLifetime` or
   * `maxTotalLifetime` cut the token's life short; null when nothing limits it.
   */
  readonly expiresAt: number | null;
  /** Pass the session to {@link authorize} for each PUBLISH and SUBSCRIBE. */
  readonly acl: CompiledAcl;
  /** Frozen, and shared between sessions of the same token. */
  readonly claims: Readonly<VerifiedClaims>;
}

/**
 * A CONNECT the verifier refuses; map `reason` to the wire with `connackCode`.
 *
 * @example
 * if (!result.ok) sendConnack(connackCode(result.reason, 5));
 */
export interface ConnectFailure {
  readonly ok: false;
  readonly reason: ConnectFailureReason;
}

/**
 * What {@link Verifier.verifyConnect} resolves to: test `ok` to tell the two apart.
 *
 * @example
 * const result: ConnectResult = await verifier.verifyConnect(input);
 * return result.ok ? accept(result) : refuse(result.reason);
 */
export type ConnectResult = ConnectSuccess | ConnectFailure;

/**
 * Options of {@link createVerifier}; `keys`, `issuer`, `audience`, `algorithms` and `revocations` are
 * required so that no check is left to a default.
 *
 * @example
 * const options: VerifierOptions = {
 *   keys: 'https://gatepass.example.com/v1/namespaces/acme/brokers/plant-1/jwks.json',
 *   issuer: 'https://gatepass.example.com',
 *   audience: 'plant-1',
 *   algorithms: ['EdDSA'],
 *   revocations: createStaticRevocations(),
 *   clockTolerance: 5,
 *   // The broker's tokens live an hour, and refreshing extends a chain to a day at most.
 *   requireExpiry: true,
 *   maxTokenLifetime: 3600,
 *   maxTotalLifetime: 86_400,
 * };
 */
export interface VerifierOptions {
  /**
   * The broker's public keys: a JWKS, the URL of gatepass's `jwks.json` (or `publickeys`) for this broker (or
   * of any plain JWKS), or a custom {@link KeySource}.
   */
  keys: JsonWebKeySet | string | URL | KeySource;
  /** The `iss` gatepass signs with; compared exactly. */
  issuer: string;
  /** This broker: compared exactly with the token's `aud`. */
  audience: string;
  /** Accepted `alg` values, a non-empty subset of `['EdDSA', 'ES256']`; anything else is refused. */
  algorithms: readonly SigningAlgorithm[];
  /**
   * Consulted on every CONNECT, cache hits included: `createRevocationFeed` to follow gatepass's feed,
   * `createStaticRevocations` for a fixed list. A stale source refuses with `revocations_unavailable`.
   */
  revocations: RevocationSource;
  /** Seconds of clock skew allowed on `exp`, `nbf` and `iat`. Default 5. */
  clockTolerance?: number;
  /**
   * Refuse tokens without `exp` (`missing_expiry`). Set it once the issuer gives every token an `exp`, so
   * that tokens issued before that, which never expire, stop working. Default false.
   */
  requireExpiry?: boolean;
  /**
   * Seconds a token may live counted from its `iat`, whatever its `exp` says: it is refused
   * (`lifetime_exceeded`) from `iat + maxTokenLifetime` on. A token issued for longer, or without `exp`,
   * before the issuer's expiration was shortened or set ends then. Default: no limit.
   */
  maxTokenLifetime?: number;
  /**
   * Seconds a chain of refreshed tokens may live counted from its first issue (`orig_iat`, or `iat` for a
   * token never refreshed): refused (`lifetime_exceeded`) from then on. Default: no limit.
   */
  maxTotalLifetime?: number;
  /** The current time in epoch milliseconds (the `Clock` of `gatepass/core`). Default `Date.now`. */
  now?: () => number;
  /** The reconnect-storm cache of verified tokens; `false` disables it. Default `{ maxEntries: 10_000 }`. */
  cache?: false | { maxEntries: number };
  /** For a `keys` URL: the `fetch` to use. Default the global `fetch`. */
  fetch?: typeof fetch;
  /** For a `keys` URL: at most one key fetch per this many milliseconds. Default 30,000. */
  keyRefetchFloorMs?: number;
  /** For a `keys` URL: refetch keys older than this many milliseconds. Default 600,000. */
  keyMaxAgeMs?: number;
  /** For a `keys` URL: abandon a key fetch after this many milliseconds. Default 5,000. */
  keyFetchTimeoutMs?: number;
}

/**
 * Verifies CONNECT credentials; build one per broker with {@link createVerifier}.
 *
 * @example
 * const verifier: Verifier = createVerifier(options);
 * const result = await verifier.verifyConnect({ clientId: '', password: token });
 */
export interface Verifier {
  /** Never throws for a bad token: every refusal is a `{ ok: false, reason }` value. */
  verifyConnect(input: ConnectInput): Promise<ConnectResult>;
}

const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
const DEFAULT_CACHE_ENTRIES = 10_000;

const claimsSchema = z.object({
  iss: z.string(),
  aud: z.string(),
  sub: clientIdSchema,
  jti: z.string().min(1).max(255),
  iat: z.number(),
  // Refreshed credentials: when the first credential of the chain was issued.
  orig_iat: z.number().optional(),
  exp: z.number().optional(),
  nbf: z.number().optional(),
  topicAcl: topicAclSchema,
});

/** What the cache keeps per token: everything verified about it that does not depend on the CONNECT. */
interface VerifiedToken {
  readonly claims: Readonly<VerifiedClaims>;
  readonly acl: CompiledAcl;
  readonly kid: string;
  /** When the token stops being accepted (epoch seconds, before the clock tolerance), and why; or null. */
  readonly end: TokenEnd | null;
}

interface TokenEnd {
  readonly at: number;
  readonly reason: 'expired' | 'lifetime_exceeded';
}

/** A verification and the bytes its signature covers, which the cache keeps to recognise the token. */
interface Verification {
  readonly token: VerifiedToken;
  readonly signedPart: Uint8Array;
}

// Refusals are shared constants: refusing a flood of bad tokens allocates nothing per refusal.
const failures = new Map<ConnectFailureReason, ConnectFailure>(
  CONNECT_FAILURE_REASONS.map((reason) => [reason, Object.freeze({ ok: false, reason })]),
);
function fail(reason: ConnectFailureReason): ConnectFailure {
  return failures.get(reason)!;
}

const utf8Encoder = new TextEncoder();

/**
 * Builds a verifier for one broker. Every check is pinned: the algorithms, `typ: 'JWT'`, issuer, audience,
 * required claims (`sub`, `jti`, `iat`, `topicAcl`, validated with gatepass's own schemas), `exp`, `nbf`
 * and `iat` within `clockTolerance`, no `crit` header, and the token's `sub` bound to the CONNECT client
 * id; with `requireExpiry`, `maxTokenLifetime` or `maxTotalLifetime`, the issuer's current rules for how
 * long a token lives as well. Keys are chosen by `kid` among the configured keys only. Throws a TypeError
 * on bad options.
 *
 * A successful verification is cached (bounded, dying with the token, never holding the token's
 * signature), so a client reconnecting with the same token costs a hash of the signature and a lookup, a
 * few microseconds; revocation, expiry and lifetime limits, not-before, the key still being trusted and the
 * client binding are checked on every call all the same.
 *
 * @example
 * import { authorize, connackCode, createStaticRevocations, createVerifier } from 'gatepass/verifier';
 *
 * const verifier = createVerifier({
 *   keys: 'https://gatepass.example.com/v1/namespaces/acme/brokers/plant-1/jwks.json',
 *   issuer: 'https://gatepass.example.com',
 *   audience: 'plant-1',
 *   algorithms: ['EdDSA'],
 *   revocations: createStaticRevocations([]),
 * });
 *
 * const session = await verifier.verifyConnect({ clientId, username, password });
 * if (!session.ok) return connackCode(session.reason, 5);
 * authorize(session, 'publish', 'sensors/line-3/temperature'); // { ok: true } or { ok: false, reason }
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const issuer = nonEmptyString(options.issuer, 'issuer');
  const audience = nonEmptyString(options.audience, 'audience');
  const algorithms = pinnedAlgorithms(options.algorithms);
  const revocations = options.revocations;
  if (typeof revocations?.isRevoked !== 'function') {
    throw new TypeError('revocations must be a RevocationSource (createStaticRevocations([]) for none)');
  }
  if (revocations.isStale !== undefined && typeof revocations.isStale !== 'function') {
    throw new TypeError('revocations.isStale must be a function when present');
  }
  const tolerance = options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0)
    throw new TypeError('clockTolerance must be seconds >= 0');
  const requireExpiry = options.requireExpiry ?? false;
  if (typeof requireExpiry !== 'boolean') throw new TypeError('requireExpiry must be a boolean');
  const maxTokenLifetime = lifetimeOption(options.maxTokenLifetime, 'maxTokenLifetime');
  const maxTotalLifetime = lifetimeOption(options.maxTotalLifetime, 'maxTotalLifetime');
  const now = options.now ?? Date.now;
  const keys = keySource(options, algorithms, now);
  const cache = tokenCache(options.cache);
  const allowed = new Set<string>(algorithms);

  /** The checks that depend on the moment or on the CONNECT, made on every call, cache hit or not. */
  function admit(token: VerifiedToken, input: ConnectInput, nowMs: number): ConnectResult {
    const { claims, end } = token;
    if (end !== null && nowMs / 1000 >= end.at + tolerance) return fail(end.reason);
    // Judged at this moment too, cache hits included: a clock stepped back puts a cached iat or nbf ahead.
    const notBefore = Math.max(claims.iat, claims.nbf ?? claims.iat);
    if (notBefore > nowMs / 1000 + tolerance) return fail('not_yet_valid');
    if (revocations.isRevoked(claims.jti)) return fail('revoked');
    // A list that may be missing recent revocations cannot clear a token: fail closed, as a server problem.
    if (revocations.isStale?.() === true) return fail('revocations_unavailable');
    let clientId = input.clientId;
    let assignedClientId: string | undefined;
    if (clientId === '') {
      clientId = claims.sub;
      assignedClientId = claims.sub;
    } else if (clientId !== claims.sub) {
      return fail('client_id_mismatch');
    }
    if (input.username !== undefined && input.username !== '' && input.username !== clientId) {
      return fail('username_mismatch');
    }
    const session: ConnectSuccess = {
      ok: true,
      clientId,
      jti: claims.jti,
      expiresAt: end?.at ?? null,
      acl: token.acl,
      claims,
    };
    return assignedClientId === undefined ? session : { ...session, assignedClientId };
  }

  /** Everything about the token alone: header, key, signature, claims. `token` has the compact shape. */
  async function verifyToken(token: string, nowMs: number): Promise<Verification | ConnectFailure> {
    const firstDot = token.indexOf('.');
    const lastDot = token.lastIndexOf('.');
    const header = decodeJsonObject(token, 0, firstDot);
    if (header === undefined) return fail('malformed');
    const { alg, kid } = header;
    if (typeof alg !== 'string' || !allowed.has(alg)) return fail('algorithm_not_allowed');
    // RFC 7515 §4.1.11: an extension we do not understand must not be ignored; gatepass never sets crit.
    if ('crit' in header) return fail('critical_header');
    if (header.typ !== TOKEN_TYPE) return fail('wrong_type');
    if (typeof kid !== 'string' || kid === '') return fail('unknown_key');

    let found: KeyLookup;
    try {
      found = await keys.getKey(kid);
    } catch {
      // A custom KeySource broke its promise not to throw: still a refusal, never an exception.
      return fail('keys_unavailable');
    }
    if (!found.ok) return fail(found.reason);
    const { algorithm, key } = found.key;
    // The kid names a key published for one algorithm: a token may not pick another for it.
    if (algorithm !== alg) return fail('algorithm_not_allowed');

    const signature = decodeBase64url(token, lastDot + 1);
    if (signature === undefined) return fail('malformed');
    const signedPart = asciiBytes(token, lastDot);
    if (!(await signatureValid(algorithm, key, signature, signedPart))) return fail('bad_signature');
    const payload = decodeJsonObject(token, firstDot + 1, lastDot);
    if (payload === undefined) return fail('malformed');
    const verified = checkClaims(payload, found.key, nowMs);
    return 'ok' in verified ? verified : { token: verified, signedPart };
  }

  function checkClaims(
    payload: Record<string, unknown>,
    key: VerificationKey,
    nowMs: number,
  ): VerifiedToken | ConnectFailure {
    if (payload.iss !== issuer) return fail('wrong_issuer');
    if (payload.aud !== audience) return fail('wrong_audience');
    const parsed = claimsSchema.safeParse(payload);
    if (!parsed.success) return fail('invalid_claims');
    const claims = parsed.data;
    if (requireExpiry && claims.exp === undefined) return fail('missing_expiry');
    const end = tokenEnd(claims);
    const nowSeconds = nowMs / 1000;
    if (end !== null && nowSeconds >= end.at + tolerance) return fail(end.reason);
    if (claims.nbf !== undefined && claims.nbf > nowSeconds + tolerance) return fail('not_yet_valid');
    // A token issued in the future comes from a wrong clock or a forged issuer; either way, not yet.
    if (claims.iat > nowSeconds + tolerance) return fail('not_yet_valid');
    freezeAcl(claims.topicAcl);
    return { claims: Object.freeze(claims), acl: compileValidAcl(claims.topicAcl), kid: key.kid, end };
  }

  /** The earliest of `exp` and the lifetime limits; on a tie `expired`, the token's own word. */
  function tokenEnd(claims: VerifiedClaims): TokenEnd | null {
    let end: TokenEnd | null = claims.exp === undefined ? null : { at: claims.exp, reason: 'expired' };
    for (const limit of [
      maxTokenLifetime === undefined ? undefined : claims.iat + maxTokenLifetime,
      maxTotalLifetime === undefined ? undefined : (claims.orig_iat ?? claims.iat) + maxTotalLifetime,
    ]) {
      if (limit !== undefined && (end === null || limit < end.at))
        end = { at: limit, reason: 'lifetime_exceeded' };
    }
    return end;
  }

  return {
    async verifyConnect(input) {
      const { password } = input;
      if (password === undefined || password.length === 0) return fail('missing_password');
      if (password.length > MAX_TOKEN_BYTES) return fail('too_large');
      // Bytes above 0x7F become characters above 0x7F, which no compact JWS has: reading bytes as char
      // codes is exact for every token that can pass.
      const token = typeof password === 'string' ? password : String.fromCharCode(...password);
      const nowMs = now();
      const cacheKey = cache?.keyOf(token);
      if (cacheKey !== undefined) {
        const cached = cache?.get(cacheKey, token, nowMs);
        if (cached !== undefined) {
          if (keys.isTrusted(cached.kid)) return admit(cached, input, nowMs);
          cache?.delete(cacheKey);
        }
      }
      if (!isCompactJws(token)) {
        const tooLarge =
          typeof password === 'string' && utf8Encoder.encode(password).byteLength > MAX_TOKEN_BYTES;
        return fail(tooLarge ? 'too_large' : 'malformed');
      }
      const verification = await verifyToken(token, nowMs);
      if ('ok' in verification) return verification;
      const verified = verification.token;
      if (cacheKey !== undefined) {
        const { end } = verified;
        const deadline = end === null ? Number.POSITIVE_INFINITY : (end.at + tolerance) * 1000;
        cache?.set(cacheKey, verification.signedPart, verified, deadline);
      }
      return admit(verified, input, nowMs);
    },
  };
}

/**
 * Decides a PUBLISH (`topic` is a topic name) or SUBSCRIBE (`topic` is a topic filter, possibly a
 * `$share/{name}/{filter}` shared subscription) for a verified session. A subscription is allowed only when
 * one single `sub` filter of the token covers every topic it can match. The ACL was compiled once at
 * CONNECT, so a check is a set lookup or a short trie walk, with no allocation for the decision.
 *
 * Expiry is not re-checked here: a broker that must end sessions at `exp` schedules that from
 * `session.expiresAt`.
 *
 * @example
 * const session = await verifier.verifyConnect({ clientId: 'sensor-17', password: token });
 * if (session.ok) {
 *   authorize(session, 'publish', 'plant/line-3/temperature'); // { ok: true }
 *   authorize(session, 'subscribe', '$share/workers/plant/#'); // decided on 'plant/#'
 *   authorize(session, 'subscribe', '$SYS/#'); // { ok: false, reason: 'not_permitted' } unless granted
 * }
 */
export function authorize(
  session: Pick<ConnectSuccess, 'acl'>,
  action: AclAction,
  topic: string,
): AclDecision {
  return authorizeAcl(session.acl, action, topic);
}

/** WebCrypto parameters per pinned algorithm; a JWS signature is already in WebCrypto's raw format. */
const SIGNATURE_PARAMS: Record<SigningAlgorithm, AlgorithmIdentifier | EcdsaParams> = {
  EdDSA: { name: 'Ed25519' },
  ES256: { name: 'ECDSA', hash: 'SHA-256' },
};

/**
 * The signature check itself. jose's compactVerify would parse and validate the header again; the header
 * is parsed and pinned above, the key was imported by jose for this one algorithm, so what remains is the
 * WebCrypto call jose would make.
 */
async function signatureValid(
  algorithm: SigningAlgorithm,
  key: CryptoKey,
  signature: Uint8Array<ArrayBuffer>,
  signingInput: Uint8Array<ArrayBuffer>,
): Promise<boolean> {
  try {
    return await crypto.subtle.verify(SIGNATURE_PARAMS[algorithm], key, signature, signingInput);
  } catch {
    // A signature of the wrong length for the curve, say.
    return false;
  }
}

function freezeAcl(topicAcl: TopicAcl): void {
  if (topicAcl === '#') return;
  Object.freeze(topicAcl.pub);
  Object.freeze(topicAcl.sub);
  Object.freeze(topicAcl);
}

function keySource(
  options: VerifierOptions,
  algorithms: readonly SigningAlgorithm[],
  now: () => number,
): KeySource {
  const { keys } = options;
  if (typeof keys === 'string' || keys instanceof URL) {
    return createRemoteKeySource(keys, {
      algorithms,
      now,
      ...(options.fetch === undefined ? {} : { fetch: options.fetch }),
      ...(options.keyRefetchFloorMs === undefined ? {} : { refetchFloorMs: options.keyRefetchFloorMs }),
      ...(options.keyMaxAgeMs === undefined ? {} : { maxAgeMs: options.keyMaxAgeMs }),
      ...(options.keyFetchTimeoutMs === undefined ? {} : { timeoutMs: options.keyFetchTimeoutMs }),
    });
  }
  if (typeof keys === 'object' && keys !== null && 'getKey' in keys && typeof keys.getKey === 'function') {
    return keys;
  }
  return createLocalKeySource(keys as JsonWebKeySet, { algorithms });
}

function lifetimeOption(value: number | undefined, name: string): number | undefined {
  if (value !== undefined && (!Number.isFinite(value) || value <= 0)) {
    throw new TypeError(`${name} must be seconds > 0 when set`);
  }
  return value;
}

function tokenCache(option: VerifierOptions['cache']): TokenCache<VerifiedToken> | undefined {
  if (option === false) return undefined;
  const maxEntries = option?.maxEntries ?? DEFAULT_CACHE_ENTRIES;
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new TypeError('cache.maxEntries must be an integer >= 1');
  return createTokenCache(maxEntries);
}

function pinnedAlgorithms(value: readonly SigningAlgorithm[]): readonly SigningAlgorithm[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new TypeError(`algorithms must be a non-empty subset of ${SIGNING_ALGORITHMS.join(', ')}`);
  }
  for (const alg of value) {
    if (!(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new TypeError(
        `algorithm ${String(alg)} is not supported; use ${SIGNING_ALGORITHMS.join(' or ')}`,
      );
    }
  }
  return [...new Set(value)];
}

function nonEmptyString(value: string, name: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw new TypeError(`${name} must be a non-empty string`);
  return value;
}
