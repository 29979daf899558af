// The audit trail: who issued, refreshed, exchanged, revoked, un-revoked, rotated and managed keys, and when;
// written with the change it records, readable per tenant through GET /v1/audit.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: an ACL template spells ${sub}
import { createHmac } from 'node:crypto';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const T0 = Date.UTC(2031, 5, 1);
let nowMs = T0;
const HMAC_SECRET = 'a-shared-secret-of-at-least-32-characters!';
const home = '/v1/namespaces/home/brokers/sensors';

let server: TestServer;
let dataDir: string;
let bootstrapId: string;
const keys = { read: '', scoped: '', exchange: '', exchangeId: '', doomedId: '' };

interface Event {
  seq: number;
  at: string;
  action: string;
  actor: string;
  namespace: string | null;
  broker: string | null;
  details: Record<string, unknown>;
}

async function audit(query = '', token?: string): Promise<Event[]> {
  const response = await server.call('GET', `/v1/audit${query}`, token === undefined ? {} : { token });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.result;
}

const latest = async (action: string) => (await audit(`?action=${action}&per_page=1`))[0]!;

function hmacJwt(claims: Record<string, unknown>) {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${input}.${createHmac('sha256', HMAC_SECRET).update(input).digest('base64url')}`;
}

beforeAll(async () => {
  server = await startTestServer({ clock: () => nowMs, env: { GATEPASS_CRON_INTERVAL: '0' } });
  dataDir = server.dataDir;
  await createBroker(server, 'home', 'sensors', { expiration: 3600, key_rotation_period: 3600 });
  await createBroker(server, 'away', 'sensors');
  const created = async (body: Record<string, unknown>) => {
    const response = await server.call('POST', '/v1/admin-keys', { json: body });
    expect(response.status).toBe(200);
    return response.body.result as { id: string; key: string };
  };
  keys.read = (await created({ name: 'auditor', permission: 'read' })).key;
  keys.scoped = (await created({ name: 'home-reader', namespace: 'home', permission: 'read' })).key;
  const exchanger = await created({ name: 'backend', permission: 'exchange' });
  keys.exchange = exchanger.key;
  keys.exchangeId = exchanger.id;
  keys.doomedId = (await created({ name: 'doomed', namespace: 'away', permission: 'write' })).id;
  const list = await server.call('GET', '/v1/admin-keys');
  bootstrapId = list.body.result.find((key: { name: string }) => key.name === 'bootstrap').id;
  const source = await server.call('POST', `${home}/identity-sources`, {
    json: {
      name: 'supa',
      kind: 'jwt',
      issuer: 'https://idp.example',
      audience: 'authenticated',
      secret: HMAC_SECRET,
      acl_template: { pub: ['users/${sub}/#'], sub: [] },
    },
  });
  expect(source.status).toBe(200);
});
afterAll(() => server.destroy());

describe('what is recorded', () => {
  it('issuing: the admin key, the broker, each jti and client id, never the tokens', async () => {
    nowMs = T0 + 1_000;
    const issued = await server.call('POST', `${home}/credentials`, {
      json: { clientid: ['dev-1', 'dev-2'] },
    });
    expect(issued.status).toBe(200);
    const event = await latest('credentials.issue');
    const tokens = issued.body.result as Record<string, string>;
    expect(event).toMatchObject({
      at: new Date(nowMs).toISOString(),
      action: 'credentials.issue',
      actor: bootstrapId,
      namespace: 'home',
      broker: 'sensors',
      details: {
        credentials: [
          { jti: decodeJwt(tokens['dev-1']!).jti, client_id: 'dev-1' },
          { jti: decodeJwt(tokens['dev-2']!).jti, client_id: 'dev-2' },
        ],
        exp: Math.floor(nowMs / 1000) + 3600,
      },
    });
    for (const token of Object.values(tokens))
      expect(JSON.stringify(event)).not.toContain(token.split('.')[2]);
  });

  it('revoking and un-revoking: the jtis, and the descendants revoked with them', async () => {
    const issued = await server.call('POST', `${home}/credentials`, {
      json: { clientid: ['a1', 'a2'], detail: true },
    });
    const [a1, a2] = (issued.body.result as Array<{ jti: string; token: string }>).map((c) => c.jti);
    const refreshed = await server.call('POST', `${home}/credentials/refresh`, {
      token: null,
      json: { token: issued.body.result[1].token },
    });
    const child = decodeJwt(refreshed.body.result.a2).jti;
    nowMs = T0 + 2_000;
    expect((await server.call('POST', `${home}/revocations?jti=${a1},${a2}`)).status).toBe(200);
    nowMs = T0 + 3_000;
    expect((await server.call('DELETE', `${home}/revocations?jti=${a2}`)).status).toBe(200);
    expect(await latest('revocations.revoke')).toMatchObject({
      actor: bootstrapId,
      at: new Date(T0 + 2_000).toISOString(),
      details: { jtis: [a1, a2], descendants: [child] },
    });
    expect(await latest('revocations.unrevoke')).toMatchObject({
      actor: bootstrapId,
      at: new Date(T0 + 3_000).toISOString(),
      details: { jtis: [a2], descendants: [child] },
    });
  });

  it('refreshing: the presented credential is the actor; of concurrent refreshes with revoke_old, one is recorded', async () => {
    const issued = await server.call('POST', `${home}/credentials`, { json: { clientid: ['dev-3'] } });
    const old = issued.body.result['dev-3'] as string;
    const oldJti = decodeJwt(old).jti;
    const before = (await audit('?action=credentials.refresh')).length;
    const responses = await Promise.all(
      Array.from({ length: 5 }, () =>
        server.call('POST', `${home}/credentials/refresh`, {
          token: null,
          json: { token: old, revoke_old: true },
        }),
      ),
    );
    const winners = responses.filter((response) => response.status === 200);
    expect(winners).toHaveLength(1);
    const events = await audit('?action=credentials.refresh');
    expect(events).toHaveLength(before + 1);
    expect(events[0]).toMatchObject({
      actor: `refresh:${oldJti}`,
      namespace: 'home',
      broker: 'sensors',
      details: {
        client_id: 'dev-3',
        jti: decodeJwt(winners[0]!.body.result['dev-3']).jti,
        replaces: oldJti,
        revoked_old: true,
      },
    });
    // Filtering by actor finds it.
    expect(await audit(`?actor=refresh:${oldJti}`)).toHaveLength(1);
  });

  it('exchanging: the key that exchanged and the identity source', async () => {
    const now = Math.floor(nowMs / 1000);
    const response = await server.call('POST', `${home}/token-exchange`, {
      token: keys.exchange,
      json: {
        identity_source: 'supa',
        subject_token: hmacJwt({
          iss: 'https://idp.example',
          aud: 'authenticated',
          sub: 'u42',
          iat: now,
          exp: now + 300,
        }),
      },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(await latest('credentials.exchange')).toMatchObject({
      actor: keys.exchangeId,
      details: { jti: response.body.result.jti, client_id: 'u42', identity_source: 'supa' },
    });
    expect(JSON.stringify(await audit())).not.toContain(response.body.result.token.split('.')[2]);
  });

  it('rotating a signing key: by the admin key that ran the job, old and new kid', async () => {
    const listed = async () =>
      (await server.call('GET', `${home}/signing-keys`)).body.result as Array<{ kid: string; state: string }>;
    const kidIn = (keys: Array<{ kid: string; state: string }>, state: string) =>
      keys.find((key) => key.state === state)!.kid;
    const before = await listed();
    nowMs = T0 + 2 * 3600 * 1000;
    const run = await server.call('POST', '/v1/maintenance/run');
    expect(run.body.result.keys_rotated).toBe(1);
    const after = await listed();
    expect(await latest('signing_key.rotate')).toMatchObject({
      actor: bootstrapId,
      namespace: 'home',
      broker: 'sensors',
      details: {
        retired_kid: kidIn(before, 'current'),
        kid: kidIn(before, 'next'),
        next_kid: kidIn(after, 'next'),
      },
    });
    expect(kidIn(after, 'current')).toBe(kidIn(before, 'next'));
    // A second run at once rotates nothing and records nothing.
    const again = await server.call('POST', '/v1/maintenance/run');
    expect(again.body.result.keys_rotated).toBe(0);
    expect(await audit('?action=signing_key.rotate')).toHaveLength(1);
  });

  it('admin keys: created and deleted, with name and permission, never the secret', async () => {
    const created = await latest('admin_key.create');
    expect(created).toMatchObject({
      actor: bootstrapId,
      namespace: 'away',
      details: { key_id: keys.doomedId, name: 'doomed', permission: 'write' },
    });
    expect((await server.call('DELETE', `/v1/admin-keys/${keys.doomedId}`)).status).toBe(200);
    expect(await latest('admin_key.delete')).toMatchObject({
      actor: bootstrapId,
      namespace: 'away',
      details: { key_id: keys.doomedId, name: 'doomed' },
    });
    const everything = JSON.stringify(await audit('?per_page=100'));
    for (const secret of [keys.read, keys.scoped, keys.exchange]) expect(everything).not.toContain(secret);
  });

  it('refusals record nothing', async () => {
    const count = (await audit('?per_page=100')).length;
    expect((await server.call('POST', '/v1/namespaces/home/brokers/nothing/revocations?jti=x')).status).toBe(
      404,
    );
    expect((await server.call('POST', `${home}/credentials`, { json: { number: 0 } })).status).toBe(400);
    expect((await server.call('POST', `${home}/revocations?jti=x`, { token: keys.read })).status).toBe(403);
    expect(
      (await server.call('POST', `${home}/credentials/refresh`, { token: null, json: { token: 'a.b.c' } }))
        .status,
    ).toBe(401);
    expect((await audit('?per_page=100')).length).toBe(count);
  });
});

describe('reading the trail', () => {
  it('newest first, paged, with filters that combine', async () => {
    const all = await server.call('GET', '/v1/audit?per_page=2');
    expect(all.body.result).toHaveLength(2);
    expect(all.body.result[0].seq).toBeGreaterThan(all.body.result[1].seq);
    const total = all.body.result_info.total_count;
    expect(all.body.result_info).toMatchObject({ page: 1, per_page: 2, count: 2 });
    const page2 = await server.call('GET', '/v1/audit?per_page=2&page=2');
    expect(page2.body.result[0].seq).toBeLessThan(all.body.result[1].seq);

    const issues = await audit('?action=credentials.issue&namespace=home&broker=sensors');
    expect(issues.length).toBeGreaterThanOrEqual(2);
    expect(issues.every((event) => event.action === 'credentials.issue')).toBe(true);
    expect(await audit('?namespace=home&broker=nothing')).toEqual([]);
    const sinceRotation = await audit(
      `?since=${encodeURIComponent(new Date(T0 + 2 * 3600 * 1000).toISOString())}`,
    );
    expect(sinceRotation.length).toBeGreaterThan(0);
    expect(sinceRotation.length).toBeLessThan(total);
    expect(sinceRotation.every((event) => Date.parse(event.at) >= T0 + 2 * 3600 * 1000)).toBe(true);
    expect(await audit(`?actor=${keys.exchangeId}`)).toHaveLength(1);
  });

  it('a key for one namespace sees only its namespace’s events, whatever it asks for', async () => {
    const seen = await audit('?per_page=100', keys.scoped);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((event) => event.namespace === 'home')).toBe(true);
    expect(await audit('?namespace=away', keys.scoped)).toEqual([]);
    // Keys scoped to home are home's events; global keys and other namespaces' keys are not.
    const keyEvents = await audit('?action=admin_key.create', keys.scoped);
    expect(keyEvents.map((event) => event.details.name)).toEqual(['home-reader']);
    // A global read key sees every namespace, and events above them.
    const global = await audit('?per_page=100', keys.read);
    expect(new Set(global.map((event) => event.namespace))).toEqual(new Set(['home', 'away', null]));
  });

  it('needs read permission, and refuses bad filters', async () => {
    expect((await server.call('GET', '/v1/audit', { token: keys.exchange })).status).toBe(403);
    expect((await server.call('GET', '/v1/audit', { token: null })).status).toBe(401);
    for (const [query, field] of [
      ['action=credentials.delete', 'action'],
      ['since=yesterday', 'since'],
      ['namespace=Home', 'namespace'],
      ['actor=a%20b', 'actor'],
      ['per_page=101', 'per_page'],
      ['sort=at', 'sort'],
    ]) {
      const response = await server.call('GET', `/v1/audit?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.errors[0].field).toBe(field);
    }
  });

  it('is in the OpenAPI document', async () => {
    const document = await server.call('GET', '/openapi.json', { token: null });
    expect(document.body.paths['/v1/audit'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['action', 'actor', 'namespace', 'broker', 'since', 'page', 'per_page']),
    );
  });
});

