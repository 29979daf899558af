import { describe, expect, it } from 'vitest';
import { parseConfig, parseWorkerConfig } from '../src/config.js';

describe('configuration', () => {
  it('has defaults for everything', () => {
    const parsed = parseConfig({});
    expect(parsed).toEqual({
      ok: true,
      config: {
        PORT: 8787,
        HOST: '127.0.0.1',
        GATEPASS_DB: './data/gatepass.db',
        GATEPASS_ISSUER: 'gatepass',
        GATEPASS_MAX_BODY_BYTES: 65536,
        GATEPASS_CRON_INTERVAL: 3600,
        GATEPASS_KEY_OVERLAP: 604800,
        GATEPASS_RATE_ISSUE_PER_MINUTE: 6000,
        GATEPASS_RATE_REVOKE_PER_MINUTE: 6000,
        GATEPASS_RATE_REFRESH_PER_MINUTE: 60,
        GATEPASS_RATE_HOOKS_PER_MINUTE: 60000,
        GATEPASS_MAX_REVOCATIONS_PER_BROKER: 1_000_000,
        GATEPASS_REQUEST_TIMEOUT_MS: 30_000,
        GATEPASS_AUDIT_RETENTION_DAYS: 365,
      },
    });
  });

  it('treats empty variables as unset', () => {
    expect(parseConfig({ PORT: '', GATEPASS_ADMIN_TOKEN: '' })).toMatchObject({
      ok: true,
      config: { PORT: 8787 },
    });
  });

  it.each([
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '80x' }, 'PORT'],
    [{ GATEPASS_ADMIN_TOKEN: 'short' }, 'GATEPASS_ADMIN_TOKEN'],
    [{ GATEPASS_KEK: 'not-a-key' }, 'GATEPASS_KEK'],
    [{ GATEPASS_MAX_BODY_BYTES: '10' }, 'GATEPASS_MAX_BODY_BYTES'],
    [{ GATEPASS_CRON_INTERVAL: '-1' }, 'GATEPASS_CRON_INTERVAL'],
    [{ GATEPASS_CRON_INTERVAL: '1h' }, 'GATEPASS_CRON_INTERVAL'],
    [{ GATEPASS_KEY_OVERLAP: '1e6' }, 'GATEPASS_KEY_OVERLAP'],
    [{ GATEPASS_RATE_ISSUE_PER_MINUTE: '-5' }, 'GATEPASS_RATE_ISSUE_PER_MINUTE'],
    [{ GATEPASS_RATE_REVOKE_PER_MINUTE: '2000000' }, 'GATEPASS_RATE_REVOKE_PER_MINUTE'],
    [{ GATEPASS_RATE_REFRESH_PER_MINUTE: '30/min' }, 'GATEPASS_RATE_REFRESH_PER_MINUTE'],
    [{ GATEPASS_MAX_REVOCATIONS_PER_BROKER: '0' }, 'GATEPASS_MAX_REVOCATIONS_PER_BROKER'],
    [{ GATEPASS_REQUEST_TIMEOUT_MS: '5s' }, 'GATEPASS_REQUEST_TIMEOUT_MS'],
    [{ GATEPASS_AUDIT_RETENTION_DAYS: '1y' }, 'GATEPASS_AUDIT_RETENTION_DAYS'],
    [{ GATEPASS_AUDIT_RETENTION_DAYS: '-30' }, 'GATEPASS_AUDIT_RETENTION_DAYS'],
  ])('names the bad variable in %j', (env, name) => {
    const parsed = parseConfig(env);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toContain(`${name}:`);
  });
});

describe('configuration on Workers', () => {
  const kek = 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM';

  it('needs the key-encryption key, ignores bindings and the Node-only settings', () => {
    expect(parseWorkerConfig({ DB: {}, GATEPASS_KEK: kek, PORT: 'not a port', GATEPASS_DB: 'x' })).toEqual({
      ok: true,
      config: {
        GATEPASS_KEK: kek,
        GATEPASS_ISSUER: 'gatepass',
        GATEPASS_MAX_BODY_BYTES: 65536,
        GATEPASS_KEY_OVERLAP: 604800,
        GATEPASS_RATE_ISSUE_PER_MINUTE: 6000,
        GATEPASS_RATE_REVOKE_PER_MINUTE: 6000,
        GATEPASS_RATE_REFRESH_PER_MINUTE: 60,
        GATEPASS_RATE_HOOKS_PER_MINUTE: 60000,
        GATEPASS_MAX_REVOCATIONS_PER_BROKER: 1_000_000,
        GATEPASS_REQUEST_TIMEOUT_MS: 30_000,
        GATEPASS_AUDIT_RETENTION_DAYS: 365,
      },
    });
    const missing = parseWorkerConfig({ DB: {}, GATEPASS_KEK: '' });
    expect(!missing.ok && missing.message).toContain('GATEPASS_KEK: required on Workers');
  });

  it('validates the shared settings as on Node', () => {
    const parsed = parseWorkerConfig({ GATEPASS_KEK: kek, GATEPASS_ADMIN_TOKEN: 'short' });
    expect(!parsed.ok && parsed.message).toContain('GATEPASS_ADMIN_TOKEN:');
  });
});
