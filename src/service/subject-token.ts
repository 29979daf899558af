// Verifying a subject token with a JWT identity source: keys from its JWKS URL (cached per URL, refetched for
// an unknown kid at most every 30 s, by jose's createRemoteJWKSet) or its shared HMAC secret, with the issuer,
// audience, algorithms and expiry pinned. Every refusal is a value; the caller turns it into a 4xx.
import { createRemoteJWKSet, customFetch, decodeJwt, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { TemplateValues } from '../core/acl-template.js';
import type { Clock } from '../core/clock.js';
import type { JwtSourceSettings } from '../store/port.js';

export type SubjectTokenRefusal =
  | 'untrusted_issuer'
  | 'invalid_signature'
  | 'token_expired'
  | 'invalid_audience'
  | 'invalid_subject_token'
  | 'identity_source_timeout'
  | 'identity_source_unavailable';

export type VerifiedSubject =
  | { ok: true; identity: TemplateValues }
  | { ok: false; reason: SubjectTokenRefusal };

/** jose's default, stated: an unknown kid refetches the JWKS at most this often. */
export const JWKS_COOLDOWN_MS = 30_000;
export const JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
export const JWKS_TIMEOUT_MS = 5000;
const MAX_JWKS_BYTES = 256 * 1024;
const MAX_CACHED_JWKS = 256;

/** The JWKS could not be fetched or used: the identity source's problem, not the token's. */
class SourceUnavailable extends Error {}

/** The token's `iss`, unverified: only to pick candidate sources, which then verify it. */
export function unverifiedIssuer(token: string): { ok: true; issuer: string | undefined } | { ok: false } {
  try {
    const { iss } = decodeJwt(token);
    return { ok: true, issuer: typeof iss === 'string' ? iss : undefined };
  } catch {
    return { ok: false };
  }
}

function refusalFor(error: errors.JOSEError): SubjectTokenRefusal {
  switch (error.code) {
    case errors.JWTExpired.code:
      return 'token_expired';
    case errors.JWTClaimValidationFailed.code: {
      const { claim } = error as errors.JWTClaimValidationFailed;
      if (claim === 'iss') return 'untrusted_issuer';
      if (claim === 'aud') return 'invalid_audience';
      return 'invalid_subject_token';
    }
    case errors.JOSEAlgNotAllowed.code:
    case errors.JWSSignatureVerificationFailed.code:
    case errors.JWKSNoMatchingKey.code:
    case errors.JWKSMultipleMatchingKeys.code:
      return 'invalid_signature';
    case errors.JWKSTimeout.code:
      return 'identity_source_timeout';
    // A JWKS response that was not 200, not JSON, or not a key set.
    case errors.JOSEError.code:
    case errors.JWKSInvalid.code:
      return 'identity_source_unavailable';
    default:
      return 'invalid_subject_token';
  }
}

/** Reads a response body, refusing more than `maxBytes`; undefined when it is larger. */
export async function readCapped(response: Response, maxBytes: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

export function createSubjectTokenVerifier({
  clock,
  fetch,
}: {
  clock: Clock;
  fetch: typeof globalThis.fetch;
}) {
  const jwksByUrl = new Map<string, JWTVerifyGetKey>();

  /** jose's fetch, with a size limit and network failures told apart from bad tokens. */
  const cappedFetch = async (url: string, options: RequestInit & { signal: AbortSignal }) => {
    try {
      const response = await fetch(url, options);
      const body = await readCapped(response, MAX_JWKS_BYTES);
      if (body === undefined) throw new SourceUnavailable('the JWKS is too large');
      return new Response(body, { status: response.status, headers: response.headers });
    } catch (error) {
      if (error instanceof SourceUnavailable) throw error;
      if (options.signal.aborted) throw new errors.JWKSTimeout();
      throw new SourceUnavailable('the JWKS could not be fetched', { cause: error });
    }
  };

  function remoteKeys(url: string): JWTVerifyGetKey {
    let keys = jwksByUrl.get(url);
    if (keys) return keys;
    const remote = createRemoteJWKSet(new URL(url), {
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: JWKS_CACHE_MAX_AGE_MS,
      timeoutDuration: JWKS_TIMEOUT_MS,
      [customFetch]: cappedFetch,
    });
    keys = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (error) {
        // A key the IdP publishes but WebCrypto cannot import is the source's fault, not a server error.
        if (error instanceof errors.JOSEError || error instanceof SourceUnavailable) throw error;
        throw new SourceUnavailable('a key of the JWKS could not be used', { cause: error });
      }
    };
    if (jwksByUrl.size >= MAX_CACHED_JWKS) jwksByUrl.delete(jwksByUrl.keys().next().value!);
    jwksByUrl.set(url, keys);
    return keys;
  }

  return {
    /** `secret`: the unsealed HMAC secret of a source without a JWKS URL. */
    async verify(
      token: string,
      settings: JwtSourceSettings,
      secret: string | null,
    ): Promise<VerifiedSubject> {
      const options = {
        issuer: settings.issuer,
        audience: settings.audience,
        algorithms: settings.algorithms,
        clockTolerance: settings.clockTolerance,
        requiredClaims: ['sub', 'exp'],
        currentDate: new Date(clock()),
      };
      let payload: Record<string, unknown>;
      try {
        if (settings.jwksUrl !== null) {
          ({ payload } = await jwtVerify(token, remoteKeys(settings.jwksUrl), options));
        } else if (secret !== null) {
          ({ payload } = await jwtVerify(token, new TextEncoder().encode(secret), options));
        } else {
          throw new TypeError('a JWT identity source has neither a JWKS URL nor a secret');
        }
      } catch (error) {
        if (error instanceof SourceUnavailable) return { ok: false, reason: 'identity_source_unavailable' };
        if (error instanceof errors.JOSEError) return { ok: false, reason: refusalFor(error) };
        throw error;
      }
      if (typeof payload.sub !== 'string' || payload.sub === '') {
        return { ok: false, reason: 'invalid_subject_token' };
      }
      return { ok: true, identity: { sub: payload.sub, attributes: payload } };
    },
  };
}

export type SubjectTokenVerifier = ReturnType<typeof createSubjectTokenVerifier>;
