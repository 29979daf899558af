// End to end: real gatepass on loopback, Aedes brokers on TCP using the adapter with the served public keys
// and the HTTP revocation feed, and the real MQTT.js client (3.1.1 on aedes 1.x, MQTT 5 on the aedes 2 beta).
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, connect as tcpConnect } from 'node:net';
import { Aedes } from 'aedes';
import { Aedes as AedesNext } from 'aedes-next';
import { decodeJwt } from 'jose';
import mqtt, { type IClientOptions, type ISubscriptionMap, type MqttClient, type Packet } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type AedesAuth,
  type AedesAuthEvent,
  type AedesClientLike,
  compileAcl,
  createAedesAuth,
  createRevocationFeed,
  createVerifier,
  type RevocationFeed,
  type Verifier,
} from '../../src/verifier/index.js';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const NS = 'plant';
const BROKER = 'line';
const BASE = `/v1/namespaces/${NS}/brokers/${BROKER}`;
const POLL_MS = 200;

let gatepass: TestServer;
let feed: RevocationFeed;
let verifier: Verifier;
const events: AedesAuthEvent[] = [];
const clients: MqttClient[] = [];

interface RunningBroker<A extends Aedes | AedesNext = Aedes | AedesNext> {
  aedes: A;
  auth: AedesAuth;
  tcp: Server;
  url: string;
}

let v311: RunningBroker<Aedes>;
let v5: RunningBroker<AedesNext>;

async function startBroker<A extends Aedes | AedesNext>(aedes: A): Promise<RunningBroker<A>> {
  // clockTolerance 0 on both sides, so a token expiring while connected is ended at its exp.
  const auth = createAedesAuth({
    verifier,
    revocations: feed,
    clockTolerance: 0,
    onEvent: (e) => events.push(e),
  });
  // No cast: both aedes versions fit the adapter's structural AedesLike.
  auth.attach(aedes);
  const tcp = createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  return { aedes, auth, tcp, url: `mqtt://127.0.0.1:${(tcp.address() as AddressInfo).port}` };
}

async function stopBroker(broker: RunningBroker | undefined) {
  if (broker === undefined) return;
  broker.auth.close();
  await new Promise<void>((resolve) => broker.aedes.close(() => resolve()));
  await new Promise((resolve) => broker.tcp.close(resolve));
}

beforeAll(async () => {
  gatepass = await startTestServer();
  await createBroker(gatepass, NS, BROKER);
  await createBroker(gatepass, NS, 'other');
  // The credential a broker is meant to hold: a read key scoped to its namespace.
  const created = await gatepass.call('POST', '/v1/admin-keys', {
    json: { name: 'mqtt-broker-line', namespace: NS, permission: 'read' },
  });
  expect(created.status).toBe(200);
  feed = createRevocationFeed({
    url: `${gatepass.url}${BASE}/revocations`,
    token: created.body.result.key,
    pollIntervalMs: POLL_MS,
    maxStalenessMs: 10_000,
  });
  await feed.start();
  verifier = createVerifier({
    keys: `${gatepass.url}${BASE}/jwks.json`,
    issuer: 'gatepass',
    audience: `${BROKER}.${NS}`,
    algorithms: ['EdDSA', 'ES256'],
    revocations: feed,
    clockTolerance: 0,
  });
  v311 = await startBroker(await Aedes.createBroker());
  v5 = await startBroker(await AedesNext.createBroker());
});

afterAll(async () => {
  for (const client of clients) client.end(true);
  await stopBroker(v311);
  await stopBroker(v5);
  feed?.stop();
  await gatepass?.destroy();
});

