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

describe('revocation feed', () => {
  it('returns revokes and un-revokes after a cursor, oldest first, in pages', async () => {
    await createBroker(server, 'home', 'feed');
    const feedPath = '/v1/namespaces/home/brokers/feed/revocations';
    const start = await server.call('GET', `${feedPath}?since=0`);
    expect(start.body.result).toEqual({ changes: [], cursor: '0', more: false });

    await server.call('POST', `${feedPath}?jti=f1,f2`);
    await server.call('DELETE', `${feedPath}?jti=f1`);
    await server.call('POST', `${feedPath}?jti=f3`);

    const first = await server.call('GET', `${feedPath}?since=0&limit=2`);
    expect(first.body.result.changes).toEqual([
      { jti: 'f1', revoked: true, exp: null },
      { jti: 'f2', revoked: true, exp: null },
    ]);
    expect(first.body.result.more).toBe(true);
    const rest = await server.call('GET', `${feedPath}?since=${first.body.result.cursor}`);
    expect(rest.body.result.changes).toEqual([
      { jti: 'f1', revoked: false, exp: null },
      { jti: 'f3', revoked: true, exp: null },
    ]);
    expect(rest.body.result.more).toBe(false);
    const none = await server.call('GET', `${feedPath}?since=${rest.body.result.cursor}`);
    expect(none.body.result).toEqual({ changes: [], cursor: rest.body.result.cursor, more: false });
  });

  it('keeps brokers apart: one broker’s feed never shows another’s revocations', async () => {
    await createBroker(server, 'home', 'other');
    await server.call('POST', '/v1/namespaces/home/brokers/other/revocations?jti=elsewhere');
    const feed = await server.call('GET', '/v1/namespaces/home/brokers/feed/revocations?since=0&limit=1000');
    expect(feed.body.result.changes.map((change: { jti: string }) => change.jti)).not.toContain('elsewhere');
  });
});
