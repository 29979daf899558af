import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, createBroker, startTestServer, type TestServer } from '../support/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HOUR = 3600;
const DAY = 24 * HOUR;
const ZERO = {
  keys_rotated: 0,
  keys_removed: 0,
  revocations_pruned: 0,
  credentials_pruned: 0,
  events_pruned: 0,
  audit_events_pruned: 0,
  sink_changes_delivered: 0,
  sinks_failed: 0,
};

/** A server with a clock the test moves, and no scheduler: the job runs when the test says. */
async function clockedServer(env: Record<string, string> = {}) {
  const clock = { now: Date.UTC(2032, 0, 1) };
  const server = await startTestServer({
    clock: () => clock.now,
    env: { GATEPASS_CRON_INTERVAL: '0', ...env },
  });
  const base = '/v1/namespaces/home/brokers';
  const helpers = {
    server,
    clock,
    seconds: () => Math.floor(clock.now / 1000),
    advance(seconds: number) {
      clock.now += seconds * 1000;
    },
    async run() {
      const response = await server.call('POST', '/v1/maintenance/run');
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body.result as typeof ZERO;
    },
    async issue(broker: string, body: Record<string, unknown> = {}) {
      const response = await server.call('POST', `${base}/${broker}/credentials`, {
        json: { number: 1, ...body },
      });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return Object.values(response.body.result)[0] as string;
    },
    async jwks(broker: string) {
      const response = await server.call('GET', `${base}/${broker}/publickeys`, { token: null });
      expect(response.status).toBe(200);
      return response.body.result as { keys: Array<{ kid: string }> };
    },
    async verifies(broker: string, token: string) {
      try {
        await jwtVerify(token, createLocalJWKSet(await helpers.jwks(broker)), {
          currentDate: new Date(clock.now),
          audience: `${broker}.home`,
        });
        return true;
      } catch {
        return false;
      }
    },
    /** By the time each began signing; the next key, which has not, last. */
    signingKeys(broker: string) {
      const db = new Database(server.dbPath, { readonly: true });
      try {
        return db
          .prepare(
            `select kid, created_at, retired_at, remove_after from signing_keys
             where broker_id = (select id from brokers where name = ?)
             order by activated_at is null, activated_at`,
          )
          .all(broker) as Array<{
          kid: string;
          created_at: number;
          retired_at: number | null;
          remove_after: number | null;
        }>;
      } finally {
        db.close();
      }
    },
  };
  return helpers;
}

