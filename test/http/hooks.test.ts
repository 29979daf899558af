// The broker webhooks through the real server: EMQX, RabbitMQ and mosquitto-go-auth wire formats, revocation
// at once, the per-address rate limit, and no 5xx whatever the input.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const ns = '/v1/namespaces/home';
const brokerPath = `${ns}/brokers/sensors`;
const hooks = `${brokerPath}/hooks`;
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let server: TestServer;
/** client id -> token, issued with pub plant/d1/# and sub commands/d1. */
let tokens: Record<string, string>;

const jtiOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti;
const expOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp;

async function issue(clientid: string[]) {
  const issued = await server.call('POST', `${brokerPath}/credentials`, {
    json: { clientid, topicAcl: { pub: ['plant/+/temp'], sub: ['commands/+'] } },
  });
  expect(issued.status).toBe(200);
  return issued.body.result as Record<string, string>;
}

beforeAll(async () => {
  server = await startTestServer();
  await createBroker(server, 'home', 'sensors', { expiration: 3600 });
  tokens = await issue(['d1', 'd2', 'd3']);
});
afterAll(() => server.destroy());

const emqx = (body: unknown) => server.call('POST', `${hooks}/emqx`, { token: null, json: body });

describe('EMQX', () => {
  it('allows a valid credential, with its ACL as EMQX rules and expire_at from exp', async () => {
    const response = await emqx({
      clientid: 'd1',
      username: 'd1',
      password: tokens.d1,
      peerhost: '10.1.2.3',
    });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      result: 'allow',
      is_superuser: false,
      expire_at: expOf(tokens.d1!),
      acl: [
        { permission: 'allow', action: 'publish', topic: 'plant/+/temp' },
        // EMQX would match a subscription to commands/# with commands/+ (docs/brokers/emqx.md).
        { permission: 'deny', action: 'subscribe', topic: 'eq commands/#' },
        { permission: 'allow', action: 'subscribe', topic: 'commands/+' },
        { permission: 'deny', action: 'all', topic: '#' },
        { permission: 'deny', action: 'all', topic: '$SYS/#' },
        { permission: 'deny', action: 'all', topic: '$delayed/#' },
      ],
      client_attrs: { gatepass_sub: 'd1', gatepass_jti: jtiOf(tokens.d1!) },
    });
  });

  it('works under the Cloudflare-compatible prefix too', async () => {
    const response = await server.call(
      'POST',
      '/client/v4/accounts/x/pubsub/namespaces/home/brokers/sensors/hooks/emqx',
      { token: null, json: { clientid: 'd1', password: tokens.d1 } },
    );
    expect(response.body.result).toBe('allow');
  });

  it('accepts the form body and the GET query EMQX sends when configured so', async () => {
    const fields = { clientid: 'd1', username: 'd1', password: tokens.d1!, peerhost: '10.1.2.3' };
    const viaForm = await server.call('POST', `${hooks}/emqx`, {
      token: null,
      body: form(fields),
      headers: FORM,
    });
    expect(viaForm).toMatchObject({
      status: 200,
      body: { result: 'allow', client_attrs: { gatepass_sub: 'd1' } },
    });
    const viaQuery = await server.call('GET', `${hooks}/emqx?${form(fields)}`, { token: null });
    expect(viaQuery).toMatchObject({ status: 200, body: { result: 'allow' } });
    const wrongClient = form({ ...fields, clientid: 'd2' });
    expect((await server.call('GET', `${hooks}/emqx?${wrongClient}`, { token: null })).body).toEqual({
      result: 'deny',
    });
  });

  it('denies a request without clientid, whatever the token (a body template missing it)', async () => {
    for (const body of [{ password: tokens.d1 }, { clientid: '', username: 'd1', password: tokens.d1 }]) {
      expect(await emqx(body)).toMatchObject({ status: 200, body: { result: 'deny' } });
      expect(server.logs.findLast((entry) => entry.path === `${hooks}/emqx`)?.refusal).toBe(
        'missing_client_id',
      );
    }
  });

  it('denies with status 200: wrong client id, tampered token, no password, malformed body', async () => {
    const [header, payload, signature] = tokens.d1!.split('.');
    const tampered = `${header}.${Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), topicAcl: '#' }),
    ).toString('base64url')}.${signature}`;
    for (const body of [
      { clientid: 'd2', password: tokens.d1 },
      { clientid: 'd1', password: tampered },
      { clientid: 'd1' },
      { clientid: 'd1', password: 42 },
      [],
      null,
    ]) {
      const response = await emqx(body);
      expect(response.status).toBe(200);
      expect(response.body).toEqual({ result: 'deny' });
    }
  });

  it('denies with status 200 for an unknown namespace or broker, and for a body that is not JSON', async () => {
    for (const path of [`${ns}/brokers/nope/hooks/emqx`, '/v1/namespaces/nope/brokers/sensors/hooks/emqx']) {
      const unknown = await server.call('POST', path, {
        token: null,
        json: { clientid: 'd1', password: tokens.d1 },
      });
      expect(unknown).toMatchObject({ status: 200, body: { result: 'deny' } });
      expect(server.logs.findLast((entry) => entry.path === path)?.refusal).toBe('unknown_broker');
    }
    const contentTypes: Record<string, string>[] = [
      { 'content-type': 'application/json' },
      { 'content-type': 'text/plain' },
      {},
    ];
    for (const headers of contentTypes) {
      const garbage = await server.call('POST', `${hooks}/emqx`, {
        token: null,
        body: '{"clientid":',
        headers,
      });
      expect(garbage).toMatchObject({ status: 200, body: { result: 'deny' } });
    }
  });

  it('denies a credential the moment it is revoked through the API', async () => {
    const [fresh] = Object.values(await issue(['d9']));
    expect((await emqx({ clientid: 'd9', password: fresh })).body.result).toBe('allow');
    expect((await server.call('POST', `${brokerPath}/revocations?jti=${jtiOf(fresh!)}`)).status).toBe(200);
    expect((await emqx({ clientid: 'd9', password: fresh })).body).toEqual({ result: 'deny' });
  });

  it('logs why it refused, never the token', async () => {
    await emqx({ clientid: 'd2', password: tokens.d1 });
    const line = server.logs.findLast((entry) => entry.path === `${hooks}/emqx`);
    expect(line).toMatchObject({ status: 200, refusal: 'client_id_mismatch', admin_key: null });
    expect(JSON.stringify(server.logs)).not.toContain(tokens.d1!.split('.')[2]);
  });
});

