// Signing keys: generation, kid = RFC 7638 JWK thumbprint, and the public JWKS a broker serves.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { SigningAlgorithm } from '../core/claims.js';

export interface GeneratedSigningKey {
  kid: string;
  algorithm: SigningAlgorithm;
  publicJwk: JWK;
  privateJwk: JWK;
}

export interface PublicJwk extends JWK {
  kty: string;
  kid: string;
  alg: SigningAlgorithm;
  use: 'sig';
}

const keyGenerationOptions = {
  EdDSA: { crv: 'Ed25519', extractable: true },
  ES256: { extractable: true },
} as const;

export async function generateSigningKey(algorithm: SigningAlgorithm): Promise<GeneratedSigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(algorithm, keyGenerationOptions[algorithm]);
  const publicJwk = await exportJWK(publicKey);
  const privateJwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  return { kid, algorithm, publicJwk, privateJwk };
}

/** The JWK as published: only public members, with the kid and algorithm a verifier must pin. */
export function toPublicJwk(publicJwk: JWK, kid: string, algorithm: SigningAlgorithm): PublicJwk {
  const { kty, crv, x, y } = publicJwk;
  if (kty === undefined) throw new TypeError('a JWK without kty');
  return { kty, crv, x, ...(y === undefined ? {} : { y }), kid, alg: algorithm, use: 'sig' };
}

export async function importPrivateKey(privateJwk: JWK, algorithm: SigningAlgorithm): Promise<CryptoKey> {
  const key = await importJWK(privateJwk, algorithm);
  if (!(key instanceof CryptoKey)) throw new TypeError('expected an asymmetric private key');
  return key;
}
