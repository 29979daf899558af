import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createRemoteKeySource,
  createStaticRevocations,
  createVerifier,
  type VerifierOptions,
} from '../../src/verifier/index.js';
import { AUDIENCE, ISSUER, makeKey, T0, type TestKey, token } from './fixtures.js';

const PATH = '/v1/namespaces/acme/brokers/plant-1/publickeys';

/** What the loopback server answers; tests change it between requests. */
const served = {
  keys: [] as JWK[],
  status: 200,
  body: undefined as unknown,
  envelope: true,
  hang: false,
  requests: 0,
};

let server: Server;
let url: string;
let k1: TestKey;
let k2: TestKey;

beforeAll(async () => {
  [k1, k2] = await Promise.all([makeKey('EdDSA'), makeKey('ES256')]);
  server = createServer((request, response) => {
    served.requests++;
    if (request.url !== PATH) {
      response.writeHead(404).end();
      return;
    }
    if (served.hang) return;
    const body =
      served.body ??
      (served.envelope
        ? { success: true, errors: [], messages: [], result: { keys: served.keys } }
        : { keys: served.keys });
    response.writeHead(served.status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PATH}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  Object.assign(served, { keys: [k1.publicJwk], status: 200, body: undefined, envelope: true, hang: false });
  served.requests = 0;
});

function remoteVerifier(overrides: Partial<VerifierOptions> = {}) {
  const clock = { now: T0 };
  const verifier = createVerifier({
    keys: url,
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['EdDSA', 'ES256'],
    revocations: createStaticRevocations(),
    now: () => clock.now,
    keyRefetchFloorMs: 30_000,
    keyMaxAgeMs: 600_000,
    ...overrides,
  });
  const connect = async (key: TestKey) =>
    verifier.verifyConnect({ clientId: 'sensor-17', password: await token(key) });
  return { verifier, clock, connect };
}

describe('remote key set over HTTP', () => {
  it('fetches the Cloudflare-envelope key set once, on first use', async () => {
    const { connect } = remoteVerifier({ cache: false });
    expect(served.requests).toBe(0);
    expect(await connect(k1)).toMatchObject({ ok: true });
    expect(await connect(k1)).toMatchObject({ ok: true });
    expect(served.requests).toBe(1);
  });

  it('reads a plain JWKS too', async () => {
    served.envelope = false;
    const { connect } = remoteVerifier();
    expect(await connect(k1)).toMatchObject({ ok: true });
  });

  it('shares one fetch between concurrent first connections', async () => {
    const { connect } = remoteVerifier({ cache: false });
    const results = await Promise.all(Array.from({ length: 20 }, () => connect(k1)));
    expect(results.every((result) => result.ok)).toBe(true);
    expect(served.requests).toBe(1);
  });

  it('refetches on an unknown kid, at most once per floor', async () => {
    const { connect, clock } = remoteVerifier();
    expect(await connect(k1)).toMatchObject({ ok: true });
    served.keys = [k1.publicJwk, k2.publicJwk];

    clock.now = T0 + 29_999;
    expect(await connect(k2)).toEqual({ ok: false, reason: 'unknown_key' });
    expect(served.requests).toBe(1);

    clock.now = T0 + 30_000;
    expect(await connect(k2)).toMatchObject({ ok: true });
    expect(served.requests).toBe(2);
  });

  it('turns a flood of made-up kids into one request per floor', async () => {
    const { verifier, connect, clock } = remoteVerifier();
    await connect(k1);
    const stranger = await makeKey('EdDSA');
    clock.now = T0 + 60_000;
    const results = await Promise.all(
      Array.from({ length: 50 }, async () =>
        verifier.verifyConnect({ clientId: 'sensor-17', password: await token(stranger) }),
      ),
    );
    expect(results.every((result) => !result.ok && result.reason === 'unknown_key')).toBe(true);
    expect(served.requests).toBe(2);
  });

  it('refuses with keys_unavailable until a fetch succeeds, retrying after the floor', async () => {
    served.status = 500;
    const { connect, clock } = remoteVerifier();
    expect(await connect(k1)).toEqual({ ok: false, reason: 'keys_unavailable' });
    served.status = 200;
    clock.now = T0 + 10_000;
    expect(await connect(k1)).toEqual({ ok: false, reason: 'keys_unavailable' });
    expect(served.requests).toBe(1);
    clock.now = T0 + 30_000;
    expect(await connect(k1)).toMatchObject({ ok: true });
    expect(served.requests).toBe(2);
  });

  it('treats an unsuccessful envelope or a body without keys as a failed fetch', async () => {
    served.body = { success: false, errors: [{ code: 10000, message: 'nope' }], messages: [], result: null };
    expect(await remoteVerifier().connect(k1)).toEqual({ ok: false, reason: 'keys_unavailable' });
    served.body = { success: true, errors: [], messages: [], result: { nothing: [] } };
    expect(await remoteVerifier().connect(k1)).toEqual({ ok: false, reason: 'keys_unavailable' });
    served.body = 'not a key set';
    expect(await remoteVerifier().connect(k1)).toEqual({ ok: false, reason: 'keys_unavailable' });
  });

  it('abandons a fetch that hangs', async () => {
    served.hang = true;
    const { connect } = remoteVerifier({ keyFetchTimeoutMs: 100 });
    expect(await connect(k1)).toEqual({ ok: false, reason: 'keys_unavailable' });
  });

  it('keeps the previous keys when a refetch fails', async () => {
    const { connect, clock } = remoteVerifier({ cache: false });
    expect(await connect(k1)).toMatchObject({ ok: true });
    served.status = 503;
    clock.now = T0 + 600_000;
    expect(await connect(k1)).toMatchObject({ ok: true });
    expect(served.requests).toBe(2);
  });

  it('ends cached sessions of a key withdrawn from the set, once the keys are stale', async () => {
    const { verifier, clock } = remoteVerifier();
    const password = await token(k1);
    const reconnect = () => verifier.verifyConnect({ clientId: 'sensor-17', password });
    expect(await reconnect()).toMatchObject({ ok: true });
    served.keys = [k2.publicJwk];
    clock.now = T0 + 599_999;
    expect(await reconnect()).toMatchObject({ ok: true });
    expect(served.requests).toBe(1);
    clock.now = T0 + 600_000;
    expect(await reconnect()).toEqual({ ok: false, reason: 'unknown_key' });
    expect(served.requests).toBe(2);
  });

  it('keeps serving cache hits while gatepass is down', async () => {
    const { verifier, clock } = remoteVerifier();
    const password = await token(k1);
    const reconnect = () => verifier.verifyConnect({ clientId: 'sensor-17', password });
    expect(await reconnect()).toMatchObject({ ok: true });
    served.status = 503;
    clock.now = T0 + 600_000;
    // Stale keys send the token through a refetch, which fails; the previous keys still verify it.
    expect(await reconnect()).toMatchObject({ ok: true });
    expect(served.requests).toBe(2);
    // Within the floor nothing is fetched again, and the cached session is served from the old keys.
    clock.now = T0 + 610_000;
    expect(await reconnect()).toMatchObject({ ok: true });
    expect(served.requests).toBe(2);
  });

  it('ignores keys for algorithms that are not pinned', async () => {
    served.keys = [k1.publicJwk, k2.publicJwk];
    const { connect } = remoteVerifier({ algorithms: ['EdDSA'] });
    expect(await connect(k1)).toMatchObject({ ok: true });
    expect(await connect(k2)).toEqual({ ok: false, reason: 'algorithm_not_allowed' });
  });
});

describe('createRemoteKeySource', () => {
  it('skips unusable and ambiguous keys', async () => {
    const duplicate = { ...k2.publicJwk, kid: 'dup' };
    served.keys = [
      k1.publicJwk,
      { ...k2.publicJwk, use: 'enc' },
      { ...k1.publicJwk, kid: 'wrong-curve', crv: 'P-256' },
      { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' },
      duplicate,
      { ...duplicate },
      { ...k1.publicJwk, kid: undefined },
    ];
    const keys = createRemoteKeySource(url, { algorithms: ['EdDSA', 'ES256'] });
    expect(await keys.getKey(k1.kid)).toMatchObject({ ok: true, key: { kid: k1.kid, algorithm: 'EdDSA' } });
    for (const kid of [k2.kid, 'wrong-curve', 'hmac', 'dup']) {
      expect(await keys.getKey(kid)).toEqual({ ok: false, reason: 'unknown_key' });
    }
    expect(served.requests).toBe(1);
  });

  it('infers the algorithm of a key published without alg', async () => {
    const { alg: _alg, ...withoutAlg } = k2.publicJwk;
    served.keys = [withoutAlg];
    const keys = createRemoteKeySource(url, { algorithms: ['ES256'] });
    expect(await keys.getKey(k2.kid)).toMatchObject({ ok: true, key: { algorithm: 'ES256' } });
  });

  it('uses the injected fetch', async () => {
    const requested: string[] = [];
    const keys = createRemoteKeySource('https://gatepass.test/keys', {
      algorithms: ['EdDSA'],
      fetch: async (input) => {
        requested.push(String(input));
        return Response.json({ keys: [k1.publicJwk] });
      },
    });
    expect(keys.isTrusted(k1.kid)).toBe(false);
    expect(await keys.getKey(k1.kid)).toMatchObject({ ok: true });
    expect(keys.isTrusted(k1.kid)).toBe(true);
    expect(requested).toEqual(['https://gatepass.test/keys']);
  });
});
