// Delivery to revocation sinks, through the real server: EMQX's kick API as EMQX describes it, Standard
// Webhooks messages checked with the specification's own library, failures shown by the API and retried with
// backoff, and an outbox that survives a restart.
import Database from 'better-sqlite3';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/runtime/node.js';
import { type EmqxApi, startEmqxApi } from '../support/emqx-api.js';
import { freePort, type Receiver, startReceiver } from '../support/receiver.js';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const jtiOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti;

/** Real time plus an offset the tests move: webhook timestamps stay within the library's 5 minutes. */
let offsetMs = 0;
const clock = () => Date.now() + offsetMs;

let server: TestServer;
beforeAll(async () => {
  // The first broker's key is two hours old, so the scheduled job rotates it (key_rotation_period 3600).
  offsetMs = -2 * 3600_000;
  server = await startTestServer({ clock, env: { GATEPASS_CRON_INTERVAL: '0' } });
  await createBroker(server, 'home', 'rotating', { expiration: 3600, key_rotation_period: 3600 });
  offsetMs = 0;
  await createBroker(server, 'home', 'sensors', { expiration: 3600 });
});
afterAll(() => server.destroy());

const base = (broker: string) => `/v1/namespaces/home/brokers/${broker}`;

async function issue(broker: string, ...clientid: string[]): Promise<Record<string, string>> {
  const issued = await server.call('POST', `${base(broker)}/credentials`, { json: { clientid } });
  expect(issued.status, JSON.stringify(issued.body)).toBe(200);
  return issued.body.result;
}

async function createSink(broker: string, body: Record<string, unknown>) {
  const created = await server.call('POST', `${base(broker)}/revocation-sinks`, { json: body });
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  return created.body.result;
}

async function sink(broker: string, name: string) {
  const response = await server.call('GET', `${base(broker)}/revocation-sinks/${name}`);
  expect(response.status).toBe(200);
  return response.body.result;
}

/** Polls the sink's view until `done` (the server delivers in the background): at most 5 s. */
async function sinkWhen(broker: string, name: string, done: (view: Record<string, unknown>) => boolean) {
  for (let i = 0; i < 100; i++) {
    const view = await sink(broker, name);
    if (done(view)) return view;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`sink ${name} never got there: ${JSON.stringify(await sink(broker, name))}`);
}

const revoke = (broker: string, ...tokens: string[]) =>
  server.call('POST', `${base(broker)}/revocations`, { json: { jti: tokens.map(jtiOf) } });

