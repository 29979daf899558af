// Which `exp` a credential gets: the broker's default and the request's, the shorter winning.

/**
 * Verifiers accept a token a little past its `exp` (their clock tolerance, 5 seconds by default): keys are
 * removed, and revocations pruned, only this long after the last token could still pass.
 */
export const EXPIRY_GRACE_SECONDS = 60;

/** Requesting this expiration asks for a token without `exp`; refused when the broker sets one. */
export const NO_EXPIRATION = -1;

/** Ten years: beyond this an expiration is a typo, and `iat + expiration` must stay a safe integer. */
export const MAX_EXPIRATION_SECONDS = 10 * 365 * 24 * 3600;

export type Lifetime = { ok: true; seconds: number | null } | { ok: false; message: string };

export function credentialLifetime(brokerExpiration: number | null, requested: number | undefined): Lifetime {
  if (requested === NO_EXPIRATION) {
    return brokerExpiration === null
      ? { ok: true, seconds: null }
      : {
          ok: false,
          message: `expiration -1 (no expiry) is refused: this broker limits credentials to ${brokerExpiration} seconds`,
        };
  }
  if (requested === undefined) return { ok: true, seconds: brokerExpiration };
  return { ok: true, seconds: brokerExpiration === null ? requested : Math.min(requested, brokerExpiration) };
}

/** The shorter of two limits in seconds; null is no limit. */
export function shorterLimit(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/**
 * A fresh credential (its own first issue): `max_lifetime` bounds it like the broker's expiration, so a
 * broker with either issues no token without `exp`.
 */
export function freshCredentialLifetime(
  broker: { expiration: number | null; maxLifetime: number | null },
  requested: number | undefined,
): Lifetime {
  return credentialLifetime(shorterLimit(broker.expiration, broker.maxLifetime), requested);
}

/** What is known about a verified credential presented for refresh (epoch seconds). */
export interface PresentedCredential {
  iat: number;
  exp?: number | undefined;
  /** When the first credential of this chain was issued; absent: `iat`. */
  orig_iat?: number | undefined;
}

export type RefreshedExpiry =
  | { ok: true; originalIssuedAt: number; expiresAt: number | null }
  | { ok: false; reason: 'lifetime_exceeded' };

/**
 * The `exp` of a refreshed credential issued at `now` (seconds). Its lifetime is the shorter of the
 * broker's expiration and the presented token's own lifetime (`exp - iat`), so a refresh never turns a short
 * token into a long one nor a token with `exp` into one without; a token without `exp` gets the broker's
 * expiration. `max_lifetime`, counted from the chain's first issue, caps the result; once it has passed the
 * credential cannot be refreshed at all.
 */
export function refreshedExpiry(
  presented: PresentedCredential,
  broker: { expiration: number | null; maxLifetime: number | null },
  now: number,
): RefreshedExpiry {
  const originalIssuedAt = presented.orig_iat ?? presented.iat;
  const deadline = broker.maxLifetime === null ? null : originalIssuedAt + broker.maxLifetime;
  if (deadline !== null && deadline <= now) return { ok: false, reason: 'lifetime_exceeded' };
  const ownLifetime = presented.exp === undefined ? null : Math.max(1, presented.exp - presented.iat);
  const seconds = shorterLimit(broker.expiration, ownLifetime);
  const expiresAt = seconds === null ? null : now + seconds;
  if (deadline === null) return { ok: true, originalIssuedAt, expiresAt };
  return {
    ok: true,
    originalIssuedAt,
    expiresAt: expiresAt === null ? deadline : Math.min(expiresAt, deadline),
  };
}

/** How long a retired signing key stays published, all in seconds except the epoch-millisecond times. */
export interface RetiredKeyUsage {
  /** When the key stopped signing (epoch ms). */
  retiredAt: number;
  /** The latest `exp` among the credentials it signed (epoch seconds), or null for none with `exp`. */
  latestExpiry: number | null;
  /** Whether it signed credentials without `exp`. */
  signedWithoutExpiry: boolean;
  /** The longest lifetime the broker issues now: the shorter of expiration and max_lifetime; null: none. */
  brokerLifetime: number | null;
  /** How long tokens without `exp` keep verifying after their key retires. */
  overlapSeconds: number;
  /** Extra time for verifiers whose clocks run behind (their clock tolerance). */
  graceSeconds: number;
}

/**
 * When a retired key leaves the JWKS (epoch ms): after the last recorded token it signed expires; at the
 * earliest the broker's lifetime after retirement, which also covers a token signed just before the
 * rotation whose record was written after it; and a token without `exp` gets a bounded overlap, not forever.
 */
export function retiredKeyRemoveAfter(usage: RetiredKeyUsage): number {
  const { retiredAt, latestExpiry, signedWithoutExpiry, brokerLifetime, overlapSeconds, graceSeconds } =
    usage;
  const candidates = [retiredAt + (brokerLifetime ?? overlapSeconds) * 1000];
  if (latestExpiry !== null) candidates.push(latestExpiry * 1000);
  if (signedWithoutExpiry) candidates.push(retiredAt + overlapSeconds * 1000);
  return Math.max(...candidates) + graceSeconds * 1000;
}
