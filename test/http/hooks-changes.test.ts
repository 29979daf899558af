// Broker changes reach the webhooks on the very next call, through the real server on a frozen clock (so
// no re-read interval can elapse): deletion, issuer, keys, and the broker's current expiration and
// max_lifetime applied to tokens issued before they changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const T0 = Date.UTC(2025, 0, 1);
let now = T0;
let server: TestServer;

const brokerPath = (broker: string) => `/v1/namespaces/home/brokers/${broker}`;
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());

async function issue(broker: string, clientid: string, expiration?: number): Promise<string> {
  const issued = await server.call('POST', `${brokerPath(broker)}/credentials`, {
    json: { clientid: [clientid], topicAcl: { pub: ['plant/#'], sub: [] }, expiration },
  });
  expect(issued.status).toBe(200);
  return issued.body.result[clientid];
}

const emqx = (broker: string, clientid: string, password: string) =>
  server.call('POST', `${brokerPath(broker)}/hooks/emqx`, {
    token: null,
    json: { clientid, password },
  });
const goAuthUser = (broker: string, clientid: string, token: string) =>
  server.call('POST', `${brokerPath(broker)}/hooks/mosquitto/user`, {
    token: null,
    json: { username: token, password: 'x', clientid },
  });
const rabbitUser = (broker: string, clientid: string, token: string) =>
  server.call('POST', `${brokerPath(broker)}/hooks/rabbitmq/user`, {
    token: null,
    body: new URLSearchParams({ username: clientid, password: token, client_id: clientid }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
const patch = async (broker: string, changes: Record<string, unknown>) => {
  const updated = await server.call('PATCH', brokerPath(broker), { json: changes });
  expect(updated.status).toBe(200);
};
const lastRefusal = (suffix: string) =>
  server.logs.findLast((line) => String(line.path).endsWith(suffix))?.refusal;

beforeAll(async () => {
  server = await startTestServer({ clock: () => now, env: { GATEPASS_CRON_INTERVAL: '0' } });
});
afterAll(() => server.destroy());

describe('a broker change applies to the next webhook call', () => {
  it('deleting the broker refuses its tokens at once, as a deny (EMQX) or an unknown broker', async () => {
    await createBroker(server, 'home', 'doomed', { expiration: 3600 });
    const token = await issue('doomed', 'd1');
    expect((await emqx('doomed', 'd1', token)).body.result).toBe('allow');
    expect((await server.call('DELETE', brokerPath('doomed'))).status).toBe(200);
    expect(await emqx('doomed', 'd1', token)).toMatchObject({ status: 200, body: { result: 'deny' } });
    expect(lastRefusal('/hooks/emqx')).toBe('unknown_broker');
  });

  it('a new issuer refuses the tokens signed under the old one at once', async () => {
    await createBroker(server, 'home', 'renamed', { expiration: 3600 });
    const token = await issue('renamed', 'd1');
    expect((await emqx('renamed', 'd1', token)).body.result).toBe('allow');
    await patch('renamed', { issuer: 'https://new-issuer.example' });
    expect((await emqx('renamed', 'd1', token)).body).toEqual({ result: 'deny' });
    expect(lastRefusal('/hooks/emqx')).toBe('wrong_issuer');
    const fresh = await issue('renamed', 'd1');
    expect((await emqx('renamed', 'd1', fresh)).body.result).toBe('allow');
  });

  it('a rotated key signs tokens that pass at once, and the old key’s tokens still pass', async () => {
    await createBroker(server, 'home', 'rotating', { expiration: 86_400, key_rotation_period: 3600 });
    const before = await issue('rotating', 'd1');
    expect((await emqx('rotating', 'd1', before)).body.result).toBe('allow');
    now = T0 + 3601_000;
    try {
      expect((await server.call('POST', '/v1/maintenance/run')).body.result.keys_rotated).toBeGreaterThan(0);
      const after = await issue('rotating', 'd1');
      expect(after.split('.')[0]).not.toBe(before.split('.')[0]);
      expect((await emqx('rotating', 'd1', after)).body.result).toBe('allow');
      expect((await emqx('rotating', 'd1', before)).body.result).toBe('allow');
    } finally {
      now = T0;
    }
  });
});

describe("the broker's current expiration and max_lifetime", () => {
  it('refuse tokens without exp once the broker has an expiration, at every webhook', async () => {
    await createBroker(server, 'home', 'forever');
    const token = await issue('forever', 'd1');
    expect(claimsOf(token).exp).toBeUndefined();
    expect((await emqx('forever', 'd1', token)).body.result).toBe('allow');
    expect((await goAuthUser('forever', 'd1', token)).status).toBe(200);
    expect((await rabbitUser('forever', 'd1', token)).body).toBe('allow');

    await patch('forever', { expiration: 3600 });
    expect((await emqx('forever', 'd1', token)).body).toEqual({ result: 'deny' });
    expect(lastRefusal('/hooks/emqx')).toBe('missing_expiry');
    expect((await goAuthUser('forever', 'd1', token)).status).toBe(401);
    expect((await rabbitUser('forever', 'd1', token)).body).toBe('deny');
    expect(lastRefusal('/rabbitmq/user')).toBe('missing_expiry');

    const fresh = await issue('forever', 'd1');
    expect((await emqx('forever', 'd1', fresh)).body).toMatchObject({
      result: 'allow',
      expire_at: T0 / 1000 + 3600,
    });
  });

  it('end a token issued for longer at iat + the new expiration (EMQX is told that expire_at)', async () => {
    await createBroker(server, 'home', 'shortened', { expiration: 86_400 });
    const token = await issue('shortened', 'd1');
    expect((await emqx('shortened', 'd1', token)).body.expire_at).toBe(T0 / 1000 + 86_400);
    await patch('shortened', { expiration: 600 });
    expect((await emqx('shortened', 'd1', token)).body).toMatchObject({
      result: 'allow',
      expire_at: T0 / 1000 + 600,
    });
    now = T0 + 606_000;
    try {
      expect((await emqx('shortened', 'd1', token)).body).toEqual({ result: 'deny' });
      expect(lastRefusal('/hooks/emqx')).toBe('lifetime_exceeded');
    } finally {
      now = T0;
    }
  });

  it('count a new max_lifetime from the first issue of a refreshed chain', async () => {
    await createBroker(server, 'home', 'capped', { expiration: 3600 });
    const first = await issue('capped', 'd1');
    now = T0 + 1800_000;
    try {
      const refreshed = await server.call('POST', `${brokerPath('capped')}/credentials/refresh`, {
        token: null,
        json: { token: first },
      });
      expect(refreshed.status).toBe(200);
      const second = refreshed.body.result.d1 as string;
      expect(claimsOf(second).orig_iat).toBe(T0 / 1000);
      expect((await emqx('capped', 'd1', second)).body.result).toBe('allow');

      await patch('capped', { max_lifetime: 2400 });
      // Issued 30 minutes ago, refreshed now: the chain may live 10 more minutes.
      expect((await emqx('capped', 'd1', second)).body).toMatchObject({
        result: 'allow',
        expire_at: T0 / 1000 + 2400,
      });
      now = T0 + 2406_000;
      expect((await emqx('capped', 'd1', second)).body).toEqual({ result: 'deny' });
      expect(lastRefusal('/hooks/emqx')).toBe('lifetime_exceeded');
    } finally {
      now = T0;
    }
  });
});