/** Issues one credential of `broker` for `clientId`; returns the token and its jti. */
async function issue(
  clientId: string,
  acl: { pub?: string[]; sub?: string[] } = { pub: [`${NS}/${BROKER}/#`], sub: [`${NS}/${BROKER}/#`] },
  { expiration, broker = BROKER }: { expiration?: number; broker?: string } = {},
) {
  const issued = await gatepass.call('POST', `/v1/namespaces/${NS}/brokers/${broker}/credentials`, {
    json: {
      clientid: [clientId],
      pub: acl.pub ?? [],
      sub: acl.sub ?? [],
      ...(expiration ? { expiration } : {}),
    },
  });
  expect(issued.status, JSON.stringify(issued.body)).toBe(200);
  const token: string = issued.body.result[clientId];
  return { token, jti: decodeJwt(token).jti!, exp: decodeJwt(token).exp };
}

async function revoke(jti: string) {
  const revoked = await gatepass.call('POST', `${BASE}/revocations?jti=${jti}`);
  expect(revoked.status).toBe(200);
}

const baseOptions = { reconnectPeriod: 0, connectTimeout: 5000 } satisfies IClientOptions;

/** MQTT.js never settles connectAsync when it cannot even write the CONNECT: bound every attempt. */
function bounded<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no CONNACK within ${ms} ms`)), ms)),
  ]);
}

/**
 * MQTT 3.1.1 options: a password needs the User Name flag (MQTT-3.1.2-22), so a 3.1.1 client sends an empty
 * user name, or its client id, next to the token.
 */
const v4 = (options: IClientOptions): IClientOptions => ({
  protocolVersion: 4,
  username: '',
  ...baseOptions,
  ...options,
});

/** A 3.1.1 connection that must succeed. */
async function connect(broker: RunningBroker, options: IClientOptions): Promise<MqttClient> {
  const client = await bounded(mqtt.connectAsync(broker.url, v4(options)));
  clients.push(client);
  return client;
}

/** The CONNACK code of a 3.1.1 CONNECT that must be refused. */
async function refusal(broker: RunningBroker, options: IClientOptions): Promise<number> {
  const error = await bounded(mqtt.connectAsync(broker.url, v4(options)))
    .then((client) => {
      clients.push(client);
      return new Error('connected');
    })
    .catch((e: unknown) => e);
  return (error as { code?: number }).code ?? -1;
}

/** An MQTT 5 connection and its CONNACK, or the refusal's reason code. */
async function connect5(options: IClientOptions): Promise<{ client: MqttClient; connack: Packet }> {
  // MQTT 5 allows a password without a user name, but MQTT.js (mqtt-packet 9) refuses to write one.
  const client = mqtt.connect(v5.url, { protocolVersion: 5, username: '', ...baseOptions, ...options });
  clients.push(client);
  const [connack] = (await bounded(
    Promise.race([next(client, 'connect'), next(client, 'error').then(([error]) => Promise.reject(error))]),
  )) as [Packet];
  return { client, connack };
}

/** The SUBACK's granted codes; MQTT.js rejects when any is a failure, with the SUBACK attached. */
function grantedOf(client: MqttClient, subscriptions: ISubscriptionMap): Promise<number[]> {
  return client.subscribeAsync(subscriptions).then(
    (granted) => granted.map(({ qos }) => qos),
    (error: { packet?: { granted?: number[] } }) => error.packet?.granted ?? [],
  );
}

/** The arguments of the client's next `event` (MQTT.js's emitter is not typed as Node's). */
function next(client: MqttClient, event: 'connect' | 'error' | 'close' | 'disconnect'): Promise<unknown[]> {
  return new Promise((resolve) => client.once(event, (...args: unknown[]) => resolve(args)));
}

function closed(client: MqttClient): Promise<void> {
  return client.disconnected || !client.connected ? Promise.resolve() : next(client, 'close').then(() => {});
}

const messagesOf = (client: MqttClient) => {
  const received: { topic: string; payload: string }[] = [];
  client.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  return received;
};

async function until(predicate: () => boolean, timeoutMs = 5000) {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('Aedes 1.x, MQTT 3.1.1', () => {
  it('accepts a valid credential: client id = sub, password = token, user name empty or the client id', async () => {
    const { token } = await issue('dev-ok');
    const plain = await connect(v311, { clientId: 'dev-ok', password: token });
    expect(plain.connected).toBe(true);
    plain.end(true);
    const named = await connect(v311, { clientId: 'dev-ok', username: 'dev-ok', password: token });
    expect(named.connected).toBe(true);
    named.end(true);
  });

  it('routes an allowed publish to an allowed subscriber', async () => {
    const sender = await issue('dev-pub', { pub: [`${NS}/${BROKER}/+/temp`] });
    const reader = await issue('dev-sub', { sub: [`${NS}/${BROKER}/#`] });
    const subscriber = await connect(v311, { clientId: 'dev-sub', password: reader.token });
    const received = messagesOf(subscriber);
    expect(await subscriber.subscribeAsync(`${NS}/${BROKER}/#`, { qos: 1 })).toEqual([
      { topic: `${NS}/${BROKER}/#`, qos: 1 },
    ]);
    const publisher = await connect(v311, { clientId: 'dev-pub', password: sender.token });
    await publisher.publishAsync(`${NS}/${BROKER}/a/temp`, '21.5', { qos: 1 });
    await until(() => received.length === 1);
    expect(received).toEqual([{ topic: `${NS}/${BROKER}/a/temp`, payload: '21.5' }]);
  });

  it('refuses a client id other than the token’s sub with CONNACK 2', async () => {
    const { token } = await issue('dev-id');
    expect(await refusal(v311, { clientId: 'dev-other', password: token })).toBe(2);
    expect(events).toContainEqual({
      type: 'connect_refused',
      clientId: 'dev-other',
      reason: 'client_id_mismatch',
    });
  });

  it('refuses a user name other than the client id with CONNACK 4', async () => {
    const { token } = await issue('dev-user');
    expect(await refusal(v311, { clientId: 'dev-user', username: 'admin', password: token })).toBe(4);
  });

  it('refuses a tampered token, a missing one, and another broker’s with CONNACK 4', async () => {
    const { token } = await issue('dev-tamper', { pub: ['x'] });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const widened = Buffer.from(JSON.stringify({ ...claims, topicAcl: '#' })).toString('base64url');
    expect(
      await refusal(v311, { clientId: 'dev-tamper', password: `${header}.${widened}.${signature}` }),
    ).toBe(4);
    expect(await refusal(v311, { clientId: 'dev-tamper' })).toBe(4);
    const foreign = await issue('dev-foreign', undefined, { broker: 'other' });
    expect(await refusal(v311, { clientId: 'dev-foreign', password: foreign.token })).toBe(4);
  });

  it('refuses a revoked credential with CONNACK 5 once the feed has it', async () => {
    const { token, jti } = await issue('dev-revoked');
    await revoke(jti);
    await until(() => feed.isRevoked(jti));
    expect(await refusal(v311, { clientId: 'dev-revoked', password: token })).toBe(5);
  });

  it('negates a denied SUBSCRIBE (SUBACK 0x80) and keeps the session', async () => {
    const { token } = await issue('dev-narrow', { sub: [`${NS}/${BROKER}/dev-narrow/#`] });
    const client = await connect(v311, { clientId: 'dev-narrow', password: token });
    expect(
      await grantedOf(client, {
        [`${NS}/${BROKER}/#`]: { qos: 0 },
        [`${NS}/${BROKER}/dev-narrow/cmd`]: { qos: 1 },
      }),
    ).toEqual([0x80, 1]);
    expect(client.connected).toBe(true);
  });

  it('drops a denied PUBLISH: aedes closes the publisher’s connection (no negative PUBACK in 3.1.1)', async () => {
    const reader = await issue('dev-watch', { sub: [`${NS}/${BROKER}/#`] });
    const subscriber = await connect(v311, { clientId: 'dev-watch', password: reader.token });
    const received = messagesOf(subscriber);
    await subscriber.subscribeAsync(`${NS}/${BROKER}/#`);
    const { token } = await issue('dev-limited', { pub: [`${NS}/${BROKER}/dev-limited/#`] });
    const publisher = await connect(v311, { clientId: 'dev-limited', password: token });
    const gone = closed(publisher);
    publisher.publish(`${NS}/${BROKER}/elsewhere`, 'forbidden', { qos: 0 });
    await gone;
    // The refusal happened before routing, so the message can no longer arrive; give it a moment anyway.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toEqual([]);
    expect(events).toContainEqual({
      type: 'publish_denied',
      clientId: 'dev-limited',
      topic: `${NS}/${BROKER}/elsewhere`,
      reason: 'not_permitted',
    });
  });

  it('kicks a connected client within 2 s of its revocation through the API', async () => {
    const { token, jti } = await issue('dev-kick');
    const client = await connect(v311, { clientId: 'dev-kick', password: token });
    const gone = closed(client);
    const started = Date.now();
    await revoke(jti);
    await gone;
    expect(Date.now() - started).toBeLessThan(2000);
    expect(events).toContainEqual({ type: 'session_ended', clientId: 'dev-kick', reason: 'revoked' });
  });

  it('disconnects a client when its token expires, then refuses the token with CONNACK 4', async () => {
    const { token, exp } = await issue('dev-expiring', undefined, { expiration: 2 });
    const client = await connect(v311, { clientId: 'dev-expiring', password: token });
    await closed(client);
    expect(Date.now()).toBeGreaterThanOrEqual(exp! * 1000);
    expect(Date.now()).toBeLessThan(exp! * 1000 + 1000);
    expect(events).toContainEqual({ type: 'session_ended', clientId: 'dev-expiring', reason: 'expired' });
    expect(await refusal(v311, { clientId: 'dev-expiring', password: token })).toBe(4);
  });

  it('runs an empty client id under the token’s sub, so a second session takes the first over', async () => {
    const { token } = await issue('dev-anon');
    const ready: string[] = [];
    const onReady = (client: { id: string }) => ready.push(client.id);
    v311.aedes.on('clientReady', onReady);
    const first = await connect(v311, { clientId: '', password: token });
    await until(() => ready.includes('dev-anon'));
    const firstGone = closed(first);
    await connect(v311, { clientId: '', password: token });
    await firstGone;
    expect(ready.filter((id) => id === 'dev-anon')).toHaveLength(2);
    v311.aedes.removeListener('clientReady', onReady);
  });
});

