// Random input on the routes added after the bad-input table (test/http/bad-input.test.ts): refresh, token
// exchange, identity sources, maintenance and the audit trail. Never a 5xx; every refusal a 4xx envelope
// that wrote nothing (row counts of every table, read through a separate read-only connection); the few
// random inputs that happen to be valid write exactly what they should.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ACL templates and webhook bodies spell ${...} placeholders

import { createHmac } from 'node:crypto';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowCounts } from '../support/database.js';
import {
  ADMIN_TOKEN,
  type ApiResponse,
  createBroker,
  startTestServer,
  type TestServer,
} from '../support/server.js';

const broker = '/v1/namespaces/home/brokers/sensors';
const HMAC_SECRET = 'a-shared-secret-of-at-least-32-characters!';
const ISSUER = 'https://idp.example';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const RUNS = { numRuns: 80 };

let server: TestServer;
let db: Database.Database;
let genuine: string;
const keys: Record<'read' | 'scoped' | 'exchange', string> = { read: '', scoped: '', exchange: '' };

function counts(): Record<string, number> {
  return rowCounts(db);
}

/** A 4xx envelope, or a success; never a 5xx. */
function expectAnswered(response: ApiResponse) {
  expect(response.status, JSON.stringify(response.body)).toBeLessThan(500);
  if (response.status < 400) {
    expect(response.body.success).toBe(true);
    return;
  }
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(response.body).toMatchObject({ success: false, messages: [], result: null });
  expect(response.body.errors.length).toBeGreaterThan(0);
  for (const error of response.body.errors) {
    expect(typeof error.code).toBe('number');
    expect(typeof error.error).toBe('string');
    expect(error.message).not.toBe('');
  }
}

/** Sends, then checks: no 5xx, and a refusal wrote nothing at all. Returns the response and what changed. */
async function probe(method: string, path: string, options: Parameters<TestServer['call']>[2] = {}) {
  const before = counts();
  const response = await server.call(method, path, options);
  expectAnswered(response);
  const after = counts();
  if (response.status >= 400) expect(after).toEqual(before);
  const changed = Object.fromEntries(
    Object.keys(after)
      .filter((table) => after[table] !== before[table])
      .map((table) => [table, after[table]! - before[table]!]),
  );
  return { response, changed };
}

function hmacJwt(claims: Record<string, unknown>, secret = HMAC_SECRET) {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

beforeAll(async () => {
  server = await startTestServer({ env: { GATEPASS_CRON_INTERVAL: '0' } });
  await createBroker(server, 'home', 'sensors');
  await createBroker(server, 'other', 'sensors');
  const sources = [
    {
      name: 'supa',
      kind: 'jwt',
      issuer: ISSUER,
      audience: 'authenticated',
      secret: HMAC_SECRET,
      acl_template: { pub: ['users/${sub}/#'], sub: [] },
    },
    {
      name: 'patchme',
      kind: 'jwt',
      issuer: 'https://patch.example',
      audience: 'authenticated',
      secret: HMAC_SECRET,
      acl_template: { pub: ['users/${sub}/#'], sub: [] },
    },
    // A closed loopback port: every webhook exchange fails at once (424), without leaving the machine.
    {
      name: 'hook',
      kind: 'webhook',
      url: 'http://127.0.0.1:9/',
      timeout_ms: 500,
      acl_template: { pub: [], sub: [] },
    },
  ];
  for (const source of sources) {
    const created = await server.call('POST', `${broker}/identity-sources`, { json: source });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
  }
  const issued = await server.call('POST', `${broker}/credentials`, { json: { clientid: ['dev-1'] } });
  genuine = issued.body.result['dev-1'];
  for (const [name, body] of [
    ['read', { name: 'reader', permission: 'read' }],
    ['scoped', { name: 'scoped', namespace: 'home', permission: 'write' }],
    ['exchange', { name: 'exchanger', permission: 'exchange' }],
  ] as const) {
    const key = await server.call('POST', '/v1/admin-keys', { json: body });
    keys[name] = key.body.result.key;
  }
  db = new Database(server.dbPath, { readonly: true, fileMustExist: true });
});

afterAll(async () => {
  db?.close();
  await server.destroy();
});

// ---- arbitraries

const base64urlText = fc.string({
  unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'),
  maxLength: 40,
});
const noisyText = fc.string({
  unit: fc.constantFrom(
    'a',
    'Z',
    '0',
    '.',
    '-',
    '_',
    '=',
    '+',
    '/',
    ' ',
    '\n',
    '\u0000',
    'é',
    '😀',
    '\ud800',
  ),
  maxLength: 30,
});
const noise: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  noisyText,
  fc.integer({ min: -2, max: 10_000_000_000 }),
  fc.constantFrom(null, true, false, 0, -1, 0.5, 1e300, '', 'x'.repeat(20_000)),
  fc.array(noisyText, { maxLength: 3 }),
);

