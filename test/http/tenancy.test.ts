// Tenancy through the API: admin keys scoped to one namespace, read-only keys, and the keys themselves.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  type ApiResponse,
  createBroker,
  startTestServer,
  type TestServer,
} from '../support/server.js';

let server: TestServer;
/** Read-write, scoped to alpha. */
let alphaKey: string;
/** Read-only, scoped to beta. */
let betaKey: string;
let betaJti: string;

async function createKey(fields: Record<string, unknown>, token = ADMIN_TOKEN) {
  const response = await server.call('POST', '/v1/admin-keys', { token, json: fields });
  expect(response.status).toBe(200);
  return response.body.result as { id: string; key: string; name: string };
}

async function listKeys(): Promise<Array<Record<string, unknown>>> {
  const response = await server.call('GET', '/v1/admin-keys?per_page=100');
  expect(response.status).toBe(200);
  return response.body.result;
}

/** Everything the bootstrap key sees of a namespace, to show that nothing changed. */
async function namespaceState(namespace: string) {
  const base = `/v1/namespaces/${namespace}`;
  const get = async (path: string) => (await server.call('GET', path)).body;
  return {
    namespace: await get(base),
    brokers: await get(`${base}/brokers`),
    broker: await get(`${base}/brokers/two`),
    revocations: await get(`${base}/brokers/two/revocations`),
    feed: await get(`${base}/brokers/two/revocations?since=0`),
  };
}

beforeAll(async () => {
  server = await startTestServer();
  await createBroker(server, 'alpha', 'one');
  await createBroker(server, 'beta', 'two', { description: 'beta broker' });
  const issued = await server.call('POST', '/v1/namespaces/beta/brokers/two/credentials', {
    json: { clientid: ['beta-device'] },
  });
  expect(issued.status).toBe(200);
  const token = issued.body.result['beta-device'] as string;
  betaJti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti;
  expect(
    (await server.call('POST', `/v1/namespaces/beta/brokers/two/revocations?jti=${betaJti}`)).status,
  ).toBe(200);
  alphaKey = (await createKey({ name: 'alpha-rw', namespace: 'alpha', permission: 'write' })).key;
  betaKey = (await createKey({ name: 'beta-ro', namespace: 'beta', permission: 'read' })).key;
});
afterAll(() => server.destroy());

/** Calls on another tenant's namespace, each with a body that would be valid there. */
const tenantCalls = (namespace: string): Array<[string, string, unknown?]> => {
  const ns = `/v1/namespaces/${namespace}`;
  const broker = `${ns}/brokers/two`;
  return [
    ['GET', ns],
    ['PATCH', ns, { description: 'taken over' }],
    ['DELETE', ns],
    ['GET', `${ns}/brokers`],
    ['POST', `${ns}/brokers`, { name: 'intruder' }],
    ['GET', broker],
    ['PATCH', broker, { description: 'taken over' }],
    ['DELETE', broker],
    ['GET', `${broker}/credentials?clientid=intruder`],
    ['POST', `${broker}/credentials`, { clientid: ['intruder'] }],
    ['GET', `${broker}/revocations`],
    ['GET', `${broker}/revocations?since=0`],
    ['POST', `${broker}/revocations?jti=some-jti`],
    ['DELETE', `${broker}/revocations?jti=some-jti`],
    ['GET', `${ns}/brokers/missing`],
    ['DELETE', `${ns}/brokers/missing`],
  ];
};

/** The response with the namespace's name blanked, so answers about two namespaces can be compared. */
function normalised(response: ApiResponse, namespace: string) {
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: JSON.parse(JSON.stringify(response.body).replaceAll(namespace, '<namespace>')),
  };
}

