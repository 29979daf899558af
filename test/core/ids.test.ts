import { decodeTime } from 'ulid';
import { describe, expect, it } from 'vitest';
import { createPooledRandom, createUlidGenerator, isUlid } from '../../src/core/ids.js';

describe('ULID generator', () => {
  it('makes valid, unique ULIDs carrying the clock’s time', () => {
    const now = Date.UTC(2026, 10, 25);
    const next = createUlidGenerator(() => now);
    const ids = Array.from({ length: 10_000 }, next);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 100)) {
      expect(isUlid(id)).toBe(true);
      expect(decodeTime(id)).toBe(now);
    }
  });

  it('draws uniform values in [0, 1) across pool refills', () => {
    const random = createPooledRandom();
    const buckets = new Array(32).fill(0);
    const draws = 64_000;
    let outOfRange = 0;
    for (let i = 0; i < draws; i++) {
      const value = random();
      if (value < 0 || value >= 1) outOfRange++;
      buckets[Math.floor(value * 32)]++;
    }
    expect(outOfRange).toBe(0);
    // Each of the 32 base32 characters should appear about draws/32 = 2000 times.
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(300);
  });
});
