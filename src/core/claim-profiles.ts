// Claim profiles: which extra claims a broker's credentials carry so that its own JWT authenticator (EMQX's,
// TBMQ's) can enforce the ACL without calling gatepass, and what such a broker must be configured with.
import type { SigningAlgorithm } from './claims.js';

/**
 * - `standard`: the claims of docs/api.md only.
 * - `emqx`: also `acl`, EMQX 5.5+'s rule list (docs/brokers/emqx.md).
 * - `tbmq`: also a client type and publish/subscribe regular expressions (docs/brokers/tbmq.md).
 *
 * Every profile keeps the standard claims and `topicAcl`, so gatepass's verifier and webhooks decide as ever.
 */
export const CLAIM_PROFILES = ['standard', 'emqx', 'tbmq'] as const;
export type ClaimProfile = (typeof CLAIM_PROFILES)[number];

export const DEFAULT_CLAIM_PROFILE: ClaimProfile = 'standard';

/** A broker created with this profile and no algorithm gets this one. */
export function defaultAlgorithm(profile: ClaimProfile): SigningAlgorithm {
  return profile === 'standard' ? 'EdDSA' : 'ES256';
}

/** The broker settings a claim profile constrains. */
export interface ProfileSettings {
  claimProfile: ClaimProfile;
  algorithm: SigningAlgorithm;
  expiration: number | null;
  maxLifetime: number | null;
}

/**
 * A broker whose tokens another JWT authenticator verifies natively:
 * - signs with ES256: EMQX documents RS256-512 and ES256-512 for public keys, and TBMQ's JWKS verifier
 *   cannot use Ed25519 keys (Nimbus does not convert OKP keys to the Java keys its key selector returns);
 * - gives every token an `exp` (an `expiration` or a `max_lifetime`): neither broker can see gatepass's
 *   revocation list, and both accept a token without `exp` for ever.
 */
export function claimProfileProblem(settings: ProfileSettings): string | null {
  const { claimProfile, algorithm, expiration, maxLifetime } = settings;
  if (claimProfile === 'standard') return null;
  const broker = claimProfile === 'emqx' ? 'EMQX' : 'TBMQ';
  if (algorithm !== 'ES256') {
    return `claim_profile ${claimProfile} needs algorithm ES256 (fixed when the broker is created): ${broker}'s JWT authenticator does not verify ${algorithm} tokens against a key set`;
  }
  if (expiration === null && maxLifetime === null) {
    return `claim_profile ${claimProfile} needs an expiration or a max_lifetime: ${broker} cannot see revocations and accepts a token without exp for ever`;
  }
  return null;
}
