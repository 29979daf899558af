// The sinks' vocabulary: which audit actions a webhook delivers as which event, and the retry schedule.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS } from '../../src/core/audit.js';
import {
  auditActionsFor,
  RETRY_BASE_MS,
  RETRY_CAP_MS,
  retryDelayMs,
  WEBHOOK_EVENT_OF,
  WEBHOOK_EVENT_TYPES,
} from '../../src/core/sinks.js';

describe('webhook event types', () => {
  it('come from credential, revocation and signing-key actions, never from configuration changes', () => {
    expect(auditActionsFor(WEBHOOK_EVENT_TYPES)).toEqual([
      'credentials.issue',
      'credentials.refresh',
      'credentials.exchange',
      'revocations.revoke',
      'revocations.unrevoke',
      'signing_key.rotate',
      'signing_key.revoke',
      'signing_key.publish',
    ]);
    expect(auditActionsFor(['signing_key.revoked', 'signing_key.published'])).toEqual([
      'signing_key.revoke',
      'signing_key.publish',
    ]);
    expect(auditActionsFor(['credentials.revoked'])).toEqual(['revocations.revoke']);
    expect(auditActionsFor([])).toEqual([]);
    // Every action is placed, one way or the other.
    expect(Object.keys(WEBHOOK_EVENT_OF).sort()).toEqual([...AUDIT_ACTIONS].sort());
  });
});

describe('retryDelayMs', () => {
  it('doubles from the base to the cap, with half of it random', () => {
    expect(retryDelayMs(1, () => 0)).toBe(RETRY_BASE_MS / 2);
    expect(retryDelayMs(1, () => 0.999_999)).toBe(RETRY_BASE_MS);
    expect(retryDelayMs(2, () => 0)).toBe(RETRY_BASE_MS);
    expect(retryDelayMs(3, () => 0)).toBe(2 * RETRY_BASE_MS);
    expect(retryDelayMs(9, () => 0.5)).toBe(192_000);
    expect(retryDelayMs(10, () => 0.5)).toBe(Math.round(RETRY_CAP_MS * 0.75));
    expect(retryDelayMs(10_000, () => 0)).toBe(RETRY_CAP_MS / 2);
  });

  it('stays within [half the ceiling, the ceiling], and never shrinks as failures go on', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (failures, r) => {
          const ceiling = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(failures - 1, 30));
          const delay = retryDelayMs(failures, () => r);
          expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
          expect(delay).toBeLessThanOrEqual(ceiling);
          expect(retryDelayMs(failures + 1, () => 0)).toBeGreaterThanOrEqual(retryDelayMs(failures, () => 0));
        },
      ),
    );
  });
});
