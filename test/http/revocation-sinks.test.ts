// The revocation-sinks resource: create, list, get, patch, delete; secrets sealed and never returned; tenancy and
// permissions as everywhere; every change audited without its secret.
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const sinks = '/v1/namespaces/home/brokers/sensors/revocation-sinks';
const RABBIT_PASSWORD = 'rabbit-management-password-0123';
const EMQX_SECRET = 'emqx-api-secret-abcdefghij';
const WEBHOOK_SECRET = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

let server: TestServer;
const keys = { read: '', away: '' };

beforeAll(async () => {
  server = await startTestServer({ env: { GATEPASS_CRON_INTERVAL: '0' } });
  await createBroker(server, 'home', 'sensors');
  await createBroker(server, 'away', 'sensors');
  const key = async (body: Record<string, unknown>) =>
    (await server.call('POST', '/v1/admin-keys', { json: body })).body.result.key as string;
  keys.read = await key({ name: 'reader', permission: 'read' });
  keys.away = await key({ name: 'away-writer', namespace: 'away', permission: 'write' });
});
afterAll(() => server.destroy());

const rabbit = {
  name: 'rabbit',
  kind: 'rabbitmq',
  url: 'http://rabbit.internal:15672',
  username: 'gatepass',
  password: RABBIT_PASSWORD,
};

