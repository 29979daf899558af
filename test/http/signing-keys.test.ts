// A broker's key set over the real server: the plain JWK Set jose and brokers read, keys published before they
// sign so that cached key sets keep verifying across rotations (scheduled and on request), and revocation of a
// compromised key at once, on a frozen clock.
import Database from 'better-sqlite3';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_PREPUBLICATION_SECONDS, KEY_SET_MAX_AGE_SECONDS } from '../../src/core/signing-keys.js';
import { ADMIN_TOKEN, createBroker, startTestServer, type TestServer } from '../support/server.js';

const HOUR = 3600;
const PREPUBLICATION = KEY_PREPUBLICATION_SECONDS;
const T0 = Date.UTC(2031, 5, 1);
let now = T0;
let server: TestServer;

const advance = (seconds: number) => {
  now += seconds * 1000;
};
const brokerPath = (broker: string) => `/v1/namespaces/home/brokers/${broker}`;
const keySetUrl = (broker: string) => `${server.url}${brokerPath(broker)}/jwks.json`;

interface KeyView {
  kid: string;
  state: 'next' | 'current' | 'retired' | 'revoked';
  published_on: string;
  ready_on: string | null;
  activated_on: string | null;
  retired_on: string | null;
  remove_after: string | null;
  revoked_on: string | null;
}

