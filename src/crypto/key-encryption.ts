// Private keys at rest: AES-256-GCM under the key-encryption key, bound to the key id as associated data.
import { base64url } from 'jose';

const FORMAT_VERSION = 'v1';
const IV_BYTES = 12;
const utf8 = new TextEncoder();

export interface KeyEncryptionKey {
  encrypt(plaintext: string, associatedData: string): Promise<string>;
  decrypt(sealed: string, associatedData: string): Promise<string>;
}

/** `rawKey` is 32 random bytes; the ciphertext names its format version so the scheme can change later. */
export async function createKeyEncryptionKey(rawKey: Uint8Array<ArrayBuffer>): Promise<KeyEncryptionKey> {
  if (rawKey.byteLength !== 32) throw new TypeError('the key-encryption key must be 32 bytes');
  const key = await crypto.subtle.importKey('raw', rawKey, 'AES-GCM', false, ['encrypt', 'decrypt']);
  return {
    async encrypt(plaintext, associatedData) {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const ciphertext = await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: utf8.encode(associatedData) },
        key,
        utf8.encode(plaintext),
      );
      return [FORMAT_VERSION, base64url.encode(iv), base64url.encode(new Uint8Array(ciphertext))].join('.');
    },
    async decrypt(sealed, associatedData) {
      const [version, iv, ciphertext] = sealed.split('.');
      if (version !== FORMAT_VERSION || !iv || !ciphertext) throw new Error('unknown sealed key format');
      const plaintext = await crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: new Uint8Array(base64url.decode(iv)),
          additionalData: utf8.encode(associatedData),
        },
        key,
        new Uint8Array(base64url.decode(ciphertext)),
      );
      return new TextDecoder().decode(plaintext);
    },
  };
}

export function generateKeyEncryptionKey(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(32)));
}
