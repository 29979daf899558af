import { describe, expect, it } from 'vitest';
import { credentialLifetime } from '../../src/core/expiration.js';

describe('credentialLifetime', () => {
  it.each([
    { broker: null, requested: undefined, seconds: null },
    { broker: null, requested: 60, seconds: 60 },
    { broker: null, requested: -1, seconds: null },
    { broker: 3600, requested: undefined, seconds: 3600 },
    { broker: 3600, requested: 60, seconds: 60 },
    { broker: 3600, requested: 7200, seconds: 3600 },
  ])('broker $broker, request $requested -> $seconds', ({ broker, requested, seconds }) => {
    expect(credentialLifetime(broker, requested)).toEqual({ ok: true, seconds });
  });

  it('refuses -1 when the broker sets an expiration', () => {
    const lifetime = credentialLifetime(3600, -1);
    expect(lifetime.ok).toBe(false);
    expect(!lifetime.ok && lifetime.message).toContain('3600');
  });
});
