// Managing identity sources through the real server: validation, updates, and secrets that never come back
// out of the API nor sit in the SQLite file in clear.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiResponse, createBroker, startTestServer, type TestServer } from '../support/server.js';

const base = '/v1/namespaces/apps/brokers/chat/identity-sources';
const HMAC_SECRET = 'hmac-secret-NEVER-IN-CLEAR-0123456789abcdef';
const HEADER_SECRET = 'Bearer header-secret-NEVER-IN-CLEAR-0123456789';
const OTHER_HEADER_SECRET = 'api-key-NEVER-IN-CLEAR-9876543210';

let server: TestServer;

const acl_template = { pub: ['users/${sub}/out/#'], sub: ['users/${sub}/in/#'] };
const jwks = {
  kind: 'jwt',
  issuer: 'https://idp.example',
  jwks_url: 'https://idp.example/.well-known/jwks.json',
  audience: 'chat',
  acl_template,
};
const webhook = { kind: 'webhook', url: 'https://hooks.example/mqtt-auth', acl_template };

beforeAll(async () => {
  server = await startTestServer();
  await createBroker(server, 'apps', 'chat');
});
afterAll(() => server?.destroy());

function create(body: Record<string, unknown>) {
  return server.call('POST', base, { json: body });
}

function expectInvalid(response: ApiResponse, field: string) {
  expect(response.status, JSON.stringify(response.body)).toBe(400);
  expect(response.body.errors[0]).toMatchObject({ error: 'invalid_input', field });
}

describe('creating and reading', () => {
  it('creates a JWKS source with defaults, and reads it back', async () => {
    const created = await create({ name: 'idp', ...jwks });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body.result).toMatchObject({
      name: 'idp',
      namespace: 'apps',
      broker: 'chat',
      kind: 'jwt',
      issuer: 'https://idp.example',
      jwks_url: jwks.jwks_url,
      has_secret: false,
      audience: 'chat',
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      clock_tolerance: 5,
      acl_template: { client_id: '${sub}', ...acl_template },
    });
    const read = await server.call('GET', `${base}/idp`);
    expect(read.body.result).toEqual(created.body.result);
  });

  it('creates a webhook source with defaults', async () => {
    const created = await create({ name: 'hook', ...webhook });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body.result).toMatchObject({
      kind: 'webhook',
      url: webhook.url,
      headers: [],
      timeout_ms: 5000,
      principal_path: '$.user_id',
      attributes_path: '$.attributes',
      success_path: null,
      success_values: ['success', 'allow'],
      body: {
        username: '${username}',
        password: '${password}',
        clientid: '${clientid}',
        peerhost: '${peerhost}',
      },
    });
  });

  it('refuses a second source of the same name (409)', async () => {
    const again = await create({ name: 'idp', ...webhook });
    expect(again.status).toBe(409);
    expect(again.body.errors[0]).toMatchObject({ error: 'conflict', field: 'name' });
  });

  it('lists by name, paged', async () => {
    const list = await server.call('GET', `${base}?per_page=1`);
    expect(list.status).toBe(200);
    expect(list.body.result.map((source: { name: string }) => source.name)).toEqual(['hook']);
    expect(list.body.result_info).toMatchObject({ count: 1, total_count: 2 });
  });

  it('answers 404 for an unknown source or broker', async () => {
    expect((await server.call('GET', `${base}/missing`)).status).toBe(404);
    expect((await server.call('GET', '/v1/namespaces/apps/brokers/nope/identity-sources')).status).toBe(404);
  });
});

