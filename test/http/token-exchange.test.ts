// Token exchange through the real server: a real IdP and a real webhook on loopback, credentials verified with
// jose against the broker's published keys.
import Database from 'better-sqlite3';
import fc from 'fast-check';
import {
  createLocalJWKSet,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type LocalIdp, type LocalWebhook, startIdp, startWebhook } from '../support/identity.js';
import { type ApiResponse, createBroker, startTestServer, type TestServer } from '../support/server.js';

const base = '/v1/namespaces/apps/brokers/chat';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** The default local Supabase JWT secret: a realistic shared HMAC secret. */
const SUPABASE_SECRET = 'super-secret-jwt-token-with-at-least-32-characters-long';
const SUPABASE_ISSUER = 'https://abcdefghijklmnopqrst.supabase.co/auth/v1';

let server: TestServer;
let idp: LocalIdp;
let webhook: LocalWebhook;

const aclTemplate = {
  pub: ['users/${sub}/out/#'],
  sub: ['users/${sub}/in/#', 'teams/${attributes.team}/#'],
};

async function addSource(body: Record<string, unknown>, broker = base) {
  const response = await server.call('POST', `${broker}/identity-sources`, { json: body });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.result;
}

function exchange(body: Record<string, unknown>, token?: string) {
  return server.call('POST', `${base}/token-exchange`, { json: body, ...(token ? { token } : {}) });
}

function jwtExchange(subjectToken: string, extra: Record<string, unknown> = {}) {
  return exchange({ grant_type: GRANT, subject_token: subjectToken, subject_token_type: JWT_TYPE, ...extra });
}

function expectRefused(response: ApiResponse, status: number, error: string) {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(response.body.success).toBe(false);
  expect(response.body.errors[0].error).toBe(error);
}

async function verifyIssued(token: string, broker = 'chat') {
  const keys = await server.call('GET', `/v1/namespaces/apps/brokers/${broker}/publickeys`, { token: null });
  return jwtVerify(token, createLocalJWKSet(keys.body.result), {
    issuer: 'gatepass',
    audience: `${broker}.apps`,
    algorithms: ['EdDSA'],
    typ: 'JWT',
    currentDate: new Date(),
  });
}

function issuedRecord(jti: string) {
  const db = new Database(server.dbPath, { readonly: true });
  try {
    return db
      .prepare('select client_id, issued_by, issued_at, expires_at from issued_credentials where jti = ?')
      .get(jti) as
      | { client_id: string; issued_by: string; issued_at: number; expires_at: number }
      | undefined;
  } finally {
    db.close();
  }
}

