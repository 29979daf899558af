import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.destroy());

describe('API description', () => {
  it('serves the same OpenAPI document as the committed openapi/openapi.json', async () => {
    const served = await server.call('GET', '/openapi.json', { token: null });
    expect(served.status).toBe(200);
    const committed = JSON.parse(
      readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'),
    );
    expect(served.body).toEqual(committed);
    expect(Object.keys(served.body.paths)).toContain(
      '/v1/namespaces/{namespace}/brokers/{broker}/credentials',
    );
  });

  it('serves an interactive docs page', async () => {
    const page = await server.call('GET', '/docs', { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.body).toContain('/openapi.json');
  });

  it('answers unknown routes with the error envelope', async () => {
    const missing = await server.call('GET', '/nowhere', { token: null });
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ success: false, errors: [{ error: 'not_found' }] });
  });
});