describe('Aedes 1.x, MQTT 3.1.1: what MQTT.js will not send', () => {
  /** A hand-made 3.1.1 CONNECT (MQTT.js refuses to write an empty client id without clean session). */
  function connectPacket(clientId: string, password: string, clean: boolean): Buffer {
    const str = (value: string) => {
      const bytes = Buffer.from(value);
      return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
    };
    // User Name and Password flags (an empty user name), Clean Session as asked, keep alive 60 s.
    const flags = 0x80 | 0x40 | (clean ? 0x02 : 0);
    const body = Buffer.concat([
      str('MQTT'),
      Buffer.from([4, flags, 0, 60]),
      str(clientId),
      str(''),
      str(password),
    ]);
    const length: number[] = [];
    let rest = body.length;
    do {
      length.push((rest & 0x7f) | (rest > 0x7f ? 0x80 : 0));
      rest >>= 7;
    } while (rest > 0);
    return Buffer.concat([Buffer.from([0x10, ...length]), body]);
  }

  async function connackOf(packet: Buffer): Promise<number> {
    const { port } = v311.tcp.address() as AddressInfo;
    const socket = tcpConnect(port, '127.0.0.1');
    socket.write(packet);
    const [data] = (await bounded(once(socket, 'data'))) as [Buffer];
    socket.destroy();
    expect(data[0]).toBe(0x20);
    return data[3]!;
  }

  it('refuses an empty client id with a persistent session with CONNACK 2 (MQTT-3.1.3-8)', async () => {
    const { token } = await issue('dev-raw');
    expect(await connackOf(connectPacket('', token, false))).toBe(2);
    expect(await connackOf(connectPacket('', token, true))).toBe(0);
  });
});