describe('key rotation', () => {
  let t: Awaited<ReturnType<typeof clockedServer>>;
  beforeAll(async () => {
    t = await clockedServer({ GATEPASS_KEY_OVERLAP: '600' });
    await createBroker(t.server, 'home', 'rotating', { expiration: HOUR, key_rotation_period: DAY });
    await createBroker(t.server, 'home', 'fixed', { expiration: HOUR });
  });
  afterAll(() => t.server.destroy());

  it('rotates a key older than key_rotation_period; old and new tokens both verify until the old expire', async () => {
    const start = t.seconds();
    const [first, published] = t.signingKeys('rotating');

    t.advance(DAY - HOUR / 2);
    const before = await t.issue('rotating');
    expect(decodeProtectedHeader(before).kid).toBe(first!.kid);
    t.advance(HOUR / 2 - 1);
    expect(await t.run()).toMatchObject({ keys_rotated: 0 });

    t.advance(1);
    // Exactly one period after creation: due. Only the broker with a period rotates.
    expect(await t.run()).toMatchObject({ keys_rotated: 1, keys_removed: 0 });
    const rotatedAt = t.clock.now;
    const keys = (await t.jwks('rotating')).keys;
    // The retired key, the one published a day ago that signs now, and a new next key.
    expect(keys.map((key) => key.kid)).toEqual(expect.arrayContaining([first!.kid, published!.kid]));
    expect(keys).toHaveLength(3);
    expect((await t.jwks('fixed')).keys).toHaveLength(2);

    const after = await t.issue('rotating');
    const newKid = decodeProtectedHeader(after).kid;
    expect(newKid).toBe(published!.kid);
    expect(await t.verifies('rotating', before)).toBe(true);
    expect(await t.verifies('rotating', after)).toBe(true);

    // The old key: retired now, published until the broker's expiration after retirement (which outlasts
    // every token it signed: they were issued before), plus a minute of grace.
    const [old, current, next] = t.signingKeys('rotating');
    expect(old).toMatchObject({
      kid: first!.kid,
      retired_at: rotatedAt,
      remove_after: rotatedAt + (HOUR + 60) * 1000,
    });
    expect(current).toMatchObject({
      kid: newKid,
      created_at: start * 1000,
      retired_at: null,
      remove_after: null,
    });
    expect(next).toMatchObject({ created_at: rotatedAt, retired_at: null, remove_after: null });

    // Idempotent: the same moment again changes nothing.
    expect(await t.run()).toEqual(ZERO);

    // A token signed by the old key is refreshed with the new one.
    const refreshed = await t.server.call(
      'POST',
      '/v1/namespaces/home/brokers/rotating/credentials/refresh',
      {
        token: null,
        json: { token: before },
      },
    );
    expect(refreshed.status).toBe(200);
    expect(decodeProtectedHeader(Object.values(refreshed.body.result)[0] as string).kid).toBe(newKid);

    // Ten seconds before the old token expires, both still verify against the served JWKS.
    t.advance(HOUR / 2 - 10);
    expect(await t.run()).toEqual(ZERO);
    expect(await t.verifies('rotating', before)).toBe(true);
    expect(await t.verifies('rotating', after)).toBe(true);

    t.advance(70);
    expect(decodeJwt(before).exp).toBeLessThan(t.seconds());
    expect(await t.run()).toMatchObject({ keys_removed: 0 });
    expect((await t.jwks('rotating')).keys).toHaveLength(3);

    t.advance(HOUR / 2 + 1);
    expect(await t.run()).toMatchObject({ keys_removed: 1 });
    expect((await t.jwks('rotating')).keys.map((key) => key.kid)).toEqual([next!.kid, newKid]);
    expect(await t.verifies('rotating', before)).toBe(false);
    const latest = await t.issue('rotating');
    expect(decodeProtectedHeader(latest).kid).toBe(newKid);
    expect(await t.verifies('rotating', latest)).toBe(true);
    expect(t.seconds() - start).toBeGreaterThan(DAY);
    expect(await t.run()).toMatchObject({ keys_rotated: 0, keys_removed: 0 });
  });

  it('keeps a retired key while a recorded token it signed lives; tokens without exp get the overlap', async () => {
    await createBroker(t.server, 'home', 'open-ended', { key_rotation_period: HOUR });
    await createBroker(t.server, 'home', 'bare', { key_rotation_period: HOUR });
    const [firstOpenEnded] = t.signingKeys('open-ended');
    const withExp = await t.issue('open-ended', { expiration: 3 * HOUR });
    const withoutExp = await t.issue('open-ended');
    const bare = await t.issue('bare');
    expect(decodeJwt(withoutExp).exp).toBeUndefined();

    t.advance(HOUR);
    expect(await t.run()).toMatchObject({ keys_rotated: 2, keys_removed: 0 });
    const retiredAt = t.clock.now;
    const [openEnded] = t.signingKeys('open-ended');
    // The latest exp among the key's recorded tokens wins over the 600 s overlap.
    expect(openEnded!.remove_after).toBe((decodeJwt(withExp).exp! + 60) * 1000);
    // A broker without expiration: tokens without exp verify for the overlap (600 s), not forever.
    const [bareKey] = t.signingKeys('bare');
    expect(bareKey!.remove_after).toBe(retiredAt + (600 + 60) * 1000);

    t.advance(600 + 61);
    expect(await t.run()).toMatchObject({ keys_removed: 1 });
    expect(await t.verifies('bare', bare)).toBe(false);
    expect(await t.verifies('open-ended', withoutExp)).toBe(true);

    // Both rotate again meanwhile (hourly); the first key of open-ended goes once its last token expired.
    t.advance(2 * HOUR);
    expect(await t.run()).toMatchObject({ keys_rotated: 2, keys_removed: 1 });
    expect(await t.verifies('open-ended', withExp)).toBe(false);
    expect(await t.verifies('open-ended', withoutExp)).toBe(false);
    expect((await t.jwks('open-ended')).keys.map((key) => key.kid)).not.toContain(firstOpenEnded!.kid);
  });
});