describe('a key scoped to one namespace', () => {
  it("gets 404 on everything in another tenant's namespace, exactly as for a missing one", async () => {
    const before = await namespaceState('beta');
    for (const [method, path, json] of tenantCalls('beta')) {
      const options = { token: alphaKey, ...(json === undefined ? {} : { json }) };
      const other = await server.call(method, path, options);
      const missing = await server.call(method, path.replace('/beta', '/gamma'), options);
      expect(missing.status, `${method} ${path} on a missing namespace`).toBe(404);
      expect(normalised(other, 'beta'), `${method} ${path}`).toEqual(normalised(missing, 'gamma'));
      expect(JSON.stringify(other.body)).not.toContain('beta');
    }
    expect(await namespaceState('beta')).toEqual(before);
  });

  it('lists only its own namespace', async () => {
    const listed = await server.call('GET', '/v1/namespaces', { token: alphaKey });
    expect(listed.status).toBe(200);
    expect(listed.body.result.map((namespace: { name: string }) => namespace.name)).toEqual(['alpha']);
    expect(listed.body.result_info).toMatchObject({ count: 1, total_count: 1 });
    const secondPage = await server.call('GET', '/v1/namespaces?page=2&per_page=1', { token: alphaKey });
    expect(secondPage.body.result).toEqual([]);
    expect(secondPage.body.result_info.total_count).toBe(1);

    const everything = await server.call('GET', '/v1/namespaces');
    expect(everything.body.result.map((namespace: { name: string }) => namespace.name)).toEqual([
      'alpha',
      'beta',
    ]);
  });

  it('works in its own namespace', async () => {
    const ns = '/v1/namespaces/alpha';
    expect((await server.call('GET', ns, { token: alphaKey })).status).toBe(200);
    expect((await server.call('PATCH', ns, { token: alphaKey, json: { description: 'mine' } })).status).toBe(
      200,
    );
    expect(
      (await server.call('POST', `${ns}/brokers`, { token: alphaKey, json: { name: 'extra' } })).status,
    ).toBe(200);
    const issued = await server.call('POST', `${ns}/brokers/one/credentials`, {
      token: alphaKey,
      json: { clientid: ['alpha-device'], detail: true },
    });
    expect(issued.status).toBe(200);
    expect(issued.body.result.map((credential: { client_id: string }) => credential.client_id)).toEqual([
      'alpha-device',
    ]);
    const jti = issued.body.result[0].jti;
    expect(
      (await server.call('POST', `${ns}/brokers/one/revocations?jti=${jti}`, { token: alphaKey })).status,
    ).toBe(200);
    expect(
      (await server.call('DELETE', `${ns}/brokers/one/revocations?jti=${jti}`, { token: alphaKey })).status,
    ).toBe(200);
    expect((await server.call('DELETE', `${ns}/brokers/extra`, { token: alphaKey })).status).toBe(200);
  });

  it('cannot delete even its own namespace: that takes a key for all namespaces', async () => {
    const response = await server.call('DELETE', '/v1/namespaces/alpha', { token: alphaKey });
    expect(response.status).toBe(403);
    expect(response.body.errors[0].error).toBe('forbidden');
    expect((await server.call('GET', '/v1/namespaces/alpha')).status).toBe(200);
  });

  it('cannot create namespaces, even one whose name is taken (403 before 409)', async () => {
    for (const token of [alphaKey, betaKey]) {
      for (const name of ['fresh', 'beta', 'alpha']) {
        const response = await server.call('POST', '/v1/namespaces', { token, json: { name } });
        expect(response.status, `${name}`).toBe(403);
        expect(response.body.errors[0]).toMatchObject({ code: 10403, error: 'forbidden' });
      }
    }
    const listed = await server.call('GET', '/v1/namespaces');
    expect(listed.body.result.map((namespace: { name: string }) => namespace.name)).toEqual([
      'alpha',
      'beta',
    ]);
  });

  it('cannot list, create or delete admin keys', async () => {
    const keysBefore = await listKeys();
    const ids = keysBefore.map((key) => key.id as string);
    for (const token of [alphaKey, betaKey]) {
      const calls: Array<[string, string, unknown?]> = [
        ['GET', '/v1/admin-keys'],
        ['POST', '/v1/admin-keys', { name: 'escalate' }],
        ['POST', '/v1/admin-keys', { name: 'escalate', namespace: 'alpha', permission: 'write' }],
        ['POST', '/v1/admin-keys', { name: 'escalate', namespace: 'beta', permission: 'write' }],
        ...ids.map((id): [string, string] => ['DELETE', `/v1/admin-keys/${id}`]),
        ['DELETE', '/v1/admin-keys/01J00000000000000000000000'],
      ];
      for (const [method, path, json] of calls) {
        const response = await server.call(method, path, { token, ...(json === undefined ? {} : { json }) });
        expect(response.status, `${method} ${path} ${JSON.stringify(json)}`).toBe(403);
      }
    }
    expect(await listKeys()).toEqual(keysBefore);
  });
});

