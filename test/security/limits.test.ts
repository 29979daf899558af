// Limits: per-admin-key rates for issuing and revoking, refresh rates per credential and per client id
// (429 + Retry-After), a cap on each broker's revocation list (409 revocation_limit), the body size limit
// (413), a deadline per request (503 timeout), and no credential longer than brokers accept. Through the real server on loopback, the clock frozen.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: an ACL template spells ${sub}
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { MAX_CREDENTIAL_BYTES } from '../../src/core/claims.js';
import { createRateLimiter } from '../../src/core/rate-limit.js';
import { MAX_TOKEN_BYTES } from '../../src/verifier/index.js';
import { type LocalWebhook, startWebhook } from '../support/identity.js';
import { type ApiResponse, createBroker, startTestServer, type TestServer } from '../support/server.js';

const broker = '/v1/namespaces/home/brokers/sensors';

function expectFailure(response: ApiResponse, status: number, error: string, code: number) {
  expect({ status: response.status, body: response.body }).toMatchObject({
    status,
    body: { success: false, result: null, errors: [{ error, code }] },
  });
}

function rows(server: TestServer, table: string): number {
  const db = new Database(server.dbPath, { readonly: true });
  try {
    return (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('token buckets', () => {
  it('allow a minute’s worth at once, then one every 60/rate seconds', () => {
    const limiter = createRateLimiter({ perMinute: 6 });
    for (let i = 0; i < 6; i++) expect(limiter.take('k', 0)).toEqual({ ok: true });
    expect(limiter.take('k', 0)).toEqual({ ok: false, retryAfterMs: 10_000 });
    expect(limiter.take('k', 4_000)).toEqual({ ok: false, retryAfterMs: 6_000 });
    expect(limiter.take('k', 10_000)).toEqual({ ok: true });
    expect(limiter.take('other', 10_000)).toEqual({ ok: true });
  });

  it('refill no further than full, and a clock stepping back neither drains nor fills', () => {
    const limiter = createRateLimiter({ perMinute: 2 });
    expect(limiter.take('k', 0).ok).toBe(true);
    expect(limiter.take('k', 10 * 60_000).ok).toBe(true);
    expect(limiter.take('k', 10 * 60_000).ok).toBe(true);
    expect(limiter.take('k', 10 * 60_000).ok).toBe(false);
    expect(limiter.take('k', 0).ok).toBe(false);
  });

  it('keep at most maxKeys buckets, dropping full ones first', () => {
    const limiter = createRateLimiter({ perMinute: 1, maxKeys: 2 });
    expect(limiter.take('a', 0).ok).toBe(true);
    expect(limiter.take('b', 0).ok).toBe(true);
    // A third key makes room; 'a' and 'b' are both busy, so the oldest goes and 'b' stays limited.
    expect(limiter.take('c', 0).ok).toBe(true);
    expect(limiter.take('b', 0).ok).toBe(false);
  });

  it('refuse a rate that is not positive', () => {
    expect(() => createRateLimiter({ perMinute: 0 })).toThrow(TypeError);
    expect(() => createRateLimiter({ perMinute: Number.NaN })).toThrow(TypeError);
  });
});

describe('configuration', () => {
  it('has generous defaults, and 0 turns a rate limit or the deadline off', () => {
    const parsed = parseConfig({});
    expect(parsed.ok && parsed.config).toMatchObject({
      GATEPASS_RATE_ISSUE_PER_MINUTE: 6000,
      GATEPASS_RATE_REVOKE_PER_MINUTE: 6000,
      GATEPASS_RATE_REFRESH_PER_MINUTE: 60,
      GATEPASS_MAX_REVOCATIONS_PER_BROKER: 1_000_000,
      GATEPASS_REQUEST_TIMEOUT_MS: 30_000,
    });
    const off = parseConfig({ GATEPASS_RATE_ISSUE_PER_MINUTE: '0', GATEPASS_REQUEST_TIMEOUT_MS: '0' });
    expect(off.ok && off.config).toMatchObject({
      GATEPASS_RATE_ISSUE_PER_MINUTE: 0,
      GATEPASS_REQUEST_TIMEOUT_MS: 0,
    });
  });

  it('issues no credential longer than the verifier accepts', () => {
    expect(MAX_CREDENTIAL_BYTES).toBe(MAX_TOKEN_BYTES);
  });
});

describe('rate limits per admin key', () => {
  let server: TestServer;
  let nowMs = Date.UTC(2031, 0, 1);
  let secondKey: string;
  let exchangeKey: string;
  /** Jtis of credentials issued with the second key, to revoke (unknown jtis are refused). */
  let jti: Record<'a' | 'b' | 'c' | 'd', string>;

  beforeAll(async () => {
    server = await startTestServer({
      clock: () => nowMs,
      env: { GATEPASS_RATE_ISSUE_PER_MINUTE: '4', GATEPASS_RATE_REVOKE_PER_MINUTE: '3' },
    });
    await createBroker(server, 'home', 'sensors');
    secondKey = (await server.call('POST', '/v1/admin-keys', { json: { name: 'second' } })).body.result.key;
    exchangeKey = (
      await server.call('POST', '/v1/admin-keys', { json: { name: 'exchanger', permission: 'exchange' } })
    ).body.result.key;
    const issued = await server.call('GET', `${broker}/credentials?number=4&detail=true`, {
      token: secondKey,
    });
    const [a, b, c, d] = (issued.body.result as Array<{ jti: string }>).map((credential) => credential.jti);
    jti = { a: a!, b: b!, c: c!, d: d! };
  });
  afterAll(() => server.destroy());

  it('issuing: GET and POST credentials and token exchange share one bucket; the next is 429 with Retry-After', async () => {
    expect((await server.call('GET', `${broker}/credentials?number=1`)).status).toBe(200);
    expect((await server.call('POST', `${broker}/credentials`, { json: { number: 2 } })).status).toBe(200);
    // A refused exchange still counts: requests are counted before they are validated.
    expect(
      (await server.call('POST', `${broker}/token-exchange`, { json: { subject_token: 'x' } })).status,
    ).toBe(401);
    expect((await server.call('GET', `${broker}/credentials`)).status).toBe(200);
    const issued = rows(server, 'issued_credentials');

    const limited = await server.call('POST', `${broker}/credentials`, { json: { number: 1 } });
    expectFailure(limited, 429, 'rate_limited', 10429);
    expect(limited.headers.get('retry-after')).toBe('15');
    expectFailure(await server.call('GET', `${broker}/credentials`), 429, 'rate_limited', 10429);
    expectFailure(
      await server.call('POST', `${broker}/token-exchange`, { json: { subject_token: 'x' } }),
      429,
      'rate_limited',
      10429,
    );
    expect(rows(server, 'issued_credentials')).toBe(issued);
  });

  it('other keys, other routes and reads are not held back', async () => {
    expect((await server.call('GET', `${broker}/credentials`, { token: secondKey })).status).toBe(200);
    expect((await server.call('GET', `${broker}/revocations`)).status).toBe(200);
    expect((await server.call('GET', broker)).status).toBe(200);
    expect((await server.call('POST', `${broker}/revocations?jti=${jti.a}`)).status).toBe(200);
    // The refresh has no admin key to count against.
    const refresh = await server.call('POST', `${broker}/credentials/refresh`, {
      token: null,
      json: { token: 'a.b.c' },
    });
    expect(refresh.status).toBe(401);
  });

  it('a key that cannot issue is refused for that (403) only until its bucket runs out', async () => {
    for (let i = 0; i < 4; i++) {
      expect((await server.call('GET', `${broker}/credentials`, { token: exchangeKey })).status).toBe(403);
    }
    expect((await server.call('GET', `${broker}/credentials`, { token: exchangeKey })).status).toBe(429);
  });

  it('the bucket refills at the configured rate', async () => {
    nowMs += 14_000;
    expect((await server.call('GET', `${broker}/credentials`)).status).toBe(429);
    nowMs += 1_000;
    expect((await server.call('GET', `${broker}/credentials`)).status).toBe(200);
    expect((await server.call('GET', `${broker}/credentials`)).status).toBe(429);
  });

  it('revoking and un-revoking share the revoke bucket', async () => {
    // One revoke was spent above.
    expect((await server.call('DELETE', `${broker}/revocations?jti=${jti.a}`)).status).toBe(200);
    expect((await server.call('POST', `${broker}/revocations`, { json: { jti: [jti.b] } })).status).toBe(200);
    const limited = await server.call('POST', `${broker}/revocations?jti=${jti.c}`);
    expectFailure(limited, 429, 'rate_limited', 10429);
    // 3 a minute: a token every 20 s, part of one refilled while the clock moved on above.
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(20);
    expectFailure(
      await server.call('DELETE', `${broker}/revocations?jti=${jti.b}`),
      429,
      'rate_limited',
      10429,
    );
    const list = await server.call('GET', `${broker}/revocations`);
    expect(list.body.result.map((entry: { jti: string }) => entry.jti)).toEqual([jti.b]);
  });

  it('the Cloudflare prefix shares the buckets', async () => {
    const cf = '/client/v4/accounts/acc/pubsub/namespaces/home/brokers/sensors';
    expect((await server.call('POST', `${cf}/revocations?jti=${jti.d}`)).status).toBe(429);
  });
});

describe('refresh rate limits, per presented credential and per client id', () => {
  let server: TestServer;
  let nowMs = Date.UTC(2031, 0, 1);

  beforeAll(async () => {
    server = await startTestServer({
      clock: () => nowMs,
      env: { GATEPASS_RATE_REFRESH_PER_MINUTE: '30', GATEPASS_CRON_INTERVAL: '0' },
    });
    await createBroker(server, 'home', 'sensors', { expiration: 3600 });
  });
  afterAll(() => server.destroy());

  async function issue(clientId: string): Promise<string> {
    const response = await server.call('POST', `${broker}/credentials`, { json: { clientid: [clientId] } });
    expect(response.status).toBe(200);
    return response.body.result[clientId];
  }
  const refresh = (token: string) =>
    server.call('POST', `${broker}/credentials/refresh`, { token: null, json: { token } });

  it('60 refreshes of one token under a 30/minute limit: 30 succeed, the rest are 429 and mint nothing', async () => {
    const token = await issue('dev-1');
    const issued = rows(server, 'issued_credentials');
    const responses = [];
    for (let i = 0; i < 60; i++) responses.push(await refresh(token));
    expect(responses.filter((response) => response.status === 200)).toHaveLength(30);
    expect(responses.slice(30).map((response) => response.status)).toEqual(Array(30).fill(429));
    const limited = responses.at(-1)!;
    expectFailure(limited, 429, 'rate_limited', 10429);
    // 30 a minute: one every 2 seconds.
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(JSON.stringify(limited.body)).not.toContain(token.split('.')[1]);
    expect(rows(server, 'issued_credentials')).toBe(issued + 30);
    expect(server.logs.at(-1)).toMatchObject({ status: 429, refusal: 'rate_limited' });

    nowMs += 2_000;
    expect((await refresh(token)).status).toBe(200);
    expect((await refresh(token)).status).toBe(429);
  });

  it('refreshing each new credential in turn is held back by the client id’s bucket', async () => {
    let token = await issue('dev-2');
    for (let i = 0; i < 30; i++) {
      const response = await refresh(token);
      expect(response.status).toBe(200);
      token = response.body.result['dev-2'];
    }
    expectFailure(await refresh(token), 429, 'rate_limited', 10429);
    // Another client of the broker is not held back, nor is a refused token counted against anyone.
    expect((await refresh(await issue('dev-3'))).status).toBe(200);
    expect((await refresh('a.b.c')).status).toBe(401);
  });

  it('0 turns it off', async () => {
    const off = await startTestServer({ env: { GATEPASS_RATE_REFRESH_PER_MINUTE: '0' } });
    try {
      await createBroker(off, 'home', 'sensors');
      const issued = await off.call('POST', `${broker}/credentials`, { json: { clientid: ['dev'] } });
      const statuses = new Set<number>();
      for (let i = 0; i < 70; i++) {
        const response = await off.call('POST', `${broker}/credentials/refresh`, {
          token: null,
          json: { token: issued.body.result.dev },
        });
        statuses.add(response.status);
      }
      expect([...statuses]).toEqual([200]);
    } finally {
      await off.destroy();
    }
  });
});

describe('a cap on each broker’s revocation list, and on credential size', () => {
  let server: TestServer;

  const other = '/v1/namespaces/home/brokers/other';
  /** Per broker path: client id j1..j6 -> the jti of its credential (unknown jtis are refused). */
  const jtis = new Map<string, Map<string, string>>();

  beforeAll(async () => {
    server = await startTestServer({ env: { GATEPASS_MAX_REVOCATIONS_PER_BROKER: '5' } });
    await createBroker(server, 'home', 'sensors');
    await createBroker(server, 'home', 'other');
    for (const path of [broker, other]) {
      const issued = await server.call('POST', `${path}/credentials`, {
        json: { clientid: ['j1', 'j2', 'j3', 'j4', 'j5', 'j6'], detail: true },
      });
      const credentials = issued.body.result as Array<{ client_id: string; jti: string }>;
      jtis.set(path, new Map(credentials.map((credential) => [credential.client_id, credential.jti])));
    }
  });
  afterAll(() => server.destroy());

  const jtiOf = (clientId: string, path = broker) => jtis.get(path)!.get(clientId)!;
  const revoke = (clientIds: string[], path = broker) =>
    server.call('POST', `${path}/revocations`, { json: { jti: clientIds.map((id) => jtiOf(id, path)) } });

  it('revokes up to the cap, then refuses with 409 revocation_limit and writes nothing', async () => {
    expect((await revoke(['j1', 'j2', 'j3'])).status).toBe(200);
    const before = ['revocations', 'revocation_events', 'audit_events'].map((table) => rows(server, table));
    const refused = await revoke(['j4', 'j5', 'j6']);
    expectFailure(refused, 409, 'revocation_limit', 10490);
    expect(refused.body.errors[0].field).toBe('jti');
    expect(refused.body.errors[0].message).toContain('at most 5');
    expect(['revocations', 'revocation_events', 'audit_events'].map((table) => rows(server, table))).toEqual(
      before,
    );
  });

  it('counts only new jtis: already-revoked ones take no room', async () => {
    expect((await revoke(['j1', 'j2', 'j4', 'j5'])).status).toBe(200);
    expect((await server.call('GET', `${broker}/revocations`)).body.result).toHaveLength(5);
    // Full, and revoking what is revoked already is still the idempotent success it always is.
    expect((await revoke(['j1', 'j5'])).status).toBe(200);
    expectFailure(await revoke(['j6']), 409, 'revocation_limit', 10490);
  });

  it('a credential longer than brokers accept is refused (400 topicAcl), and nothing is recorded', async () => {
    const before = rows(server, 'issued_credentials');
    const pub = Array.from({ length: 32 }, (_, i) => `plant/line-${i}/${'x'.repeat(100)}/#`);
    const response = await server.call('POST', `${broker}/credentials`, { json: { clientid: ['big'], pub } });
    expectFailure(response, 400, 'invalid_input', 10400);
    expect(response.body.errors[0]).toMatchObject({ field: 'topicAcl' });
    expect(response.body.errors[0].message).toContain(`at most ${MAX_CREDENTIAL_BYTES}`);
    expect(rows(server, 'issued_credentials')).toBe(before);
    // A long ACL that fits is issued.
    const fits = await server.call('POST', `${broker}/credentials`, {
      json: { clientid: ['long'], pub: pub.slice(0, 12) },
    });
    expect(fits.status).toBe(200);
    expect(fits.body.result.long.length).toBeLessThanOrEqual(MAX_CREDENTIAL_BYTES);
  });

  it('frees room on un-revoke, and holds per broker', async () => {
    expect((await server.call('DELETE', `${broker}/revocations?jti=${jtiOf('j1')}`)).status).toBe(200);
    expect((await revoke(['j6'])).status).toBe(200);
    expect((await revoke(['j1', 'j2', 'j3', 'j4', 'j5'], other)).status).toBe(200);
  });

  it('revokes a credential’s refreshed descendants even past the cap: they are never left valid', async () => {
    await createBroker(server, 'home', 'lineage', { expiration: 600 });
    const lineage = '/v1/namespaces/home/brokers/lineage';
    const issued = await server.call('POST', `${lineage}/credentials`, {
      json: { clientid: ['root', 'x1', 'x2', 'x3', 'x4', 'x5'], detail: true },
    });
    const [root, ...others] = issued.body.result as Array<{ token: string; jti: string }>;
    const refresh = () =>
      server.call('POST', `${lineage}/credentials/refresh`, { token: null, json: { token: root!.token } });
    for (let i = 0; i < 3; i++) expect((await refresh()).status).toBe(200);
    const revokeIn = (list: string[]) =>
      server.call('POST', `${lineage}/revocations`, { json: { jti: list } });
    expect((await revokeIn(others.slice(0, 4).map((credential) => credential.jti))).status).toBe(200);
    // 4 held + 1 named fits the cap of 5; its 3 descendants come with it.
    expect((await revokeIn([root!.jti])).status).toBe(200);
    expect((await server.call('GET', `${lineage}/revocations`)).body.result).toHaveLength(8);
    expectFailure(await revokeIn([others[4]!.jti]), 409, 'revocation_limit', 10490);
  });
});

describe('request bodies and deadlines', () => {
  let server: TestServer;
  let webhook: LocalWebhook;

  beforeAll(async () => {
    webhook = await startWebhook(() => ({ status: 200, body: { user_id: 'u1' }, delayMs: 1_500 }));
    server = await startTestServer({
      env: { GATEPASS_MAX_BODY_BYTES: '2048', GATEPASS_REQUEST_TIMEOUT_MS: '400' },
    });
    await createBroker(server, 'home', 'sensors');
    const source = await server.call('POST', `${broker}/identity-sources`, {
      json: {
        name: 'slow',
        kind: 'webhook',
        url: webhook.url,
        timeout_ms: 5_000,
        acl_template: { pub: ['users/${sub}/#'], sub: [] },
      },
    });
    expect(source.status, JSON.stringify(source.body)).toBe(200);
  });
  afterAll(async () => {
    await server.destroy();
    await webhook.close();
  });

  it('a body over GATEPASS_MAX_BODY_BYTES is 413, and says the connection closes', async () => {
    const response = await server.call('POST', '/v1/namespaces', {
      json: { name: 'big', description: 'x'.repeat(2048) },
    });
    expectFailure(response, 413, 'payload_too_large', 10413);
    expect(response.headers.get('connection')).toBe('close');
  });

  it('after a large refused upload, the next requests on the client are answered (no reused dead socket)', async () => {
    // The body is never read; the server drains it for a while, then drops the socket. With keep-alive
    // advertised, the client's next request on that socket would fail ("other side closed").
    const big = await server.call('POST', '/v1/namespaces', {
      body: 'x'.repeat(2 << 20),
      headers: { 'content-type': 'application/json' },
    });
    expect(big.status).toBe(413);
    for (let i = 0; i < 6; i++) {
      expect((await server.call('GET', '/v1/namespaces')).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('a request past GATEPASS_REQUEST_TIMEOUT_MS is answered 503 timeout, and logged so', async () => {
    const started = performance.now();
    const response = await server.call('POST', `${broker}/token-exchange`, {
      json: { identity_source: 'slow', username: 'u', password: 'p' },
    });
    const elapsed = performance.now() - started;
    expectFailure(response, 503, 'timeout', 10503);
    expect(response.body.errors[0].message).toContain('400 ms');
    expect(elapsed).toBeLessThan(1_400);
    const line = server.logs.findLast((entry) => String(entry.path).endsWith('/token-exchange'));
    expect(line).toMatchObject({ status: 503, level: 'error' });
    // The server goes on answering.
    expect((await server.call('GET', broker)).status).toBe(200);
  });
});