describe('pruning', () => {
  let t: Awaited<ReturnType<typeof clockedServer>>;
  beforeAll(async () => {
    t = await clockedServer();
    await createBroker(t.server, 'home', 'short', { expiration: 60 });
    await createBroker(t.server, 'home', 'long', { expiration: DAY });
    await createBroker(t.server, 'home', 'forever');
  });
  afterAll(() => t.server.destroy());

  it('prunes revocations, records and feed events of expired tokens only, once', async () => {
    const short = await Promise.all([t.issue('short'), t.issue('short'), t.issue('short')]);
    const long = await t.issue('long');
    const forever = await t.issue('forever');
    const [a, b] = short.map((token) => decodeJwt(token).jti!);
    const revoke = (broker: string, jtis: string) =>
      t.server.call('POST', `/v1/namespaces/home/brokers/${broker}/revocations?jti=${jtis}`);
    expect((await revoke('short', `${a},${b}`)).status).toBe(200);
    expect((await revoke('long', decodeJwt(long).jti!)).status).toBe(200);
    expect((await revoke('forever', decodeJwt(forever).jti!)).status).toBe(200);
    expect(
      (await t.server.call('DELETE', `/v1/namespaces/home/brokers/short/revocations?jti=${b}`)).status,
    ).toBe(200);
    expect(await t.run()).toEqual(ZERO);

    // Expired, but within the minute of grace a lagging verifier may still accept.
    t.advance(60 + 59);
    expect(await t.run()).toEqual(ZERO);

    t.advance(2);
    expect(await t.run()).toEqual({
      keys_rotated: 0,
      keys_removed: 0,
      revocations_pruned: 1,
      credentials_pruned: 3,
      events_pruned: 2,
      audit_events_pruned: 0,
      sink_changes_delivered: 0,
      sinks_failed: 0,
    });
    expect(await t.run()).toEqual(ZERO);

    const list = await t.server.call('GET', '/v1/namespaces/home/brokers/short/revocations');
    expect(list.body.result).toEqual([]);
    const feed = await t.server.call('GET', '/v1/namespaces/home/brokers/short/revocations?since=0');
    // Left: the un-revoke (it carries no exp).
    expect(feed.body.result.changes).toEqual([{ jti: b, revoked: false, exp: null }]);
    const longList = await t.server.call('GET', '/v1/namespaces/home/brokers/long/revocations');
    expect(longList.body.result).toHaveLength(1);
    // A token without exp: its revocation and record are kept.
    const foreverList = await t.server.call('GET', '/v1/namespaces/home/brokers/forever/revocations');
    expect(foreverList.body.result).toEqual([
      expect.objectContaining({ jti: decodeJwt(forever).jti, expires_on: null }),
    ]);
  });
});

describe('audit retention', () => {
  /** Audit events as the file holds them, oldest first. */
  function auditTimes(dbPath: string): number[] {
    const db = new Database(dbPath, { readonly: true });
    try {
      return (db.prepare('select at from audit_events order by seq').all() as Array<{ at: number }>).map(
        (row) => row.at,
      );
    } finally {
      db.close();
    }
  }

  it('prunes events older than GATEPASS_AUDIT_RETENTION_DAYS, however many, and keeps the rest', async () => {
    const t = await clockedServer({ GATEPASS_AUDIT_RETENTION_DAYS: '30' });
    try {
      const start = t.clock.now;
      await createBroker(t.server, 'home', 'sensors');
      // A long trail from before the retention: more than one statement's worth, written beside the server.
      const db = new Database(t.server.dbPath);
      const insert = db.prepare(
        `insert into audit_events (at, action, actor, namespace_id, namespace, broker_id, broker, details)
         values (?, 'credentials.issue', 'someone', null, null, null, null, '{}')`,
      );
      db.transaction(() => {
        for (let i = 0; i < 2_500; i++) insert.run(start - 40 * DAY * 1000 + i);
      })();
      db.close();
      const before = auditTimes(t.server.dbPath).length;

      t.advance(29 * DAY);
      await t.issue('sensors');
      expect(await t.run()).toEqual({ ...ZERO, audit_events_pruned: 2_500 });
      expect(auditTimes(t.server.dbPath)).toHaveLength(before + 1 - 2_500);

      // 31 days after the start: the namespace, broker and first key events go; the issue stays.
      t.advance(2 * DAY);
      const pruned = (await t.run()).audit_events_pruned;
      expect(pruned).toBe(before - 2_500);
      const left = auditTimes(t.server.dbPath);
      expect(left).toEqual([start + 29 * DAY * 1000]);
      expect((await t.run()).audit_events_pruned).toBe(0);
    } finally {
      await t.server.destroy();
    }
  });

  it('keeps every event with GATEPASS_AUDIT_RETENTION_DAYS=0', async () => {
    const t = await clockedServer({ GATEPASS_AUDIT_RETENTION_DAYS: '0' });
    try {
      await createBroker(t.server, 'home', 'sensors');
      const before = auditTimes(t.server.dbPath).length;
      expect(before).toBeGreaterThan(0);
      t.advance(20 * 365 * DAY);
      expect(await t.run()).toEqual(ZERO);
      expect(auditTimes(t.server.dbPath)).toHaveLength(before);
    } finally {
      await t.server.destroy();
    }
  });
});

