import { describe, expect, it } from 'vitest';
import { createTokenCache, type TokenCache } from '../../src/verifier/cache.js';

/** What the verifier does: the key once, then get or set with it. */
const get = <T>(cache: TokenCache<T>, token: string, nowMs: number) => {
  const key = cache.keyOf(token);
  return key === undefined ? undefined : cache.get(key, token, nowMs);
};
const put = <T>(cache: TokenCache<T>, token: string, value: T, deadlineMs: number) => {
  const key = cache.keyOf(token);
  const signedPart = new TextEncoder().encode(token.slice(0, token.lastIndexOf('.')));
  if (key !== undefined) cache.set(key, signedPart, value, deadlineMs);
};

const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJzZW5zb3ItMTcifQ.c2lnbmF0dXJlLW9uZQ';

describe('createTokenCache', () => {
  it('hits only on the exact token', () => {
    const cache = createTokenCache<string>(10);
    put(cache, TOKEN, 'verified', Number.POSITIVE_INFINITY);
    expect(get(cache, TOKEN, 0)).toBe('verified');
    // Same signature with another header or payload, or a token that merely starts alike.
    const [header, payload, signature] = TOKEN.split('.');
    expect(get(cache, `${header}.eyJzdWIiOiJyb290In0.${signature}`, 0)).toBeUndefined();
    expect(get(cache, `eyJhbGciOiJub25lIn0.${payload}.${signature}`, 0)).toBeUndefined();
    expect(get(cache, `${header}${payload}.${signature}`, 0)).toBeUndefined();
    expect(get(cache, `x${TOKEN}`, 0)).toBeUndefined();
    expect(get(cache, `${TOKEN}x`, 0)).toBeUndefined();
    expect(get(cache, `${header}.${payload}.c2lnbmF0dXJlLXR3bw`, 0)).toBeUndefined();
  });

  it('ignores strings that are no compact JWS', () => {
    const cache = createTokenCache<string>(10);
    for (const token of ['', 'abc', 'a.b.', 'a.b.c+d', 'a.b.é']) {
      expect(cache.keyOf(token)).toBeUndefined();
      put(cache, token, 'x', Number.POSITIVE_INFINITY);
      expect(get(cache, token, 0)).toBeUndefined();
    }
    expect(cache.size).toBe(0);
  });

  it('drops an entry at its deadline', () => {
    const cache = createTokenCache<string>(10);
    put(cache, TOKEN, 'verified', 1000);
    expect(get(cache, TOKEN, 999)).toBe('verified');
    expect(get(cache, TOKEN, 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('evicts an entry not hit since the clock last passed it (second chance)', () => {
    const cache = createTokenCache<number>(2);
    const tokens = ['a.b.c1', 'a.b.c2', 'a.b.c3', 'a.b.c4'] as const;
    put(cache, tokens[0], 0, Number.POSITIVE_INFINITY);
    put(cache, tokens[1], 1, Number.POSITIVE_INFINITY);
    get(cache, tokens[0], 0);
    put(cache, tokens[2], 2, Number.POSITIVE_INFINITY);
    expect(get(cache, tokens[0], 0)).toBe(0);
    expect(get(cache, tokens[1], 0)).toBeUndefined();
    expect(get(cache, tokens[2], 0)).toBe(2);
    // Both were hit: each is spared once, then the oldest goes.
    put(cache, tokens[3], 3, Number.POSITIVE_INFINITY);
    expect(cache.size).toBe(2);
    expect(get(cache, tokens[0], 0)).toBeUndefined();
    expect(get(cache, tokens[2], 0)).toBe(2);
    expect(get(cache, tokens[3], 0)).toBe(3);
    cache.delete(cache.keyOf(tokens[2])!);
    expect(cache.size).toBe(1);
  });

  it('replaces an entry set again without evicting another', () => {
    const cache = createTokenCache<number>(2);
    put(cache, 'a.b.c1', 1, Number.POSITIVE_INFINITY);
    put(cache, 'a.b.c2', 2, Number.POSITIVE_INFINITY);
    put(cache, 'a.b.c2', 3, Number.POSITIVE_INFINITY);
    expect(get(cache, 'a.b.c1', 0)).toBe(1);
    expect(get(cache, 'a.b.c2', 0)).toBe(3);
  });
});