describe('a read-only key', () => {
  it('lists and describes its namespace', async () => {
    const ns = '/v1/namespaces/beta';
    const reads = [
      '/v1/namespaces',
      ns,
      `${ns}/brokers`,
      `${ns}/brokers/two`,
      `${ns}/brokers/two/revocations`,
      `${ns}/brokers/two/revocations?since=0`,
    ];
    for (const path of reads) {
      const response = await server.call('GET', path, { token: betaKey });
      expect(response.status, path).toBe(200);
      expect(response.body.success).toBe(true);
    }
    const listed = await server.call('GET', '/v1/namespaces', { token: betaKey });
    expect(listed.body.result.map((namespace: { name: string }) => namespace.name)).toEqual(['beta']);
    const revoked = await server.call('GET', `${ns}/brokers/two/revocations`, { token: betaKey });
    expect(revoked.body.result.map((entry: { jti: string }) => entry.jti)).toEqual([betaJti]);
  });

  it('gets 403 on issuing, revoking, creating, updating and deleting', async () => {
    const before = await namespaceState('beta');
    const calls = tenantCalls('beta').filter(
      ([method, path]) => method !== 'GET' || path.includes('credentials'),
    );
    expect(calls.length).toBeGreaterThanOrEqual(9);
    for (const [method, path, json] of calls) {
      const response = await server.call(method, path, {
        token: betaKey,
        ...(json === undefined ? {} : { json }),
      });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body).toMatchObject({ success: false, result: null });
      expect(response.body.errors[0]).toMatchObject({ code: 10403, error: 'forbidden' });
    }
    expect(await namespaceState('beta')).toEqual(before);
  });

  it("gets 404, not 403, in another tenant's namespace, so it cannot probe for names", async () => {
    for (const [method, path, json] of tenantCalls('alpha')) {
      const options = { token: betaKey, ...(json === undefined ? {} : { json }) };
      const other = await server.call(method, path.replace('/brokers/two', '/brokers/one'), options);
      const missing = await server.call(method, path.replace('/alpha', '/gamma'), options);
      expect(normalised(other, 'alpha'), `${method} ${path}`).toEqual(normalised(missing, 'gamma'));
      expect(other.status).toBe(404);
    }
  });
});

describe('public keys', () => {
  it('need no admin key, and ignore a bad one', async () => {
    for (const path of ['/v1/namespaces/alpha/brokers/one', '/v1/namespaces/beta/brokers/two']) {
      for (const token of [null, 'gpk_not-a-key-0123456789abcdef0123', betaKey]) {
        const response = await server.call('GET', `${path}/publickeys`, { token });
        expect(response.status, `${path} ${token}`).toBe(200);
        expect(response.body.result.keys.length).toBeGreaterThan(0);
        for (const key of response.body.result.keys) expect(key).not.toHaveProperty('d');
      }
    }
  });
});

