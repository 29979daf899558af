// Deeply nested JSON through the real server: request bodies on every admin route, identity-source body
// templates and webhook answers are refused by an iterative depth scan (400 naming the field, or a denial),
// before anything recursive touches them, so no depth reaches the call stack.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: an ACL template spells ${sub}
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/core/json.js';
import { type LocalWebhook, startWebhook } from '../support/identity.js';
import { type ApiResponse, createBroker, startTestServer, type TestServer } from '../support/server.js';

const broker = '/v1/namespaces/apps/brokers/chat';
/** 100,000 levels: far past any call stack (V8's JSON.stringify gives up near 10,000). */
const VERY_DEEP = 100_000;

/** `levels` arrays inside each other, as JSON text. */
const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

let server: TestServer;
let webhook: LocalWebhook;

function postRaw(method: string, path: string, text: string): Promise<ApiResponse> {
  return server.call(method, path, { body: text, headers: { 'content-type': 'application/json' } });
}

function expectTooDeep(response: ApiResponse, field: string | undefined) {
  expect({ status: response.status, body: response.body }).toMatchObject({
    status: 400,
    body: { success: false, errors: [{ error: 'invalid_input', ...(field ? { field } : {}) }] },
  });
  expect(response.body.errors[0].message).toMatch(/nest/);
}

beforeAll(async () => {
  // A body limit large enough for 100,000 levels, so the depth bound is what refuses them.
  server = await startTestServer({ env: { GATEPASS_MAX_BODY_BYTES: String(1024 * 1024) } });
  await createBroker(server, 'apps', 'chat');
  webhook = await startWebhook(({ body }) => {
    const { username } = body as Record<string, string>;
    // As text: 30,000 levels fit the 64 KB an answer may have, and JSON.stringify could not write them.
    const deep = nested(username === 'deep' ? 30_000 : MAX_JSON_DEPTH - 3);
    return {
      status: 200,
      body: `{"user_id":${JSON.stringify(username)},"attributes":{"team":"blue","deep":${deep}}}`,
    };
  });
  const created = await server.call('POST', `${broker}/identity-sources`, {
    json: {
      name: 'hook',
      kind: 'webhook',
      url: webhook.url,
      acl_template: { pub: [], sub: ['teams/${attributes.team}/#'] },
    },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(200);
});

afterAll(async () => {
  await Promise.all([server?.destroy(), webhook?.close()]);
});

describe('request bodies', () => {
  // Each route with a JSON body, and the field in which the deep value is placed.
  const routes: Array<{ method: string; path: string; field: string; body: (deep: string) => string }> = [
    {
      method: 'POST',
      path: '/v1/namespaces',
      field: 'description',
      body: (deep) => `{"name":"deep","description":${deep}}`,
    },
    {
      method: 'PATCH',
      path: '/v1/namespaces/apps',
      field: 'description',
      body: (deep) => `{"description":${deep}}`,
    },
    {
      method: 'POST',
      path: '/v1/namespaces/apps/brokers',
      field: 'default_topic_acl',
      body: (deep) => `{"name":"deep","default_topic_acl":${deep}}`,
    },
    {
      method: 'PATCH',
      path: broker,
      field: 'default_topic_acl',
      body: (deep) => `{"default_topic_acl":{"pub":${deep},"sub":[]}}`,
    },
    {
      method: 'POST',
      path: `${broker}/credentials`,
      field: 'topicAcl',
      body: (deep) => `{"topicAcl":${deep}}`,
    },
    { method: 'POST', path: `${broker}/revocations`, field: 'jti', body: (deep) => `{"jti":${deep}}` },
    { method: 'POST', path: '/v1/admin-keys', field: 'name', body: (deep) => `{"name":${deep}}` },
    {
      method: 'POST',
      path: `${broker}/identity-sources`,
      field: 'body',
      body: (deep) =>
        `{"name":"deep","kind":"webhook","url":"http://127.0.0.1:9/","body":{"a":${deep}},"acl_template":{"pub":[],"sub":[]}}`,
    },
    {
      method: 'PATCH',
      path: `${broker}/identity-sources/hook`,
      field: 'acl_template',
      body: (deep) => `{"acl_template":${deep}}`,
    },
    {
      method: 'POST',
      path: `${broker}/token-exchange`,
      field: 'username',
      body: (deep) => `{"identity_source":"hook","username":${deep}}`,
    },
  ];

  it.each(routes)('$method $path: 100,000 levels in $field are refused (400 naming it)', async (route) => {
    expectTooDeep(await postRaw(route.method, route.path, route.body(nested(VERY_DEEP))), route.field);
  });

  it('refuses an identity source body of 4,000 nested arrays in 8 KB (it once overflowed the stack)', async () => {
    const body = `{"name":"deep","kind":"webhook","url":"http://127.0.0.1:9/","body":{"a":${nested(4000)}},"acl_template":{"pub":[],"sub":[]}}`;
    expect(body.length).toBeLessThan(8200);
    expectTooDeep(await postRaw('POST', `${broker}/identity-sources`, body), 'body');
  });

  it(`takes ${MAX_JSON_DEPTH} levels, and refuses one more`, async () => {
    // The root object is one level: a value of MAX_JSON_DEPTH - 1 levels fits, and zod judges it.
    const fits = await postRaw(
      'PATCH',
      '/v1/namespaces/apps',
      `{"description":${nested(MAX_JSON_DEPTH - 1)}}`,
    );
    expect(fits.status).toBe(400);
    expect(fits.body.errors[0]).toMatchObject({
      field: 'description',
      message: expect.stringMatching(/string/),
    });
    expectTooDeep(
      await postRaw('PATCH', '/v1/namespaces/apps', `{"description":${nested(MAX_JSON_DEPTH)}}`),
      'description',
    );
  });

  it('refuses it under the Cloudflare prefix too, where wrangler sends JSON as text/plain', async () => {
    const response = await server.call('POST', '/client/v4/accounts/any/pubsub/namespaces', {
      body: `{"name":"deep","description":${nested(VERY_DEEP)}}`,
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
    });
    expectTooDeep(response, 'description');
  });

  it('refuses a document that is nothing but nesting, without a field', async () => {
    expectTooDeep(await postRaw('POST', '/v1/namespaces', nested(VERY_DEEP)), undefined);
  });

  it('still answers malformed JSON as before', async () => {
    const response = await postRaw('POST', '/v1/namespaces', `{"name":${'['.repeat(VERY_DEEP)}`);
    expect(response.status).toBe(400);
    expect(response.body.errors[0].error).toBe('invalid_input');
  });
});

describe('webhook answers', () => {
  it('denies an answer nested too deep (403), and takes one within the bound', async () => {
    const exchange = (username: string) =>
      server.call('POST', `${broker}/token-exchange`, { json: { identity_source: 'hook', username } });
    const deep = await exchange('deep');
    expect({ status: deep.status, error: deep.body.errors?.[0]?.error }).toEqual({
      status: 403,
      error: 'identity_denied',
    });
    const shallow = await exchange('shallow');
    expect(shallow.status, JSON.stringify(shallow.body)).toBe(200);
  });
});

describe('the whole run', () => {
  it('never answered with a 5xx nor logged an unhandled error', () => {
    expect(server.logs.filter((line) => line.level === 'error')).toEqual([]);
  });
});