describe('Aedes 1.x, MQTT 3.1.1: Will messages', () => {
  const will = (clientId: string) => ({
    topic: `${NS}/${BROKER}/${clientId}/status`,
    payload: Buffer.from('gone'),
  });

  it('publishes the Will of a session that drops, but not of one ended for revocation', async () => {
    const reader = await issue('dev-wills', { sub: [`${NS}/${BROKER}/#`] });
    const subscriber = await connect(v311, { clientId: 'dev-wills', password: reader.token });
    const received = messagesOf(subscriber);
    await subscriber.subscribeAsync(`${NS}/${BROKER}/#`);

    const dropped = await issue('dev-drop');
    const dropping = await connect(v311, {
      clientId: 'dev-drop',
      password: dropped.token,
      will: will('dev-drop'),
    });
    dropping.stream.destroy();
    await until(() => received.length === 1);
    expect(received).toEqual([{ topic: `${NS}/${BROKER}/dev-drop/status`, payload: 'gone' }]);

    const revoked = await issue('dev-gone');
    const kicked = await connect(v311, {
      clientId: 'dev-gone',
      password: revoked.token,
      will: will('dev-gone'),
    });
    const gone = closed(kicked);
    await revoke(revoked.jti);
    await gone;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toHaveLength(1);
  });
});