function countIssued(): number {
  const db = new Database(server.dbPath, { readonly: true });
  try {
    return (db.prepare('select count(*) as n from issued_credentials').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

beforeAll(async () => {
  server = await startTestServer();
  await createBroker(server, 'apps', 'chat', { expiration: 7200 });
  idp = await startIdp('ES256');
  webhook = await startWebhook(({ body }) => {
    const { username, password } = body as Record<string, string>;
    if (username === 'dev1' && password === 'pa"ss\\word') {
      return { status: 200, body: { user_id: 'dev1', attributes: { team: 'blue' } } };
    }
    if (username === 'slow') return { status: 200, body: { user_id: 'slow' }, delayMs: 5000 };
    if (username === 'trickle') return { status: 200, body: { user_id: 'trickle' }, bodyDelayMs: 5000 };
    if (username === 'nobody') return { status: 200, body: { attributes: {} } };
    if (username === 'crafted')
      return { status: 200, body: { user_id: 'crafted', attributes: { team: '#' } } };
    if (username === 'redirect') return { status: 302, body: {} };
    return { status: 401, body: { error: 'bad credentials' } };
  });
  await addSource({
    name: 'idp',
    kind: 'jwt',
    issuer: idp.url,
    jwks_url: idp.jwksUrl,
    audience: 'chat-backend',
    algorithms: ['ES256'],
    acl_template: aclTemplate,
  });
  await addSource({
    name: 'hook',
    kind: 'webhook',
    url: `${webhook.url}/auth`,
    headers: { Authorization: 'Bearer hook-credential-0123456789' },
    acl_template: aclTemplate,
  });
  await addSource({
    name: 'slow-hook',
    kind: 'webhook',
    url: `${webhook.url}/auth`,
    timeout_ms: 500,
    acl_template: aclTemplate,
  });
});

afterAll(async () => {
  await Promise.all([server?.destroy(), idp?.close(), webhook?.close()]);
});

describe('JWT sources', () => {
  it('exchanges an IdP token for a credential that verifies against the broker’s keys', async () => {
    const subjectToken = await idp.sign({ sub: 'alice', aud: 'chat-backend', team: 'red' });
    const response = await jwtExchange(subjectToken);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const result = response.body.result;
    expect(result).toMatchObject({
      client_id: 'alice',
      expires_in: 3600,
      issued_token_type: JWT_TYPE,
      token_type: 'N_A',
    });
    expect(result.access_token).toBe(result.token);

    const { payload } = await verifyIssued(result.token);
    expect(payload.sub).toBe('alice');
    expect(payload.jti).toBe(result.jti);
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(payload.topicAcl).toEqual({
      pub: ['users/alice/out/#'],
      sub: ['users/alice/in/#', 'teams/red/#'],
    });

    const keys = await server.call('GET', '/v1/admin-keys');
    const bootstrap = keys.body.result.find((key: { name: string }) => key.name === 'bootstrap');
    expect(issuedRecord(result.jti)).toMatchObject({ client_id: 'alice', issued_by: bootstrap.id });
  });

  it('uses the named source, and accepts the bare minimum of fields', async () => {
    const response = await exchange({
      identity_source: 'idp',
      subject_token: await idp.sign({ sub: 'bob', aud: ['other', 'chat-backend'], team: 7 }),
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const { payload } = await verifyIssued(response.body.result.token);
    expect(payload.topicAcl).toEqual({ pub: ['users/bob/out/#'], sub: ['users/bob/in/#', 'teams/7/#'] });
  });

  it('lives an hour at most, less when the request or the broker says so', async () => {
    const lifetime = async (extra: Record<string, unknown> = {}) => {
      const response = await jwtExchange(
        await idp.sign({ sub: 'carol', aud: 'chat-backend', team: 'x' }),
        extra,
      );
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      const { payload } = await verifyIssued(response.body.result.token);
      expect(payload.exp! - payload.iat!).toBe(response.body.result.expires_in);
      return response.body.result.expires_in;
    };
    expect(await lifetime({ expiration: 600 })).toBe(600);
    expect(await lifetime({ expiration: 86_400 })).toBe(3600);
    await server.call('PATCH', base, { json: { expiration: 300 } });
    expect(await lifetime()).toBe(300);
    await server.call('PATCH', base, { json: { expiration: 7200, max_lifetime: 120 } });
    expect(await lifetime()).toBe(120);
    await server.call('PATCH', base, { json: { max_lifetime: null } });
    expect(await lifetime()).toBe(3600);
  });

  it.each([
    ['an issuer no source trusts', { iss: 'https://evil.example' }, {}, 'untrusted_issuer'],
    [
      'a named source with another issuer',
      { iss: 'https://evil.example' },
      { identity_source: 'idp' },
      'untrusted_issuer',
    ],
    ['a token without iss', { iss: undefined }, {}, 'untrusted_issuer'],
    ['the wrong audience', { aud: 'someone-else' }, {}, 'invalid_audience'],
    ['no audience', { aud: undefined }, {}, 'invalid_audience'],
    ['an expired token', { iat: 1_000_000, exp: 1_000_300 }, {}, 'token_expired'],
    ['a token without exp', { exp: undefined }, {}, 'invalid_subject_token'],
    ['a token without sub', { sub: undefined }, {}, 'invalid_subject_token'],
  ])('refuses %s (401)', async (_, claims, extra, error) => {
    const token = await idp.sign({ sub: 'mallory', aud: 'chat-backend', team: 'x', ...claims });
    expectRefused(await jwtExchange(token, extra), 401, error);
  });

  it('refuses bad signatures: another key, a kid the IdP never had, alg none, HMAC with the public key', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const { kid } = decodeProtectedHeader(await idp.sign({}));
    const claims = {
      iss: idp.url,
      sub: 'mallory',
      aud: 'chat-backend',
      team: 'x',
      exp: Math.floor(Date.now() / 1000) + 60,
    };
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: kid! }).sign(privateKey);
    expectRefused(await jwtExchange(forged), 401, 'invalid_signature');

    const unsecured = new UnsecuredJWT(claims).encode();
    expectRefused(await jwtExchange(unsecured), 401, 'invalid_signature');

    // The classic confusion: the IdP's public key used as an HMAC secret.
    const publicJwk = JSON.stringify(await exportJWK(publicKey));
    const confused = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: kid! })
      .sign(new TextEncoder().encode(publicJwk));
    expectRefused(await jwtExchange(confused), 401, 'invalid_signature');

    const tampered = await idp.sign({ sub: 'mallory', aud: 'chat-backend', team: 'x' });
    const [h, p, s] = tampered.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const widened = Buffer.from(JSON.stringify({ ...payload, sub: 'admin' })).toString('base64url');
    expectRefused(await jwtExchange(`${h}.${widened}.${s}`), 401, 'invalid_signature');

    expectRefused(await jwtExchange('not-a-jwt'), 401, 'invalid_subject_token');
  });

  it('refuses crafted claims that would widen the ACL, and records nothing', async () => {
    const before = countIssued();
    for (const claims of [
      { sub: 'a/#', team: 'x' },
      { sub: 'alice', team: '+' },
      { sub: 'alice', team: 'red/#' },
      { sub: 'alice', team: { $ne: 1 } },
      { sub: 'alice' },
    ]) {
      const response = await jwtExchange(await idp.sign({ aud: 'chat-backend', ...claims }));
      expectRefused(response, 403, 'template_value_refused');
      expect(JSON.stringify(response.body)).not.toContain('red/#');
    }
    // A subject that is no valid client id is refused by the default ${sub} template (see client-ids.test.ts).
    const spaced = await idp.sign({ aud: 'chat-backend', sub: 'alice smith', team: 'x' });
    expectRefused(await jwtExchange(spaced), 403, 'template_value_refused');
    expect(countIssued()).toBe(before);
  });

  it('accepts a Supabase-style HS256 token with the project’s shared secret', async () => {
    await addSource({
      name: 'supabase',
      kind: 'jwt',
      issuer: SUPABASE_ISSUER,
      secret: SUPABASE_SECRET,
      audience: 'authenticated',
      acl_template: {
        client_id: 'sb-${attributes.app_metadata.device}',
        pub: ['users/${sub}/out/#'],
        sub: ['users/${sub}/in/#', 'roles/${attributes.role}/#'],
      },
    });
    const now = Math.floor(Date.now() / 1000);
    const user = '3f1c2f0e-8c5a-4b1e-9d7a-2a6b9c1d4e5f';
    const claims = {
      iss: SUPABASE_ISSUER,
      sub: user,
      aud: 'authenticated',
      role: 'authenticated',
      email: 'a@example.com',
      app_metadata: { provider: 'email', device: 'kitchen1' },
      iat: now,
      exp: now + 3600,
    };
    const sign = (secret: string, alg = 'HS256') =>
      new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(new TextEncoder().encode(secret));

    const response = await jwtExchange(await sign(SUPABASE_SECRET));
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const { payload } = await verifyIssued(response.body.result.token);
    expect(payload.sub).toBe('sb-kitchen1');
    expect(payload.topicAcl).toEqual({
      pub: [`users/${user}/out/#`],
      sub: [`users/${user}/in/#`, 'roles/authenticated/#'],
    });

    expectRefused(
      await jwtExchange(await sign(`${SUPABASE_SECRET}-but-not-quite`)),
      401,
      'invalid_signature',
    );
    // The source allows HS256 only (the default with a secret).
    expectRefused(await jwtExchange(await sign(SUPABASE_SECRET, 'HS512')), 401, 'invalid_signature');
    const { privateKey } = await generateKeyPair('ES256');
    const asymmetric = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    expectRefused(await jwtExchange(asymmetric), 401, 'invalid_signature');
  });

  it('reports an unreachable JWKS as the source’s problem (424), never a 5xx', async () => {
    const gone = await startIdp('ES256');
    await addSource({
      name: 'gone',
      kind: 'jwt',
      issuer: gone.url,
      jwks_url: gone.jwksUrl,
      audience: 'chat-backend',
      acl_template: aclTemplate,
    });
    const token = await gone.sign({ sub: 'alice', aud: 'chat-backend', team: 'x' });
    await gone.close();
    expectRefused(await jwtExchange(token), 424, 'identity_source_unavailable');
  });

  it('follows a key rollover at the IdP, refetching the JWKS for an unknown kid at most every 30 s', async () => {
    const rolling = await startIdp('RS256');
    try {
      await addSource({
        name: 'rolling',
        kind: 'jwt',
        issuer: rolling.url,
        jwks_url: rolling.jwksUrl,
        audience: 'chat-backend',
        algorithms: ['RS256'],
        acl_template: aclTemplate,
      });
      // jose's JWKS cache reads Date.now() for its cooldown; moving the clock stands in for waiting.
      const start = Date.now();
      vi.setSystemTime(start);
      const sign = (sub: string, options?: { kid: string }) =>
        rolling.sign({ sub, aud: 'chat-backend', team: 'x' }, options);

      expect((await jwtExchange(await sign('before'))).status).toBe(200);
      expect((await jwtExchange(await sign('before'))).status).toBe(200);
      expect(rolling.jwksFetches).toBe(1);

      await rolling.rotate();
      const afterRollover = await sign('after');
      vi.setSystemTime(start + 10_000);
      // Within 30 s of the last fetch an unknown kid does not refetch: refused, and the IdP is left alone.
      expectRefused(await jwtExchange(afterRollover), 401, 'invalid_signature');
      expect(rolling.jwksFetches).toBe(1);

      vi.setSystemTime(start + 31_000);
      const accepted = await jwtExchange(afterRollover);
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
      expect(accepted.body.result.client_id).toBe('after');
      expect(rolling.jwksFetches).toBe(2);

      // Tokens naming kids the IdP never published cannot make gatepass hammer it.
      vi.setSystemTime(start + 62_000);
      for (let i = 0; i < 5; i++) {
        expectRefused(
          await jwtExchange(await sign('junk', { kid: `unknown-${i}` })),
          401,
          'invalid_signature',
        );
      }
      expect(rolling.jwksFetches).toBe(3);
    } finally {
      vi.useRealTimers();
      await rolling.close();
    }
  });
});

