import fc from 'fast-check';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { topicNameProblem } from '../../../src/core/topic.js';
import {
  createRabbitMqAuth,
  mqttTopicFromRoutingKey,
  type RabbitMqAuth,
} from '../../../src/verifier/adapters/rabbitmq.js';
import {
  createStaticRevocations,
  createVerifier,
  type StaticRevocations,
  type Verifier,
} from '../../../src/verifier/index.js';
import { AUDIENCE, ISSUER, jwks, makeKey, T0, T0_SECONDS, type TestKey, token } from '../fixtures.js';

let key: TestKey;
let now = T0;
let revocations: StaticRevocations;
let verifier: Verifier;
let rabbit: RabbitMqAuth;

/** What the MQTT plugin sends for client sensor-17 after its login. */
const topicCheck = (
  permission: 'read' | 'write',
  routingKey: string,
  extra: Record<string, string> = {},
) => ({
  username: 'sensor-17',
  vhost: '/',
  resource: 'topic',
  name: 'amq.topic',
  permission,
  routing_key: routingKey,
  'variable_map.client_id': 'sensor-17',
  'variable_map.username': 'sensor-17',
  ...extra,
});

const resourceCheck = (resource: string, name: string, permission: string) => ({
  username: 'sensor-17',
  vhost: '/',
  resource,
  name,
  permission,
  client_id: 'sensor-17',
});

async function login(username = 'sensor-17', claims: Record<string, unknown> = {}) {
  const password = await token(key, { claims: { sub: username, ...claims } });
  return rabbit.user({ username, password, client_id: username, vhost: '/' });
}

beforeAll(async () => {
  key = await makeKey('EdDSA');
});

beforeEach(() => {
  now = T0;
  revocations = createStaticRevocations();
  verifier = createVerifier({
    keys: jwks(key),
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['EdDSA'],
    revocations,
    now: () => now,
  });
  rabbit = createRabbitMqAuth({ verifier, revocations, now: () => now });
});

describe('user check', () => {
  it('allows a valid token bound to the client id and remembers the login', async () => {
    expect(await login()).toEqual({ decision: 'allow' });
    expect(rabbit.size).toBe(1);
  });

  it('takes the username as the client id when there is none (AMQP 0-9-1)', async () => {
    const password = await token(key);
    expect(await rabbit.user({ username: 'sensor-17', password })).toEqual({ decision: 'allow' });
  });

  it.each([
    ['no username', { username: '' }, 'missing_username'],
    ['another client id', { client_id: 'sensor-18' }, 'client_id_mismatch'],
    ['a username that is not the client id', { username: 'sensor-18' }, 'username_mismatch'],
    ['no password', { password: undefined }, 'missing_password'],
  ])('denies %s', async (_name, change, reason) => {
    const password = await token(key);
    const answer = await rabbit.user({ username: 'sensor-17', password, client_id: 'sensor-17', ...change });
    expect(answer).toEqual({ decision: 'deny', reason });
  });

  it('leaves an earlier login alone when a later one with the same username fails', async () => {
    await login();
    expect((await rabbit.user({ username: 'sensor-17', password: 'wrong' })).decision).toBe('deny');
    expect(rabbit.topic(topicCheck('write', 'plant.line-3.temp'))).toEqual({ decision: 'allow' });
  });
});

