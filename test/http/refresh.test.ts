import Database from 'better-sqlite3';
import { base64url, createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const T0 = Date.UTC(2031, 0, 1);
let nowMs = T0;
const nowSeconds = () => Math.floor(nowMs / 1000);
const advance = (seconds: number) => {
  nowMs += seconds * 1000;
};

const ns = '/v1/namespaces/home/brokers';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ clock: () => nowMs, env: { GATEPASS_CRON_INTERVAL: '0' } });
  await createBroker(server, 'home', 'open');
  await createBroker(server, 'home', 'limited', { expiration: 3600, algorithm: 'ES256' });
  await createBroker(server, 'home', 'capped', { expiration: 600, max_lifetime: 1500 });
  await createBroker(server, 'other', 'limited', { expiration: 3600, algorithm: 'ES256' });
});
afterAll(() => server.destroy());

async function issue(broker: string, body: Record<string, unknown> = {}, namespace = 'home') {
  const response = await server.call('POST', `/v1/namespaces/${namespace}/brokers/${broker}/credentials`, {
    json: { clientid: ['dev-1'], ...body },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return Object.values(response.body.result)[0] as string;
}

function refresh(broker: string, body: Record<string, unknown>, namespace = 'home') {
  return server.call('POST', `/v1/namespaces/${namespace}/brokers/${broker}/credentials/refresh`, {
    token: null,
    json: body,
  });
}

async function refreshed(broker: string, token: string, revokeOld = false) {
  const response = await refresh(broker, { token, revoke_old: revokeOld });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  const entries = Object.entries(response.body.result as Record<string, string>);
  expect(entries).toHaveLength(1);
  return entries[0]![1];
}

async function verify(broker: string, token: string, namespace = 'home') {
  const keys = await server.call('GET', `/v1/namespaces/${namespace}/brokers/${broker}/publickeys`, {
    token: null,
  });
  return jwtVerify(token, createLocalJWKSet(keys.body.result), {
    currentDate: new Date(nowMs),
    audience: `${broker}.${namespace}`,
    issuer: 'gatepass',
    typ: 'JWT',
  });
}

/** The refusal reason the request log recorded for the last refresh. */
function lastRefusal() {
  return server.logs.filter((line) => String(line.path).endsWith('/refresh')).at(-1)?.refusal;
}

function expectInvalidToken(response: { status: number; body: unknown }, token?: string) {
  expect(response.status).toBe(401);
  expect(response.body).toMatchObject({
    success: false,
    errors: [{ code: 10461, error: 'invalid_token' }],
    result: null,
  });
  if (token) expect(JSON.stringify(response.body)).not.toContain(token.split('.')[1]);
}

describe('refreshing a credential', () => {
  it('needs no admin key and returns a new token: same client and ACL, new jti, fresh iat and exp', async () => {
    const acl = { pub: ['rooms/1/temp'], sub: ['alerts/#'] };
    const old = await issue('limited', { topicAcl: acl });
    advance(100);
    const token = await refreshed('limited', old);

    const before = (await verify('limited', old)).payload;
    const { payload, protectedHeader } = await verify('limited', token);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'JWT' });
    expect(payload.sub).toBe('dev-1');
    expect(payload.topicAcl).toEqual(acl);
    expect(payload.jti).not.toBe(before.jti);
    expect(payload.iat).toBe(nowSeconds());
    expect(payload.exp).toBe(nowSeconds() + 3600);
    expect(payload.orig_iat).toBe(before.iat);
    // Without revoke_old the presented token stays valid and can be refreshed again.
    expect(await refreshed('limited', old)).toBeTypeOf('string');
    const revocations = await server.call('GET', `${ns}/limited/revocations`);
    expect(revocations.body.result).toEqual([]);
  });

  it('records the new credential (never the JWT) with the refresh as provenance', async () => {
    const old = await issue('limited');
    const token = await refreshed('limited', old);
    const db = new Database(server.dbPath, { readonly: true });
    try {
      const row = db
        .prepare('select * from issued_credentials where jti = ?')
        .get(decodeJwt(token).jti) as Record<string, unknown>;
      expect(row).toMatchObject({
        client_id: 'dev-1',
        issued_at: nowSeconds(),
        expires_at: nowSeconds() + 3600,
        issued_by: `refresh:${decodeJwt(old).jti}`,
      });
      expect(JSON.stringify(row)).not.toContain(token.split('.')[2]);
    } finally {
      db.close();
    }
  });

  it('revokes the presented token at once with revoke_old, in the list and in the feed', async () => {
    const old = await issue('limited');
    const oldJti = decodeJwt(old).jti!;
    const token = await refreshed('limited', old, true);

    const revocations = await server.call('GET', `${ns}/limited/revocations?per_page=100`);
    expect(revocations.body.result).toContainEqual(
      expect.objectContaining({
        jti: oldJti,
        expires_on: new Date(decodeJwt(old).exp! * 1000).toISOString(),
      }),
    );
    const feed = await server.call('GET', `${ns}/limited/revocations?since=0`);
    expect(feed.body.result.changes).toContainEqual({ jti: oldJti, revoked: true, exp: decodeJwt(old).exp });

    expectInvalidToken(await refresh('limited', { token: old }), old);
    expect(lastRefusal()).toBe('revoked');
    expect(await refreshed('limited', token)).toBeTypeOf('string');
  });

  it('lets only one of several concurrent revoke_old refreshes of one token succeed', async () => {
    const old = await issue('limited');
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => refresh('limited', { token: old, revoke_old: true })),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([200, 401, 401, 401, 401, 401]);
    const feed = await server.call('GET', `${ns}/limited/revocations?since=0`);
    const events = feed.body.result.changes.filter((c: { jti: string }) => c.jti === decodeJwt(old).jti);
    expect(events).toHaveLength(1);
  });

  it('never widens the ACL: it comes from the token, not from the request or the broker default', async () => {
    await createBroker(server, 'home', 'narrow', { default_topic_acl: { pub: [], sub: ['news/#'] } });
    const old = await issue('narrow', { topicAcl: { pub: ['a/b'], sub: [] } });
    const widen = await refresh('narrow', { token: old, topicAcl: '#' });
    expect(widen.status).toBe(400);
    expect(widen.body.errors[0]).toMatchObject({ error: 'invalid_input', field: 'topicAcl' });

    await server.call('PATCH', `${ns}/narrow`, { json: { default_topic_acl: '#' } });
    const token = await refreshed('narrow', old);
    expect((await verify('narrow', token)).payload.topicAcl).toEqual({ pub: ['a/b'], sub: [] });
  });

  it('keeps a token without exp without exp, until the broker sets an expiration', async () => {
    await createBroker(server, 'home', 'forever');
    const old = await issue('forever');
    expect(decodeJwt(old).exp).toBeUndefined();
    const again = await refreshed('forever', old);
    expect(decodeJwt(again).exp).toBeUndefined();

    await server.call('PATCH', `${ns}/forever`, { json: { expiration: 120 } });
    const limited = await refreshed('forever', again);
    expect(decodeJwt(limited).exp).toBe(nowSeconds() + 120);
  });

  it('keeps a token’s own shorter lifetime', async () => {
    const old = await issue('limited', { expiration: 60 });
    advance(30);
    const token = await refreshed('limited', old);
    expect(decodeJwt(token).exp! - decodeJwt(token).iat!).toBe(60);
  });
});