describe('RabbitMQ', () => {
  const rabbit = (check: string, fields: Record<string, string>) =>
    server.call('POST', `${hooks}/rabbitmq/${check}`, { token: null, body: form(fields), headers: FORM });
  const topic = (username: string, permission: string, routingKey: string) =>
    rabbit('topic', {
      username,
      vhost: '/',
      resource: 'topic',
      name: 'amq.topic',
      permission,
      routing_key: routingKey,
      'variable_map.client_id': username,
    });

  it('answers allow or deny as text, status 200, over POST forms and GET queries', async () => {
    const login = await rabbit('user', { username: 'd2', password: tokens.d2!, vhost: '/', client_id: 'd2' });
    expect(login).toMatchObject({ status: 200, body: 'allow' });
    expect(login.headers.get('content-type')).toMatch(/^text\/plain/);
    const query = form({ username: 'd2', password: tokens.d2!, client_id: 'd2' });
    expect((await server.call('GET', `${hooks}/rabbitmq/user?${query}`, { token: null })).body).toBe('allow');
    expect((await rabbit('user', { username: 'd2', password: tokens.d1!, client_id: 'd2' })).body).toBe(
      'deny',
    );

    expect((await rabbit('vhost', { username: 'd2', vhost: '/', ip: '127.0.0.1' })).body).toBe('allow');
    const resource = {
      username: 'd2',
      vhost: '/',
      resource: 'exchange',
      name: 'amq.topic',
      permission: 'write',
    };
    expect((await rabbit('resource', resource)).body).toBe('allow');
    expect((await rabbit('resource', { ...resource, name: 'amq.direct' })).body).toBe('deny');
    expect((await topic('d2', 'write', 'plant.x.temp')).body).toBe('allow');
    expect((await topic('d2', 'write', 'plant.x.humidity')).body).toBe('deny');
    expect((await topic('d2', 'read', 'commands.*')).body).toBe('allow');
    expect((await topic('d2', 'read', 'commands.#')).body).toBe('deny');
    const get = form({
      username: 'd2',
      resource: 'topic',
      name: 'amq.topic',
      permission: 'write',
      routing_key: 'plant.y.temp',
    });
    expect((await server.call('GET', `${hooks}/rabbitmq/topic?${get}`, { token: null })).body).toBe('allow');
  });

  it('denies malformed checks with status 200', async () => {
    for (const [check, query] of [
      ['user', 'username=d2&username=d3&password=x'],
      ['topic', `username=d2&routing_key=${'a'.repeat(9000)}`],
      ['vhost', ''],
    ] as const) {
      const response = await server.call('GET', `${hooks}/rabbitmq/${check}?${query}`, { token: null });
      expect(response).toMatchObject({ status: 200, body: 'deny' });
    }
  });

  it('stops a live login’s next topic check once its token is revoked', async () => {
    expect((await rabbit('user', { username: 'd3', password: tokens.d3!, client_id: 'd3' })).body).toBe(
      'allow',
    );
    expect((await topic('d3', 'write', 'plant.x.temp')).body).toBe('allow');
    await server.call('POST', `${brokerPath}/revocations?jti=${jtiOf(tokens.d3!)}`);
    expect((await topic('d3', 'write', 'plant.x.temp')).body).toBe('deny');
    expect(server.logs.findLast((entry) => String(entry.path).endsWith('/rabbitmq/topic'))).toMatchObject({
      refusal: 'session_revoked',
    });
  });
});