describe('revocation sinks', () => {
  it('creates each kind, showing hints of secrets and never the secrets', async () => {
    const created = await server.call('POST', sinks, { json: rabbit });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body.result).toMatchObject({
      name: 'rabbit',
      kind: 'rabbitmq',
      namespace: 'home',
      broker: 'sensors',
      url: 'http://rabbit.internal:15672',
      username: 'gatepass',
      password_hint: '0123',
      timeout_ms: 5000,
      status: 'ok',
      pending: 0,
      attempts: 0,
      last_error: null,
      failing_since: null,
      next_attempt_on: null,
      last_delivered_on: null,
    });
    expect(created.body.result).not.toHaveProperty('password');

    const emqx = await server.call('POST', sinks, {
      json: {
        name: 'emqx',
        kind: 'emqx',
        url: 'https://emqx.internal:18083',
        api_key: 'k1',
        api_secret: EMQX_SECRET,
        timeout_ms: 2000,
      },
    });
    expect(emqx.status).toBe(200);
    expect(emqx.body.result).toMatchObject({
      kind: 'emqx',
      api_key: 'k1',
      api_secret_hint: 'ghij',
      timeout_ms: 2000,
    });

    const supplied = await server.call('POST', sinks, {
      json: { name: 'mine', kind: 'webhook', url: 'https://hooks.example/gatepass', secret: WEBHOOK_SECRET },
    });
    expect(supplied.status).toBe(200);
    // A supplied secret is not echoed; a generated one is returned this once.
    expect(supplied.body.result).not.toHaveProperty('secret');
    expect(supplied.body.result).toMatchObject({
      kind: 'webhook',
      events: [
        'credentials.issued',
        'credentials.revoked',
        'credentials.unrevoked',
        'signing_key.rotated',
        'signing_key.revoked',
        'signing_key.published',
      ],
      secret_hint: WEBHOOK_SECRET.slice(-4),
    });
    const generated = await server.call('POST', sinks, {
      json: {
        name: 'theirs',
        kind: 'webhook',
        url: 'https://hooks.example/other',
        events: ['credentials.revoked'],
      },
    });
    expect(generated.status).toBe(200);
    expect(generated.headers.get('cache-control')).toBe('no-store');
    expect(generated.body.result.secret).toMatch(/^whsec_/);
    const shown = await server.call('GET', `${sinks}/theirs`);
    expect(shown.body.result).not.toHaveProperty('secret');
    expect(JSON.stringify(shown.body)).not.toContain(generated.body.result.secret.slice(6, 30));

    const list = await server.call('GET', sinks);
    expect(list.status).toBe(200);
    expect(list.body.result.map((sink: { name: string }) => sink.name)).toEqual([
      'emqx',
      'mine',
      'rabbit',
      'theirs',
    ]);
    expect(list.body.result_info).toMatchObject({ total_count: 4 });
    const everything = JSON.stringify(list.body);
    for (const secret of [RABBIT_PASSWORD, EMQX_SECRET, WEBHOOK_SECRET, generated.body.result.secret]) {
      expect(everything).not.toContain(secret);
    }
  });

  it('stores secrets sealed, bound to their sink', async () => {
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const rows = db.prepare('SELECT id, settings FROM revocation_sinks').all() as Array<{
        id: string;
        settings: string;
      }>;
      const file = rows.map((row) => row.settings).join();
      for (const secret of [RABBIT_PASSWORD, EMQX_SECRET, WEBHOOK_SECRET]) expect(file).not.toContain(secret);
      for (const row of rows) expect(JSON.parse(row.settings).sealedSecret).toMatch(/^v1\./);
    } finally {
      db.close();
    }
  });

  it('refuses a taken name, fields of another kind and a malformed webhook secret', async () => {
    expect((await server.call('POST', sinks, { json: rabbit })).status).toBe(409);
    const misplaced = await server.call('PATCH', `${sinks}/rabbit`, { json: { api_key: 'k2' } });
    expect(misplaced.status).toBe(400);
    expect(misplaced.body.errors[0]).toMatchObject({
      field: 'api_key',
      message: 'api_key does not apply to a rabbitmq sink',
    });
    const events = await server.call('PATCH', `${sinks}/emqx`, { json: { events: ['credentials.revoked'] } });
    expect(events.body.errors[0]).toMatchObject({ field: 'events' });
    for (const secret of ['whsec_short', 'not-whsec', `whsec_${Buffer.alloc(65).toString('base64')}`]) {
      const refused = await server.call('PATCH', `${sinks}/mine`, { json: { secret } });
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0].field).toBe('secret');
    }
  });

  it('updates settings and secrets, keeping name and kind', async () => {
    const patched = await server.call('PATCH', `${sinks}/rabbit`, {
      json: {
        url: 'https://rabbit.internal:15671/mgmt',
        password: 'another-password-of-16-or-more',
        timeout_ms: 1500,
      },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.result).toMatchObject({
      name: 'rabbit',
      kind: 'rabbitmq',
      url: 'https://rabbit.internal:15671/mgmt',
      username: 'gatepass',
      password_hint: 'more',
      timeout_ms: 1500,
    });
    const webhook = await server.call('PATCH', `${sinks}/theirs`, {
      json: { events: ['credentials.issued'] },
    });
    expect(webhook.body.result.events).toEqual(['credentials.issued']);
  });

  it('keeps tenants apart and permissions as everywhere', async () => {
    // Another namespace's key: 404, exactly as for a broker that does not exist.
    for (const [method, path, json] of [
      ['GET', sinks],
      ['GET', `${sinks}/rabbit`],
      ['POST', sinks, { ...rabbit, name: 'intruder' }],
      ['PATCH', `${sinks}/rabbit`, { url: 'https://evil.example' }],
      ['DELETE', `${sinks}/rabbit`],
    ] as const) {
      const response = await server.call(method, path, { token: keys.away, ...(json ? { json } : {}) });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(response.body.errors[0].message).toBe('namespace not found');
    }
    // Its own broker of the same name is its own.
    const own = await server.call('GET', '/v1/namespaces/away/brokers/sensors/revocation-sinks', {
      token: keys.away,
    });
    expect(own.body.result).toEqual([]);
    // A read key lists and reads, and changes nothing.
    expect((await server.call('GET', sinks, { token: keys.read })).status).toBe(200);
    expect((await server.call('GET', `${sinks}/rabbit`, { token: keys.read })).status).toBe(200);
    expect(
      (await server.call('POST', sinks, { token: keys.read, json: { ...rabbit, name: 'r2' } })).status,
    ).toBe(403);
    expect(
      (await server.call('PATCH', `${sinks}/rabbit`, { token: keys.read, json: { timeout_ms: 200 } })).status,
    ).toBe(403);
    expect((await server.call('DELETE', `${sinks}/rabbit`, { token: keys.read })).status).toBe(403);
    expect((await server.call('GET', `${sinks}/nothing`)).status).toBe(404);
  });

  it('audits every change, naming the secret that was replaced but never its value', async () => {
    const events = async (action: string) =>
      (await server.call('GET', `/v1/audit?action=${action}`)).body.result as Array<Record<string, unknown>>;
    const [create] = (await events('revocation_sink.create')).filter(
      (event) => (event.details as { name: string }).name === 'rabbit',
    );
    expect(create).toMatchObject({
      namespace: 'home',
      broker: 'sensors',
      details: {
        name: 'rabbit',
        kind: 'rabbitmq',
        url: 'http://rabbit.internal:15672',
        username: 'gatepass',
        secret_hint: '0123',
        timeout_ms: 5000,
      },
    });
    const [update] = (await events('revocation_sink.update')).filter(
      (event) => (event.details as { name: string }).name === 'rabbit',
    );
    expect(update!.details).toEqual({
      name: 'rabbit',
      changes: {
        url: { old: 'http://rabbit.internal:15672', new: 'https://rabbit.internal:15671/mgmt' },
        secret_hint: { old: '0123', new: 'more' },
        timeout_ms: { old: 5000, new: 1500 },
      },
      secrets_replaced: ['password'],
    });
    const emqx = (await events('revocation_sink.create')).find(
      (event) => (event.details as { name: string }).name === 'emqx',
    );
    expect(emqx!.details).toMatchObject({ kind: 'emqx', api_key: 'k1' });

    expect((await server.call('DELETE', `${sinks}/emqx`)).status).toBe(200);
    expect((await server.call('GET', `${sinks}/emqx`)).status).toBe(404);
    expect((await events('revocation_sink.delete'))[0]).toMatchObject({
      details: { name: 'emqx', kind: 'emqx' },
    });
    const trail = JSON.stringify((await server.call('GET', '/v1/audit?per_page=100')).body);
    for (const secret of [RABBIT_PASSWORD, EMQX_SECRET, WEBHOOK_SECRET, 'another-password-of-16-or-more']) {
      expect(trail).not.toContain(secret);
    }
  });

  it('goes with its broker', async () => {
    await createBroker(server, 'home', 'doomed');
    const path = '/v1/namespaces/home/brokers/doomed/revocation-sinks';
    expect((await server.call('POST', path, { json: rabbit })).status).toBe(200);
    expect((await server.call('DELETE', '/v1/namespaces/home/brokers/doomed')).status).toBe(200);
    await createBroker(server, 'home', 'doomed');
    expect((await server.call('GET', path)).body.result).toEqual([]);
  });
});