describe('max_lifetime', () => {
  it('caps normal issuance at iat + max_lifetime', async () => {
    await createBroker(server, 'home', 'short', { max_lifetime: 300 });
    const token = await issue('short');
    expect(decodeJwt(token).exp! - decodeJwt(token).iat!).toBe(300);
    expect(decodeJwt(await issue('short', { expiration: 1000 })).exp! - nowSeconds()).toBe(300);
    const forever = await server.call('POST', `${ns}/short/credentials`, { json: { expiration: -1 } });
    expect(forever.status).toBe(400);
    expect(forever.body.errors[0]).toMatchObject({ field: 'expiration' });
  });

  it('caps exp at orig_iat + max_lifetime across repeated refreshes, then refuses with 403', async () => {
    const first = await issue('capped');
    const t0 = nowSeconds();
    expect(decodeJwt(first).exp).toBe(t0 + 600);

    advance(500);
    const second = await refreshed('capped', first, true);
    expect(decodeJwt(second)).toMatchObject({ orig_iat: t0, iat: t0 + 500, exp: t0 + 1100 });

    advance(500);
    const third = await refreshed('capped', second, true);
    expect(decodeJwt(third)).toMatchObject({ orig_iat: t0, iat: t0 + 1000, exp: t0 + 1500 });

    advance(400);
    const fourth = await refreshed('capped', third, true);
    expect(decodeJwt(fourth)).toMatchObject({ orig_iat: t0, iat: t0 + 1400, exp: t0 + 1500 });

    advance(100);
    const refused = await refresh('capped', { token: fourth });
    expect(refused.status).toBe(403);
    expect(refused.body.errors[0]).toMatchObject({ code: 10462, error: 'lifetime_exceeded' });
    expect(lastRefusal()).toBe('lifetime_exceeded');
  });

  it('applies a max_lifetime set after the token was issued', async () => {
    await createBroker(server, 'home', 'tightened', { expiration: 3600 });
    const old = await issue('tightened');
    const t0 = nowSeconds();
    await server.call('PATCH', `${ns}/tightened`, { json: { max_lifetime: 1000 } });
    advance(200);
    expect(decodeJwt(await refreshed('tightened', old))).toMatchObject({ orig_iat: t0, exp: t0 + 1000 });
  });
});