describe('checks after the login', () => {
  it('deny without a login', () => {
    expect(rabbit.vhost({ username: 'sensor-17', vhost: '/' })).toEqual({
      decision: 'deny',
      reason: 'no_session',
    });
    expect(rabbit.topic(topicCheck('write', 'plant.line-3.temp'))).toMatchObject({ reason: 'no_session' });
    expect(rabbit.resource(resourceCheck('exchange', 'amq.topic', 'write'))).toMatchObject({
      reason: 'no_session',
    });
    expect(rabbit.vhost({ vhost: '/' })).toMatchObject({ reason: 'missing_username' });
  });

  it('allow the vhost while the login is live', async () => {
    await login();
    expect(
      rabbit.vhost({ username: 'sensor-17', vhost: '/', ip: '127.0.0.1', client_id: 'sensor-17' }),
    ).toEqual({
      decision: 'allow',
    });
    expect(rabbit.vhost({ username: 'sensor-17', vhost: '/', client_id: 'sensor-18' })).toMatchObject({
      reason: 'client_id_mismatch',
    });
  });

  it.each([
    ['exchange', 'amq.topic', 'write', 'allow'],
    ['exchange', 'amq.topic', 'read', 'allow'],
    ['exchange', 'amq.topic', 'configure', 'deny'],
    ['exchange', '', 'write', 'deny'],
    ['exchange', 'amq.direct', 'write', 'deny'],
    ['queue', 'mqtt-subscription-sensor-17qos0', 'configure', 'allow'],
    ['queue', 'mqtt-subscription-sensor-17qos1', 'read', 'allow'],
    ['queue', 'mqtt-subscription-sensor-18qos1', 'read', 'deny'],
    ['queue', 'mqtt-subscription-sensor-17qos2', 'read', 'deny'],
    ['queue', 'amq.gen-JzTY20BRgKO-HjmUJj0wLg', 'configure', 'allow'],
    ['queue', 'orders', 'read', 'deny'],
    ['topic', 'amq.topic', 'write', 'deny'],
    ['queue', 'mqtt-subscription-sensor-17qos0', 'delete', 'deny'],
  ])('resource %s %s %s: %s', async (resource, name, permission, decision) => {
    await login();
    expect(rabbit.resource(resourceCheck(resource, name, permission)).decision).toBe(decision);
  });

  it('gives a server-named queue to the login that declares it, and to no other', async () => {
    await login('sensor-17');
    await login('sensor-18');
    const queue = 'amq.gen-JzTY20BRgKO-HjmUJj0wLg';
    const as = (username: string, permission: string) =>
      rabbit.resource({ ...resourceCheck('queue', queue, permission), username, client_id: username });
    // Nobody has declared it: only a declaration (configure) may claim it.
    expect(as('sensor-18', 'read')).toMatchObject({ reason: 'queue_not_owned' });
    expect(as('sensor-17', 'configure').decision).toBe('allow');
    for (const permission of ['configure', 'read', 'write']) {
      expect(as('sensor-17', permission).decision).toBe('allow');
      expect(as('sensor-18', permission)).toMatchObject({ reason: 'queue_not_owned' });
    }
    // Another connection of the same username (a new user check) keeps it.
    await login('sensor-17');
    expect(as('sensor-17', 'read').decision).toBe('allow');
  });

  it('forgets the queues of a login it forgets, and the oldest past maxQueuesPerSession', async () => {
    rabbit = createRabbitMqAuth({ verifier, revocations, now: () => now, maxQueuesPerSession: 2 });
    await login('sensor-17', { jti: 'jti-rabbit-queues' });
    const check = (name: string, permission: string) =>
      rabbit.resource(resourceCheck('queue', name, permission)).decision;
    for (const name of ['amq.gen-1', 'amq.gen-2']) expect(check(name, 'configure')).toBe('allow');
    expect(check('amq.gen-1', 'read')).toBe('allow'); // amq.gen-2 is now the least recently used
    expect(check('amq.gen-3', 'configure')).toBe('allow');
    expect(check('amq.gen-2', 'read')).toBe('deny');
    expect(check('amq.gen-1', 'read')).toBe('allow');

    revocations.add('jti-rabbit-queues');
    expect(check('amq.gen-1', 'read')).toBe('deny');
    await login('sensor-18');
    // The revoked login's queues are held by no one now: a declaration could claim them again.
    expect(
      rabbit.resource({
        ...resourceCheck('queue', 'amq.gen-1', 'configure'),
        username: 'sensor-18',
        client_id: 'sensor-18',
      }).decision,
    ).toBe('allow');
  });

  it('refuses server-named queues when told to', async () => {
    rabbit = createRabbitMqAuth({ verifier, revocations, now: () => now, serverNamedQueues: false });
    await login();
    expect(rabbit.resource(resourceCheck('queue', 'amq.gen-x', 'read')).decision).toBe('deny');
  });

  it.each([
    ['write', 'plant.line-3.temp', 'allow'],
    ['write', 'plant.line-3', 'allow'],
    ['write', 'plant.line-4.temp', 'deny'],
    ['write', 'plant.line-3.*', 'allow'],
    ['write', 'plant.line-3.#', 'deny'],
    ['write', 'plant/line-3.temp', 'deny'],
    ['read', 'plant.commands.sensor-17', 'allow'],
    ['read', 'plant.commands.*', 'deny'],
    ['read', 'plant.commands.#', 'deny'],
    ['read', 'plant.line-3.temp', 'deny'],
    ['configure', 'plant.line-3.temp', 'deny'],
  ])('topic %s %s: %s', async (permission, routingKey, decision) => {
    await login();
    expect(rabbit.topic(topicCheck(permission as 'read', routingKey)).decision).toBe(decision);
  });

  it('translates binding wildcards: * is +, # is #', async () => {
    await login('sensor-17', { topicAcl: { pub: [], sub: ['plant/+/temp', 'alerts/#'] } });
    expect(rabbit.topic(topicCheck('read', 'plant.*.temp')).decision).toBe('allow');
    expect(rabbit.topic(topicCheck('read', 'alerts.#')).decision).toBe('allow');
    expect(rabbit.topic(topicCheck('read', 'alerts.*.x')).decision).toBe('allow');
    expect(rabbit.topic(topicCheck('read', 'plant.#')).decision).toBe('deny');
  });

  it('denies other exchanges, other client ids and malformed checks', async () => {
    await login();
    expect(rabbit.topic(topicCheck('write', 'plant.line-3.x', { name: 'other' }))).toMatchObject({
      reason: 'wrong_exchange',
    });
    expect(
      rabbit.topic(topicCheck('write', 'plant.line-3.x', { 'variable_map.client_id': 'sensor-18' })),
    ).toMatchObject({ reason: 'client_id_mismatch' });
    const { routing_key: _, ...noKey } = topicCheck('write', 'x');
    expect(rabbit.topic(noKey)).toMatchObject({ reason: 'bad_request' });
    expect(rabbit.topic(topicCheck('write', ''))).toMatchObject({ reason: 'invalid_topic' });
  });

  it('checks revocation again on every later check, and forgets the revoked login', async () => {
    await login('sensor-17', { jti: 'jti-rabbit-revoked' });
    expect(rabbit.topic(topicCheck('write', 'plant.line-3.temp')).decision).toBe('allow');
    revocations.add('jti-rabbit-revoked');
    expect(rabbit.topic(topicCheck('write', 'plant.line-3.temp'))).toMatchObject({
      reason: 'session_revoked',
    });
    expect(rabbit.size).toBe(0);
    expect(rabbit.vhost({ username: 'sensor-17' })).toMatchObject({ reason: 'no_session' });
  });

  it('forgets a login when its token expires', async () => {
    await login();
    now = (T0_SECONDS + 3600) * 1000 - 1;
    expect(rabbit.topic(topicCheck('write', 'plant.line-3.temp')).decision).toBe('allow');
    now = (T0_SECONDS + 3600) * 1000;
    expect(rabbit.topic(topicCheck('write', 'plant.line-3.temp'))).toMatchObject({ reason: 'no_session' });
    expect(rabbit.size).toBe(0);
  });

  it('keeps at most maxSessions logins, the least recently used going first', async () => {
    rabbit = createRabbitMqAuth({ verifier, revocations, now: () => now, maxSessions: 2 });
    await login('a');
    await login('b');
    expect(rabbit.vhost({ username: 'a' }).decision).toBe('allow'); // a is now the most recent
    await login('c');
    expect(rabbit.size).toBe(2);
    expect(rabbit.vhost({ username: 'b' })).toMatchObject({ reason: 'no_session' });
    expect(rabbit.vhost({ username: 'a' }).decision).toBe('allow');
    expect(rabbit.vhost({ username: 'c' }).decision).toBe('allow');
  });

  it('throws on bad options', () => {
    expect(() => createRabbitMqAuth({ verifier, revocations: undefined as never })).toThrow(TypeError);
    expect(() => createRabbitMqAuth({ verifier, revocations, maxSessions: 0 })).toThrow(TypeError);
    expect(() => createRabbitMqAuth({ verifier, revocations, exchange: '' })).toThrow(TypeError);
    expect(() => createRabbitMqAuth({ verifier, revocations, maxQueuesPerSession: 0 })).toThrow(TypeError);
  });
});