describe('webhook sources', () => {
  it('asks the webhook with the filled template and issues the credential it vouches for', async () => {
    const response = await exchange({
      identity_source: 'hook',
      username: 'dev1',
      password: 'pa"ss\\word',
      clientid: 'ignored-by-template',
      peerhost: '192.0.2.7',
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const { payload } = await verifyIssued(response.body.result.token);
    expect(payload.sub).toBe('dev1');
    expect(payload.topicAcl).toEqual({ pub: ['users/dev1/out/#'], sub: ['users/dev1/in/#', 'teams/blue/#'] });

    const call = webhook.calls.at(-1)!;
    expect(call.body).toEqual({
      username: 'dev1',
      password: 'pa"ss\\word',
      clientid: 'ignored-by-template',
      peerhost: '192.0.2.7',
    });
    expect(call.headers.authorization).toBe('Bearer hook-credential-0123456789');
    expect(call.headers['content-type']).toBe('application/json');
  });

  it('keeps a JSON-breaking username inside its string', async () => {
    const hostile = 'x", "username": "dev1", "password": "pa\\"ss\\\\word';
    const response = await exchange({ identity_source: 'hook', username: hostile, password: 'nope' });
    expectRefused(response, 403, 'identity_denied');
    expect(webhook.calls.at(-1)!.body).toMatchObject({ username: hostile, password: 'nope' });
  });

  it.each([
    ['a non-2xx answer', { username: 'dev1', password: 'wrong' }],
    ['an answer without a principal', { username: 'nobody' }],
    ['a redirect (not followed)', { username: 'redirect' }],
  ])('denies on %s (403)', async (_, fields) => {
    expectRefused(await exchange({ identity_source: 'hook', ...fields }), 403, 'identity_denied');
  });

  it('refuses attributes that would widen the ACL', async () => {
    expectRefused(
      await exchange({ identity_source: 'hook', username: 'crafted' }),
      403,
      'template_value_refused',
    );
  });

  it.each([
    ['answers late', 'slow'],
    ['sends its headers, then stalls', 'trickle'],
  ])('gives up on a webhook that %s, within its timeout', async (_, username) => {
    const started = performance.now();
    const response = await exchange({ identity_source: 'slow-hook', username });
    const elapsed = performance.now() - started;
    expectRefused(response, 424, 'identity_source_timeout');
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(500 + 750);
  });

  it('reports an unreachable webhook as unavailable (424)', async () => {
    const gone = await startWebhook(() => ({ status: 200 }));
    await gone.close();
    await addSource({ name: 'gone-hook', kind: 'webhook', url: gone.url, acl_template: aclTemplate });
    expectRefused(
      await exchange({ identity_source: 'gone-hook', username: 'x' }),
      424,
      'identity_source_unavailable',
    );
  });
});

describe('webhook success rules', () => {
  /** Answers as FlowMQ's and EMQX's webhook authenticators do: `result` says yes or no, beside an identity. */
  let flow: LocalWebhook;

  beforeAll(async () => {
    flow = await startWebhook(({ body }) => {
      const { user } = body as Record<string, string>;
      const identity = { data: [{ id: user, team: 'green' }] };
      switch (user) {
        case 'mallory':
          return { status: 200, body: { result: 'deny', ...identity } };
        case 'ignored':
          return { status: 200, body: { result: 'ignore', ...identity } };
        case 'odd':
          return { status: 200, body: { result: true, ...identity } };
        case 'emqx':
          return { status: 200, body: { result: 'allow', ...identity } };
        case 'plain':
          return { status: 200, body: identity };
        case 'approved':
          return { status: 200, body: { status: 'approved', authenticated: true, ...identity } };
        case 'pending':
          return { status: 200, body: { status: 'pending', authenticated: false, ...identity } };
        default:
          return { status: 200, body: { result: 'success', ...identity } };
      }
    });
    const common = {
      kind: 'webhook',
      url: `${flow.url}/auth`,
      body: { user: '${username}', via: '${protocol}', client: '${clientid}' },
      principal_path: '$.data[0].id',
      attributes_path: '$.data[0]',
      acl_template: aclTemplate,
    };
    await addSource({
      ...common,
      name: 'flow',
      headers: { 'X-Client': 'mqtt:${clientid}', 'X-Api-Key': 'flow-secret-0123456789' },
    });
    await addSource({
      ...common,
      name: 'by-status',
      success_path: '$.status',
      success_values: ['approved', 'accepted'],
    });
    await addSource({ ...common, name: 'by-flag', success_path: '$.authenticated', success_values: [true] });
  });
  afterAll(() => flow?.close());

  it('refuses an exchange the webhook denies with 200 {"result":"deny"}, and records nothing', async () => {
    const before = countIssued();
    for (const user of ['mallory', 'ignored', 'odd']) {
      expectRefused(await exchange({ identity_source: 'flow', username: user }), 403, 'identity_denied');
    }
    expect(countIssued()).toBe(before);
  });

  it('issues when `result` is "success" (FlowMQ) or "allow" (EMQX), or when the answer has no `result`', async () => {
    for (const user of ['fiona', 'emqx', 'plain']) {
      const response = await exchange({ identity_source: 'flow', username: user });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      const { payload } = await verifyIssued(response.body.result.token);
      expect(payload.sub).toBe(user);
      expect(payload.topicAcl).toEqual({
        pub: [`users/${user}/out/#`],
        sub: [`users/${user}/in/#`, 'teams/green/#'],
      });
    }
  });

  it('follows a configured success path and values, strings or booleans', async () => {
    expect((await exchange({ identity_source: 'by-status', username: 'approved' })).status).toBe(200);
    expectRefused(
      await exchange({ identity_source: 'by-status', username: 'pending' }),
      403,
      'identity_denied',
    );
    // The configured path replaces the default: an answer without it is refused, `result` or not.
    expectRefused(
      await exchange({ identity_source: 'by-status', username: 'fiona' }),
      403,
      'identity_denied',
    );
    expect((await exchange({ identity_source: 'by-flag', username: 'approved' })).status).toBe(200);
    expectRefused(
      await exchange({ identity_source: 'by-flag', username: 'pending' }),
      403,
      'identity_denied',
    );
  });

  it('fills ${clientid} in header values and ${protocol} in the body', async () => {
    const response = await exchange({
      identity_source: 'flow',
      username: 'fiona',
      clientid: 'fiona-phone',
      protocol: 'mqtt',
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const call = flow.calls.at(-1)!;
    expect(call.headers['x-client']).toBe('mqtt:fiona-phone');
    expect(call.headers['x-api-key']).toBe('flow-secret-0123456789');
    expect(call.body).toEqual({ user: 'fiona', via: 'mqtt', client: 'fiona-phone' });
  });

  it('refuses a value that cannot travel in a header (400 naming the field), without calling the webhook', async () => {
    const calls = flow.calls.length;
    const response = await exchange({ identity_source: 'flow', username: 'fiona', clientid: 'a\r\nx-b: c' });
    expectRefused(response, 400, 'invalid_input');
    expect(response.body.errors[0].field).toBe('clientid');
    expect(flow.calls.length).toBe(calls);
  });

  it('shows the rule on the source; a null path is back to `$.result` when the answer has one', async () => {
    const path = `${base}/identity-sources`;
    expect((await server.call('GET', `${path}/flow`)).body.result).toMatchObject({
      principal_path: '$.data[0].id',
      success_path: null,
      success_values: ['success', 'allow'],
    });
    expect((await server.call('GET', `${path}/by-flag`)).body.result).toMatchObject({
      success_path: '$.authenticated',
      success_values: [true],
    });
    const reset = await server.call('PATCH', `${path}/by-status`, {
      json: { success_path: null, success_values: ['success'] },
    });
    expect(reset.status, JSON.stringify(reset.body)).toBe(200);
    expect(reset.body.result).toMatchObject({ success_path: null, success_values: ['success'] });
    // An answer without `result` passes again; `result` must be one of the values.
    expect((await exchange({ identity_source: 'by-status', username: 'pending' })).status).toBe(200);
    expect((await exchange({ identity_source: 'by-status', username: 'fiona' })).status).toBe(200);
    expectRefused(await exchange({ identity_source: 'by-status', username: 'emqx' }), 403, 'identity_denied');
  });
});

describe('requests', () => {
  it.each([
    ['no subject token and no source', {}, 'subject_token'],
    [
      'a webhook source given a subject token',
      { identity_source: 'hook', subject_token: 'a.b.c' },
      'subject_token',
    ],
    [
      'a JWT source given webhook fields',
      { identity_source: 'idp', subject_token: 'a.b.c', username: 'u' },
      'username',
    ],
    ['a JWT source without a token', { identity_source: 'idp' }, 'subject_token'],
    ['webhook fields without a source', { subject_token: 'a.b.c', password: 'p' }, 'password'],
    ['another grant type', { grant_type: 'password', subject_token: 'a.b.c' }, 'grant_type'],
    ['another token type', { subject_token: 'a.b.c', subject_token_type: 'urn:x' }, 'subject_token_type'],
    ['an unknown field', { subject_token: 'a.b.c', scope: 'all' }, 'scope'],
    ['a zero expiration', { subject_token: 'a.b.c', expiration: 0 }, 'expiration'],
  ])('refuses %s (400)', async (_, body, field) => {
    const response = await exchange(body);
    expectRefused(response, 400, 'invalid_input');
    expect(response.body.errors[0].field).toBe(field);
  });

  it('answers random bodies with a 2xx or 4xx, never a 5xx (property)', async () => {
    const anything = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string(), { maxLength: 2 }),
    );
    const body = fc.record(
      {
        grant_type: fc.oneof(fc.constant(GRANT), anything),
        subject_token: fc.oneof(
          fc.constant('a.b.c'),
          fc.constant('eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.'),
          anything,
        ),
        subject_token_type: fc.oneof(fc.constant(JWT_TYPE), anything),
        identity_source: fc.oneof(fc.constantFrom('idp', 'hook', 'supabase', 'nope'), anything),
        username: anything,
        password: anything,
        expiration: anything,
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(body, async (json) => {
        const response = await exchange(json);
        expect(response.status, JSON.stringify({ json, body: response.body })).toBeLessThan(500);
        expect(response.body.success).toBe(response.status === 200);
      }),
      { numRuns: 150 },
    );
  });

  it('answers 404 for an unknown source', async () => {
    expectRefused(await exchange({ identity_source: 'nope', subject_token: 'a.b.c' }), 404, 'not_found');
  });
});

describe('admin keys', () => {
  async function createKey(permission: string, namespace?: string) {
    const response = await server.call('POST', '/v1/admin-keys', {
      json: { name: `${permission}-${namespace ?? 'all'}`, permission, ...(namespace ? { namespace } : {}) },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    return response.body.result as { id: string; key: string };
  }

  it('lets an exchange key for the namespace exchange, and nothing else', async () => {
    const { id, key } = await createKey('exchange', 'apps');
    const token = await idp.sign({ sub: 'erin', aud: 'chat-backend', team: 'x' });
    const response = await exchange({ subject_token: token }, key);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(issuedRecord(response.body.result.jti)?.issued_by).toBe(id);

    for (const [method, path] of [
      ['GET', `${base}/identity-sources`],
      ['GET', `${base}/credentials?number=1`],
      ['GET', base],
    ] as const) {
      expectRefused(await server.call(method, path, { token: key }), 403, 'forbidden');
    }
  });

  it('refuses a read key (403) and an exchange key for another namespace (404)', async () => {
    const token = await idp.sign({ sub: 'erin', aud: 'chat-backend', team: 'x' });
    const reader = await createKey('read', 'apps');
    expectRefused(await exchange({ subject_token: token }, reader.key), 403, 'forbidden');
    await server.call('POST', '/v1/namespaces', { json: { name: 'elsewhere' } });
    const stranger = await createKey('exchange', 'elsewhere');
    expectRefused(await exchange({ subject_token: token }, stranger.key), 404, 'not_found');
  });
});

describe('the whole run', () => {
  it('never answered with a 5xx', () => {
    const serverErrors = server.logs.filter((line) => typeof line.status === 'number' && line.status >= 500);
    expect(serverErrors).toEqual([]);
  });

  it('logged why exchanges were refused, and never a token or a webhook secret', () => {
    const refusals = server.logs.map((line) => line.refusal).filter((refusal) => typeof refusal === 'string');
    expect(refusals.some((refusal) => refusal.startsWith('template_value_refused: '))).toBe(true);
    expect(refusals.some((refusal) => refusal.startsWith('identity_source_timeout: '))).toBe(true);
    const logs = JSON.stringify(server.logs);
    expect(logs).not.toContain('eyJ');
    expect(logs).not.toContain('hook-credential-0123456789');
  });
});