describe('admin keys', () => {
  it('refuses to delete the last read-write key for all namespaces', async () => {
    // A read-only key for all namespaces and a read-write key for one do not count.
    const reader = await createKey({ name: 'global-reader', permission: 'read' });
    const bootstrap = (await listKeys()).find((key) => key.name === 'bootstrap')!;
    const refused = await server.call('DELETE', `/v1/admin-keys/${bootstrap.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.errors[0]).toMatchObject({ code: 10409, error: 'conflict' });
    expect((await server.call('GET', '/v1/namespaces')).status).toBe(200);

    // With a second one, either may go; then the survivor is the last again.
    const second = await createKey({ name: 'second-writer', permission: 'write' });
    expect((await server.call('DELETE', `/v1/admin-keys/${second.id}`)).status).toBe(200);
    expect((await server.call('DELETE', `/v1/admin-keys/${bootstrap.id}`)).status).toBe(409);
    expect((await server.call('DELETE', `/v1/admin-keys/${reader.id}`)).status).toBe(200);
  });

  it('stops accepting a key once it is deleted', async () => {
    const scoped = await createKey({ name: 'short-lived', namespace: 'alpha', permission: 'write' });
    const global = await createKey({ name: 'short-lived-global', permission: 'write' });
    for (const key of [scoped, global]) {
      expect((await server.call('GET', '/v1/namespaces', { token: key.key })).status).toBe(200);
      expect((await server.call('DELETE', `/v1/admin-keys/${key.id}`)).status).toBe(200);
      const rejected = await server.call('GET', '/v1/namespaces', { token: key.key });
      expect(rejected.status).toBe(401);
      expect(rejected.headers.get('www-authenticate')).toBe('Bearer realm="gatepass"');
      expect(rejected.body.errors[0]).toMatchObject({ code: 10401, error: 'unauthorized' });
      expect((await server.call('DELETE', `/v1/admin-keys/${key.id}`)).status).toBe(404);
    }
  });

  it('goes with its namespace: deleting a namespace deletes the keys scoped to it', async () => {
    await createBroker(server, 'doomed', 'gone');
    const doomed = await createKey({ name: 'doomed-rw', namespace: 'doomed', permission: 'write' });
    expect((await server.call('GET', '/v1/namespaces/doomed', { token: doomed.key })).status).toBe(200);
    // Not while it has a broker, unless forced.
    expect((await server.call('DELETE', '/v1/namespaces/doomed')).status).toBe(409);
    expect((await server.call('GET', '/v1/namespaces/doomed', { token: doomed.key })).status).toBe(200);
    expect((await server.call('DELETE', '/v1/namespaces/doomed?force=true')).status).toBe(200);
    expect((await server.call('GET', '/v1/namespaces', { token: doomed.key })).status).toBe(401);
    expect((await listKeys()).map((key) => key.id)).not.toContain(doomed.id);
    // A namespace created again under the same name is a new tenant: the old key does not come back.
    expect((await server.call('POST', '/v1/namespaces', { json: { name: 'doomed' } })).status).toBe(200);
    expect((await server.call('GET', '/v1/namespaces/doomed', { token: doomed.key })).status).toBe(401);
  });

  it('never lists a secret or its hash', async () => {
    const created = [
      await createKey({ name: 'listed-global', permission: 'write' }),
      await createKey({ name: 'listed-scoped', namespace: 'beta', permission: 'read' }),
    ];
    const secrets = [ADMIN_TOKEN, alphaKey, betaKey, ...created.map((key) => key.key)];
    for (const secret of secrets) expect(secret.length).toBeGreaterThanOrEqual(24);
    const digests = secrets.flatMap((secret) => {
      const digest = createHash('sha256').update(secret).digest();
      return [digest.toString('hex'), digest.toString('base64'), digest.toString('base64url')];
    });
    const forbidden = [...secrets, ...digests];

    const listed = await listKeys();
    expect(listed.length).toBeGreaterThanOrEqual(5);
    const values: string[] = [];
    const collect = (value: unknown): void => {
      if (typeof value === 'string') values.push(value);
      else if (Array.isArray(value)) value.forEach(collect);
      else if (typeof value === 'object' && value !== null) {
        for (const [key, item] of Object.entries(value)) {
          values.push(key);
          collect(item);
        }
      }
    };
    collect(listed);
    for (const value of values) {
      for (const secret of forbidden) {
        expect(value.toLowerCase(), 'a listed value').not.toContain(secret.toLowerCase());
      }
    }
    for (const key of listed) {
      expect(Object.keys(key).sort()).toEqual(
        ['created_by', 'created_on', 'hint', 'id', 'name', 'namespace', 'permission'].sort(),
      );
      expect((key.hint as string).length).toBeLessThanOrEqual(4);
    }
    // The secret is shown once, at creation, and is not one a later listing can be matched with.
    expect(created[0]!.key).toMatch(/^gpk_/);
    expect(listed.find((key) => key.id === created[1]!.id)).toMatchObject({
      name: 'listed-scoped',
      namespace: 'beta',
      permission: 'read',
    });
  });

  it('keeps one read-write key for all namespaces when two delete each other at once', async () => {
    // Last: the bootstrap key may be the one that goes.
    const other = await createKey({ name: 'rival', permission: 'write' });
    const bootstrap = (await listKeys()).find((key) => key.name === 'bootstrap')!;
    const globalWriters = async (token: string) => {
      const response = await server.call('GET', '/v1/admin-keys?per_page=100', { token });
      return response.body.result.filter(
        (key: { namespace: string | null; permission: string }) =>
          key.namespace === null && key.permission === 'write',
      );
    };
    // Leave only these two global read-write keys.
    for (const key of await globalWriters(ADMIN_TOKEN)) {
      if (key.id !== other.id && key.id !== bootstrap.id) {
        expect((await server.call('DELETE', `/v1/admin-keys/${key.id}`)).status).toBe(200);
      }
    }
    const [first, second] = await Promise.all([
      server.call('DELETE', `/v1/admin-keys/${other.id}`, { token: ADMIN_TOKEN }),
      server.call('DELETE', `/v1/admin-keys/${bootstrap.id}`, { token: other.key }),
    ]);
    const statuses = [first.status, second.status].sort();
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect([401, 409]).toContain(statuses[1]);
    const survivor = first.status === 200 ? ADMIN_TOKEN : other.key;
    expect(await globalWriters(survivor)).toHaveLength(1);
  });
});