/** One edit of a string: a character replaced, inserted or removed, or the string cut. */
function mutate(text: string) {
  return fc
    .record({
      at: fc.nat({ max: text.length - 1 }),
      kind: fc.constantFrom('replace', 'insert', 'delete', 'cut'),
      with: fc.constantFrom('A', 'b', '-', '_', '.', '=', ' ', 'é'),
    })
    .map(({ at, kind, with: c }) => {
      switch (kind) {
        case 'replace':
          return text.slice(0, at) + (text[at] === c ? 'Q' : c) + text.slice(at + 1);
        case 'insert':
          return text.slice(0, at) + c + text.slice(at);
        case 'delete':
          return text.slice(0, at) + text.slice(at + 1);
        default:
          return text.slice(0, at);
      }
    })
    .filter((mutated) => mutated !== text);
}

/**
 * A valid body with up to three fields overwritten by noise (or an unknown one added), or, one time in
 * eight, any JSON at all. (fc.option's `freq` is the odds of nil, 1 in freq: not what this needs.)
 */
function mutated(valid: fc.Arbitrary<Record<string, unknown>>, fields: readonly string[]) {
  return fc
    .record({
      base: valid,
      overrides: fc.array(fc.tuple(fc.constantFrom(...fields, 'extra'), noise), { maxLength: 3 }),
      whole: fc.oneof(
        { weight: 7, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
      ),
    })
    .map(({ base, overrides, whole }) =>
      whole === undefined ? { ...base, ...Object.fromEntries(overrides) } : whole,
    );
}

/** Percent-encoded text (lone surrogates cannot be), or raw percent sequences that do not decode. */
const queryValue = fc.oneof(
  noisyText.filter((text) => !/\p{Cs}/u.test(text)).map(encodeURIComponent),
  base64urlText,
  fc.integer({ min: -5, max: 200 }).map(String),
  fc.constantFrom('%', '%zz', '%ff', '%C3%28', '%00', '%E2%82', '%ED%A0%80'),
);

const queryPairs = (keys: readonly string[]) =>
  fc.array(
    fc.tuple(
      fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...keys) }, fc.stringMatching(/^[a-z_]{1,8}$/)),
      queryValue,
    ),
    { maxLength: 5 },
  );
/** Values arrive encoded already (see queryValue). */
const search = (pairs: Array<[string, string]>) => pairs.map(([key, value]) => `${key}=${value}`).join('&');

// ---- properties

