// HTTP behaviour every route shares: 405 with Allow for a method a path does not serve, no-store on answers
// that carry credentials or secrets, and a root that points to the docs.
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const broker = '/v1/namespaces/home/brokers/sensors';
const HMAC_SECRET = 'a-shared-secret-of-at-least-32-characters!';
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await createBroker(server, 'home', 'sensors', { expiration: 3600 });
});
afterAll(() => server.destroy());

/** Every route of the OpenAPI document, and those outside it, with the methods each serves. */
async function servedRoutes(): Promise<Map<string, string[]>> {
  const document = (await server.call('GET', '/openapi.json', { token: null })).body;
  const routes = new Map<string, string[]>(
    Object.entries(document.paths as Record<string, Record<string, unknown>>).map(([path, item]) => [
      path
        .replaceAll('{namespace}', 'home')
        .replaceAll('{broker}', 'sensors')
        .replaceAll('{id}', 'some-id')
        .replaceAll('{name}', 'some-name'),
      Object.keys(item).map((method) => method.toUpperCase()),
    ]),
  );
  for (const path of ['/', '/healthz', '/openapi.json', '/docs', '/client/v4/memberships']) {
    routes.set(path, ['GET']);
  }
  return routes;
}

describe('methods', () => {
  it('answers a method a path does not serve with 405 and Allow, on every route and under both Cloudflare prefixes', async () => {
    const routes = await servedRoutes();
    expect(routes.size).toBeGreaterThan(20);
    for (const [path, served] of routes) {
      const allow = [...served, ...(served.includes('GET') ? ['HEAD'] : [])].sort().join(', ');
      const prefixes = path.startsWith('/v1/')
        ? ['/v1', '/client/v4/accounts/acc/pubsub', '/client/v4/accounts/acc/brokers']
        : [''];
      for (const prefix of prefixes) {
        const url = prefix === '' ? path : `${prefix}${path.slice(3)}`;
        for (const method of METHODS.filter((m) => !served.includes(m))) {
          // No admin key: the method is refused before authentication, so the answer is the same for anyone.
          const response = await server.call(method, url, { token: null });
          expect(response.status, `${method} ${url}`).toBe(405);
          expect(response.headers.get('allow'), `${method} ${url}`).toBe(allow);
          expect(response.body).toMatchObject({
            success: false,
            errors: [{ code: 10405, error: 'method_not_allowed' }],
            result: null,
          });
        }
      }
    }
  });

  it('still answers 404 for a path no method serves, and HEAD where GET is served', async () => {
    expect((await server.call('PUT', '/v1/nothing')).status).toBe(404);
    expect((await server.call('DELETE', '/v1/namespaces/home/')).status).toBe(404);
    const head = await server.call('HEAD', '/v1/namespaces');
    expect(head.status).toBe(200);
  });
});

describe('caching', () => {
  function hmacJwt(claims: Record<string, unknown>) {
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
    return `${input}.${createHmac('sha256', HMAC_SECRET).update(input).digest('base64url')}`;
  }

  it('sends Cache-Control: no-store with credentials and secrets, and only there', async () => {
    const source = await server.call('POST', `${broker}/identity-sources`, {
      json: {
        name: 'idp',
        kind: 'jwt',
        issuer: 'https://idp.example',
        audience: 'gatepass',
        secret: HMAC_SECRET,
        acl_template: { pub: [], sub: ['news/#'] },
      },
    });
    expect(source.status, JSON.stringify(source.body)).toBe(200);
    const issued = await server.call('GET', `${broker}/credentials?number=1`);
    const posted = await server.call('POST', `${broker}/credentials`, { json: { clientid: ['d1'] } });
    const now = Math.floor(Date.now() / 1000);
    const exchanged = await server.call('POST', `${broker}/token-exchange`, {
      json: {
        subject_token: hmacJwt({
          iss: 'https://idp.example',
          aud: 'gatepass',
          sub: 'u1',
          iat: now,
          exp: now + 60,
        }),
      },
    });
    const refreshed = await server.call('POST', `${broker}/credentials/refresh`, {
      token: null,
      json: { token: posted.body.result.d1 },
    });
    const adminKey = await server.call('POST', '/v1/admin-keys', {
      json: { name: 'reader', permission: 'read' },
    });
    const refused = await server.call('GET', `${broker}/credentials?number=0`);
    for (const [what, response] of Object.entries({
      issued,
      posted,
      exchanged,
      refreshed,
      adminKey,
      refused,
    })) {
      expect(response.status, `${what}: ${JSON.stringify(response.body)}`).toBe(
        what === 'refused' ? 400 : 200,
      );
      expect(response.headers.get('cache-control'), what).toBe('no-store');
    }
    // The same routes under the Cloudflare prefix.
    const cloudflare = await server.call(
      'GET',
      '/client/v4/accounts/acc/pubsub/namespaces/home/brokers/sensors/credentials',
    );
    expect(cloudflare.headers.get('cache-control')).toBe('no-store');

    for (const path of ['/v1/namespaces', broker, `${broker}/publickeys`, '/v1/admin-keys']) {
      expect((await server.call('GET', path)).headers.get('cache-control'), path).not.toBe('no-store');
    }
  });
});

describe('the root', () => {
  it('points curl to the docs with a small JSON, and sends browsers there', async () => {
    const curl = await server.call('GET', '/', { token: null, headers: { accept: '*/*' } });
    expect(curl.status).toBe(200);
    expect(curl.body).toMatchObject({
      success: true,
      result: { name: 'gatepass', docs: '/docs', openapi: '/openapi.json' },
    });

    const browser = await fetch(`${server.url}/`, {
      headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
      redirect: 'manual',
    });
    expect(browser.status).toBe(302);
    expect(browser.headers.get('location')).toBe('/docs');
    expect(browser.headers.get('vary')).toBe('Accept');
  });
});