describe('emqx sink, against EMQX’s published API', () => {
  let emqx: EmqxApi;
  beforeAll(async () => {
    emqx = await startEmqxApi('gatepass-key', 'an-emqx-api-secret-0123456789');
    await createSink('sensors', {
      name: 'emqx',
      kind: 'emqx',
      url: `${emqx.url}/`,
      api_key: 'gatepass-key',
      api_secret: 'an-emqx-api-secret-0123456789',
    });
  });
  afterAll(() => emqx.close());

  it('kicks the revoked credential’s client id: DELETE /api/v5/clients/{clientid}, API key and secret as Basic', async () => {
    const tokens = await issue('sensors', 'auth0|jane.doe@example.com', 'other');
    emqx.connected.add('auth0|jane.doe@example.com');
    emqx.connected.add('other');
    const kicked = emqx.next();
    expect((await revoke('sensors', tokens['auth0|jane.doe@example.com']!)).status).toBe(200);
    const request = await kicked;
    expect(request.method).toBe('DELETE');
    expect(request.url).toBe('/api/v5/clients/auth0%7Cjane.doe%40example.com');
    expect(request.headers.authorization).toBe(
      `Basic ${Buffer.from('gatepass-key:an-emqx-api-secret-0123456789').toString('base64')}`,
    );
    expect(emqx.kicked).toEqual(['auth0|jane.doe@example.com']);
    expect([...emqx.connected]).toEqual(['other']);
    expect(await sinkWhen('sensors', 'emqx', (view) => view.pending === 0)).toMatchObject({
      status: 'ok',
      attempts: 0,
      last_error: null,
    });
  });

  it('takes 404 CLIENTID_NOT_FOUND (not connected) as done, and un-revoking kicks no one', async () => {
    const tokens = await issue('sensors', 'offline');
    const answered = emqx.next();
    await revoke('sensors', tokens.offline!);
    expect((await answered).url).toBe('/api/v5/clients/offline');
    const unrevoked = await server.call(
      'DELETE',
      `${base('sensors')}/revocations?jti=${jtiOf(tokens.offline!)}`,
    );
    expect(unrevoked.status).toBe(200);
    const view = await sinkWhen('sensors', 'emqx', (v) => v.pending === 0);
    expect(view).toMatchObject({ status: 'ok', attempts: 0, last_error: null });
    expect(emqx.received.filter((r) => r.url === '/api/v5/clients/offline')).toHaveLength(1);
  });

  it('kicks the client of a credential refreshed from the revoked one: its feed event names the client too', async () => {
    const tokens = await issue('sensors', 'roamer');
    const refreshed = await server.call('POST', `${base('sensors')}/credentials/refresh`, {
      json: { token: tokens.roamer },
    });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const [named, descendant] = [jtiOf(tokens.roamer!), jtiOf(refreshed.body.result.roamer)];
    emqx.connected.add('roamer');
    const kicked = emqx.next();
    expect((await revoke('sensors', tokens.roamer!)).status).toBe(200);
    expect((await kicked).url).toBe('/api/v5/clients/roamer');
    // Both feed events are delivered, the client kicked once for the batch.
    expect(await sinkWhen('sensors', 'emqx', (view) => view.pending === 0)).toMatchObject({ status: 'ok' });
    expect(emqx.received.filter((r) => r.url === '/api/v5/clients/roamer')).toHaveLength(1);
    expect(emqx.connected.has('roamer')).toBe(false);

    // The descendant's own change names its client, whatever the named jti's does.
    const { sqlite, store } = openDatabase(server.dbPath);
    try {
      const { id } = sqlite.prepare("SELECT id FROM brokers WHERE name = 'sensors'").get() as { id: string };
      const changes = await store.listRevocationChanges(id, 0, 1000);
      expect(changes.filter((change) => [named, descendant].includes(change.jti))).toEqual([
        expect.objectContaining({ jti: named, revoked: true, clientId: 'roamer' }),
        expect.objectContaining({ jti: descendant, revoked: true, clientId: 'roamer' }),
      ]);
    } finally {
      sqlite.close();
    }
  });

  it('shows a refused API secret as a failing sink, and delivers once it is fixed', async () => {
    const patched = await server.call('PATCH', `${base('sensors')}/revocation-sinks/emqx`, {
      json: { api_secret: 'a-wrong-secret-0123456789' },
    });
    expect(patched.status).toBe(200);
    const tokens = await issue('sensors', 'victim');
    emqx.connected.add('victim');
    const refused = emqx.next();
    await revoke('sensors', tokens.victim!);
    await refused;
    const failing = await sinkWhen('sensors', 'emqx', (view) => view.status === 'failing');
    expect(failing).toMatchObject({ attempts: 1, pending: 1 });
    expect(failing.last_error).toMatch(/^HTTP 401: .*BAD_API_KEY_OR_SECRET/);
    expect(JSON.stringify(failing)).not.toContain('a-wrong-secret');
    expect(emqx.connected.has('victim')).toBe(true);

    // A change to the sink makes the next attempt at once, backoff or not.
    const fixed = emqx.next();
    await server.call('PATCH', `${base('sensors')}/revocation-sinks/emqx`, {
      json: { api_secret: 'an-emqx-api-secret-0123456789' },
    });
    expect((await fixed).url).toBe('/api/v5/clients/victim');
    expect(emqx.kicked.at(-1)).toBe('victim');
    expect(await sinkWhen('sensors', 'emqx', (view) => view.status === 'ok')).toMatchObject({
      pending: 0,
      attempts: 0,
      last_error: null,
      failing_since: null,
    });
  });
});

