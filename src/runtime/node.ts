// The Node composition root: better-sqlite3 + migrations, the key-encryption key, the HTTP server.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { base64url } from 'jose';
import type { Config } from '../config.js';
import { type Clock, systemClock } from '../core/clock.js';
import { createUlidGenerator } from '../core/ids.js';
import { createKeyEncryptionKey, generateKeyEncryptionKey } from '../crypto/key-encryption.js';
import { appSettingsFrom, createApp, type Log } from '../http/app.js';
import { createServices } from '../service/index.js';
import type { SinkDelivery } from '../service/sink-delivery.js';
import { createDrizzleStore, type GatepassDatabase } from '../store/drizzle.js';
import * as schema from '../store/schema.js';

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

export interface NodeServerOptions {
  config: Config;
  /** Structured log lines (one JSON object a line on stdout by default). */
  log?: Log;
  /** Human-facing messages: where the service listens, the first admin key. */
  announce?: (message: string) => void;
  clock?: Clock;
}

/** How long shutdown waits for open connections when requests have no deadline (GATEPASS_REQUEST_TIMEOUT_MS=0). */
const DEFAULT_SHUTDOWN_DEADLINE_MS = 30_000;

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

let pendingLogLines = '';

function flushLog(): void {
  const lines = pendingLogLines;
  pendingLogLines = '';
  if (lines !== '') process.stdout.write(lines);
}
// Writes to a pipe or file are synchronous on Linux, so this still gets the last lines out on exit.
process.on('exit', flushLog);

/**
 * One JSON object a line on stdout. Lines logged in the same turn of the event loop go out in one write
 * (a write is a system call, and under load one a request costs as much as answering it): a line is
 * written at the latest when the loop next checks I/O, and on exit; only a SIGKILL can lose the last turn's.
 */
export const jsonLog: Log = (line) => {
  if (pendingLogLines === '') setImmediate(flushLog);
  pendingLogLines += `${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`;
};

/**
 * WAL with synchronous=NORMAL: a committed transaction survives a crash or SIGKILL of the process; only
 * an operating-system crash or power loss can lose the last commits (FULL would fsync every commit).
 */
export function openDatabase(path: string) {
  mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle(sqlite, { schema });
  migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
  const store = createDrizzleStore(db as unknown as GatepassDatabase, async (queries) => {
    sqlite.transaction(() => {
      for (const query of queries) (query as unknown as { run(): unknown }).run();
    })();
  });
  return { sqlite, store };
}