async function issue(broker: string, clientid = 'd1'): Promise<string> {
  const issued = await server.call('POST', `${brokerPath(broker)}/credentials`, {
    json: { clientid: [clientid] },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(200);
  return issued.body.result[clientid];
}

async function keys(broker: string): Promise<KeyView[]> {
  const listed = await server.call('GET', `${brokerPath(broker)}/signing-keys`);
  expect(listed.status, JSON.stringify(listed.body)).toBe(200);
  return listed.body.result;
}

async function keyIn(broker: string, state: KeyView['state']): Promise<KeyView> {
  const key = (await keys(broker)).find((candidate) => candidate.state === state);
  expect(key, `${broker} has a ${state} key`).toBeDefined();
  return key!;
}

const rotate = (broker: string) => server.call('POST', `${brokerPath(broker)}/signing-keys/rotate`);
const revoke = (broker: string, kid: string) =>
  server.call('POST', `${brokerPath(broker)}/signing-keys/${kid}/revoke`);

async function runJob() {
  const run = await server.call('POST', '/v1/maintenance/run');
  expect(run.status).toBe(200);
  return run.body.result as { keys_rotated: number; keys_removed: number };
}

async function publishedKids(broker: string): Promise<string[]> {
  const response = await fetch(keySetUrl(broker));
  expect(response.status).toBe(200);
  return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((key) => key.kid);
}

/** Verifies as a broker configured for this broker would, on the server's clock. */
async function verifies(token: string, keySet: JWTVerifyGetKey, broker: string): Promise<boolean> {
  try {
    await jwtVerify(token, keySet, {
      issuer: 'gatepass',
      audience: `${broker}.home`,
      currentDate: new Date(now),
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * A verifier that fetched the key set once, now, and never fetches it again, whatever kid it meets: what a
 * cache is between two refreshes. `fetches` counts its requests.
 */
async function cachedKeySet(broker: string) {
  const counter = { fetches: 0 };
  const keySet = createRemoteJWKSet(new URL(keySetUrl(broker)), {
    cacheMaxAge: Number.POSITIVE_INFINITY,
    cooldownDuration: Number.POSITIVE_INFINITY,
    [customFetch]: (url, options) => {
      counter.fetches++;
      return fetch(url, options);
    },
  });
  await keySet.reload();
  return { keySet, counter };
}

const emqxHook = (broker: string, clientid: string, password: string) =>
  server.call('POST', `${brokerPath(broker)}/hooks/emqx`, { token: null, json: { clientid, password } });

beforeAll(async () => {
  server = await startTestServer({ clock: () => now, env: { GATEPASS_CRON_INTERVAL: '0' } });
});
afterAll(() => server.destroy());

describe('GET .../jwks.json', () => {
  it('is a plain JWK Set, public, cacheable, with an ETag honoured by If-None-Match', async () => {
    await createBroker(server, 'home', 'plain', { expiration: HOUR });
    const response = await fetch(keySetUrl('plain'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe(`public, max-age=${KEY_SET_MAX_AGE_SECONDS}`);
    const body = (await response.json()) as { keys: Array<Record<string, unknown>> };
    // RFC 7517 §5: an object whose only member is `keys`; each key public, with kid, alg and use.
    expect(Object.keys(body)).toEqual(['keys']);
    expect(body.keys).toHaveLength(2);
    for (const key of body.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    }
    // The same keys as /publickeys, which keeps Cloudflare's envelope.
    const enveloped = await server.call('GET', `${brokerPath('plain')}/publickeys`, { token: null });
    expect(enveloped.body.result).toEqual(body);

    const etag = response.headers.get('etag')!;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const conditional = await fetch(keySetUrl('plain'), { headers: { 'if-none-match': ifNoneMatch } });
      expect({ ifNoneMatch, status: conditional.status }).toEqual({ ifNoneMatch, status: 304 });
      expect(await conditional.text()).toBe('');
      expect(conditional.headers.get('etag')).toBe(etag);
      expect(conditional.headers.get('cache-control')).toBe(`public, max-age=${KEY_SET_MAX_AGE_SECONDS}`);
    }
    const stale = await fetch(keySetUrl('plain'), { headers: { 'if-none-match': '"not-the-etag"' } });
    expect(stale.status).toBe(200);

    // A change to the key set changes the ETag: the old one no longer gets a 304.
    advance(PREPUBLICATION);
    expect((await rotate('plain')).status).toBe(200);
    const rotated = await fetch(keySetUrl('plain'), { headers: { 'if-none-match': etag } });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('etag')).not.toBe(etag);
    // Also under the Cloudflare prefix, and a 404 in the envelope for an unknown broker.
    const prefixed = await fetch(
      `${server.url}/client/v4/accounts/acc/pubsub/namespaces/home/brokers/plain/jwks.json`,
    );
    expect(prefixed.status).toBe(200);
    const unknown = await fetch(keySetUrl('nobody'));
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('cache-control')).toBeNull();
  });

  it("verifies an issued token through jose's createRemoteJWKSet, over HTTP", async () => {
    await createBroker(server, 'home', 'remote', { expiration: HOUR, algorithm: 'ES256' });
    const token = await issue('remote');
    const keySet = createRemoteJWKSet(new URL(keySetUrl('remote')));
    const { payload, protectedHeader } = await jwtVerify(token, keySet, {
      issuer: 'gatepass',
      audience: 'remote.home',
      algorithms: ['ES256'],
      currentDate: new Date(now),
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'JWT' });
    expect(payload).toMatchObject({ sub: 'd1', topicAcl: '#' });
  });
});

describe('keys published before they sign', () => {
  it('a new broker has a current key and a next key, listed with their states', async () => {
    await createBroker(server, 'home', 'fresh', { expiration: HOUR });
    const listed = await keys('fresh');
    expect(listed.map((key) => key.state).sort()).toEqual(['current', 'next']);
    const next = listed.find((key) => key.state === 'next')!;
    expect(next).toMatchObject({
      published_on: new Date(now).toISOString(),
      ready_on: new Date(now + PREPUBLICATION * 1000).toISOString(),
      activated_on: null,
      retired_on: null,
      revoked_on: null,
    });
    const current = listed.find((key) => key.state === 'current')!;
    expect(current.activated_on).toBe(new Date(now).toISOString());
    expect(decodeProtectedHeader(await issue('fresh')).kid).toBe(current.kid);
    expect((await publishedKids('fresh')).sort()).toEqual([current.kid, next.kid].sort());
  });

  it('a cached key set keeps verifying across a rotate-now and a scheduled rotation', async () => {
    await createBroker(server, 'home', 'cached', { expiration: HOUR, key_rotation_period: PREPUBLICATION });
    const first = await cachedKeySet('cached');
    const before = await issue('cached');
    expect(await verifies(before, first.keySet, 'cached')).toBe(true);

    // Rotate now, once the next key has been out for the pre-publication time.
    advance(PREPUBLICATION - 1);
    expect((await rotate('cached')).status).toBe(409);
    advance(1);
    const rotated = await rotate('cached');
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    const afterRotateNow = await issue('cached');
    // The set fetched before the rotation already held the key that signs now.
    expect(await verifies(afterRotateNow, first.keySet, 'cached')).toBe(true);
    expect(await verifies(before, first.keySet, 'cached')).toBe(true);
    expect(first.counter.fetches).toBe(1);

    // The scheduled rotation: due one period after the last one, with a next key published as long ago.
    const second = await cachedKeySet('cached');
    advance(PREPUBLICATION - 1);
    expect(await runJob()).toMatchObject({ keys_rotated: 0 });
    advance(1);
    expect(await runJob()).toMatchObject({ keys_rotated: 1 });
    const afterSchedule = await issue('cached');
    expect(decodeProtectedHeader(afterSchedule).kid).not.toBe(decodeProtectedHeader(afterRotateNow).kid);
    expect(await verifies(afterSchedule, second.keySet, 'cached')).toBe(true);
    expect(await verifies(afterRotateNow, second.keySet, 'cached')).toBe(true);
    expect(second.counter.fetches).toBe(1);
    // A set older than the pre-publication time does not know the newest key: the test can fail.
    expect(await verifies(afterSchedule, first.keySet, 'cached')).toBe(false);
  });

  it('the scheduled job promotes only a next key published long enough ago', async () => {
    await createBroker(server, 'home', 'patient', { expiration: HOUR, key_rotation_period: PREPUBLICATION });
    const next = await keyIn('patient', 'next');
    // Replacing the next key publishes a new one now: the rotation due at PREPUBLICATION waits for it.
    advance(PREPUBLICATION / 2);
    expect((await revoke('patient', next.kid)).status).toBe(200);
    const replacement = await keyIn('patient', 'next');
    advance(PREPUBLICATION / 2);
    await runJob();
    expect((await keyIn('patient', 'next')).kid).toBe(replacement.kid);
    advance(PREPUBLICATION / 2);
    await runJob();
    expect((await keyIn('patient', 'current')).kid).toBe(replacement.kid);
  });

  it('rotate now keeps the old key published while its tokens live, and is audited', async () => {
    await createBroker(server, 'home', 'now', { expiration: HOUR });
    const old = await issue('now');
    const oldKid = decodeProtectedHeader(old).kid;
    const early = await rotate('now');
    expect(early.status).toBe(409);
    expect(early.body.errors[0]).toMatchObject({ error: 'conflict' });
    expect(early.body.errors[0].message).toContain(new Date(now + PREPUBLICATION * 1000).toISOString());
    advance(PREPUBLICATION);
    const rotated = await rotate('now');
    expect(rotated.status).toBe(200);
    const states = Object.fromEntries(
      (rotated.body.result as KeyView[]).map((key) => [key.kid, key.state] as const),
    );
    expect(states[oldKid!]).toBe('retired');
    const retired = (rotated.body.result as KeyView[]).find((key) => key.kid === oldKid)!;
    // Published until its last token (one hour) has expired, a minute of grace on top.
    expect(retired.remove_after).toBe(new Date(now + (HOUR + 60) * 1000).toISOString());
    expect(Object.values(states).sort()).toEqual(['current', 'next', 'retired']);
    expect(await publishedKids('now')).toContain(oldKid);
    expect(await verifies(old, createRemoteJWKSet(new URL(keySetUrl('now'))), 'now')).toBe(true);

    const audit = await server.call('GET', '/v1/audit?action=signing_key.rotate&broker=now');
    expect(audit.body.result).toHaveLength(1);
    expect(audit.body.result[0]).toMatchObject({
      broker: 'now',
      details: {
        retired_kid: oldKid,
        kid: (rotated.body.result as KeyView[]).find((key) => key.state === 'current')!.kid,
        next_kid: (rotated.body.result as KeyView[]).find((key) => key.state === 'next')!.kid,
      },
    });
    expect(audit.body.result[0].actor).not.toBe('scheduler');
  });
});

describe('revoking a compromised key', () => {
  it('takes the current key out of the key set at once: its tokens are refused, the next key signs', async () => {
    await createBroker(server, 'home', 'breached', { expiration: HOUR });
    const token = await issue('breached');
    const compromised = await keyIn('breached', 'current');
    const next = await keyIn('breached', 'next');
    expect((await emqxHook('breached', 'd1', token)).body.result).toBe('allow');

    const revoked = await revoke('breached', compromised.kid);
    expect(revoked.status).toBe(200);
    const after = revoked.body.result as KeyView[];
    expect(after.find((key) => key.kid === compromised.kid)).toMatchObject({
      state: 'revoked',
      revoked_on: new Date(now).toISOString(),
    });
    expect(after.find((key) => key.kid === next.kid)!.state).toBe('current');
    expect(after.filter((key) => key.state === 'next')).toHaveLength(1);

    expect(await publishedKids('breached')).not.toContain(compromised.kid);
    expect(await verifies(token, createRemoteJWKSet(new URL(keySetUrl('breached'))), 'breached')).toBe(false);
    // The webhooks are told at once: the frozen clock lets no re-read interval pass.
    expect(await emqxHook('breached', 'd1', token)).toMatchObject({ status: 200, body: { result: 'deny' } });
    expect(server.logs.findLast((line) => String(line.path).endsWith('/hooks/emqx'))?.refusal).toBe(
      'unknown_key',
    );
    // Refresh refuses it too, and new tokens are signed by the promoted key.
    const refresh = await server.call('POST', `${brokerPath('breached')}/credentials/refresh`, {
      token: null,
      json: { token },
    });
    expect(refresh.status).toBe(401);
    const fresh = await issue('breached', 'd2');
    expect(decodeProtectedHeader(fresh).kid).toBe(next.kid);
    expect((await emqxHook('breached', 'd2', fresh)).body.result).toBe('allow');

    // The private half is erased; revoking again changes nothing; the audit trail has one event.
    const db = new Database(server.dbPath, { readonly: true });
    const row = db
      .prepare('select sealed_private_jwk from signing_keys where kid = ?')
      .get(compromised.kid) as {
      sealed_private_jwk: string;
    };
    db.close();
    expect(row.sealed_private_jwk).toBe('');
    const again = await revoke('breached', compromised.kid);
    expect(again.status).toBe(200);
    expect(again.body.result).toEqual(after);
    const audit = await server.call('GET', '/v1/audit?action=signing_key.revoke&broker=breached');
    expect(audit.body.result).toHaveLength(1);
    expect(audit.body.result[0].details).toMatchObject({
      revoked_kid: compromised.kid,
      state: 'current',
      kid: next.kid,
    });
  });

  it('revokes the next key (a new one is published) and a retired key (out of the set before its tokens expire)', async () => {
    await createBroker(server, 'home', 'spare', { expiration: HOUR });
    const next = await keyIn('spare', 'next');
    expect((await revoke('spare', next.kid)).status).toBe(200);
    const replacement = await keyIn('spare', 'next');
    expect(replacement.kid).not.toBe(next.kid);
    expect(await publishedKids('spare')).not.toContain(next.kid);

    const old = await issue('spare');
    advance(PREPUBLICATION);
    expect((await rotate('spare')).status).toBe(200);
    const retired = await keyIn('spare', 'retired');
    expect(retired.kid).toBe(decodeProtectedHeader(old).kid);
    expect((await revoke('spare', retired.kid)).status).toBe(200);
    expect(await publishedKids('spare')).not.toContain(retired.kid);
    expect(await verifies(old, createLocalJWKSet({ keys: [] }), 'spare')).toBe(false);
    expect((await emqxHook('spare', 'd1', old)).body.result).toBe('deny');

    // The job deletes the records once they no longer matter.
    advance(HOUR + 61);
    await runJob();
    expect((await keys('spare')).map((key) => key.state).sort()).toEqual(['current', 'next']);
  });

  it('refuses an unknown kid by name, and read-only keys', async () => {
    await createBroker(server, 'home', 'guarded', { expiration: HOUR });
    const unknown = await revoke('guarded', 'no-such-kid');
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors[0]).toMatchObject({ error: 'not_found', field: 'kid' });
    const reader = await server.call('POST', '/v1/admin-keys', { json: { name: 'r', permission: 'read' } });
    const token = reader.body.result.key as string;
    expect((await server.call('GET', `${brokerPath('guarded')}/signing-keys`, { token })).status).toBe(200);
    expect(
      (await server.call('POST', `${brokerPath('guarded')}/signing-keys/rotate`, { token })).status,
    ).toBe(403);
    const kid = (await keyIn('guarded', 'next')).kid;
    expect(
      (await server.call('POST', `${brokerPath('guarded')}/signing-keys/${kid}/revoke`, { token })).status,
    ).toBe(403);
    expect(ADMIN_TOKEN).not.toBe(token);
  });
});

describe('brokers created before keys were published ahead', () => {
  it('get a next key from the scheduled job, promoted once it has been published long enough', async () => {
    await createBroker(server, 'home', 'legacy', { expiration: HOUR, key_rotation_period: PREPUBLICATION });
    // What the migration leaves: only the key that signs.
    const db = new Database(server.dbPath);
    db.prepare(
      `delete from signing_keys where activated_at is null and broker_id = (select id from brokers where name = 'legacy')`,
    ).run();
    db.close();
    const current = await keyIn('legacy', 'current');
    expect(await keys('legacy')).toHaveLength(1);

    // Rotating now cannot promote a key nobody has seen: it publishes one and says when it may sign.
    const early = await rotate('legacy');
    expect(early.status).toBe(409);
    const published = await keyIn('legacy', 'next');
    const publish = await server.call('GET', '/v1/audit?action=signing_key.publish&broker=legacy');
    expect(publish.body.result[0].details).toMatchObject({ kid: published.kid });

    // Due by its period, but the next key is too young until the pre-publication time has passed.
    advance(PREPUBLICATION - 1);
    await runJob();
    expect((await keyIn('legacy', 'current')).kid).toBe(current.kid);
    advance(1);
    await runJob();
    expect((await keyIn('legacy', 'current')).kid).toBe(published.kid);
    expect((await keyIn('legacy', 'retired')).kid).toBe(current.kid);
  });
});
