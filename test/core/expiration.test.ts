import { describe, expect, it } from 'vitest';
import {
  credentialLifetime,
  freshCredentialLifetime,
  refreshedExpiry,
  retiredKeyRemoveAfter,
} from '../../src/core/expiration.js';

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

describe('freshCredentialLifetime', () => {
  it.each([
    { expiration: null, maxLifetime: null, requested: undefined, seconds: null },
    { expiration: null, maxLifetime: 600, requested: undefined, seconds: 600 },
    { expiration: 3600, maxLifetime: 600, requested: undefined, seconds: 600 },
    { expiration: 60, maxLifetime: 600, requested: undefined, seconds: 60 },
    { expiration: null, maxLifetime: 600, requested: 6000, seconds: 600 },
    { expiration: null, maxLifetime: 600, requested: 30, seconds: 30 },
  ])('expiration $expiration, max_lifetime $maxLifetime, request $requested -> $seconds', (row) => {
    const broker = { expiration: row.expiration, maxLifetime: row.maxLifetime };
    expect(freshCredentialLifetime(broker, row.requested)).toEqual({ ok: true, seconds: row.seconds });
  });

  it('refuses -1 (no exp) when the broker sets a max_lifetime', () => {
    expect(freshCredentialLifetime({ expiration: null, maxLifetime: 600 }, -1).ok).toBe(false);
  });
});

describe('refreshedExpiry', () => {
  const now = 1_000_000;
  const broker = (expiration: number | null, maxLifetime: number | null = null) => ({
    expiration,
    maxLifetime,
  });

  it('gives the shorter of the broker expiration and the token’s own lifetime', () => {
    expect(refreshedExpiry({ iat: now - 30, exp: now + 30 }, broker(3600), now)).toEqual({
      ok: true,
      originalIssuedAt: now - 30,
      expiresAt: now + 60,
    });
    expect(refreshedExpiry({ iat: now - 30, exp: now + 7200 }, broker(3600), now)).toMatchObject({
      expiresAt: now + 3600,
    });
    // The broker has no expiration: the token's own lifetime still holds, never "no exp".
    expect(refreshedExpiry({ iat: now - 10, exp: now + 50 }, broker(null), now)).toMatchObject({
      expiresAt: now + 60,
    });
  });

  it('gives a token without exp the broker’s expiration, and keeps no exp only when nothing limits it', () => {
    expect(refreshedExpiry({ iat: now - 10 }, broker(120), now)).toMatchObject({ expiresAt: now + 120 });
    expect(refreshedExpiry({ iat: now - 10 }, broker(null), now)).toMatchObject({ expiresAt: null });
  });

  it('caps at the first issue plus max_lifetime, counting from orig_iat when present', () => {
    const first = now - 500;
    expect(
      refreshedExpiry({ iat: now - 10, exp: now + 50, orig_iat: first }, broker(3600, 540), now),
    ).toEqual({
      ok: true,
      originalIssuedAt: first,
      expiresAt: first + 540,
    });
    expect(refreshedExpiry({ iat: now - 10 }, broker(null, 600), now)).toMatchObject({
      originalIssuedAt: now - 10,
      expiresAt: now + 590,
    });
  });

  it('refuses once max_lifetime has passed', () => {
    expect(refreshedExpiry({ iat: now - 10, orig_iat: now - 600 }, broker(60, 600), now)).toEqual({
      ok: false,
      reason: 'lifetime_exceeded',
    });
    expect(refreshedExpiry({ iat: now - 10, orig_iat: now - 599 }, broker(60, 600), now)).toMatchObject({
      ok: true,
      expiresAt: now + 1,
    });
  });
});

describe('retiredKeyRemoveAfter', () => {
  const retiredAt = 5_000_000_000;
  const base = {
    retiredAt,
    latestExpiry: null,
    signedWithoutExpiry: false,
    brokerLifetime: 3600,
    overlapSeconds: 7 * 86400,
    graceSeconds: 60,
  };

  it('is at least the broker lifetime after retirement (plus grace)', () => {
    expect(retiredKeyRemoveAfter(base)).toBe(retiredAt + 3660_000);
  });

  it('waits for the latest recorded exp', () => {
    const latest = retiredAt / 1000 + 86400;
    expect(retiredKeyRemoveAfter({ ...base, latestExpiry: latest })).toBe((latest + 60) * 1000);
  });

  it('keeps a bounded overlap for tokens without exp, and for brokers without expiration', () => {
    expect(retiredKeyRemoveAfter({ ...base, signedWithoutExpiry: true })).toBe(
      retiredAt + (7 * 86400 + 60) * 1000,
    );
    expect(retiredKeyRemoveAfter({ ...base, brokerLifetime: null })).toBe(
      retiredAt + (7 * 86400 + 60) * 1000,
    );
  });
});