describe('POST /v1/maintenance/run', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { GATEPASS_CRON_INTERVAL: '0' } });
    await createBroker(server, 'home', 'sensors');
  });
  afterAll(() => server.destroy());

  it('needs an admin key for all namespaces with write', async () => {
    expect((await server.call('POST', '/v1/maintenance/run', { token: null })).status).toBe(401);
    for (const scope of [{ permission: 'read' }, { namespace: 'home', permission: 'write' }]) {
      const key = await server.call('POST', '/v1/admin-keys', { json: { name: 'k', ...scope } });
      const response = await server.call('POST', '/v1/maintenance/run', { token: key.body.result.key });
      expect(response.status).toBe(403);
      expect(response.body.errors[0].error).toBe('forbidden');
    }
    const run = await server.call('POST', '/v1/maintenance/run');
    expect(run.status).toBe(200);
    expect(run.body.result).toEqual(ZERO);
    expect(server.logs).toContainEqual(expect.objectContaining({ msg: 'scheduled job', keysRotated: 0 }));
  });
});

describe('the built-in scheduler', () => {
  it('runs at start-up and every GATEPASS_CRON_INTERVAL seconds, and stops on close', async () => {
    const server = await startTestServer({ env: { GATEPASS_CRON_INTERVAL: '1' } });
    try {
      const runs = () => server.logs.filter((line) => line.msg === 'scheduled job').length;
      const deadline = Date.now() + 10_000;
      while (runs() < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(runs()).toBeGreaterThanOrEqual(2);
      await server.close();
      const afterClose = runs();
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(runs()).toBe(afterClose);
    } finally {
      await server.destroy();
    }
  });

  it('is off with GATEPASS_CRON_INTERVAL=0', async () => {
    const server = await startTestServer({ env: { GATEPASS_CRON_INTERVAL: '0' } });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.logs.filter((line) => line.msg === 'scheduled job')).toEqual([]);
    } finally {
      await server.destroy();
    }
  });
});

describe('npm run cron', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatepass-cron-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('runs the job once against the database, prints the counts as one JSON line and exits 0', async () => {
    // Two days ago: a broker rotating daily, and a revoked token that expired long since.
    const past = Date.now() - 2 * DAY * 1000;
    const server = await startTestServer({
      dataDir,
      clock: () => past,
      env: { GATEPASS_CRON_INTERVAL: '0' },
    });
    await createBroker(server, 'home', 'sensors', { expiration: 60, key_rotation_period: DAY });
    const issued = await server.call('POST', '/v1/namespaces/home/brokers/sensors/credentials', {
      json: { number: 2 },
    });
    const jti = decodeJwt(Object.values(issued.body.result)[0] as string).jti;
    await server.call('POST', `/v1/namespaces/home/brokers/sensors/revocations?jti=${jti}`);
    await server.close();

    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'cron'], {
      cwd: ROOT,
      env: { ...process.env, GATEPASS_DB: join(dataDir, 'gatepass.db'), GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN },
      timeout: 60_000,
    });
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'info',
        msg: 'scheduled job',
        keysRotated: 1,
        keysRemoved: 0,
        revocationsPruned: 1,
        credentialsPruned: 2,
        eventsPruned: 1,
      }),
    ]);
  });

  it('exits 1 naming the variable when the configuration is invalid', async () => {
    const run = promisify(execFile)('npm', ['run', '--silent', 'cron'], {
      cwd: ROOT,
      env: { ...process.env, GATEPASS_DB: join(dataDir, 'gatepass.db'), GATEPASS_KEY_OVERLAP: 'soon' },
    });
    await expect(run).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('GATEPASS_KEY_OVERLAP:'),
    });
  });
});