describe('webhook sink (Standard Webhooks)', () => {
  let endpoint: Receiver;
  let secret: string;
  beforeAll(async () => {
    endpoint = await startReceiver();
    const created = await createSink('rotating', {
      name: 'hook',
      kind: 'webhook',
      url: `${endpoint.url}/events`,
    });
    secret = created.secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(created.secret_hint).toBe(secret.slice(-4));
  });
  afterAll(() => endpoint.close());

  const verified = (request: { body: string; headers: Record<string, unknown> }) =>
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>) as {
      type: string;
      timestamp: string;
      data: Record<string, unknown>;
    };

  it('signs issue, revoke, un-revoke and key-rotation events, verified by the reference library', async () => {
    const arrived = endpoint.next(4);
    const tokens = await issue('rotating', 'dev-1');
    const jti = jtiOf(tokens['dev-1']!);
    await revoke('rotating', tokens['dev-1']!);
    await server.call('DELETE', `${base('rotating')}/revocations?jti=${jti}`);
    const run = await server.call('POST', '/v1/maintenance/run');
    expect(run.body.result.keys_rotated).toBe(1);
    await arrived;

    const events = endpoint.received.map((request) => {
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/events');
      expect(request.headers['content-type']).toBe('application/json');
      return verified(request);
    });
    expect(events.map((event) => event.type)).toEqual([
      'credentials.issued',
      'credentials.revoked',
      'credentials.unrevoked',
      'signing_key.rotated',
    ]);
    expect(events[0]!.data).toMatchObject({
      namespace: 'home',
      broker: 'rotating',
      action: 'credentials.issue',
      credentials: [{ jti, client_id: 'dev-1' }],
    });
    expect(events[1]!.data).toMatchObject({ action: 'revocations.revoke', jtis: [jti] });
    expect(events[2]!.data).toMatchObject({ action: 'revocations.unrevoke', jtis: [jti] });
    expect(events[3]!.data).toMatchObject({ action: 'signing_key.rotate', actor: expect.any(String) });
    expect(Date.parse(events[0]!.timestamp)).toBeGreaterThan(0);
    // No token in any event.
    expect(endpoint.received.map((r) => r.body).join()).not.toContain(tokens['dev-1']!);

    // The library does check: a changed body, or another secret, does not verify.
    const [first] = endpoint.received;
    const headers = first!.headers as Record<string, string>;
    expect(() => new Webhook(secret).verify(first!.body.replace('dev-1', 'dev-2'), headers)).toThrow();
    expect(() =>
      new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(first!.body, headers),
    ).toThrow();
  });

  it('fails visibly, backs off, and retries under the same webhook-id, signed anew', async () => {
    endpoint.respond = () => ({ status: 500, body: { error: 'down for maintenance' } });
    const failed = endpoint.next();
    const before = clock();
    await issue('rotating', 'dev-2');
    const first = await failed;
    const failing = await sinkWhen('rotating', 'hook', (view) => view.status === 'failing');
    expect(failing).toMatchObject({
      attempts: 1,
      pending: 1,
      last_error: 'HTTP 500: {"error":"down for maintenance"}',
    });
    // The first retry comes after 0.5 to 1 s (1 s with jitter).
    const next = Date.parse(failing.next_attempt_on);
    expect(next - Date.parse(failing.failing_since)).toBeGreaterThanOrEqual(500);
    expect(next - before).toBeLessThanOrEqual(1000 + (clock() - before));

    // Due: a second failure doubles the wait.
    offsetMs += 1_000;
    const again = endpoint.next();
    await server.call('POST', '/v1/maintenance/run');
    const second = await again;
    const twice = await sinkWhen('rotating', 'hook', (view) => view.attempts === 2);
    expect(Date.parse(twice.next_attempt_on) - clock()).toBeGreaterThanOrEqual(1000 - 100);
    expect(Date.parse(twice.failing_since)).toBe(Date.parse(failing.failing_since));

    endpoint.respond = () => ({ status: 204 });
    offsetMs += 2_000;
    const delivered = endpoint.next();
    await server.call('POST', '/v1/maintenance/run');
    const third = await delivered;
    for (const attempt of [first, second, third]) expect(verified(attempt).type).toBe('credentials.issued');
    expect(new Set([first, second, third].map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set([first, second, third].map((r) => r.headers['webhook-signature'])).size).toBe(3);
    expect(await sinkWhen('rotating', 'hook', (view) => view.status === 'ok')).toMatchObject({
      attempts: 0,
      pending: 0,
      failing_since: null,
    });
  });

  it('delivers only the event types it was given', async () => {
    const only = await startReceiver();
    try {
      await createSink('rotating', {
        name: 'revocations-only',
        kind: 'webhook',
        url: only.url,
        secret: `whsec_${Buffer.alloc(24, 7).toString('base64')}`,
        events: ['credentials.revoked'],
      });
      const tokens = await issue('rotating', 'dev-3');
      const arrived = only.next();
      await revoke('rotating', tokens['dev-3']!);
      expect(JSON.parse((await arrived).body).type).toBe('credentials.revoked');
      expect(only.received).toHaveLength(1);
    } finally {
      await only.close();
    }
  });
});

