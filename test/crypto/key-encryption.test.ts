import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import { createKeyEncryptionKey, generateKeyEncryptionKey } from '../../src/crypto/key-encryption.js';

const newKek = () => createKeyEncryptionKey(new Uint8Array(base64url.decode(generateKeyEncryptionKey())));

describe('key encryption', () => {
  it('round-trips and never leaves the plaintext in the sealed form', async () => {
    const kek = await newKek();
    const sealed = await kek.encrypt('{"d":"private"}', 'context');
    expect(sealed).not.toContain('private');
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(await kek.decrypt(sealed, 'context')).toBe('{"d":"private"}');
  });

  it('refuses another context, another key, and tampering', async () => {
    const kek = await newKek();
    const sealed = await kek.encrypt('secret', 'broker-a:kid-1');
    await expect(kek.decrypt(sealed, 'broker-b:kid-1')).rejects.toThrow();
    await expect((await newKek()).decrypt(sealed, 'broker-a:kid-1')).rejects.toThrow();
    const [version, iv, ciphertext] = sealed.split('.');
    const flipped = `${ciphertext![0] === 'A' ? 'B' : 'A'}${ciphertext!.slice(1)}`;
    await expect(kek.decrypt([version, iv, flipped].join('.'), 'broker-a:kid-1')).rejects.toThrow();
  });

  it('takes only 32-byte keys', async () => {
    await expect(createKeyEncryptionKey(new Uint8Array(16))).rejects.toThrow(/32 bytes/);
  });
});
