// A broker's current signing key, unsealed and imported once, then kept in memory (bounded).
import type { SigningAlgorithm } from '../core/claims.js';
import { signingKeyState } from '../core/signing-keys.js';
import type { KeyEncryptionKey } from '../crypto/key-encryption.js';
import { generateSigningKey, importPrivateKey } from '../crypto/keys.js';
import type { SigningKey } from '../crypto/sign.js';
import type { BrokerRecord, SigningKeyRecord } from '../store/port.js';
import type { ServiceDeps } from './deps.js';

const MAX_CACHED_KEYS = 1024;

/** The sealed private key is bound to its broker and kid, so a row copied elsewhere will not open. */
export function sealingContext(brokerId: string, kid: string): string {
  return `gatepass:signing-key:${brokerId}:${kid}`;
}

/**
 * A new signing key for a broker, its private half sealed, ready to store: published at `createdAt`, and
 * signing from `activatedAt` (a broker's first key) or, with null, the next key, signing nothing yet.
 */
export async function newSigningKeyRecord(
  keyEncryptionKey: KeyEncryptionKey,
  brokerId: string,
  algorithm: SigningAlgorithm,
  createdAt: number,
  activatedAt: number | null = null,
): Promise<SigningKeyRecord> {
  const key = await generateSigningKey(algorithm);
  return {
    brokerId,
    kid: key.kid,
    algorithm,
    publicJwk: key.publicJwk,
    sealedPrivateJwk: await keyEncryptionKey.encrypt(
      JSON.stringify(key.privateJwk),
      sealingContext(brokerId, key.kid),
    ),
    createdAt,
    activatedAt,
    retiredAt: null,
    removeAfter: null,
    revokedAt: null,
  };
}

/**
 * Keys are cached by broker and kid, and `currentSigningKey` reads which key is current from the store on
 * every call: a rotation takes effect at once, with nothing to invalidate.
 */
export function createKeyring({ store, keyEncryptionKey }: ServiceDeps) {
  const imported = new Map<string, Promise<SigningKey>>();

  function unseal(record: SigningKeyRecord): Promise<SigningKey> {
    const cacheKey = `${record.brokerId}:${record.kid}`;
    let key = imported.get(cacheKey);
    if (!key) {
      key = keyEncryptionKey
        .decrypt(record.sealedPrivateJwk, sealingContext(record.brokerId, record.kid))
        .then((jwk) => importPrivateKey(JSON.parse(jwk), record.algorithm))
        .then((privateKey) => ({ kid: record.kid, algorithm: record.algorithm, privateKey }));
      key.catch(() => imported.delete(cacheKey));
      if (imported.size >= MAX_CACHED_KEYS) imported.delete(imported.keys().next().value!);
      imported.set(cacheKey, key);
    }
    return key;
  }

  return {
    async currentSigningKey(broker: BrokerRecord): Promise<SigningKey> {
      const keys = await store.listSigningKeys(broker.id);
      const current = keys.find((key) => signingKeyState(key) === 'current');
      if (!current) throw new Error(`broker ${broker.id} has no active signing key`);
      return unseal(current);
    },
  };
}

export type Keyring = ReturnType<typeof createKeyring>;
