import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUlid } from '../../src/core/ids.js';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const base = '/v1/namespaces/home/brokers';
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  await createBroker(server, 'home', 'open');
  await createBroker(server, 'home', 'limited', { expiration: 3600, algorithm: 'ES256' });
});
afterAll(() => server.destroy());

async function jwksOf(broker: string) {
  const response = await server.call('GET', `${base}/${broker}/publickeys`, { token: null });
  expect(response.status).toBe(200);
  return createLocalJWKSet(response.body.result);
}

async function issue(broker: string, query: string) {
  const response = await server.call('GET', `${base}/${broker}/credentials?${query}`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.result as Record<string, string>;
}

describe('issuing credentials', () => {
  it('issues a batch of 100 tokens that verify against the served JWKS with the documented claims', async () => {
    const before = Math.floor(Date.now() / 1000);
    const credentials = await issue('open', 'number=100&type=TOKEN');
    const entries = Object.entries(credentials);
    expect(entries).toHaveLength(100);
    const jwks = await jwksOf('open');
    const jtis = new Set<string>();
    for (const [clientId, token] of entries) {
      expect(isUlid(clientId)).toBe(true);
      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer: 'gatepass',
        audience: 'open.home',
        algorithms: ['EdDSA'],
        typ: 'JWT',
      });
      expect(protectedHeader.kid).toBeTypeOf('string');
      expect(payload.sub).toBe(clientId);
      expect(isUlid(payload.jti!)).toBe(true);
      expect(payload.iat).toBeGreaterThanOrEqual(before);
      expect(payload.exp).toBeUndefined();
      expect(payload.topicAcl).toBe('#');
      jtis.add(payload.jti!);
    }
    expect(jtis.size).toBe(100);
  });

  it('uses exactly the given client ids, so a stable client can rotate its token', async () => {
    const first = await issue('open', 'clientid=device-1&clientid=device_2&number=1');
    const second = await issue('open', 'clientid=device-1');
    expect(Object.keys(first)).toEqual(['device-1', 'device_2']);
    const jwks = await jwksOf('open');
    const a = await jwtVerify(first['device-1']!, jwks);
    const b = await jwtVerify(second['device-1']!, jwks);
    expect(a.payload.sub).toBe('device-1');
    expect(b.payload.sub).toBe('device-1');
    expect(a.payload.jti).not.toBe(b.payload.jti);
  });

  it('builds the topic ACL from topicAcl, pub and sub query parameters', async () => {
    const jwks = await jwksOf('open');
    const both = await issue('open', 'topicAcl=rooms/%2B/temp&pub=rooms/1/cmd&sub=alerts/%23');
    const [token] = Object.values(both);
    const { payload } = await jwtVerify(token!, jwks);
    expect(payload.topicAcl).toEqual({
      pub: ['rooms/+/temp', 'rooms/1/cmd'],
      sub: ['rooms/+/temp', 'alerts/#'],
    });
    const all = await issue('open', 'topicAcl=%23');
    expect((await jwtVerify(Object.values(all)[0]!, jwks)).payload.topicAcl).toBe('#');
  });

  it('issues from a JSON body for backends', async () => {
    const response = await server.call('POST', `${base}/limited/credentials`, {
      json: { clientid: ['backend-a', 'backend-b'], topicAcl: { pub: ['a/b'], sub: [] }, expiration: 60 },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const jwks = await jwksOf('limited');
    const { payload, protectedHeader } = await jwtVerify(response.body.result['backend-a'], jwks, {
      algorithms: ['ES256'],
      audience: 'limited.home',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload.topicAcl).toEqual({ pub: ['a/b'], sub: [] });
    expect(payload.exp! - payload.iat!).toBe(60);
  });

  it('uses the broker default topic ACL when the request gives none', async () => {
    await createBroker(server, 'home', 'defaults', { default_topic_acl: { pub: [], sub: ['news/#'] } });
    const credentials = await issue('defaults', 'number=1');
    const { payload } = await jwtVerify(Object.values(credentials)[0]!, await jwksOf('defaults'));
    expect(payload.topicAcl).toEqual({ pub: [], sub: ['news/#'] });
  });
});

describe('query strings as clients send them', () => {
  /** The query exactly as written in a URL: fetch, as curl, sends `+` as it is and never the `#...` fragment. */
  async function issueRaw(prefix: string, query: string) {
    const response = await server.call('GET', `${prefix}/open/credentials?${query}`);
    const tokens = Object.values((response.body.result ?? {}) as Record<string, string>);
    const acls = await Promise.all(
      tokens.map(async (token) => (await jwtVerify(token, await jwksOf('open'))).payload.topicAcl),
    );
    return { status: response.status, body: response.body, acls };
  }

  it('issues an unencoded + and # as the URL delivers them, and warns in messages', async () => {
    const mangled = await issueRaw(base, 'pub=rooms/+/temp&sub=alerts/#');
    expect(mangled.status).toBe(200);
    // What arrived: '+' decoded as a space, '#...' never sent.
    expect(mangled.acls).toEqual([{ pub: ['rooms/ /temp'], sub: ['alerts/'] }]);
    expect(mangled.body.messages).toHaveLength(2);
    expect(mangled.body.messages[0]).toContain('"rooms/ /temp" has a space');
    expect(mangled.body.messages[1]).toContain('"alerts/" ends with an empty level');
    for (const message of mangled.body.messages) expect(message).toContain('--data-urlencode');

    const encoded = new URLSearchParams({ pub: 'rooms/+/temp', sub: 'alerts/#' }).toString();
    const clean = await issueRaw(base, encoded);
    expect(clean.acls).toEqual([{ pub: ['rooms/+/temp'], sub: ['alerts/#'] }]);
    expect(clean.body.messages).toEqual([]);
  });

  it('reads a double-quoted ACL, as Cloudflare’s examples write it, as the value inside the quotes', async () => {
    const quoted = await issueRaw(base, `number=2&type=TOKEN&${new URLSearchParams({ topicAcl: '"#"' })}`);
    expect(quoted.status, JSON.stringify(quoted.body)).toBe(200);
    expect(quoted.acls).toEqual(['#', '#']);
    const filters = await issueRaw(
      base,
      new URLSearchParams({ pub: '"rooms/+/temp"', sub: '"a b"' }).toString(),
    );
    expect(filters.acls).toEqual([{ pub: ['rooms/+/temp'], sub: ['a b'] }]);
  });

  it('refuses what an unencoded # leaves of a quoted or bare ACL, saying why', async () => {
    // `topicAcl="#"` unencoded arrives as `topicAcl="`; `topicAcl=#` as `topicAcl=`.
    for (const query of ['number=5&type=TOKEN&topicAcl="#"', 'topicAcl=#']) {
      const refused = await issueRaw(base, query);
      expect(refused.status, query).toBe(400);
      expect(refused.body.errors[0]).toMatchObject({ field: 'topicAcl.0', error: 'invalid_input' });
      expect(refused.body.errors[0].message).toContain("an unencoded '#'");
    }
  });

  it('serves Cloudflare’s documented /brokers/namespaces path as well as wrangler’s /pubsub/namespaces', async () => {
    for (const prefix of ['pubsub', 'brokers']) {
      const issued = await issueRaw(
        `/client/v4/accounts/0123abcd/${prefix}/namespaces/home/brokers`,
        `number=1&type=TOKEN&${new URLSearchParams({ topicAcl: '"#"' })}`,
      );
      expect(issued.status, prefix).toBe(200);
      expect(issued.acls).toEqual(['#']);
    }
  });
});

describe('expiration', () => {
  async function lifetime(broker: string, query: string) {
    const [token] = Object.values(await issue(broker, query));
    const { payload } = await jwtVerify(token!, await jwksOf(broker));
    return payload.exp === undefined ? null : payload.exp - payload.iat!;
  }

  it('applies the broker default, and the shorter of broker and request', async () => {
    expect(await lifetime('limited', 'number=1')).toBe(3600);
    expect(await lifetime('limited', 'expiration=120')).toBe(120);
    expect(await lifetime('limited', 'expiration=7200')).toBe(3600);
  });

  it('issues no exp without a broker expiration, unless the request asks for one', async () => {
    expect(await lifetime('open', 'number=1')).toBeNull();
    expect(await lifetime('open', 'expiration=-1')).toBeNull();
    expect(await lifetime('open', 'expiration=30')).toBe(30);
  });

  it('refuses -1 (no exp) when the broker sets an expiration', async () => {
    const response = await server.call('GET', `${base}/limited/credentials?expiration=-1`);
    expect(response.status).toBe(400);
    expect(response.body.errors[0]).toMatchObject({ error: 'invalid_input', field: 'expiration' });
  });

  it('follows a broker expiration changed later', async () => {
    await createBroker(server, 'home', 'changing');
    const update = await server.call('PATCH', `${base}/changing`, { json: { expiration: 90 } });
    expect(update.status).toBe(200);
    expect(await lifetime('changing', 'number=1')).toBe(90);
    await server.call('PATCH', `${base}/changing`, { json: { expiration: null } });
    expect(await lifetime('changing', 'number=1')).toBeNull();
  });
});

describe('keys and scoping', () => {
  it('signs with a kid that is the JWK thumbprint of a published key', async () => {
    const { calculateJwkThumbprint } = await import('jose');
    const keys = (await server.call('GET', `${base}/open/publickeys`, { token: null })).body.result.keys;
    // The current key, and the next one published ahead of the next rotation.
    expect(keys).toHaveLength(2);
    for (const key of keys) {
      expect(key.d).toBeUndefined();
      expect(await calculateJwkThumbprint(key)).toBe(key.kid);
    }
    const [token] = Object.values(await issue('open', 'number=1'));
    const header = decodeProtectedHeader(token!);
    expect(header).toEqual({ alg: 'EdDSA', kid: expect.any(String), typ: 'JWT' });
    expect(keys.map((key: { kid: string }) => key.kid)).toContain(header.kid);
  });

  it("does not accept one broker's token for another broker", async () => {
    const [token] = Object.values(await issue('open', 'number=1'));
    await expect(jwtVerify(token!, await jwksOf('limited'))).rejects.toThrow();
  });
});
