import { describe, expect, it } from 'vitest';
import {
  aclReasonCode,
  CONNECT_FAILURE_REASONS,
  type ConnectFailureReason,
  connackCode,
} from '../../src/verifier/index.js';

describe('connackCode', () => {
  const expected: Record<ConnectFailureReason, [v311: number, v5: number]> = {
    missing_password: [0x04, 0x86],
    too_large: [0x04, 0x86],
    malformed: [0x04, 0x86],
    algorithm_not_allowed: [0x04, 0x86],
    critical_header: [0x04, 0x86],
    wrong_type: [0x04, 0x86],
    unknown_key: [0x04, 0x86],
    keys_unavailable: [0x03, 0x88],
    bad_signature: [0x04, 0x86],
    wrong_issuer: [0x04, 0x86],
    wrong_audience: [0x04, 0x86],
    invalid_claims: [0x04, 0x86],
    expired: [0x04, 0x86],
    missing_expiry: [0x04, 0x86],
    lifetime_exceeded: [0x04, 0x86],
    not_yet_valid: [0x04, 0x86],
    revoked: [0x05, 0x87],
    revocations_unavailable: [0x03, 0x88],
    client_id_mismatch: [0x02, 0x85],
    username_mismatch: [0x04, 0x86],
  };

  it.each(CONNECT_FAILURE_REASONS)('%s', (reason) => {
    const [v311, v5] = expected[reason];
    expect(connackCode(reason, 3)).toBe(v311);
    expect(connackCode(reason, 4)).toBe(v311);
    expect(connackCode(reason, 5)).toBe(v5);
  });

  it('lists every reason once', () => {
    expect(new Set(CONNECT_FAILURE_REASONS).size).toBe(CONNECT_FAILURE_REASONS.length);
    expect([...CONNECT_FAILURE_REASONS].sort()).toEqual(Object.keys(expected).sort());
  });
});

describe('aclReasonCode', () => {
  it.each([
    ['invalid_topic', 0x90],
    ['invalid_filter', 0x8f],
    ['invalid_shared_subscription', 0x8f],
    ['not_permitted', 0x87],
  ] as const)('%s -> %i', (denial, code) => {
    expect(aclReasonCode(denial)).toBe(code);
  });
});