describe('mqttTopicFromRoutingKey', () => {
  it.each([
    ['a.b.c', 'write', 'a/b/c'],
    ['a..b', 'write', 'a//b'],
    ['.a', 'write', '/a'],
    ['a.*.c', 'write', 'a/*/c'],
    ['a.*.c', 'read', 'a/+/c'],
    ['a.#', 'read', 'a/#'],
    ['a.b*', 'read', 'a/b*'],
    ['$SYS.x', 'write', '$SYS/x'],
    ['a/b', 'write', undefined],
  ] as const)('%s (%s) is %s', (routingKey, permission, topic) => {
    expect(mqttTopicFromRoutingKey(routingKey, permission)).toBe(topic);
  });

  // rabbit_mqtt_util:to_amqp/1, the same in every RabbitMQ release (3.10 to 4.x): each '/' becomes '.',
  // then each '+' becomes '*'.
  const toAmqp = (topic: string) => topic.replaceAll('/', '.').replaceAll('+', '*');
  const level = fc.stringMatching(/^[a-z*.$]{0,4}$/);
  const topicName = fc.array(level, { minLength: 1, maxLength: 5 }).map((levels) => levels.join('/'));
  const topicFilter = fc
    .array(fc.oneof(level, fc.constant('+')), { minLength: 1, maxLength: 5 })
    .chain((levels) => fc.boolean().map((hash) => (hash ? [...levels, '#'] : levels).join('/')));

  it('is sound: whatever it returns, the MQTT plugin maps back to the same key', () => {
    fc.assert(
      fc.property(topicName, (topic) => {
        fc.pre(topicNameProblem(topic) === null);
        const routingKey = toAmqp(topic);
        const back = mqttTopicFromRoutingKey(routingKey, 'write');
        if (back !== undefined) expect(toAmqp(back)).toBe(routingKey);
      }),
    );
    fc.assert(
      fc.property(topicFilter, (filter) => {
        const bindingKey = toAmqp(filter);
        expect(toAmqp(mqttTopicFromRoutingKey(bindingKey, 'read')!)).toBe(bindingKey);
      }),
    );
  });

  it('is exact for topics and filters without dots or literal *', () => {
    fc.assert(
      fc.property(topicName, (topic) => {
        fc.pre(!topic.includes('.'));
        expect(mqttTopicFromRoutingKey(toAmqp(topic), 'write')).toBe(topic);
      }),
    );
    fc.assert(
      fc.property(topicFilter, (filter) => {
        fc.pre(!filter.includes('.') && !filter.includes('*'));
        expect(mqttTopicFromRoutingKey(toAmqp(filter), 'read')).toBe(filter);
      }),
    );
  });
});
