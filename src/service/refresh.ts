// Refresh: a client trades its current, valid credential for a new one with the same client ID and ACL.
import { base64url, createLocalJWKSet, errors, jwtVerify } from 'jose';
import { z } from 'zod';
import {
  clientIdSchema,
  MAX_CREDENTIAL_BYTES,
  TOKEN_TYPE,
  type TopicAcl,
  topicAclSchema,
} from '../core/claims.js';
import { toEpochSeconds } from '../core/clock.js';
import { notFound } from '../core/errors.js';
import { refreshedExpiry } from '../core/expiration.js';
import { createRateLimiter } from '../core/rate-limit.js';
import { toPublicJwk } from '../crypto/keys.js';
import type { BrokerRecord } from '../store/port.js';
import { brokerEvent } from './audit.js';
import type { SignAndRecord } from './credentials.js';
import type { ServiceDeps } from './deps.js';

/** Seconds of clock skew allowed on the presented token's `exp`, `nbf` and `iat`. */
export const REFRESH_CLOCK_TOLERANCE_SECONDS = 5;

/** Why a presented token was refused: logged, never sent (the wire says only `invalid_token`). */
export type RefreshRefusal =
  | 'malformed'
  | 'unknown_key'
  | 'algorithm_not_allowed'
  | 'bad_signature'
  | 'wrong_type'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'expired'
  | 'not_yet_valid'
  | 'invalid_claims'
  | 'revoked'
  /** Valid, but its chain reached the broker's max_lifetime: the client needs a new credential. */
  | 'lifetime_exceeded';

export interface RefreshRequest {
  /** The credential the client holds now. */
  token: string;
  /** Revoke the presented token in the same write as recording the new one. */
  revokeOld: boolean;
}

export interface Refreshed {
  ok: true;
  clientId: string;
  token: string;
  jti: string;
  /** Epoch seconds, or null for no `exp`. */
  expiresAt: number | null;
  /** The presented jti, when it was revoked. */
  revokedJti: string | null;
}

/**
 * A valid credential refreshed too often: per presented credential (a stolen copy cannot mint a stream of
 * fresh ones), or per client id (a client refreshing each new credential in turn).
 */
export interface RefreshRateLimited {
  ok: false;
  reason: 'rate_limited';
  retryAfterMs: number;
  perMinute: number;
}

export type RefreshResult = Refreshed | { ok: false; reason: RefreshRefusal } | RefreshRateLimited;

/** The claims a refresh reads from a verified token; anything else is dropped. */
const presentedClaimsSchema = z
  .object({
    sub: clientIdSchema,
    jti: z.string().min(1).max(128),
    iat: z.number().int().nonnegative(),
    exp: z.number().optional(),
    orig_iat: z.number().int().nonnegative().optional(),
    topicAcl: topicAclSchema,
  })
  .refine((claims) => claims.orig_iat === undefined || claims.orig_iat <= claims.iat);

type PresentedClaims = z.infer<typeof presentedClaimsSchema>;

const refuse = (reason: RefreshRefusal) => ({ ok: false, reason }) as const;

function refusalFor(error: errors.JOSEError): RefreshRefusal {
  switch (error.code) {
    case errors.JWTExpired.code:
      return 'expired';
    case errors.JWTClaimValidationFailed.code: {
      const { claim } = error as errors.JWTClaimValidationFailed;
      if (claim === 'iss') return 'wrong_issuer';
      if (claim === 'aud') return 'wrong_audience';
      if (claim === 'typ') return 'wrong_type';
      if (claim === 'nbf') return 'not_yet_valid';
      return 'invalid_claims';
    }
    case errors.JOSEAlgNotAllowed.code:
      return 'algorithm_not_allowed';
    case errors.JWSSignatureVerificationFailed.code:
      return 'bad_signature';
    case errors.JWKSNoMatchingKey.code:
    case errors.JWKSMultipleMatchingKeys.code:
      return 'unknown_key';
    default:
      return 'malformed';
  }
}

/**
 * Every segment in canonical base64url: jose decodes with the platform's forgiving base64, which ignores the
 * unused low bits of the last character, so one credential would have several spellings. gatepass's
 * verifier refuses them (`malformed`); so does a refresh.
 */
function canonicalSegments(token: string): boolean {
  try {
    return token.split('.').every((segment) => base64url.encode(base64url.decode(segment)) === segment);
  } catch {
    return false;
  }
}

/**
 * Verifies a presented credential as a broker would: signed by one of this broker's published keys (retired
 * ones included until they leave the JWKS), the broker's algorithm pinned, its issuer and audience, `typ`,
 * `exp`/`nbf` with a small tolerance, and an `iat` not in the future. Revocation is checked by the caller.
 * Where jose is more lenient than gatepass's verifier, the verifier's rule applies: `typ` exactly `JWT`
 * (jose ignores case and an `application/` prefix), `aud` a string (jose accepts a list holding it), and
 * canonical base64url.
 */
