// The Hono middleware in a real Hono app, served on loopback by @hono/node-server, WebSocket included.
import type { AddressInfo } from 'node:net';
import { serve, upgradeWebSocket } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type GatepassEnv, type GatepassRefusal, gatepassAuth } from '../../../src/verifier/adapters/hono.js';
import {
  createStaticRevocations,
  createVerifier,
  type KeySource,
  type Verifier,
} from '../../../src/verifier/index.js';
import { AUDIENCE, ISSUER, jwks, makeKey, T0, type TestKey, token } from '../fixtures.js';

let key: TestKey;
let verifier: Verifier;
let valid: string;
let url: string;
let close: () => Promise<void>;
const refusals: GatepassRefusal[] = [];
const revocations = createStaticRevocations();

function buildApp() {
  const app = new Hono<GatepassEnv>();
  const onRefusal = (reason: GatepassRefusal) => refusals.push(reason);
  app.get('/me', gatepassAuth({ verifier, onRefusal }), (c) => {
    const session = c.get('gatepass');
    return c.json({ clientId: session.clientId, jti: session.jti, sub: session.claims.sub });
  });
  app.post(
    '/topics/:topic{.+}',
    gatepassAuth({ verifier, topic: (c) => c.req.param('topic'), action: 'publish', onRefusal }),
    (c) => c.json({ published: c.req.param('topic'), by: c.get('gatepass').clientId }),
  );
  app.get(
    '/subscriptions/:filter{.+}',
    gatepassAuth({ verifier, topic: (c) => c.req.param('filter'), action: 'subscribe', realm: 'plant' }),
    (c) => c.json({ filter: c.req.param('filter') }),
  );
  app.get(
    '/ws/:topic{.+}',
    gatepassAuth({
      verifier,
      topic: (c) => c.req.param('topic'),
      action: 'subscribe',
      queryToken: true,
      onRefusal,
    }),
    upgradeWebSocket((c) => {
      const { clientId } = (c as unknown as { get(name: 'gatepass'): { clientId: string } }).get('gatepass');
      return {
        onOpen(_event, ws) {
          ws.send(`hello ${clientId}`);
        },
      };
    }),
  );
  return app;
}

beforeAll(async () => {
  key = await makeKey('EdDSA');
  verifier = createVerifier({
    keys: jwks(key),
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['EdDSA'],
    revocations,
    now: () => T0,
  });
  valid = await token(key, { claims: { jti: 'jti-hono' } });
  const wss = new WebSocketServer({ noServer: true });
  const server = serve({
    fetch: buildApp().fetch,
    hostname: '127.0.0.1',
    port: 0,
    websocket: { server: wss },
  });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () =>
    new Promise((resolve) => {
      wss.close();
      server.close(() => resolve());
      if ('closeAllConnections' in server) server.closeAllConnections();
    });
});
afterAll(() => close());

const bearer = (value: string) => ({ authorization: `Bearer ${value}` });