describe('refused refreshes', () => {
  it('refuses an expired token (beyond the 5 seconds of tolerance)', async () => {
    const old = await issue('limited', { expiration: 60 });
    advance(64);
    expect(await refreshed('limited', old)).toBeTypeOf('string');
    advance(2);
    expectInvalidToken(await refresh('limited', { token: old }), old);
    expect(lastRefusal()).toBe('expired');
  });

  it('refuses a token revoked by an admin', async () => {
    const old = await issue('limited');
    await server.call('POST', `${ns}/limited/revocations?jti=${decodeJwt(old).jti}`);
    expectInvalidToken(await refresh('limited', { token: old }), old);
    expect(lastRefusal()).toBe('revoked');
  });

  it('refuses a tampered token', async () => {
    const old = await issue('limited', { topicAcl: { pub: ['a'], sub: [] } });
    const [header, payload, signature] = old.split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!)));
    const widened = base64url.encode(JSON.stringify({ ...claims, topicAcl: '#' }));
    expectInvalidToken(await refresh('limited', { token: `${header}.${widened}.${signature}` }));
    expect(lastRefusal()).toBe('bad_signature');
  });

  it("refuses another broker's token, also one of the same name in another namespace", async () => {
    expectInvalidToken(await refresh('limited', { token: await issue('open') }));
    expect(lastRefusal()).toBe('algorithm_not_allowed');
    expectInvalidToken(await refresh('open', { token: await issue('capped') }));
    expect(lastRefusal()).toBe('unknown_key');
    expectInvalidToken(await refresh('limited', { token: await issue('limited', {}, 'other') }));
    expect(lastRefusal()).toBe('unknown_key');
  });

  it('refuses a token whose iat is in the future', async () => {
    advance(3600);
    const future = await issue('limited');
    advance(-3600);
    expectInvalidToken(await refresh('limited', { token: future }));
    expect(lastRefusal()).toBe('not_yet_valid');
  });

  it('refuses a token whose issuer or audience changed since', async () => {
    await createBroker(server, 'home', 'renamed', { expiration: 3600 });
    const old = await issue('renamed');
    await server.call('PATCH', `${ns}/renamed`, { json: { audience: 'someone-else' } });
    expectInvalidToken(await refresh('renamed', { token: old }));
    expect(lastRefusal()).toBe('wrong_audience');
  });

  it.each([
    ['no token', {}, 'token'],
    ['a token that is no JWS', { token: 'not a token' }, 'token'],
    ['a token that is too long', { token: `${'a'.repeat(8190)}.b.c` }, 'token'],
    ['a number as token', { token: 42 }, 'token'],
    ['revoke_old not a boolean', { token: 'a.b.c', revoke_old: 'yes' }, 'revoke_old'],
    ['an unknown field', { token: 'a.b.c', expiration: 99999 }, 'expiration'],
  ])('answers 400 for %s', async (_, body, field) => {
    const response = await refresh('limited', body);
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
  });

  it('answers 401 for a well-formed token that does not decode', async () => {
    expectInvalidToken(await refresh('limited', { token: 'a.b.c' }));
    expect(lastRefusal()).toBe('malformed');
  });

  it('answers 404 for an unknown broker, 415 without JSON', async () => {
    const token = await issue('limited');
    expect((await refresh('nowhere', { token })).status).toBe(404);
    const text = await server.call('POST', `${ns}/limited/credentials/refresh`, {
      token: null,
      body: JSON.stringify({ token }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(415);
  });

  it('is served under the Cloudflare prefix too', async () => {
    const old = await issue('limited');
    const response = await server.call(
      'POST',
      '/client/v4/accounts/x/pubsub/namespaces/home/brokers/limited/credentials/refresh',
      {
        token: null,
        json: { token: old },
      },
    );
    expect(response.status).toBe(200);
  });
});
