import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sha256Latin1 } from '../../src/verifier/sha256.js';

async function reference(input: string): Promise<string> {
  const bytes = Uint8Array.from(input, (char) => char.charCodeAt(0));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

describe('sha256Latin1', () => {
  it('matches the FIPS 180-2 examples', () => {
    expect(sha256Latin1('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Latin1('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('matches WebCrypto at every length around the block and padding boundaries', async () => {
    for (let length = 0; length <= 200; length++) {
      const input = 'x'.repeat(length);
      expect(sha256Latin1(input), `length ${length}`).toBe(await reference(input));
    }
  });

  it('matches WebCrypto on random byte strings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({
          unit: fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)),
          maxLength: 300,
        }),
        async (input) => {
          expect(sha256Latin1(input)).toBe(await reference(input));
        },
      ),
      { numRuns: 300 },
    );
  });
});