describe('mosquitto-go-auth (its HTTP backend)', () => {
  const goAuth = (
    check: string,
    fields: Record<string, string | number>,
    encoding: 'json' | 'form' = 'json',
  ) =>
    server.call('POST', `${hooks}/mosquitto/${check}`, {
      token: null,
      ...(encoding === 'json'
        ? { json: fields }
        : {
            body: form(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]))),
            headers: FORM,
          }),
    });

  it('answers the user check for the token in username, bound to clientid, in JSON or form', async () => {
    const fields = { username: tokens.d1!, password: 'x', clientid: 'd1' };
    expect(await goAuth('user', fields)).toMatchObject({ status: 200, body: { ok: true, error: '' } });
    expect((await goAuth('user', fields, 'form')).status).toBe(200);
    expect(await goAuth('user', { ...fields, username: 'nope' })).toMatchObject({
      status: 401,
      body: { ok: false, error: 'denied' },
    });
  });

  it('refuses a valid token at CONNECT under another device’s client id, or without one', async () => {
    expect((await goAuth('user', { username: tokens.d1!, password: 'x', clientid: 'd2' })).status).toBe(401);
    expect(server.logs.findLast((entry) => String(entry.path).endsWith('/mosquitto/user'))?.refusal).toBe(
      'client_id_mismatch',
    );
    expect((await goAuth('user', { username: tokens.d1!, password: 'x' })).status).toBe(400);
    // The JWT backend's request: the token in Authorization, no client id.
    const jwtBackend = await server.call('POST', `${hooks}/mosquitto/user`, {
      token: tokens.d1!,
      json: {},
    });
    expect(jwtBackend.status).toBe(400);
  });

  it('never grants a superuser', async () => {
    expect(await goAuth('superuser', { username: tokens.d1! })).toMatchObject({
      status: 403,
      body: { ok: false },
    });
  });

  it('answers ACL checks by status, in JSON or form', async () => {
    const acl = (fields: Record<string, string | number>) =>
      goAuth('acl', { username: tokens.d1!, ...fields });
    expect((await acl({ topic: 'plant/a/temp', clientid: 'd1', acc: 2 })).status).toBe(200);
    expect((await acl({ topic: 'plant/a/humidity', clientid: 'd1', acc: 2 })).status).toBe(403);
    expect((await acl({ topic: 'commands/+', clientid: 'd1', acc: 4 })).status).toBe(200);
    expect((await acl({ topic: 'commands/x', clientid: 'd1', acc: 1 })).status).toBe(200);
    expect((await acl({ topic: 'plant/a/temp', clientid: 'd2', acc: 2 })).status).toBe(401);
    expect((await acl({ topic: 'plant/a/temp', clientid: 'd1', acc: 9 })).status).toBe(400);
    expect((await acl({ topic: 'plant/a/temp', acc: 2 })).status).toBe(400);
    const viaForm = await goAuth(
      'acl',
      { username: tokens.d1!, topic: 'plant/a/temp', clientid: 'd1', acc: 2 },
      'form',
    );
    expect(viaForm.status).toBe(200);
    expect((await server.call('POST', `${hooks}/mosquitto/acl`, { token: null })).status).toBe(400);
  });

  it('reads $share/ only in a subscribe check, never as the topic of a delivered message', async () => {
    const acl = (topic: string, acc: number) =>
      goAuth('acl', { username: tokens.d1!, topic, clientid: 'd1', acc });
    expect((await acl('$share/group/commands/x', 4)).status).toBe(200);
    expect((await acl('$share/group/commands/x', 1)).status).toBe(403);
    expect((await acl('$share/group/commands/x', 3)).status).toBe(403);
    expect((await acl('commands/x', 1)).status).toBe(200);
  });
});

