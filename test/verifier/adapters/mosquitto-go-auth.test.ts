import { beforeAll, describe, expect, it } from 'vitest';
import { goAuthAcl, goAuthSuperuser, goAuthUser } from '../../../src/verifier/adapters/mosquitto-go-auth.js';
import {
  createStaticRevocations,
  createVerifier,
  type KeySource,
  type Verifier,
} from '../../../src/verifier/index.js';
import { AUDIENCE, ISSUER, jwks, makeKey, T0, type TestKey, token } from '../fixtures.js';

let key: TestKey;
let verifier: Verifier;
let valid: string;

const options = (keys: Parameters<typeof createVerifier>[0]['keys']) => ({
  keys,
  issuer: ISSUER,
  audience: AUDIENCE,
  algorithms: ['EdDSA'] as const,
  revocations: createStaticRevocations(),
  now: () => T0,
});

beforeAll(async () => {
  key = await makeKey('EdDSA');
  verifier = createVerifier(options(jwks(key)));
  valid = await token(key);
});

describe('user and superuser checks', () => {
  const user = (username: string | undefined, clientid = 'sensor-17') =>
    goAuthUser(verifier, { username, clientid });

  it('allows a valid token bound to its client id', async () => {
    const answer = await user(valid);
    expect(answer).toMatchObject({ ok: true, status: 200, session: { clientId: 'sensor-17' } });
  });

  it('refuses a token presented under another client id, and a check without one', async () => {
    expect(await user(valid, 'sensor-18')).toEqual({ ok: false, status: 401, reason: 'client_id_mismatch' });
    for (const check of [{ username: valid, clientid: '' }, { username: valid }]) {
      expect(await goAuthUser(verifier, check)).toEqual({ ok: false, status: 400, reason: 'bad_request' });
    }
  });

  it('refuses a bad or missing token with 401', async () => {
    const forged = await token(await makeKey('EdDSA', key.kid));
    expect(await user(forged)).toEqual({ ok: false, status: 401, reason: 'bad_signature' });
    expect(await user(`${valid}x`)).toEqual({ ok: false, status: 401, reason: 'malformed' });
    expect(await user(undefined)).toEqual({ ok: false, status: 401, reason: 'missing_password' });
  });

  it('never makes a superuser', () => {
    expect(goAuthSuperuser()).toEqual({ ok: false, status: 403, reason: 'superuser' });
  });

  it('answers 503 when the keys are unavailable', async () => {
    const unavailable: KeySource = {
      getKey: async () => ({ ok: false, reason: 'keys_unavailable' }),
      isTrusted: () => false,
    };
    expect(
      await goAuthUser(createVerifier(options(unavailable)), { username: valid, clientid: 'sensor-17' }),
    ).toEqual({
      ok: false,
      status: 503,
      reason: 'keys_unavailable',
    });
  });
});

describe('ACL check', () => {
  it.each([
    ['read a delivered message under a sub filter', 'plant/commands/sensor-17', 1, 200],
    ['read elsewhere', 'plant/line-3/temp', 1, 403],
    ['read a "topic" with a wildcard', 'plant/commands/+', 1, 403],
    ['read a $share "topic" whose filter part is granted', '$share/g/plant/commands/sensor-17', 1, 403],
    ['subscribe to a shared subscription of a granted filter', '$share/g/plant/commands/sensor-17', 4, 200],
    ['write under a pub filter', 'plant/line-3/temp', 2, 200],
    ['write elsewhere', 'plant/commands/sensor-17', 2, 403],
    ['read and write where only writing is allowed', 'plant/line-3/temp', 3, 403],
    ['subscribe with a covered filter', 'plant/commands/sensor-17', 4, 200],
    ['subscribe with a wider filter', 'plant/commands/#', 4, 403],
    ['an unknown acc', 'plant/line-3/temp', 8, 400],
    ['acc 0', 'plant/line-3/temp', 0, 400],
  ])('%s: %s acc %s -> %s', async (_name, topic, acc, status) => {
    expect((await goAuthAcl(verifier, { username: valid, topic, clientid: 'sensor-17', acc })).status).toBe(
      status,
    );
  });

  it('allows read and write together where both are granted', async () => {
    const both = await token(key, { claims: { topicAcl: { pub: ['x/#'], sub: ['x/#'] } } });
    expect(
      (await goAuthAcl(verifier, { username: both, topic: 'x/y', clientid: 'sensor-17', acc: 3 })).status,
    ).toBe(200);
  });

  it('binds the token to the client id', async () => {
    expect(
      await goAuthAcl(verifier, { username: valid, topic: 'plant/line-3/t', clientid: 'sensor-18', acc: 2 }),
    ).toEqual({
      ok: false,
      status: 401,
      reason: 'client_id_mismatch',
    });
  });

  it('refuses malformed checks with 400 before verifying', async () => {
    for (const check of [
      { topic: 'a', clientid: '', acc: 2 },
      { topic: undefined as unknown as string, clientid: 'sensor-17', acc: 2 },
      { topic: 'a', clientid: 'sensor-17', acc: Number.NaN },
    ]) {
      expect(await goAuthAcl(verifier, { username: valid, ...check })).toEqual({
        ok: false,
        status: 400,
        reason: 'bad_request',
      });
    }
  });
});