describe('webhook sink: key-set changes', () => {
  it('delivers a next key published and a key revoked, at once, with their kids', async () => {
    await createBroker(server, 'home', 'keyed', { expiration: 3600 });
    const endpoint = await startReceiver();
    const secret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;
    try {
      await createSink('keyed', {
        name: 'keys',
        kind: 'webhook',
        url: endpoint.url,
        secret,
        events: ['signing_key.revoked', 'signing_key.published'],
      });
      const signingKeys = async () =>
        (await server.call('GET', `${base('keyed')}/signing-keys`)).body.result as Array<{
          kid: string;
          state: string;
        }>;
      // A broker from before keys were published ahead (what the migration leaves): rotating now publishes one.
      const db = new Database(server.dbPath);
      db.prepare(
        `DELETE FROM signing_keys WHERE activated_at IS NULL AND broker_id = (SELECT id FROM brokers WHERE name = 'keyed')`,
      ).run();
      db.close();
      const published = endpoint.next();
      expect((await server.call('POST', `${base('keyed')}/signing-keys/rotate`)).status).toBe(409);
      const next = (await signingKeys()).find((key) => key.state === 'next')!;
      const publishEvent = new Webhook(secret).verify(
        (await published).body,
        (await published).headers as Record<string, string>,
      ) as { type: string; data: Record<string, unknown> };
      expect(publishEvent).toMatchObject({
        type: 'signing_key.published',
        data: { broker: 'keyed', action: 'signing_key.publish', kid: next.kid },
      });

      const current = (await signingKeys()).find((key) => key.state === 'current')!;
      const revoked = endpoint.next();
      expect((await server.call('POST', `${base('keyed')}/signing-keys/${current.kid}/revoke`)).status).toBe(
        200,
      );
      const revokeEvent = new Webhook(secret).verify(
        (await revoked).body,
        (await revoked).headers as Record<string, string>,
      ) as { type: string; data: Record<string, unknown> };
      expect(revokeEvent).toMatchObject({
        type: 'signing_key.revoked',
        data: { broker: 'keyed', action: 'signing_key.revoke', revoked_kid: current.kid, state: 'current' },
      });
      expect(endpoint.received).toHaveLength(2);
    } finally {
      await endpoint.close();
    }
  });
});

describe('a failing change that goes away', () => {
  it('no longer fails once the sink stops taking its event type', async () => {
    const port = await freePort();
    await createSink('sensors', { name: 'narrowed', kind: 'webhook', url: `http://127.0.0.1:${port}` });
    await issue('sensors', 'dev-narrowed');
    expect(await sinkWhen('sensors', 'narrowed', (view) => view.status === 'failing')).toMatchObject({
      pending: 1,
    });
    const narrowed = await server.call('PATCH', `${base('sensors')}/revocation-sinks/narrowed`, {
      json: { events: ['credentials.revoked'] },
    });
    expect(narrowed.status).toBe(200);
    expect(await sinkWhen('sensors', 'narrowed', (view) => view.status === 'ok')).toMatchObject({
      pending: 0,
      attempts: 0,
      last_error: null,
      failing_since: null,
      last_delivered_on: null,
    });
    await server.call('DELETE', `${base('sensors')}/revocation-sinks/narrowed`);
  });
});

describe('the outbox', () => {
  it('keeps what a failing sink has not delivered across a restart, and delivers it after', async () => {
    const port = await freePort();
    await createSink('sensors', { name: 'later', kind: 'webhook', url: `http://127.0.0.1:${port}/hook` });
    const tokens = await issue('sensors', 'dev-restart');
    await revoke('sensors', tokens['dev-restart']!);
    // Nobody listens yet: the issue and the revocation wait, failing.
    const failing = await sinkWhen('sensors', 'later', (view) => view.status === 'failing');
    expect(failing.pending).toBe(2);
    expect(failing.last_error).toMatch(/^could not connect: ECONNREFUSED/);

    await server.close();
    const endpoint = await startReceiver(port);
    try {
      const arrived = endpoint.next(2);
      // Past the backoff: the restarted server delivers at start-up.
      offsetMs += 10_000;
      await server.restart();
      await arrived;
      expect(endpoint.received.map((r) => JSON.parse(r.body).type)).toEqual([
        'credentials.issued',
        'credentials.revoked',
      ]);
      expect(await sinkWhen('sensors', 'later', (view) => view.pending === 0)).toMatchObject({
        status: 'ok',
      });
    } finally {
      await endpoint.close();
    }
  });
});
