// End to end on a real RabbitMQ: its MQTT plugin and rabbitmq_auth_backend_http asking gatepass's webhooks,
// driven with MQTT.js (MQTT 3.1.1) and amqplib (AMQP 0-9-1). Skipped, saying so, when RabbitMQ is absent.
import amqp from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRabbitMqServer, type RabbitMqNode, startRabbitMq } from '../support/rabbitmq.js';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';

const rabbitMqServer = findRabbitMqServer();
if (rabbitMqServer === undefined) {
  console.warn(
    'test/brokers/rabbitmq.test.ts skipped: RabbitMQ is not installed ' +
      '(apt-get install rabbitmq-server, or set RABBITMQ_SERVER to a rabbitmq-server script)',
  );
}

const brokerPath = '/v1/namespaces/plant/brokers/rabbit';
const jtiOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti;

describe.skipIf(rabbitMqServer === undefined)(
  'RabbitMQ with rabbitmq_auth_backend_http (MQTT 3.1.1, AMQP 0-9-1)',
  () => {
    let server: TestServer;
    let rabbit: RabbitMqNode;
    let tokens: Record<string, string>;
    const clients: MqttClient[] = [];

    async function issue(acl: { pub: string[]; sub: string[] }, ...clientid: string[]) {
      const issued = await server.call('POST', `${brokerPath}/credentials`, {
        json: { clientid, topicAcl: acl },
      });
      expect(issued.status).toBe(200);
      return issued.body.result as Record<string, string>;
    }

    const connect = (clientId: string, password: string, username = clientId) =>
      mqtt
        .connectAsync(`mqtt://127.0.0.1:${rabbit.mqttPort}`, {
          clientId,
          username,
          password,
          protocolVersion: 4,
          reconnectPeriod: 0,
          connectTimeout: 10_000,
        })
        .then((client) => {
          clients.push(client);
          return client;
        });

    /** The CONNACK return code of a refused CONNECT. */
    async function refusal(clientId: string, password: string, username = clientId): Promise<unknown> {
      try {
        const client = await connect(clientId, password, username);
        client.end(true);
        return 'accepted';
      } catch (error) {
        return (error as { code?: unknown }).code;
      }
    }

    const closed = (client: MqttClient, ms = 5000) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        client.once('close', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });

    /** Messages the reader receives, by topic. */
    const received: Array<{ topic: string; payload: string }> = [];
    const receivedOn = (topic: string, payload: string, ms = 5000) =>
      new Promise<boolean>((resolve) => {
        const started = Date.now();
        const poll = () => {
          if (received.some((m) => m.topic === topic && m.payload === payload)) return resolve(true);
          if (Date.now() - started > ms) return resolve(false);
          setTimeout(poll, 25);
        };
        poll();
      });

    beforeAll(async () => {
      server = await startTestServer();
      await createBroker(server, 'plant', 'rabbit', { expiration: 3600 });
      rabbit = await startRabbitMq(rabbitMqServer!, {
        hooksUrl: `${server.url}${brokerPath}/hooks/rabbitmq`,
      });
      console.info(
        `RabbitMQ ${rabbit.version}: MQTT on 127.0.0.1:${rabbit.mqttPort}, AMQP on ${rabbit.amqpPort}`,
      );
      tokens = {
        ...(await issue(
          { pub: ['sensors/+/temp'], sub: ['commands/writer'] },
          'writer',
          'live',
          'subber',
          'pubber',
        )),
        ...(await issue({ pub: [], sub: ['sensors/#'] }, 'reader')),
        ...(await issue({ pub: ['sensors/+/temp'], sub: [] }, 'revoked')),
      };
      const reader = await connect('reader', tokens.reader!);
      reader.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
      const granted = await reader.subscribeAsync('sensors/#', { qos: 0 });
      expect(granted).toEqual([{ topic: 'sensors/#', qos: 0 }]);
    }, 90_000);

    afterAll(async () => {
      await Promise.all(clients.map((client) => client.endAsync(true).catch(() => {})));
      await rabbit?.stop();
      await server?.destroy();
    }, 30_000);

    it('lets a good token connect, publish where allowed and receive where subscribed', async () => {
      const writer = await connect('writer', tokens.writer!);
      await writer.publishAsync('sensors/room1/temp', '21.5', { qos: 1 });
      expect(await receivedOn('sensors/room1/temp', '21.5')).toBe(true);
      expect(await writer.subscribeAsync('commands/writer', { qos: 1 })).toEqual([
        { topic: 'commands/writer', qos: 1 },
      ]);
    });

    it('refuses a wrong client id, a revoked token and a tampered token at CONNECT', async () => {
      const codes = [
        await refusal('intruder', tokens.writer!),
        await refusal('intruder', tokens.writer!, 'writer'),
      ];

      expect(
        (await server.call('POST', `${brokerPath}/revocations?jti=${jtiOf(tokens.revoked!)}`)).status,
      ).toBe(200);
      codes.push(await refusal('revoked', tokens.revoked!));

      const [header, payload, signature] = tokens.writer!.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
      const widened = Buffer.from(JSON.stringify({ ...claims, topicAcl: '#' })).toString('base64url');
      codes.push(await refusal('writer', `${header}.${widened}.${signature}`));
      // RabbitMQ 3.10 answers every refused login with CONNACK 4 (bad user name or password).
      expect(codes).toEqual([4, 4, 4, 4]);
      expect(
        server.logs.filter((line) => String(line.path).endsWith('/rabbitmq/user')).map((l) => l.refusal),
      ).toEqual(
        expect.arrayContaining(['client_id_mismatch', 'client_id_mismatch', 'revoked', 'bad_signature']),
      );
    });

    it('refuses a subscription outside the ACL: RabbitMQ 3.10 closes the connection (no SUBACK 0x80)', async () => {
      const subber = await connect('subber', tokens.subber!);
      expect(await subber.subscribeAsync('commands/writer', { qos: 0 })).toEqual([
        { topic: 'commands/writer', qos: 0 },
      ]);
      const wasClosed = closed(subber);
      // The MQTT plugin of 3.10 binds a queue for a subscription; the refused bind is a channel error, which
      // it turns into closing the connection. (3.12's native MQTT answers SUBACK 0x80 instead.)
      const outcome = await subber.subscribeAsync('sensors/#', { qos: 0 }).then(
        (granted) => granted,
        (error: Error) => error.message,
      );
      expect(await wasClosed).toBe(true);
      expect(outcome === 'Connection closed' || JSON.stringify(outcome).includes('128')).toBe(true);
      expect(rabbit.output()).toContain(
        "access to topic 'sensors.#' in exchange 'amq.topic' in vhost '/' refused",
      );
      expect(server.logs.findLast((line) => String(line.path).endsWith('/rabbitmq/topic'))).toMatchObject({
        refusal: 'not_permitted',
      });
    });

    it('closes the connection on a publish outside the ACL, and the message goes nowhere', async () => {
      const pubber = await connect('pubber', tokens.pubber!);
      const wasClosed = closed(pubber);
      pubber.publish('sensors/room1/humidity', '40', { qos: 0 });
      expect(await wasClosed).toBe(true);
      expect(await receivedOn('sensors/room1/humidity', '40', 1000)).toBe(false);
    });

    it('stops an open connection’s next publish once its token is revoked', async () => {
      const live = await connect('live', tokens.live!);
      await live.publishAsync('sensors/live/temp', 'before', { qos: 1 });
      expect(await receivedOn('sensors/live/temp', 'before')).toBe(true);

      expect((await server.call('POST', `${brokerPath}/revocations?jti=${jtiOf(tokens.live!)}`)).status).toBe(
        200,
      );
      const wasClosed = closed(live);
      live.publish('sensors/live/temp', 'after', { qos: 0 });
      expect(await wasClosed).toBe(true);
      expect(await receivedOn('sensors/live/temp', 'after', 1000)).toBe(false);
    });

    it('accepts the same credential over AMQP 0-9-1, with the same topic rules', async () => {
      const [amqpWriter] = Object.entries(
        await issue({ pub: ['sensors/+/temp'], sub: ['commands/amqp'] }, 'amqp'),
      );
      const connection = await amqp.connect({
        protocol: 'amqp',
        hostname: '127.0.0.1',
        port: rabbit.amqpPort,
        username: amqpWriter![0],
        password: amqpWriter![1],
        vhost: '/',
      });
      try {
        const channel = await connection.createChannel();
        channel.publish('amq.topic', 'sensors.amqp.temp', Buffer.from('19'));
        expect(await receivedOn('sensors/amqp/temp', '19')).toBe(true);

        // A server-named queue bound where the token may subscribe; a wider binding is refused.
        const { queue } = await channel.assertQueue('', { exclusive: true });
        expect(queue).toMatch(/^amq\.gen-/);
        await channel.bindQueue(queue, 'amq.topic', 'commands.amqp');
        const refused = new Promise<number>((resolve) =>
          channel.once('error', (error: { code: number }) => resolve(error.code)),
        );
        await channel.bindQueue(queue, 'amq.topic', 'commands.#').catch(() => {});
        expect(await refused).toBe(403);

        const second = await connection.createChannel();
        const refusedPublish = new Promise<number>((resolve) =>
          second.once('error', (error: { code: number }) => resolve(error.code)),
        );
        second.publish('amq.topic', 'sensors.amqp.humidity', Buffer.from('50'));
        expect(await refusedPublish).toBe(403);
        expect(await receivedOn('sensors/amqp/humidity', '50', 1000)).toBe(false);
      } finally {
        await connection.close().catch(() => {});
      }

      await expect(
        amqp.connect({
          protocol: 'amqp',
          hostname: '127.0.0.1',
          port: rabbit.amqpPort,
          username: 'amqp',
          password: tokens.writer!,
        }),
      ).rejects.toThrow(/ACCESS_REFUSED|403/);
    });

    it('lets only the login that declared a server-named queue use it, over AMQP 0-9-1', async () => {
      const owners = await issue({ pub: [], sub: ['commands/owner'] }, 'owner');
      const others = await issue({ pub: [], sub: ['commands/#'] }, 'other');
      const open = (username: string, password: string) =>
        amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: rabbit.amqpPort, username, password });
      const owner = await open('owner', owners.owner!);
      const other = await open('other', others.other!);
      /** The AMQP reply code of a channel error the operation causes, or 'ok'. */
      const outcome = async (
        connection: amqp.ChannelModel,
        operation: (channel: amqp.Channel) => Promise<unknown>,
      ) => {
        const channel = await connection.createChannel();
        const failed = new Promise<number>((resolve) =>
          channel.once('error', (error: { code: number }) => resolve(error.code)),
        );
        return Promise.race([operation(channel).then(() => 'ok' as const), failed]).finally(() =>
          channel.close().catch(() => {}),
        );
      };
      try {
        const channel = await owner.createChannel();
        // Not exclusive, so RabbitMQ itself would let any connection use it: only the hook can say no.
        const { queue } = await channel.assertQueue('', { exclusive: false, autoDelete: false });
        expect(queue).toMatch(/^amq\.gen-/);
        await channel.bindQueue(queue, 'amq.topic', 'commands.owner');

        expect(await outcome(other, (c) => c.consume(queue, () => {}))).toBe(403);
        expect(await outcome(other, (c) => c.bindQueue(queue, 'amq.topic', 'commands.other'))).toBe(403);
        expect(await outcome(other, (c) => c.purgeQueue(queue))).toBe(403);
        expect(await outcome(other, (c) => c.deleteQueue(queue))).toBe(403);
        expect(
          server.logs
            .filter((line) => String(line.path).endsWith('/rabbitmq/resource'))
            .map((l) => l.refusal),
        ).toContain('queue_not_owned');

        expect(await outcome(owner, (c) => c.consume(queue, () => {}))).toBe('ok');
        expect(await outcome(owner, (c) => c.deleteQueue(queue))).toBe('ok');
      } finally {
        await owner.close().catch(() => {});
        await other.close().catch(() => {});
      }
    });

    // Last: from here on, revocations of this broker disconnect clients through the management API.
    it('disconnects MQTT and AMQP clients that publish every 100 ms as soon as they are revoked (rabbitmq revocation sink)', async () => {
      const created = await server.call('POST', `${brokerPath}/revocation-sinks`, {
        json: {
          name: 'rabbit',
          kind: 'rabbitmq',
          url: rabbit.management.url,
          username: rabbit.management.username,
          password: rabbit.management.password,
        },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(200);
      const issued = await issue({ pub: ['sensors/+/temp'], sub: [] }, 'mover', 'amqp-mover');
      const mover = await connect('mover', issued.mover!);
      const amqpLogin = { protocol: 'amqp', hostname: '127.0.0.1', port: rabbit.amqpPort, vhost: '/' };
      const amqpMover = await amqp.connect({
        ...amqpLogin,
        username: 'amqp-mover',
        password: issued['amqp-mover']!,
      });
      // A connection closed by the server emits 'error' (CONNECTION_FORCED) before 'close'.
      amqpMover.on('error', () => {});
      const channel = await amqpMover.createChannel();
      channel.on('error', () => {});

      const closedAt = {
        mqtt: new Promise<number>((resolve) => mover.once('close', () => resolve(performance.now()))),
        amqp: new Promise<number>((resolve) => amqpMover.once('close', () => resolve(performance.now()))),
      };
      let sent = 0;
      const publishing = setInterval(() => {
        sent++;
        if (mover.connected) mover.publish('sensors/mover/temp', String(sent));
        try {
          channel.publish('amq.topic', 'sensors.amqp-mover.temp', Buffer.from(String(sent)));
        } catch {
          // The channel is closed: the connection is going.
        }
      }, 100);
      try {
        // Both are publishing, and RabbitMQ delivers what they publish.
        expect(await receivedOn('sensors/mover/temp', '3')).toBe(true);
        expect(await receivedOn('sensors/amqp-mover/temp', '3')).toBe(true);

        const requested = performance.now();
        const revoked = await server.call('POST', `${brokerPath}/revocations`, {
          json: { jti: [jtiOf(issued.mover!), jtiOf(issued['amqp-mover']!)] },
        });
        const answered = performance.now();
        expect(revoked.status).toBe(200);
        const timeout = (ms: number) =>
          new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), ms));
        const [mqttClosed, amqpClosed] = await Promise.all([
          Promise.race([closedAt.mqtt, timeout(10_000)]),
          Promise.race([closedAt.amqp, timeout(10_000)]),
        ]);
        // The close events came: neither client was left publishing.
        expect(mqttClosed).not.toBeNaN();
        expect(amqpClosed).not.toBeNaN();
        const after = (at: number, from: number) => `${Math.round(at - from)} ms`;
        console.info(
          `revoke -> close (from the request; from its answer): MQTT ${after(mqttClosed, requested)}; ` +
            `${after(mqttClosed, answered)}, AMQP ${after(amqpClosed, requested)}; ${after(amqpClosed, answered)} ` +
            `(the revoke call took ${after(answered, requested)})`,
        );
        // Closed by the sink, through the management API, with gatepass's reason.
        expect(rabbit.output()).toContain('gatepass: credential revoked');
      } finally {
        clearInterval(publishing);
      }

      expect(await refusal('mover', issued.mover!)).toBe(4);
      await expect(
        amqp.connect({ ...amqpLogin, username: 'amqp-mover', password: issued['amqp-mover']! }),
      ).rejects.toThrow(/ACCESS_REFUSED|403/);
      const sink = await server.call('GET', `${brokerPath}/revocation-sinks/rabbit`);
      expect(sink.body.result).toMatchObject({ status: 'ok', pending: 0, attempts: 0, last_error: null });
      expect(JSON.stringify(sink.body)).not.toContain(rabbit.management.password);
    });
  },
);