describe('configuration changes', () => {
  const ok = async (method: string, path: string, json?: unknown) => {
    const response = await server.call(method, path, json === undefined ? {} : { json });
    expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(200);
    return response.body.result;
  };
  const count = async (query: string) => (await audit(`${query}&per_page=100`)).length;

  it('namespaces: created, updated with the old and new description, deleted', async () => {
    nowMs = T0 + 10_000;
    const created = await ok('POST', '/v1/namespaces', { name: 'config', description: 'first' });
    expect(await latest('namespace.create')).toMatchObject({
      at: new Date(nowMs).toISOString(),
      actor: bootstrapId,
      namespace: 'config',
      broker: null,
      details: { id: created.id, description: 'first' },
    });
    await ok('PATCH', '/v1/namespaces/config', { description: 'second' });
    expect((await latest('namespace.update')).details).toEqual({
      changes: { description: { old: 'first', new: 'second' } },
    });
    await ok('DELETE', '/v1/namespaces/config');
    expect(await latest('namespace.delete')).toMatchObject({
      actor: bootstrapId,
      namespace: 'config',
      details: { id: created.id, force: false, brokers: [], admin_keys: [] },
    });
  });

  it('a namespace with brokers: refused (409, nothing recorded) unless forced; then the event lists what went', async () => {
    const { id } = await ok('POST', '/v1/namespaces', { name: 'crowded' });
    await createBroker(server, 'crowded', 'first');
    await createBroker(server, 'crowded', 'second');
    const key = await ok('POST', '/v1/admin-keys', {
      name: 'crowd',
      namespace: 'crowded',
      permission: 'write',
    });
    const deletes = await count('?action=namespace.delete');

    const refused = await server.call('DELETE', '/v1/namespaces/crowded');
    expect(refused.status).toBe(409);
    expect(refused.body.errors[0]).toMatchObject({ error: 'conflict', code: 10409 });
    expect(refused.body.errors[0].message).toContain('2 broker(s)');
    expect(refused.body.errors[0].message).toContain('force=true');
    expect(await count('?action=namespace.delete')).toBe(deletes);
    expect((await server.call('GET', '/v1/namespaces/crowded/brokers/first')).status).toBe(200);
    expect((await server.call('GET', '/v1/namespaces', { token: key.key })).status).toBe(200);

    await ok('DELETE', '/v1/namespaces/crowded?force=true');
    const event = await latest('namespace.delete');
    expect(event).toMatchObject({ namespace: 'crowded', details: { id, force: true, admin_keys: [key.id] } });
    expect([...(event.details.brokers as string[])].sort()).toEqual(['first', 'second']);
    expect((await server.call('GET', '/v1/namespaces/crowded/brokers/first')).status).toBe(404);
    expect((await server.call('GET', '/v1/namespaces', { token: key.key })).status).toBe(401);
  });

  it('brokers: created with their settings and first two kids, updated with old and new values, deleted', async () => {
    const created = await ok('POST', '/v1/namespaces/home/brokers', { name: 'audited', expiration: 600 });
    const keys = (await ok('GET', '/v1/namespaces/home/brokers/audited/signing-keys')) as Array<{
      kid: string;
      state: string;
    }>;
    const kidIn = (state: string) => keys.find((key) => key.state === state)!.kid;
    expect(keys.map((key) => key.state).sort()).toEqual(['current', 'next']);
    expect(await latest('broker.create')).toMatchObject({
      actor: bootstrapId,
      namespace: 'home',
      broker: 'audited',
      details: {
        id: created.id,
        expiration: 600,
        algorithm: 'EdDSA',
        issuer: 'gatepass',
        audience: 'audited.home',
        default_topic_acl: '#',
        key_rotation_period: null,
        max_lifetime: null,
        max_client_id_length: 128,
        claim_profile: 'standard',
        kid: kidIn('current'),
        next_kid: kidIn('next'),
      },
    });
    await ok('PATCH', '/v1/namespaces/home/brokers/audited', {
      expiration: 1200,
      description: 'on the roof',
      issuer: 'gatepass',
    });
    expect((await latest('broker.update')).details).toEqual({
      changes: { expiration: { old: 600, new: 1200 }, description: { old: '', new: 'on the roof' } },
    });
    await ok('DELETE', '/v1/namespaces/home/brokers/audited');
    expect(await latest('broker.delete')).toMatchObject({ broker: 'audited', details: { id: created.id } });
  });

  it('brokers: a claim profile change is audited with its old and new value; a refused one is not', async () => {
    await ok('POST', '/v1/namespaces/home/brokers', { name: 'native', algorithm: 'ES256', expiration: 600 });
    await ok('PATCH', '/v1/namespaces/home/brokers/native', {
      claim_profile: 'emqx',
      max_client_id_length: 64,
    });
    expect((await latest('broker.update')).details).toEqual({
      changes: {
        claim_profile: { old: 'standard', new: 'emqx' },
        max_client_id_length: { old: 128, new: 64 },
      },
    });
    const updates = await count('?action=broker.update');
    // An emqx token needs an expiration: removing it is refused, and nothing is written.
    const refused = await server.call('PATCH', '/v1/namespaces/home/brokers/native', {
      json: { expiration: null },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0]).toMatchObject({ error: 'invalid_input' });
    expect(await count('?action=broker.update')).toBe(updates);
    expect(await ok('GET', '/v1/namespaces/home/brokers/native')).toMatchObject({ expiration: 600 });
  });

  it('identity sources: created, updated with the old and new URL, deleted; never a secret', async () => {
    const sources = '/v1/namespaces/home/brokers/sensors/identity-sources';
    const headerSecret = 'Bearer webhook-header-secret-value';
    const created = await ok('POST', sources, {
      name: 'hook',
      kind: 'webhook',
      url: 'https://auth.example/old',
      headers: { Authorization: headerSecret },
      acl_template: { pub: ['users/${sub}/#'], sub: [] },
    });
    expect(await latest('identity_source.create')).toMatchObject({
      broker: 'sensors',
      details: {
        id: created.id,
        name: 'hook',
        kind: 'webhook',
        url: 'https://auth.example/old',
        headers: ['authorization'],
        acl_template: { client_id: '${sub}', pub: ['users/${sub}/#'], sub: [] },
      },
    });
    await ok('PATCH', `${sources}/hook`, {
      url: 'https://auth.example/new',
      headers: { Authorization: 'Bearer another-header-secret' },
    });
    expect((await latest('identity_source.update')).details).toEqual({
      name: 'hook',
      changes: { url: { old: 'https://auth.example/old', new: 'https://auth.example/new' } },
      secrets_replaced: ['headers'],
    });
    await ok('PATCH', '/v1/namespaces/home/brokers/sensors/identity-sources/supa', {
      secret: `${HMAC_SECRET}-rotated`,
    });
    expect((await latest('identity_source.update')).details).toEqual({
      name: 'supa',
      changes: {},
      secrets_replaced: ['secret'],
    });
    await ok('DELETE', `${sources}/hook`);
    expect(await latest('identity_source.delete')).toMatchObject({
      details: { id: created.id, name: 'hook', kind: 'webhook' },
    });
    const everything = JSON.stringify(await audit('?per_page=100'));
    for (const secret of [headerSecret, 'another-header-secret', HMAC_SECRET]) {
      expect(everything).not.toContain(secret);
    }
  });

  it('the first admin key, registered at start-up, is recorded as `startup`', async () => {
    const [event] = await audit('?actor=startup');
    expect(event).toMatchObject({
      action: 'admin_key.create',
      namespace: null,
      details: { key_id: bootstrapId, name: 'bootstrap', permission: 'write' },
    });
  });

  it('a change that does not happen records nothing; of concurrent identical changes one is recorded', async () => {
    const creates = await count('?action=namespace.create');
    const keyDeletes = await count('?action=admin_key.delete');
    expect((await server.call('POST', '/v1/namespaces', { json: { name: 'home' } })).status).toBe(409);
    expect(await count('?action=namespace.create')).toBe(creates);
    // The last read-write key for all namespaces.
    expect((await server.call('DELETE', `/v1/admin-keys/${bootstrapId}`)).status).toBe(409);
    expect(await count('?action=admin_key.delete')).toBe(keyDeletes);

    const racing = await Promise.all(
      Array.from({ length: 5 }, () => server.call('POST', '/v1/namespaces', { json: { name: 'raced' } })),
    );
    expect(racing.map((response) => response.status).sort()).toEqual([200, 409, 409, 409, 409]);
    expect(await count('?action=namespace.create')).toBe(creates + 1);

    await createBroker(server, 'raced', 'once');
    const deletes = await Promise.all(
      Array.from({ length: 5 }, () => server.call('DELETE', '/v1/namespaces/raced/brokers/once')),
    );
    expect(deletes.filter((response) => response.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(await audit('?action=broker.delete&namespace=raced')).toHaveLength(1);
  });
});

describe('the scheduler', () => {
  it('records its rotations as `scheduler`, in the same transaction as the new key', async () => {
    await server.close();
    nowMs = T0 + 4 * 3600 * 1000;
    const scheduled = await startTestServer({
      dataDir,
      clock: () => nowMs,
      env: { GATEPASS_CRON_INTERVAL: '3600' },
    });
    try {
      // The scheduler runs once at start-up.
      let rotations: Array<{ actor: string; details: string }> = [];
      for (let i = 0; i < 100 && rotations.length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const db = new Database(scheduled.dbPath, { readonly: true });
        rotations = db
          .prepare(`select actor, details from audit_events where action = 'signing_key.rotate' order by seq`)
          .all() as typeof rotations;
        db.close();
      }
      expect(rotations.map((row) => row.actor)).toEqual([bootstrapId, 'scheduler']);
      const db = new Database(scheduled.dbPath, { readonly: true });
      const current = db
        .prepare(
          `select kid from signing_keys where activated_at is not null and retired_at is null and broker_id =
             (select b.id from brokers b join namespaces n on n.id = b.namespace_id where n.name = 'home' and b.name = 'sensors')`,
        )
        .get() as { kid: string };
      db.close();
      expect(JSON.parse(rotations[1]!.details).kid).toBe(current.kid);
    } finally {
      await scheduled.close();
    }
  });
});