/** The configured key-encryption key, or one generated into the data folder on first start. */
export function loadKeyEncryptionKey(
  config: Config,
  announce: (message: string) => void,
): Uint8Array<ArrayBuffer> {
  if (config.GATEPASS_KEK) return new Uint8Array(base64url.decode(config.GATEPASS_KEK));
  const file = join(dirname(config.GATEPASS_DB), 'kek.key');
  if (!existsSync(file)) {
    writeFileSync(file, `${generateKeyEncryptionKey()}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    announce(
      `warning: GATEPASS_KEK is not set; generated a key-encryption key in ${file}. ` +
        'Keep it apart from database backups, or set GATEPASS_KEK.',
    );
  }
  return new Uint8Array(base64url.decode(readFileSync(file, 'utf8').trim()));
}

/** The database and every service, as the server and `npm run cron` both use them. */
export async function openNodeServices({
  config,
  log = jsonLog,
  announce = (message) => process.stderr.write(`${message}\n`),
  clock = systemClock,
}: NodeServerOptions) {
  const { sqlite, store } = openDatabase(config.GATEPASS_DB);
  const keyEncryptionKey = await createKeyEncryptionKey(loadKeyEncryptionKey(config, announce));
  const services = createServices({
    store,
    keyEncryptionKey,
    clock,
    newId: createUlidGenerator(clock),
    defaultIssuer: config.GATEPASS_ISSUER,
    log,
    keyOverlapSeconds: config.GATEPASS_KEY_OVERLAP,
    maxRevocationsPerBroker: config.GATEPASS_MAX_REVOCATIONS_PER_BROKER,
    auditRetentionDays: config.GATEPASS_AUDIT_RETENTION_DAYS,
    refreshPerMinute: config.GATEPASS_RATE_REFRESH_PER_MINUTE,
  });
  return { sqlite, services };
}

export interface Scheduler {
  /** No further runs; resolves once a run in progress has finished. */
  stop(): Promise<void>;
}

/**
 * Runs `job` at start-up and then every `intervalSeconds`, never two runs at once. The timers are unref'd:
 * they do not keep the process alive.
 */
export function startScheduler(intervalSeconds: number, job: () => Promise<unknown>, log: Log): Scheduler {
  let running: Promise<void> | undefined;
  let stopped = false;
  const tick = () => {
    if (running || stopped) return;
    running = job()
      .then(
        () => {},
        (error) => log({ level: 'error', msg: 'scheduled job failed', error: String(error) }),
      )
      .finally(() => {
        running = undefined;
      });
  };
  const first = setTimeout(tick, 0).unref();
  const timer = setInterval(tick, intervalSeconds * 1000).unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * How often the server looks for deliveries to revocation sinks that are due without a change of its own: a
 * retry whose backoff has passed, or a change another process wrote to the same database.
 */
const SINK_DELIVERY_TICK_MS = 1_000;

/**
 * Delivers to revocation sinks at start-up (what waited through a restart), at once after each change made
 * through this process (after the answer that made it has gone out), and every `tickMs`. The timer is unref'd.
 */
export function startSinkDelivery(
  delivery: SinkDelivery,
  log: Log,
  tickMs = SINK_DELIVERY_TICK_MS,
): Scheduler {
  let stopped = false;
  let running: Promise<unknown> | undefined;
  const run = () => {
    if (stopped) return;
    running = delivery.deliver().catch((error: unknown) => {
      log({ level: 'error', msg: 'revocation sink delivery failed', error: String(error) });
    });
  };
  delivery.onChange(() => setImmediate(run));
  const timer = setInterval(run, tickMs).unref();
  run();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

/** The server could not listen where configured; the message names the variable to change. */
export class ListenError extends Error {
  override name = 'ListenError';
}

/** Node's listen errors that the configuration can fix, said in one line; anything else as it is. */
function listenFailure(error: unknown, config: Pick<Config, 'HOST' | 'PORT'>): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${config.HOST}:${config.PORT}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ListenError(`${where} is in use by another process: set PORT (or HOST) to a free one`, {
        cause: error,
      });
    case 'EACCES':
      return new ListenError(`not allowed to listen on ${where}: set PORT to 1024 or above`, {
        cause: error,
      });
    case 'EADDRNOTAVAIL':
      return new ListenError(`${config.HOST} is not an address of this machine: set HOST`, { cause: error });
    default:
      return error;
  }
}

export async function startServer(options: NodeServerOptions): Promise<RunningServer> {
  const {
    config,
    log = jsonLog,
    announce = (message) => process.stderr.write(`${message}\n`),
    clock = systemClock,
  } = options;
  const { sqlite, services } = await openNodeServices({ config, log, announce, clock });
  const app = createApp({ services, log, clock, ...appSettingsFrom(config) });

  let shuttingDown = false;
  // `Connection: close` where the connection must not be reused. @hono/node-server drains an unread request
  // body for at most 500 ms, then destroys the socket it has just answered on with `keep-alive`, so a client
  // reusing it loses its next request: a body refused for its size is the one that is never read. And once
  // shutting down, each answer to a request that was in flight closes its connection, instead of leaving it
  // idle for the keep-alive timeout that server.close() would wait out.
  const fetch: typeof app.fetch = async (...args) => {
    const response = await app.fetch(...args);
    if (response.status !== 413 && !shuttingDown) return response;
    try {
      response.headers.set('connection', 'close');
      return response;
    } catch {
      // Immutable headers (a response passed through from fetch): copy it.
      const copy = new Response(response.body, response);
      copy.headers.set('connection', 'close');
      return copy;
    }
  };
  const server = serve({ fetch, hostname: config.HOST, port: config.PORT });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
  } catch (error) {
    sqlite.close();
    throw listenFailure(error, config);
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  // Only once the port is ours: a first admin key generated by a start that then fails would be printed
  // nowhere, and the next start would find a key in the database and generate none.
  let generatedSecret: string | undefined;
  try {
    ({ generatedSecret } = await services.adminKeys.bootstrap(config.GATEPASS_ADMIN_TOKEN));
  } catch (error) {
    server.close();
    sqlite.close();
    throw error;
  }

  announce(`gatepass listening on ${url} (database ${config.GATEPASS_DB}); API docs at ${url}/docs`);
  if (generatedSecret) {
    announce(
      `First admin key (shown once, stored only as a hash; keep it safe):\n\n  ${generatedSecret}\n\n` +
        `Try: curl -H "Authorization: Bearer ${generatedSecret}" ${url}/v1/namespaces`,
    );
  } else if (!config.GATEPASS_ADMIN_TOKEN) {
    announce(
      'Admin keys exist already. Lost them all? Restart with GATEPASS_ADMIN_TOKEN=<a secret> to add one.',
    );
  }

  const scheduler =
    config.GATEPASS_CRON_INTERVAL > 0
      ? startScheduler(
          config.GATEPASS_CRON_INTERVAL,
          () => services.maintenance.runScheduledJob({ now: clock() }),
          log,
        )
      : undefined;

  const sinkDelivery = startSinkDelivery(services.sinkDelivery, log);

  let closing: Promise<void> | undefined;
  return {
    url,
    /**
     * Stops accepting connections, lets requests in flight finish (each answer closes its connection), stops
     * the scheduler and the sink delivery after their current runs, then closes SQLite, which checkpoints and removes the WAL. A
     * connection still open a second after the request deadline (a client that never finishes sending its
     * request, or never reads the answer) is cut then, so shutdown cannot hang on one.
     */
    close() {
      closing ??= new Promise<void>((resolve) => {
        shuttingDown = true;
        const stopped = Promise.all([scheduler?.stop(), sinkDelivery.stop()]);
        const deadline = setTimeout(
          () => {
            if ('closeAllConnections' in server) server.closeAllConnections();
          },
          (config.GATEPASS_REQUEST_TIMEOUT_MS || DEFAULT_SHUTDOWN_DEADLINE_MS) + 1_000,
        ).unref();
        server.close(async () => {
          clearTimeout(deadline);
          await stopped;
          sqlite.close();
          resolve();
        });
        if ('closeIdleConnections' in server) server.closeIdleConnections();
      });
      return closing;
    },
  };
}
