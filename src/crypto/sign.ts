// Turning claims into compact JWS credentials with a broker's current signing key.
import { SignJWT } from 'jose';
import { type CredentialClaims, type SigningAlgorithm, TOKEN_TYPE } from '../core/claims.js';

export interface SigningKey {
  kid: string;
  algorithm: SigningAlgorithm;
  privateKey: CryptoKey;
}

export function signCredential(claims: CredentialClaims, key: SigningKey): Promise<string> {
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: key.algorithm, kid: key.kid, typ: TOKEN_TYPE })
    .sign(key.privateKey);
}
