// Which `exp` a credential gets: the broker's default and the request's, the shorter winning.

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
