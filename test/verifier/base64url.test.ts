import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asciiBytes, decodeBase64url } from '../../src/verifier/base64url.js';

const encode = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

describe('decodeBase64url', () => {
  it('inverts base64url encoding of any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(decodeBase64url(encode(bytes))).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('decodes a slice of a longer string', () => {
    const text = `xx.${encode(new Uint8Array([1, 2, 3, 4]))}.yy`;
    expect(decodeBase64url(text, 3, text.length - 3)).toEqual(new Uint8Array([1, 2, 3, 4]));
  });

  it.each([
    ['a length of 1 modulo 4', 'A'],
    ['padding', 'AQ=='],
    ['base64 rather than base64url', 'a+/b'],
    ['a character outside ASCII', 'AAé='],
    ['stray bits after the last byte (2 trailing characters)', 'AR'],
    ['stray bits after the last byte (3 trailing characters)', 'AAB'],
  ])('refuses %s', (_name, text) => {
    expect(decodeBase64url(text)).toBeUndefined();
  });

  it('accepts exactly the canonical encodings', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'AQgw_-z9'), maxLength: 12 }), (text) => {
        const decoded = decodeBase64url(text);
        if (decoded !== undefined) expect(encode(decoded)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});

describe('asciiBytes', () => {
  it('gives the bytes of a prefix', () => {
    expect(asciiBytes('abc.def', 3)).toEqual(new TextEncoder().encode('abc'));
  });
});
