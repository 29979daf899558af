// Starts a throwaway RabbitMQ node (the installed rabbitmq-server) with its own config, data, ports and epmd,
// its MQTT plugin listening on loopback, rabbitmq_auth_backend_http pointed at gatepass, and the management
// API on its own port with one management user in the internal database; stops it all after.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's package puts the real script here; /usr/sbin/rabbitmq-server would switch to the rabbitmq user. */
const DEBIAN_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

/** The rabbitmq-server script to run, or undefined when RabbitMQ is not installed. */
export function findRabbitMqServer(): string | undefined {
  const configured = process.env.RABBITMQ_SERVER;
  if (configured) return existsSync(configured) ? configured : undefined;
  if (existsSync(DEBIAN_SERVER)) return DEBIAN_SERVER;
  const found = spawnSync('sh', ['-c', 'command -v rabbitmq-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  // Debian's /usr/sbin wrapper (su rabbitmq, fixed log files) is not usable with a private node.
  return found.status === 0 && path !== '' && path !== '/usr/sbin/rabbitmq-server' ? path : undefined;
}

export interface RabbitMqNode {
  /** e.g. "3.10.8", from the startup banner. */
  version: string;
  mqttPort: number;
  amqpPort: number;
  /** The management HTTP API: its base URL, and a user with the `administrator` tag and no vhost access. */
  management: { url: string; username: string; password: string };
  /** Everything the node printed (its log goes to stdout). */
  output(): string;
  /** Stops the node (SIGTERM to its process group, SIGKILL after 15 s), its epmd, and deletes its files. */
  stop(): Promise<void>;
}

export interface RabbitMqOptions {
  /** Base URL of the four rabbitmq_auth_backend_http checks: `${hooksUrl}/user`, `/vhost`, ... */
  hooksUrl: string;
  /** Milliseconds to wait for "Server startup complete". */
  startTimeoutMs?: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function startRabbitMq(script: string, options: RabbitMqOptions): Promise<RabbitMqNode> {
  const dir = mkdtempSync(join(tmpdir(), 'gatepass-rabbitmq-'));
  for (const sub of ['mnesia', 'log', 'home']) mkdirSync(join(dir, sub));
  const [amqpPort, distPort, epmdPort, mqttPort, managementPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const management = {
    url: `http://127.0.0.1:${managementPort}`,
    username: 'gatepass-sink',
    password: randomBytes(24).toString('base64url'),
  };
  const config = join(dir, 'rabbitmq.conf');
  writeFileSync(
    config,
    [
      `listeners.tcp.default = 127.0.0.1:${amqpPort}`,
      `mqtt.listeners.tcp.default = 127.0.0.1:${mqttPort}`,
      'mqtt.allow_anonymous = false',
      'mqtt.vhost = /',
      'mqtt.exchange = amq.topic',
      // The management user in the internal database, tried first: its logins never reach gatepass's hooks
      // (which would be sent its password), and a client id is never an internal user.
      'auth_backends.1 = internal',
      'auth_backends.2 = http',
      `default_user = ${management.username}`,
      `default_pass = ${management.password}`,
      'default_user_tags.administrator = true',
      // No access to any vhost: the user may only use the management API.
      'default_permissions.configure = ^$',
      'default_permissions.read = ^$',
      'default_permissions.write = ^$',
      'management.tcp.ip = 127.0.0.1',
      `management.tcp.port = ${managementPort}`,
      'auth_http.http_method = post',
      ...['user', 'vhost', 'resource', 'topic'].map(
        (check) => `auth_http.${check}_path = ${options.hooksUrl}/${check}`,
      ),
      'log.console = true',
      'log.console.level = info',
      'log.file = false',
      '',
    ].join('\n'),
  );
  const enabledPlugins = join(dir, 'enabled_plugins');
  writeFileSync(enabledPlugins, '[rabbitmq_mqtt,rabbitmq_auth_backend_http,rabbitmq_management].\n');

  const env = {
    ...process.env,
    // The Erlang cookie is created in $HOME: keep it, and everything else, in the node's folder.
    HOME: join(dir, 'home'),
    RABBITMQ_NODENAME: 'gatepass-test@localhost',
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_CONFIG_FILE: config,
    RABBITMQ_ENABLED_PLUGINS_FILE: enabledPlugins,
    // Files that do not exist, so the system's /etc/rabbitmq ones are not read.
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_PID_FILE: join(dir, 'rabbitmq.pid'),
  };
  // Its own process group, so stop() reaches the shell script, erl and beam alike.
  const child = spawn(script, [], { env, cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await stopGroup(child, exited);
      // epmd daemonizes out of the node's process group; with no node registered it exits on -kill.
      spawnSync('epmd', ['-kill'], {
        env: { ...process.env, ERL_EPMD_PORT: String(epmdPort) },
        stdio: 'ignore',
      });
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const started = Date.now();
  while (!/Server startup complete|Starting broker\.\.\. completed/.test(output)) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() - started > timeoutMs) {
      const log = output;
      await stop();
      throw new Error(
        `RabbitMQ did not start (exit ${child.exitCode ?? child.signalCode}):\n${log.slice(-4000)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const version = /RabbitMQ (\d+\.\d+\.\d+)/.exec(output)?.[1] ?? 'unknown';
  return { version, mqttPort, amqpPort, management, output: () => output, stop };
}

async function stopGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // The group is gone already.
    }
  };
  signal('SIGTERM');
  const killer = setTimeout(() => signal('SIGKILL'), 15_000);
  await exited;
  // beam may outlive the script that started it: wait for the whole group, then make sure.
  for (let i = 0; i < 50 && groupAlive(child.pid); i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  clearTimeout(killer);
  if (groupAlive(child.pid)) signal('SIGKILL');
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