describe('validation', () => {
  it.each([
    ['both jwks_url and secret', { ...jwks, secret: HMAC_SECRET }, 'secret'],
    ['neither jwks_url nor secret', { ...jwks, jwks_url: undefined }, 'jwks_url'],
    ['an HMAC algorithm with jwks_url', { ...jwks, algorithms: ['RS256', 'HS256'] }, 'algorithms'],
    [
      'an asymmetric algorithm with a secret',
      { ...jwks, jwks_url: undefined, secret: HMAC_SECRET, algorithms: ['RS256'] },
      'algorithms',
    ],
    ['alg none', { ...jwks, algorithms: ['none'] }, 'algorithms.0'],
    ['a short secret', { ...jwks, jwks_url: undefined, secret: 'short' }, 'secret'],
    ['a non-http jwks_url', { ...jwks, jwks_url: 'file:///etc/passwd' }, 'jwks_url'],
    ['credentials in a URL', { ...webhook, url: 'https://user:pw@hooks.example/' }, 'url'],
    ['no audience', { ...jwks, audience: undefined }, 'audience'],
    [
      'a placeholder sharing a level',
      { ...jwks, acl_template: { pub: ['users/x${sub}'], sub: [] } },
      'acl_template.pub.0',
    ],
    [
      'an unknown placeholder',
      { ...jwks, acl_template: { pub: [], sub: ['a/${email}'] } },
      'acl_template.sub.0',
    ],
    ['an invalid filter', { ...jwks, acl_template: { pub: ['a/#/b'], sub: [] } }, 'acl_template.pub.0'],
    [
      'a client id without placeholder',
      { ...jwks, acl_template: { ...acl_template, client_id: 'one' } },
      'acl_template.client_id',
    ],
    ['a webhook field on a JWT source', { ...jwks, timeout_ms: 100 }, 'timeout_ms'],
    [
      'an unknown body placeholder',
      { ...webhook, body: { user: '${username}', secret: { x: '${kek}' } } },
      'body.secret.x',
    ],
    ['a timeout over 10 s', { ...webhook, timeout_ms: 10_001 }, 'timeout_ms'],
    ['a reserved header', { ...webhook, headers: { 'Content-Length': '1' } }, 'headers.Content-Length'],
    ['a header value with a line break', { ...webhook, headers: { 'x-a': 'a\r\nx-b: b' } }, 'headers.x-a'],
    ['headers differing only in case', { ...webhook, headers: { 'X-Key': 'a', 'x-key': 'b' } }, 'headers'],
    ['a bad principal path', { ...webhook, principal_path: '$..user' }, 'principal_path'],
    ['a negative index in a path', { ...webhook, attributes_path: '$.data[-1]' }, 'attributes_path'],
    ['a bad success path', { ...webhook, success_path: '$.ok[' }, 'success_path'],
    ['an empty success path', { ...webhook, success_path: '' }, 'success_path'],
    ['no success values', { ...webhook, success_values: [] }, 'success_values'],
    ['a success value that is an object', { ...webhook, success_values: [{ ok: 1 }] }, 'success_values.0'],
    [
      '17 success values',
      { ...webhook, success_values: Array.from({ length: 17 }, (_, i) => i) },
      'success_values',
    ],
    ['a success rule on a JWT source', { ...jwks, success_path: '$.ok' }, 'success_path'],
    [
      'an unknown placeholder in a header',
      { ...webhook, headers: { 'X-Client': '${clientid}', 'X-Who': 'u=${user}' } },
      'headers.X-Who',
    ],
    [
      'an unclosed placeholder in a header',
      { ...webhook, headers: { 'X-Client': '${clientid' } },
      'headers.X-Client',
    ],
    [
      'a body nested too deep',
      { ...webhook, body: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } },
      'body',
    ],
  ])('refuses %s', async (_, fields, field) => {
    expectInvalid(await create({ name: 'bad', ...fields }), field);
  });

  it('wrote nothing for any refused source', async () => {
    expect((await server.call('GET', `${base}/bad`)).status).toBe(404);
  });
});

