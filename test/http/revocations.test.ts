import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const path = '/v1/namespaces/home/brokers/sensors/revocations';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await createBroker(server, 'home', 'sensors', { expiration: 600 });
});
afterAll(() => server.destroy());

async function listed(): Promise<Array<{ jti: string; revoked_on: string; expires_on: string | null }>> {
  const response = await server.call('GET', `${path}?per_page=100`);
  expect(response.status).toBe(200);
  return response.body.result;
}

async function issuedJtis(count: number): Promise<Array<{ jti: string; exp: number }>> {
  const response = await server.call(
    'GET',
    `/v1/namespaces/home/brokers/sensors/credentials?number=${count}`,
  );
  return Object.values(response.body.result as Record<string, string>).map((token) => {
    const { jti, exp } = decodeJwt(token);
    return { jti: jti!, exp: exp! };
  });
}

describe('revocations', () => {
  it('revokes, lists with the token expiry kept, and un-revokes', async () => {
    const [a, b] = await issuedJtis(2);
    const revoked = await server.call('POST', `${path}?jti=${a!.jti}&jti=${b!.jti}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.result).toEqual([a!.jti, b!.jti]);

    const entries = await listed();
    expect(entries.map((entry) => entry.jti).sort()).toEqual([a!.jti, b!.jti].sort());
    expect(entries.find((entry) => entry.jti === a!.jti)!.expires_on).toBe(
      new Date(a!.exp * 1000).toISOString(),
    );

    const unrevoked = await server.call('DELETE', `${path}?jti=${a!.jti}`);
    expect(unrevoked.status).toBe(200);
    expect((await listed()).map((entry) => entry.jti)).toEqual([b!.jti]);
    await server.call('DELETE', `${path}?jti=${b!.jti}`);
  });

  it('accepts comma-separated jtis and a JSON body', async () => {
    await server.call('POST', `${path}?jti=c1,c2`);
    await server.call('POST', path, { json: { jti: ['c3'] } });
    expect((await listed()).map((entry) => entry.jti).sort()).toEqual(['c1', 'c2', 'c3']);
    await server.call('DELETE', `${path}?jti=c1,c2,c3`);
    expect(await listed()).toEqual([]);
  });

  it('is idempotent and accepts unknown jtis, which have no expiry to keep', async () => {
    const first = await server.call('POST', `${path}?jti=never-seen`);
    const firstEntry = (await listed())[0];
    const again = await server.call('POST', `${path}?jti=never-seen&jti=never-seen`);
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(await listed()).toEqual([firstEntry]);
    expect(firstEntry!.expires_on).toBeNull();
    const unrevokeTwice = [
      await server.call('DELETE', `${path}?jti=never-seen`),
      await server.call('DELETE', `${path}?jti=never-seen`),
    ];
    expect(unrevokeTwice.map((response) => response.status)).toEqual([200, 200]);
    expect(await listed()).toEqual([]);
  });

  it('takes up to 100 jtis a call and pages the list', async () => {
    const jtis = Array.from({ length: 100 }, (_, i) => `bulk-${String(i).padStart(3, '0')}`);
    const response = await server.call('POST', path, { json: { jti: jtis } });
    expect(response.status).toBe(200);
    const page1 = await server.call('GET', `${path}?per_page=40&page=1`);
    const page3 = await server.call('GET', `${path}?per_page=40&page=3`);
    expect(page1.body.result).toHaveLength(40);
    expect(page3.body.result).toHaveLength(20);
    expect(page3.body.result_info).toEqual({ page: 3, per_page: 40, count: 20, total_count: 100 });
    const tooMany = await server.call('POST', `${path}?jti=x`, { json: { jti: jtis } });
    expect(tooMany.status).toBe(400);
    await server.call('DELETE', `${path}?jti=${jtis.join(',')}`);
    expect(await listed()).toEqual([]);
  });
});
