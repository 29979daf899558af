import { beforeAll, describe, expect, it } from 'vitest';
import { authenticateEmqx, emqxAclRules } from '../../../src/verifier/adapters/emqx.js';
import { createStaticRevocations, createVerifier, type Verifier } from '../../../src/verifier/index.js';
import { AUDIENCE, ISSUER, jwks, makeKey, T0, T0_SECONDS, type TestKey, token } from '../fixtures.js';

let key: TestKey;
let now = T0;
let verifier: Verifier;
const revocations = createStaticRevocations();
/** What every rule list ends with: wildcards never match $-topics, so EMQX's own are named. */
const FINAL_DENIALS = ['#', '$SYS/#', '$delayed/#'].map((topic) => ({
  permission: 'deny',
  action: 'all',
  topic,
}));

beforeAll(async () => {
  key = await makeKey('EdDSA');
  verifier = createVerifier({
    keys: jwks(key),
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['EdDSA'],
    revocations,
    now: () => now,
  });
});

describe('authenticateEmqx', () => {
  it('allows a valid token with its ACL, expiry and attributes', async () => {
    now = T0;
    const password = await token(key, { claims: { jti: 'jti-emqx-1' } });
    const { response, result } = await authenticateEmqx(
      verifier,
      { clientid: 'sensor-17', username: 'sensor-17', password, peerhost: '10.0.0.7' },
      { now: () => now },
    );
    expect(result.ok).toBe(true);
    expect(response).toEqual({
      result: 'allow',
      is_superuser: false,
      expire_at: T0_SECONDS + 3600,
      acl: [
        { permission: 'allow', action: 'publish', topic: 'plant/line-3/#' },
        { permission: 'allow', action: 'subscribe', topic: 'plant/commands/sensor-17' },
        ...FINAL_DENIALS,
      ],
      client_attrs: { gatepass_sub: 'sensor-17', gatepass_jti: 'jti-emqx-1' },
    });
  });

  it('accepts an empty or null username, and omits expire_at without exp', async () => {
    now = T0;
    const password = await token(key, { omit: ['exp'] });
    for (const username of ['', null, undefined]) {
      const { response } = await authenticateEmqx(verifier, { clientid: 'sensor-17', username, password });
      expect(response.result).toBe('allow');
      expect(response).not.toHaveProperty('expire_at');
    }
  });

  it('keeps expire_at in the future for a token accepted within the clock tolerance', async () => {
    now = (T0_SECONDS + 3602) * 1000;
    const password = await token(key);
    const { response } = await authenticateEmqx(
      verifier,
      { clientid: 'sensor-17', password },
      { now: () => now },
    );
    expect(response).toMatchObject({ result: 'allow', expire_at: T0_SECONDS + 3603 });
  });

  it.each([
    ['another client id', { clientid: 'sensor-18' }, 'client_id_mismatch'],
    ['an empty client id assigned by EMQX', { clientid: 'emqx_1f2e' }, 'client_id_mismatch'],
    ['a username that is not the client id', { username: 'admin' }, 'username_mismatch'],
    ['no password', { password: null }, 'missing_password'],
    ['a password that is not a token', { password: 'hunter2' }, 'malformed'],
    ['no client id (a body template without ${clientid})', { clientid: undefined }, 'missing_client_id'],
    ['an empty client id', { clientid: '' }, 'missing_client_id'],
  ])('denies %s, never ignores', async (_name, change, reason) => {
    now = T0;
    const password = await token(key);
    const { response, result } = await authenticateEmqx(verifier, {
      clientid: 'sensor-17',
      password,
      ...change,
    });
    expect(response).toEqual({ result: 'deny' });
    expect(result).toEqual({ ok: false, reason });
  });

  it('denies a revoked or expired token', async () => {
    now = T0;
    const revoked = await token(key, { claims: { jti: 'jti-emqx-revoked' } });
    revocations.add('jti-emqx-revoked');
    expect((await authenticateEmqx(verifier, { clientid: 'sensor-17', password: revoked })).result).toEqual({
      ok: false,
      reason: 'revoked',
    });
    now = (T0_SECONDS + 3700) * 1000;
    const expired = await token(key);
    expect((await authenticateEmqx(verifier, { clientid: 'sensor-17', password: expired })).response).toEqual(
      {
        result: 'deny',
      },
    );
  });
});

describe('emqxAclRules', () => {
  it('maps "#" to one rule for everything', () => {
    expect(emqxAclRules('#')).toEqual([{ permission: 'allow', action: 'all', topic: '#' }, ...FINAL_DENIALS]);
  });

  it('merges a filter granted both ways into one "all" rule', () => {
    expect(emqxAclRules({ pub: ['a/#', 'b'], sub: ['a/#', 'c/d'] })).toEqual([
      { permission: 'allow', action: 'publish', topic: 'b' },
      { permission: 'allow', action: 'all', topic: 'a/#' },
      { permission: 'allow', action: 'subscribe', topic: 'c/d' },
      ...FINAL_DENIALS,
    ]);
  });

  it('guards a + that EMQX would let a subscribed # through, the unguarded rules first', () => {
    expect(emqxAclRules({ pub: ['alerts/+'], sub: ['alerts/+', 'a/+/+', 'b/+/#', 'c/d'] })).toEqual([
      { permission: 'allow', action: 'subscribe', topic: 'c/d' },
      { permission: 'deny', action: 'subscribe', topic: 'eq alerts/#' },
      { permission: 'allow', action: 'all', topic: 'alerts/+' },
      { permission: 'deny', action: 'subscribe', topic: 'eq b/#' },
      { permission: 'allow', action: 'subscribe', topic: 'b/+/#' },
      { permission: 'deny', action: 'subscribe', topic: 'a/+/#/#' },
      { permission: 'allow', action: 'subscribe', topic: 'a/+/+' },
      ...FINAL_DENIALS,
    ]);
  });

  it('leaves out filters EMQX would read differently: placeholders and the eq prefix', () => {
    expect(emqxAclRules({ pub: ['devices/${clientid}/up', 'eq a/#', 'ok'], sub: ['${username}/#'] })).toEqual(
      [{ permission: 'allow', action: 'publish', topic: 'ok' }, ...FINAL_DENIALS],
    );
  });

  it('denies everything for an empty ACL', () => {
    expect(emqxAclRules({ pub: [], sub: [] })).toEqual(FINAL_DENIALS);
  });
});