describe('updating', () => {
  it('switches a JWKS source to a shared secret, with HMAC algorithms by default', async () => {
    const updated = await server.call('PATCH', `${base}/idp`, { json: { secret: HMAC_SECRET } });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body.result).toMatchObject({ jwks_url: null, has_secret: true, algorithms: ['HS256'] });
    const back = await server.call('PATCH', `${base}/idp`, {
      json: { jwks_url: jwks.jwks_url, audience: ['a', 'b'] },
    });
    expect(back.body.result).toMatchObject({
      jwks_url: jwks.jwks_url,
      has_secret: false,
      algorithms: ['RS256', 'ES256', 'EdDSA'],
      audience: ['a', 'b'],
      issuer: 'https://idp.example',
    });
  });

  it('keeps what a change does not mention, and checks the result', async () => {
    const updated = await server.call('PATCH', `${base}/hook`, {
      json: { timeout_ms: 2000, acl_template: { client_id: 'h-${sub}', pub: [], sub: ['in/${sub}/#'] } },
    });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect(updated.body.result).toMatchObject({
      url: webhook.url,
      timeout_ms: 2000,
      principal_path: '$.user_id',
      acl_template: { client_id: 'h-${sub}', pub: [], sub: ['in/${sub}/#'] },
    });
    expectInvalid(await server.call('PATCH', `${base}/hook`, { json: { issuer: 'x' } }), 'issuer');
    expectInvalid(await server.call('PATCH', `${base}/idp`, { json: { url: 'https://x.example' } }), 'url');
    expectInvalid(
      await server.call('PATCH', `${base}/idp`, { json: { algorithms: ['HS256'] } }),
      'algorithms',
    );
    expectInvalid(await server.call('PATCH', `${base}/idp`, { json: { kind: 'webhook' } }), 'kind');
  });

  it('deletes', async () => {
    await create({ name: 'temporary', ...webhook });
    expect((await server.call('DELETE', `${base}/temporary`)).status).toBe(200);
    expect((await server.call('GET', `${base}/temporary`)).status).toBe(404);
    expect((await server.call('DELETE', `${base}/temporary`)).status).toBe(404);
  });
});

describe('secrets', () => {
  it('are never returned, only whether they are set', async () => {
    const hmac = await create({ name: 'supabase', ...jwks, jwks_url: undefined, secret: HMAC_SECRET });
    expect(hmac.status, JSON.stringify(hmac.body)).toBe(200);
    expect(hmac.body.result.has_secret).toBe(true);
    const hook = await create({
      name: 'secret-hook',
      ...webhook,
      headers: { Authorization: HEADER_SECRET, 'X-Api-Key': OTHER_HEADER_SECRET },
    });
    expect(hook.status, JSON.stringify(hook.body)).toBe(200);
    expect(hook.body.result.headers).toEqual(['authorization', 'x-api-key']);

    const responses = [
      hmac,
      hook,
      await server.call('GET', `${base}/supabase`),
      await server.call('GET', `${base}/secret-hook`),
      await server.call('GET', base),
      await server.call('PATCH', `${base}/secret-hook`, { json: { timeout_ms: 1000 } }),
    ];
    for (const response of responses) {
      const text = JSON.stringify(response.body);
      for (const secret of [HMAC_SECRET, HEADER_SECRET, OTHER_HEADER_SECRET, 'NEVER-IN-CLEAR']) {
        expect(text).not.toContain(secret);
      }
      expect(text).not.toContain('"secret"');
      expect(text).not.toContain('sealed');
    }
    // A change that does not mention the headers keeps them.
    expect(responses[5]!.body.result.headers).toEqual(['authorization', 'x-api-key']);
  });

  it('are not in the SQLite files (database, WAL) nor in the logs', async () => {
    const grepDataDir = () => {
      const files = readdirSync(server.dataDir).filter((file) => file.startsWith('gatepass.db'));
      expect(files).toContain('gatepass.db');
      const all = Buffer.concat(files.map((file) => readFileSync(join(server.dataDir, file))));
      for (const secret of ['NEVER-IN-CLEAR', HMAC_SECRET.slice(0, 20), HEADER_SECRET.slice(7, 30)]) {
        expect(all.includes(Buffer.from(secret)), `${secret} in ${files.join(', ')}`).toBe(false);
      }
      // The sources themselves are there, so the search would have found a secret in clear.
      expect(all.includes(Buffer.from('secret-hook'))).toBe(true);
      return files;
    };
    // While running, recent writes sit in the WAL; after closing, they are checkpointed into the database.
    expect(grepDataDir()).toContain('gatepass.db-wal');
    await server.close();
    grepDataDir();
    expect(JSON.stringify(server.logs)).not.toContain('NEVER-IN-CLEAR');
    await server.restart();
    const after = await server.call('GET', `${base}/secret-hook`);
    expect(after.body.result.headers).toEqual(['authorization', 'x-api-key']);
  });
});