describe('random input on the later routes', () => {
  it('POST .../credentials/refresh: no token but the genuine one is renewed, and a refusal writes nothing', async () => {
    const token = fc.oneof(
      mutate(genuine),
      fc.tuple(base64urlText, base64urlText, base64urlText).map((segments) => segments.join('.')),
      noisyText,
      fc.constant(`${genuine}.${genuine}`),
    );
    const body = fc.oneof(
      fc.record(
        { token, revoke_old: fc.option(fc.boolean(), { nil: undefined }) },
        { requiredKeys: ['token'] },
      ),
      mutated(fc.record({ token, revoke_old: fc.boolean() }), ['token', 'revoke_old']),
    );
    await fc.assert(
      fc.asyncProperty(body, async (json) => {
        const { response } = await probe('POST', `${broker}/credentials/refresh`, {
          token: null,
          json: JSON.parse(JSON.stringify(json ?? null)),
        });
        expect([400, 401, 413]).toContain(response.status);
      }),
      RUNS,
    );
  });

  it('POST .../token-exchange: refusals write nothing; a success records one credential and its audit event', async () => {
    const now = Math.floor(Date.now() / 1000);
    const subject = fc
      .record({
        sub: fc.stringMatching(/^[a-z0-9]{1,12}$/),
        exp: fc.integer({ min: now + 60, max: now + 3600 }),
      })
      .map((claims) => hmacJwt({ iss: ISSUER, aud: 'authenticated', iat: now, ...claims }));
    const valid = fc.record(
      {
        grant_type: fc.constant(GRANT),
        subject_token: subject,
        subject_token_type: fc.constant(JWT_TYPE),
        identity_source: fc.constant('supa'),
        expiration: fc.integer({ min: 1, max: 3600 }),
      },
      { requiredKeys: ['subject_token'] },
    );
    const fields = [
      'grant_type',
      'subject_token',
      'subject_token_type',
      'requested_token_type',
      'identity_source',
      'username',
      'password',
      'clientid',
      'peerhost',
      'expiration',
    ] as const;
    const body = fc.oneof(
      valid,
      mutated(valid, fields),
      valid.chain((base) =>
        mutate(String(base.subject_token)).map((subject_token) => ({ ...base, subject_token })),
      ),
      fc.record({ identity_source: fc.constant('hook'), username: noisyText, password: noisyText }),
      fc.record({ identity_source: fc.constantFrom('nope', 'Bad', 'patchme'), subject_token: subject }),
    );
    let successes = 0;
    await fc.assert(
      fc.asyncProperty(body, fc.constantFrom(ADMIN_TOKEN, keys.exchange, keys.read), async (json, key) => {
        const { response, changed } = await probe('POST', `${broker}/token-exchange`, {
          token: key,
          json: JSON.parse(JSON.stringify(json ?? null)),
        });
        if (response.status === 200) {
          successes++;
          expect(key).not.toBe(keys.read);
          expect(changed).toEqual({ issued_credentials: 1, audit_events: 1 });
          expect(decodeJwt(response.body.result.token).aud).toBe('sensors.home');
        } else {
          expect([400, 401, 403, 404, 424]).toContain(response.status);
        }
      }),
      RUNS,
    );
    // The generator does reach valid bodies: the property is not vacuous about successes.
    expect(successes).toBeGreaterThan(0);
  });

  it('POST .../identity-sources: refusals write nothing; a success adds exactly one source and its audit event', async () => {
    const template = fc.record({
      client_id: fc.option(fc.constantFrom('${sub}', 'dev-${sub}', 'x'), { nil: undefined }),
      pub: fc.array(fc.constantFrom('users/${sub}/#', 'a/+/b', 'a/#/b', 'teams/${attributes.team}', ''), {
        maxLength: 3,
      }),
      sub: fc.array(fc.constantFrom('users/${sub}/in', 'x${sub}', '#'), { maxLength: 2 }),
    });
    const name = fc
      .stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/)
      .filter((n) => !['supa', 'patchme', 'hook'].includes(n));
    const jwt = fc.record({
      name,
      kind: fc.constant('jwt'),
      issuer: fc.oneof(fc.webUrl(), noisyText),
      audience: fc.oneof(
        fc.constant('authenticated'),
        fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 2 }),
      ),
      secret: fc.constantFrom(HMAC_SECRET, 'short'),
      algorithms: fc.option(fc.subarray(['HS256', 'HS384', 'RS256', 'none']), { nil: undefined }),
      acl_template: template,
    });
    const webhook = fc.record({
      name,
      kind: fc.constant('webhook'),
      url: fc.oneof(
        fc.constant('http://127.0.0.1:9/'),
        fc.webUrl(),
        fc.constantFrom('file:///etc/passwd', 'http://u:p@x/'),
      ),
      timeout_ms: fc.integer({ min: 0, max: 20_000 }),
      headers: fc.dictionary(fc.constantFrom('x-key', 'X-Key', 'Content-Length', 'bad header'), noisyText, {
        maxKeys: 2,
      }),
      acl_template: template,
    });
    const fields = [
      'name',
      'kind',
      'issuer',
      'audience',
      'secret',
      'jwks_url',
      'algorithms',
      'url',
      'body',
      'headers',
      'timeout_ms',
      'acl_template',
    ];
    await fc.assert(
      fc.asyncProperty(
        mutated(fc.oneof(jwt, webhook) as fc.Arbitrary<Record<string, unknown>>, fields),
        async (json) => {
          const { response, changed } = await probe('POST', `${broker}/identity-sources`, {
            json: JSON.parse(JSON.stringify(json ?? null)),
          });
          if (response.status === 200) expect(changed).toEqual({ identity_sources: 1, audit_events: 1 });
          else expect([400, 409]).toContain(response.status);
        },
      ),
      RUNS,
    );
  });

  it('PATCH, GET and DELETE .../identity-sources/{name}: never a 5xx, counts unchanged but for the audit trail', async () => {
    const patch = mutated(
      fc.record(
        {
          issuer: fc.oneof(fc.constant('https://patch.example'), noisyText),
          audience: fc.constantFrom('authenticated', 'other'),
          secret: fc.constantFrom(HMAC_SECRET, 'short'),
          jwks_url: fc.constantFrom('https://keys.example/jwks.json', 'ftp://x'),
          url: fc.constant('https://hooks.example/'),
          acl_template: fc.constant({ pub: ['users/${sub}/#'], sub: [] }),
        },
        { requiredKeys: [] },
      ),
      ['issuer', 'audience', 'secret', 'jwks_url', 'url', 'timeout_ms', 'acl_template', 'kind', 'name'],
    );
    const request = fc.oneof(
      patch.map((json) => ({
        method: 'PATCH',
        name: 'patchme',
        json: JSON.parse(JSON.stringify(json ?? null)),
      })),
      fc
        .tuple(
          fc.constantFrom('GET', 'DELETE', 'PATCH'),
          fc.oneof(
            noisyText.filter((text) => !/\p{Cs}/u.test(text) && text !== ''),
            fc.stringMatching(/^[a-z]{1,6}$/),
          ),
        )
        .filter(([, name]) => !['supa', 'patchme', 'hook'].includes(name))
        .map(([method, name]) => ({
          method,
          name,
          json: method === 'PATCH' ? { audience: 'x' } : undefined,
        })),
    );
    await fc.assert(
      fc.asyncProperty(request, async ({ method, name, json }) => {
        const { response, changed } = await probe(
          method,
          `${broker}/identity-sources/${encodeURIComponent(name)}`,
          {
            ...(json === undefined ? {} : { json }),
          },
        );
        // A successful PATCH records its audit event; nothing else changes a count.
        expect(changed).toEqual(response.status === 200 && method === 'PATCH' ? { audit_events: 1 } : {});
        if (name !== 'patchme') expect([400, 404]).toContain(response.status);
      }),
      RUNS,
    );
    const list = await server.call('GET', `${broker}/identity-sources?per_page=100`);
    expect(list.body.result.map((source: { name: string }) => source.name)).toEqual(
      expect.arrayContaining(['hook', 'patchme', 'supa']),
    );
  });

  it('GET .../identity-sources: paging queries answer 200 or 400', async () => {
    await fc.assert(
      fc.asyncProperty(queryPairs(['page', 'per_page']), async (pairs) => {
        const { response } = await probe('GET', `${broker}/identity-sources?${search(pairs)}`);
        expect([200, 400]).toContain(response.status);
      }),
      RUNS,
    );
  });

  it('POST /v1/maintenance/run: only a global read-write key runs it; nothing is due, so nothing changes', async () => {
    const key = fc.constantFrom(
      ADMIN_TOKEN,
      keys.read,
      keys.scoped,
      keys.exchange,
      null,
      'gpk_not-a-key-0123456789abcdef0123',
    );
    const body = fc.oneof(
      fc.constant(undefined),
      fc.jsonValue({ maxDepth: 2 }).map((json) => ({ json })),
      noisyText.map((text) => ({ body: text, headers: { 'content-type': 'text/plain' } })),
      fc.constant({ body: '{"x":', headers: { 'content-type': 'application/json' } }),
    );
    await fc.assert(
      fc.asyncProperty(key, body, queryPairs(['now', 'force', 'dry_run']), async (token, options, pairs) => {
        const { response, changed } = await probe('POST', `/v1/maintenance/run?${search(pairs)}`, {
          token,
          ...(options ?? {}),
        });
        expect(changed).toEqual({});
        // A body that is not JSON is refused (415) before the key is looked at.
        if (token === null || token.startsWith('gpk_not')) expect([401, 415]).toContain(response.status);
        else if (token !== ADMIN_TOKEN) expect([403, 415]).toContain(response.status);
        else expect([200, 415]).toContain(response.status);
      }),
      RUNS,
    );
  });

  it('GET /v1/audit: random filters answer 200 or 400; a namespace-scoped key never sees other namespaces', async () => {
    const pairs = queryPairs(['action', 'actor', 'namespace', 'broker', 'since', 'page', 'per_page']).chain(
      (base) =>
        fc
          .array(
            fc.tuple(
              fc.constantFrom('action', 'since', 'namespace'),
              fc
                .constantFrom(
                  'credentials.issue',
                  'revocations.revoke',
                  '2026-01-01T00:00:00Z',
                  '2026-13-01',
                  'home',
                  'other',
                )
                .map(encodeURIComponent),
            ),
            { maxLength: 2 },
          )
          .map((extra) => [...base, ...extra]),
    );
    await fc.assert(
      fc.asyncProperty(pairs, fc.constantFrom(ADMIN_TOKEN, keys.scoped), async (query, token) => {
        const { response, changed } = await probe('GET', `/v1/audit?${search(query)}`, { token });
        expect(changed).toEqual({});
        expect([200, 400]).toContain(response.status);
        if (response.status === 200 && token === keys.scoped) {
          for (const event of response.body.result) expect(event.namespace).toBe('home');
        }
      }),
      RUNS,
    );
  });
});