async function call(path: string, init: RequestInit = {}) {
  const response = await fetch(`${url}${path}`, init);
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate'),
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe('gatepassAuth over HTTP', () => {
  it('puts the verified session in the context; the sub is the identity', async () => {
    const response = await call('/me', { headers: bearer(valid) });
    expect(response).toMatchObject({
      status: 200,
      body: { clientId: 'sensor-17', jti: 'jti-hono', sub: 'sensor-17' },
    });
  });

  it('challenges a request without a token, with no error code (RFC 6750 §3.1)', async () => {
    refusals.length = 0;
    for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }] as Record<string, string>[]) {
      const response = await call('/me', { headers });
      expect(response.status).toBe(401);
      expect(response.challenge).toBe('Bearer realm="gatepass"');
    }
    expect(refusals).toEqual(['missing_token', 'missing_token']);
  });

  it('answers 401 invalid_token for a refused token, generically, with the reason kept for logs', async () => {
    refusals.length = 0;
    const forged = await token(await makeKey('EdDSA', key.kid));
    const response = await call('/me', { headers: bearer(forged) });
    expect(response.status).toBe(401);
    expect(response.challenge).toBe(
      'Bearer realm="gatepass", error="invalid_token", error_description="the access token is not valid"',
    );
    expect(response.body).toEqual({
      error: 'invalid_token',
      error_description: 'the access token is not valid',
    });
    expect(refusals).toEqual(['bad_signature']);
  });

  it('refuses a revoked token', async () => {
    const revoked = await token(key, { claims: { jti: 'jti-hono-revoked' } });
    expect((await call('/me', { headers: bearer(revoked) })).status).toBe(200);
    revocations.add('jti-hono-revoked');
    expect((await call('/me', { headers: bearer(revoked) })).status).toBe(401);
  });

  it('answers 400 invalid_request for a malformed Authorization header', async () => {
    for (const authorization of ['Bearer', 'Bearer a b', 'Bearer {json}']) {
      const response = await call('/me', { headers: { authorization } });
      expect(response.status).toBe(400);
      expect(response.challenge).toContain('error="invalid_request"');
    }
  });

  it('authorizes the route topic: 200, 403 insufficient_scope, 400 for an invalid topic', async () => {
    const allowed = await call('/topics/plant/line-3/temp', { method: 'POST', headers: bearer(valid) });
    expect(allowed).toMatchObject({ status: 200, body: { published: 'plant/line-3/temp', by: 'sensor-17' } });

    const denied = await call('/topics/plant/line-4/temp', { method: 'POST', headers: bearer(valid) });
    expect(denied.status).toBe(403);
    expect(denied.challenge).toContain('error="insufficient_scope"');

    const invalid = await call(`/topics/plant/${encodeURIComponent('+')}/temp`, {
      method: 'POST',
      headers: bearer(valid),
    });
    expect(invalid.status).toBe(400);
    expect(invalid.challenge).toContain('error="invalid_request"');
  });

  it('decides subscriptions on the filter, with its own realm', async () => {
    expect((await call('/subscriptions/plant/commands/sensor-17', { headers: bearer(valid) })).status).toBe(
      200,
    );
    const wider = await call(`/subscriptions/plant/commands/${encodeURIComponent('#')}`, {
      headers: bearer(valid),
    });
    expect(wider.status).toBe(403);
    expect(wider.challenge).toMatch(/^Bearer realm="plant", error="insufficient_scope"/);
  });

  it('answers 503 when the keys are unavailable', async () => {
    const unavailable: KeySource = {
      getKey: async () => ({ ok: false, reason: 'keys_unavailable' }),
      isTrusted: () => false,
    };
    const app = new Hono<GatepassEnv>();
    const broken = createVerifier({
      keys: unavailable,
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithms: ['EdDSA'],
      revocations,
      now: () => T0,
    });
    app.get('/', gatepassAuth({ verifier: broken }), (c) => c.text('never'));
    const response = await app.request('/', { headers: bearer(valid) });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
  });

  it('throws on bad options at construction', () => {
    expect(() => gatepassAuth({ verifier: {} as Verifier })).toThrow(TypeError);
    expect(() => gatepassAuth({ verifier, topic: () => 'a' })).toThrow(/action/);
    expect(() => gatepassAuth({ verifier, action: 'delete' as never })).toThrow(TypeError);
    expect(() => gatepassAuth({ verifier, realm: 'a"b' })).toThrow(TypeError);
  });
});

describe('gatepassAuth on a WebSocket upgrade', () => {
  function open(path: string, headers: Record<string, string> = {}) {
    return new Promise<{ message?: string; status?: number }>((resolve) => {
      const ws = new WebSocket(`${url.replace('http', 'ws')}${path}`, { headers });
      ws.once('message', (data) => {
        resolve({ message: String(data) });
        ws.close();
      });
      ws.once('unexpected-response', (_request, response) => {
        resolve({ status: response.statusCode });
        response.resume();
      });
      ws.once('error', () => resolve({}));
    });
  }

  it('upgrades with the token in the header or, when enabled, the access_token parameter', async () => {
    expect(await open('/ws/plant/commands/sensor-17', bearer(valid))).toEqual({ message: 'hello sensor-17' });
    expect(await open(`/ws/plant/commands/sensor-17?access_token=${valid}`)).toEqual({
      message: 'hello sensor-17',
    });
  });

  it('refuses the upgrade without a token, with a refused token, or outside the ACL', async () => {
    refusals.length = 0;
    expect(await open('/ws/plant/commands/sensor-17')).toEqual({ status: 401 });
    expect(await open('/ws/plant/commands/sensor-17?access_token=nope')).toEqual({ status: 401 });
    expect(await open('/ws/plant/commands/sensor-18', bearer(valid))).toEqual({ status: 403 });
    expect(await open(`/ws/plant/commands/sensor-17?access_token=${valid}`, bearer(valid))).toEqual({
      status: 400,
    });
    expect(refusals).toEqual(['missing_token', 'malformed', 'not_permitted', 'token_sent_twice']);
  });
});