describe('every webhook', () => {
  it('is in the OpenAPI document, without an admin key', async () => {
    const document = (await server.call('GET', '/openapi.json', { token: null })).body;
    const paths = Object.keys(document.paths).filter((path) => path.includes('/hooks/'));
    expect(paths.sort()).toEqual(
      [
        'emqx',
        'mosquitto/acl',
        'mosquitto/superuser',
        'mosquitto/user',
        'rabbitmq/resource',
        'rabbitmq/topic',
        'rabbitmq/user',
        'rabbitmq/vhost',
      ].map((hook) => `/v1/namespaces/{namespace}/brokers/{broker}/hooks/${hook}`),
    );
    for (const path of paths) {
      for (const operation of Object.values(document.paths[path]) as Array<{ security?: unknown }>) {
        expect(operation.security).toBeUndefined();
      }
    }
    expect(
      Object.keys(document.paths['/v1/namespaces/{namespace}/brokers/{broker}/hooks/rabbitmq/topic']).sort(),
    ).toEqual(['get', 'post']);
  });

  it('never answers 5xx, whatever the path, method, content type or body', async () => {
    const paths = [
      'emqx',
      'rabbitmq/user',
      'rabbitmq/vhost',
      'rabbitmq/resource',
      'rabbitmq/topic',
      'mosquitto/user',
      'mosquitto/superuser',
      'mosquitto/acl',
      'unknown',
    ];
    const contentTypes = [
      'application/json',
      'application/x-www-form-urlencoded',
      'text/plain',
      'multipart/form-data',
    ];
    const bodies = fc.oneof(
      fc.json(),
      fc.string(),
      fc
        .dictionary(
          fc.constantFrom(
            'username',
            'password',
            'clientid',
            'client_id',
            'topic',
            'acc',
            'routing_key',
            'name',
            'permission',
            'resource',
          ),
          fc.oneof(fc.string(), fc.constant(tokens.d1!)),
        )
        .map((fields) => form(fields)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom('GET', 'POST', 'PUT'),
        fc.constantFrom(...contentTypes),
        bodies,
        fc.option(fc.constantFrom(`Bearer ${tokens.d1}`, 'Bearer', 'garbage', tokens.d1!), {
          nil: undefined,
        }),
        async (path, method, contentType, body, authorization) => {
          const response = await fetch(`${server.url}${hooks}/${path}?${method === 'GET' ? body : ''}`, {
            method,
            headers: {
              'content-type': contentType,
              ...(authorization === undefined ? {} : { authorization }),
            },
            ...(method === 'GET' ? {} : { body }),
          });
          await response.arrayBuffer();
          expect(response.status).toBeLessThan(500);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('limits requests per source address (429 with Retry-After), apart from the rest of the API', async () => {
    const limited = await startTestServer({ env: { GATEPASS_RATE_HOOKS_PER_MINUTE: '3' } });
    try {
      await createBroker(limited, 'home', 'sensors');
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        statuses.push(
          (
            await limited.call('POST', `${hooks}/emqx`, {
              token: null,
              json: { clientid: 'x', password: 'y' },
            })
          ).status,
        );
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = await limited.call('POST', `${hooks}/rabbitmq/user`, {
        token: null,
        body: 'username=x',
        headers: FORM,
      });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await limited.call('GET', `${brokerPath}/publickeys`, { token: null })).status).toBe(200);
    } finally {
      await limited.destroy();
    }
  });
});
