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
import { createApp, type Log } from '../http/app.js';
import { createServices } from '../service/index.js';
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

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export const jsonLog: Log = (line) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
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

export async function startServer(options: NodeServerOptions): Promise<RunningServer> {
  const {
    config,
    log = jsonLog,
    announce = (message) => process.stderr.write(`${message}\n`),
    clock = systemClock,
  } = options;
  const { sqlite, services } = await openNodeServices({ config, log, announce, clock });
  const { generatedSecret } = await services.adminKeys.bootstrap(config.GATEPASS_ADMIN_TOKEN);
  const app = createApp({ services, log, maxBodyBytes: config.GATEPASS_MAX_BODY_BYTES });

  const server = serve({ fetch: app.fetch, hostname: config.HOST, port: config.PORT });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;

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

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const stopped = scheduler?.stop();
        server.close(async () => {
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