async function verifyPresented(
  token: string,
  broker: BrokerRecord,
  keys: Parameters<typeof createLocalJWKSet>[0],
  now: number,
): Promise<{ ok: true; claims: PresentedClaims } | { ok: false; reason: RefreshRefusal }> {
  // No gatepass credential is longer, and brokers refuse longer passwords.
  if (token.length > MAX_CREDENTIAL_BYTES || !canonicalSegments(token)) return refuse('malformed');
  let payload: Record<string, unknown>;
  let typ: unknown;
  try {
    ({
      payload,
      protectedHeader: { typ },
    } = await jwtVerify(token, createLocalJWKSet(keys), {
      algorithms: [broker.algorithm],
      issuer: broker.issuer,
      audience: broker.audience,
      typ: TOKEN_TYPE,
      requiredClaims: ['sub', 'jti', 'iat'],
      clockTolerance: REFRESH_CLOCK_TOLERANCE_SECONDS,
      currentDate: new Date(now),
    }));
  } catch (error) {
    if (error instanceof errors.JOSEError) return refuse(refusalFor(error));
    throw error;
  }
  if (typ !== TOKEN_TYPE) return refuse('wrong_type');
  if (typeof payload.aud !== 'string') return refuse('wrong_audience');
  const parsed = presentedClaimsSchema.safeParse(payload);
  if (!parsed.success) return refuse('invalid_claims');
  // A token issued in the future comes from a wrong clock or a forged issuer; either way, not yet.
  if (parsed.data.iat > toEpochSeconds(now) + REFRESH_CLOCK_TOLERANCE_SECONDS) return refuse('not_yet_valid');
  return { ok: true, claims: parsed.data };
}

/**
 * The presented token is the credential for a refresh: no admin key. What the new token may do comes only
 * from the verified old one (client ID and ACL copied), and how long it lives only from the broker's rules.
 */
export function createRefreshService(
  { store, clock, brokerChanges, refreshPerMinute = 0 }: ServiceDeps,
  signAndRecord: SignAndRecord,
) {
  const limiter = refreshPerMinute > 0 ? createRateLimiter({ perMinute: refreshPerMinute }) : undefined;

  /**
   * Takes a refresh from the presented credential's bucket and its client id's, per broker. Counted only for
   * credentials that passed every check: a refused token mints nothing, and a 429 says nothing about a
   * token its holder does not already know to be valid.
   */
  function throttle(brokerId: string, claims: PresentedClaims, now: number): RefreshRateLimited | undefined {
    if (limiter === undefined) return undefined;
    for (const key of [`jti ${brokerId} ${claims.jti}`, `client ${brokerId} ${claims.sub}`]) {
      const decision = limiter.take(key, now);
      if (!decision.ok) {
        return {
          ok: false,
          reason: 'rate_limited',
          retryAfterMs: decision.retryAfterMs,
          perMinute: refreshPerMinute,
        };
      }
    }
    return undefined;
  }

  return {
    async refresh(
      namespaceName: string,
      brokerName: string,
      request: RefreshRequest,
    ): Promise<RefreshResult> {
      const namespace = await store.findNamespace(namespaceName);
      const broker = namespace && (await store.findBroker(namespace.id, brokerName));
      if (!broker) throw notFound('broker');

      const now = clock();
      const keys = await store.listSigningKeys(broker.id);
      const verified = await verifyPresented(
        request.token,
        broker,
        { keys: keys.map((key) => toPublicJwk(key.publicJwk, key.kid, key.algorithm)) },
        now,
      );
      if (!verified.ok) return verified;
      const presented = verified.claims;
      if (await store.isRevoked(broker.id, presented.jti)) return refuse('revoked');

      const issuedAt = toEpochSeconds(now);
      const expiry = refreshedExpiry(presented, broker, issuedAt);
      if (!expiry.ok) return refuse(expiry.reason);
      const throttled = throttle(broker.id, presented, now);
      if (throttled) return throttled;

      const topicAcl: TopicAcl = presented.topicAcl;
      let recorded = false;
      const [signed] = await signAndRecord({
        broker,
        grants: [
          {
            clientId: presented.sub,
            topicAcl,
            expiresAt: expiry.expiresAt,
            originalIssuedAt: expiry.originalIssuedAt,
          },
        ],
        issuedAt,
        // Provenance instead of an admin key: the credential this one replaces.
        issuedBy: `refresh:${presented.jti}`,
        parentJti: presented.jti,
        async record([record]) {
          const audit = brokerEvent(
            'credentials.refresh',
            `refresh:${presented.jti}`,
            now,
            { namespace, broker },
            {
              jti: record!.jti,
              client_id: record!.clientId,
              exp: record!.expiresAt,
              replaces: presented.jti,
              revoked_old: request.revokeOld,
            },
          );
          recorded = await store.insertRefreshedCredential(
            record!,
            request.revokeOld
              ? {
                  brokerId: broker.id,
                  jti: presented.jti,
                  revokedAt: now,
                  expiresAt: presented.exp ?? null,
                  // Unique to this call, so the store can tell whether this call's revocation landed.
                  revokedBy: `refresh:${record!.jti}`,
                }
              : undefined,
            audit,
          );
        },
      });
      // The presented token was revoked after it was checked (a concurrent refresh with revoke_old, or an
      // admin revoking it or an ancestor): this one loses.
      if (!recorded || !signed) return refuse('revoked');
      if (request.revokeOld) brokerChanges?.revocationsChanged(broker.id);
      return {
        ok: true,
        clientId: signed.claims.sub,
        token: signed.token,
        jti: signed.claims.jti,
        expiresAt: signed.claims.exp ?? null,
        revokedJti: request.revokeOld ? presented.jti : null,
      };
    },
  };
}

export type RefreshService = ReturnType<typeof createRefreshService>;
