// A signing key's life: published as the next key, then current (it signs), then retired, or revoked at once.

/**
 * `Cache-Control: max-age` of a broker's key set (`jwks.json`): how long an HTTP cache, shared or not, may
 * serve a copy without asking gatepass again.
 */
export const KEY_SET_MAX_AGE_SECONDS = 300;

/**
 * How long the next key is published before it may sign, so that a verifier holding a cached key set
 * already knows it when its first token arrives. A copy may be up to {@link KEY_SET_MAX_AGE_SECONDS} old
 * when a verifier fetches it (a shared HTTP cache), and verifiers keep their own copy for a while: 10
 * minutes in jose's `createRemoteJWKSet` and in gatepass's verifier, 5 in EMQX's and TBMQ's JWKS clients by
 * default. 5 + 10 minutes, and 5 more of margin.
 */
export const KEY_PREPUBLICATION_SECONDS = 20 * 60;

/**
 * The shortest `key_rotation_period`: a key is published for a whole period as the next key before it
 * signs, so a period shorter than the pre-publication would promote keys verifiers may not know yet.
 */
export const MIN_KEY_ROTATION_PERIOD_SECONDS = KEY_PREPUBLICATION_SECONDS;

/**
 * - `next`: published, signs nothing yet; it becomes current at the next rotation.
 * - `current`: signs every credential the broker issues (exactly one per broker).
 * - `retired`: signs no more, published until the tokens it signed have expired (`remove_after`).
 * - `revoked`: taken out of the key set at once (a compromised key): tokens it signed are refused.
 */
export type SigningKeyState = 'next' | 'current' | 'retired' | 'revoked';

/** The times that decide a key's state (epoch ms; null: not yet). */
export interface SigningKeyTimes {
  /** When it began signing; null while it is the next key. */
  activatedAt: number | null;
  /** When it stopped signing, or stopped being the next key. */
  retiredAt: number | null;
  /** When it was revoked: it left the key set then. */
  revokedAt: number | null;
}

export function signingKeyState({ activatedAt, retiredAt, revokedAt }: SigningKeyTimes): SigningKeyState {
  if (revokedAt !== null) return 'revoked';
  if (retiredAt !== null) return 'retired';
  return activatedAt === null ? 'next' : 'current';
}

/** When a next key published at `createdAt` (epoch ms) may start signing. */
export function prepublishedUntil(createdAt: number): number {
  return createdAt + KEY_PREPUBLICATION_SECONDS * 1000;
}
