// Turning claims into compact JWS credentials with a broker's current signing key.
import { SignJWT } from 'jose';
import { type CredentialClaims, type SigningAlgorithm, TOKEN_TYPE } from '../core/claims.js';

export interface SigningKey {
  kid: string;
  algorithm: SigningAlgorithm;
  privateKey: CryptoKey;
}

/** `extra`: a claim profile's claims; the standard claims win over any of the same name. */
export function signCredential(
  claims: CredentialClaims,
  key: SigningKey,
  extra: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT({ ...extra, ...claims })
    .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: TOKEN_TYPE })
    .sign(key.privateKey);
}
