// Real keys and tokens for the verifier tests: jose-generated EdDSA and ES256 key pairs, SignJWT tokens.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import type { SigningAlgorithm } from '../../src/core/claims.js';

export const ISSUER = 'https://gatepass.test';
export const AUDIENCE = 'plant-1';
/** 2025-01-01T00:00:00Z, in epoch milliseconds. */
export const T0 = Date.UTC(2025, 0, 1);
export const T0_SECONDS = T0 / 1000;

export interface TestKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** As gatepass publishes it. */
  publicJwk: JWK;
}

export async function makeKey(alg: SigningAlgorithm, kid?: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const { kty, crv, x, y } = await exportJWK(publicKey);
  const jwk: JWK = { kty, crv, x, ...(y === undefined ? {} : { y }) };
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
  return {
    kid: kid ?? thumbprint,
    alg,
    privateKey,
    publicKey,
    publicJwk: { ...jwk, kid: kid ?? thumbprint, alg, use: 'sig' },
  };
}

export const jwks = (...keys: TestKey[]) => ({ keys: keys.map((key) => key.publicJwk) });

let serial = 0;
/** A ULID-shaped jti, unique per call. */
export const newJti = () => `01J${String(++serial).padStart(23, '0')}`;

export interface TokenOptions {
  claims?: Record<string, unknown>;
  /** Claims to leave out entirely. */
  omit?: string[];
  header?: Record<string, unknown>;
  /** Sign with this key instead (its kid and alg are still taken from `key` unless `header` says otherwise). */
  signWith?: CryptoKey;
  crit?: Record<string, boolean>;
}

/** A valid credential for client `sensor-17`, one hour long from T0, unless options say otherwise. */
export async function token(key: TestKey, options: TokenOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'sensor-17',
    jti: newJti(),
    iat: T0_SECONDS,
    exp: T0_SECONDS + 3600,
    topicAcl: { pub: ['plant/line-3/#'], sub: ['plant/commands/sensor-17'] },
    ...options.claims,
  };
  for (const name of options.omit ?? []) delete claims[name];
  const header = { alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header };
  return new SignJWT(claims)
    .setProtectedHeader(header as { alg: string })
    .sign(
      options.signWith ?? key.privateKey,
      options.crit === undefined ? undefined : { crit: options.crit },
    );
}

/** base64url of a JSON value, for hand-made tokens. */
export const b64json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