describe('Aedes 2 beta, MQTT 5', () => {
  it('is needed for MQTT 5: aedes 1.x refuses the CONNECT as an unacceptable protocol version', async () => {
    const { token } = await issue('dev5-old');
    const client = mqtt.connect(v311.url, {
      protocolVersion: 5,
      username: '',
      password: token,
      ...baseOptions,
    });
    clients.push(client);
    const [error] = (await bounded(next(client, 'error'))) as [{ code?: number }];
    expect(error.code).toBe(1);
  });

  it('accepts, and reports an assigned client identifier for an empty client id', async () => {
    const { token } = await issue('dev5-anon');
    const { connack } = await connect5({ clientId: '', password: token });
    expect(connack).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    expect((connack as { properties?: Record<string, unknown> }).properties?.assignedClientIdentifier).toBe(
      'dev5-anon',
    );
  });

  it('refuses with MQTT 5 reason codes: 0x85, 0x86, 0x87', async () => {
    const { token, jti } = await issue('dev5-refused');
    const codeOf = (options: IClientOptions) =>
      connect5(options).then(
        () => -1,
        (error: { code?: number }) => error.code,
      );
    expect(await codeOf({ clientId: 'dev5-other', password: token })).toBe(0x85);
    expect(await codeOf({ clientId: 'dev5-refused', password: `${token}x` })).toBe(0x86);
    await revoke(jti);
    await until(() => feed.isRevoked(jti));
    expect(await codeOf({ clientId: 'dev5-refused', password: token })).toBe(0x87);
  });

  it('answers a denied PUBLISH with PUBACK 0x87 and a denied SUBSCRIBE with SUBACK 0x87, keeping the session', async () => {
    const { token } = await issue('dev5-acl', {
      pub: [`${NS}/${BROKER}/dev5-acl/#`],
      sub: [`${NS}/${BROKER}/dev5-acl/#`],
    });
    const { client } = await connect5({ clientId: 'dev5-acl', password: token });
    const denied = await client
      .publishAsync(`${NS}/${BROKER}/elsewhere`, 'x', { qos: 1 })
      .catch((e: unknown) => e);
    expect((denied as { code?: number }).code).toBe(0x87);
    expect(await grantedOf(client, { [`${NS}/${BROKER}/#`]: { qos: 0 } })).toEqual([0x87]);
    // QoS 0 has no acknowledgement: dropped, and the session goes on.
    await client.publishAsync(`${NS}/${BROKER}/elsewhere`, 'z', { qos: 0 });
    await client.publishAsync(`${NS}/${BROKER}/dev5-acl/ok`, 'y', { qos: 1 });
    expect(client.connected).toBe(true);
  });

  it('sends DISCONNECT 0x87 to a session whose credential is revoked', async () => {
    const { token, jti } = await issue('dev5-kick');
    const { client } = await connect5({ clientId: 'dev5-kick', password: token });
    const disconnect = next(client, 'disconnect') as Promise<[{ reasonCode?: number }]>;
    const started = Date.now();
    await revoke(jti);
    const [packet] = await disconnect;
    expect(packet.reasonCode).toBe(0x87);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('createAedesAuth without a broker', () => {
  /** A verifier that accepts every CONNECT as `sub`, with the given ACL and expiry. */
  function stubVerifier(pub: string[], expiresAt: number | null): Verifier {
    return {
      verifyConnect: async ({ clientId }) => ({
        ok: true,
        clientId: clientId || 'stub',
        jti: 'jti-stub',
        expiresAt,
        acl: compileAcl({ pub, sub: [] }),
        claims: { iss: 'i', aud: 'a', sub: 'stub', jti: 'jti-stub', iat: 0, topicAcl: { pub, sub: [] } },
      }),
    };
  }

  function fakeClient() {
    const client = { id: 'stub', clean: true, version: 4, closed: false, close: () => {}, closes: 0 };
    client.close = () => {
      client.closes++;
      client.closed = true;
    };
    return client;
  }

  const authenticated = (auth: AedesAuth, client: AedesClientLike) =>
    new Promise<boolean | null>((resolve) =>
      auth.authenticate(client, '', new TextEncoder().encode('token'), (_, ok) => resolve(ok)),
    );
  const published = (auth: AedesAuth, client: AedesClientLike | null, topic: string) =>
    new Promise<string | undefined>((resolve) =>
      auth.authorizePublish(client, { topic }, (error) =>
        resolve((error as { reason?: string } | null)?.reason),
      ),
    );

  it('denies publishing to $SYS/ whatever the ACL, and publishing without a session', async () => {
    const auth = createAedesAuth({ verifier: stubVerifier(['$SYS/#', 'a/#'], null) });
    const client = fakeClient();
    expect(await authenticated(auth, client)).toBe(true);
    expect(await published(auth, client, 'a/b')).toBeUndefined();
    expect(await published(auth, client, '$SYS/broker/uptime')).toBe('reserved_topic');
    expect(await published(auth, null, 'a/b')).toBe('no_session');
    expect(await published(auth, fakeClient(), 'a/b')).toBe('no_session');
    auth.close();
  });

  it('re-arms an expiry beyond setTimeout’s limit instead of firing early', async () => {
    vi.useFakeTimers();
    try {
      const clock = { now: Date.UTC(2025, 0, 1) };
      const thirtyDays = 30 * 86_400_000;
      const auth = createAedesAuth({
        verifier: stubVerifier(['a/#'], (clock.now + thirtyDays) / 1000),
        now: () => clock.now,
        clockTolerance: 0,
      });
      const client = fakeClient();
      expect(await authenticated(auth, client)).toBe(true);
      // setTimeout's limit is ~24.8 days: a naive timer would overflow and fire at once.
      clock.now += 2_147_483_647;
      await vi.advanceTimersByTimeAsync(2_147_483_647);
      expect(client.closes).toBe(0);
      clock.now += thirtyDays - 2_147_483_647;
      await vi.advanceTimersByTimeAsync(thirtyDays - 2_147_483_647);
      expect(client.closes).toBe(1);
      expect(await published(auth, client, 'a/b')).toBe('expired');
      expect(auth.size).toBe(1);
      auth.close();
      expect(auth.size).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
