// Token buckets: per-key request rates, in memory, with the time passed in (no timers, no I/O).

export type RateDecision = { ok: true } | { ok: false; retryAfterMs: number };

export interface RateLimiter {
  /** Takes one token from `key`'s bucket at `now` (epoch ms), or says how long until one is available. */
  take(key: string, now: number): RateDecision;
}

export interface RateLimitOptions {
  /** Sustained rate; also the burst: a full bucket holds a minute's worth. */
  perMinute: number;
  /** Buckets kept at most; beyond it, full buckets (keys idle for a minute) are dropped first. */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per key: `perMinute` tokens, refilled continuously at `perMinute` a minute. Memory is
 * bounded: `maxKeys` caps the map whatever the keys are (admin key ids, source addresses, the jtis and
 * client ids of refreshed credentials).
 */
export function createRateLimiter({ perMinute, maxKeys = 10_000 }: RateLimitOptions): RateLimiter {
  if (!Number.isFinite(perMinute) || perMinute <= 0)
    throw new TypeError('perMinute must be a positive number');
  const capacity = perMinute;
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, Bucket>();

  function refill(bucket: Bucket, now: number): void {
    // A clock that steps back (NTP) must not drain or overfill the bucket.
    const elapsed = Math.max(0, now - bucket.updatedAt);
    bucket.tokens = Math.min(capacity, bucket.tokens + elapsed * perMs);
    bucket.updatedAt = now;
  }

  function makeRoom(now: number): void {
    for (const [key, bucket] of buckets) {
      refill(bucket, now);
      if (bucket.tokens >= capacity) buckets.delete(key);
    }
    // Every bucket busy: drop the oldest, which at worst grants that key a fresh burst.
    while (buckets.size >= maxKeys) buckets.delete(buckets.keys().next().value!);
  }

  return {
    take(key, now) {
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        if (buckets.size >= maxKeys) makeRoom(now);
        bucket = { tokens: capacity, updatedAt: now };
        buckets.set(key, bucket);
      } else {
        refill(bucket, now);
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { ok: true };
      }
      return { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / perMs) };
    },
  };
}
