// Starts the Worker (src/runtime/worker.ts via wrangler.toml) in real workerd with a local D1 database, as
// `npm run dev:worker` does: migrations applied by `wrangler d1 migrations apply --local`, then wrangler
// 4.86's programmatic dev server on a free loopback port. Its data lives in a temporary folder.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Call, createCall } from './call.js';
import { ADMIN_TOKEN } from './server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The wrangler that runs the Worker; `wrangler-pubsub` (4.61.1) is only for the `pubsub` commands. */
export const WRANGLER = join(ROOT, 'node_modules/wrangler/bin/wrangler.js');
export const TEST_KEK = 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM';

/** Keeps wrangler and miniflare off the network and out of the user's home. */
function wranglerEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    WRANGLER_SEND_METRICS: 'false',
    // miniflare otherwise downloads a sample `request.cf` object from Cloudflare.
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    CI: 'true',
  };
}

export interface LocalD1 {
  /** Where wrangler and miniflare keep the local D1 database (`--persist-to`). */
  persistTo: string;
  /** Another database with the same migrations applied, for a second Worker. */
  copy(): string;
  destroy(): void;
}

/** A local D1 database with the migrations in drizzle/ applied, the way an operator applies them. */
export async function createLocalD1(): Promise<LocalD1> {
  const workspace = mkdtempSync(join(tmpdir(), 'gatepass-d1-'));
  const home = join(workspace, 'home');
  const persistTo = join(workspace, 'state');
  mkdirSync(home);
  await promisify(execFile)(
    process.execPath,
    [WRANGLER, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo],
    { cwd: ROOT, env: wranglerEnv(home), timeout: 60_000 },
  );
  let copies = 0;
  return {
    persistTo,
    copy() {
      const target = join(workspace, `copy-${++copies}`);
      cpSync(persistTo, target, { recursive: true });
      return target;
    },
    destroy: () => rmSync(workspace, { recursive: true, force: true }),
  };
}

export interface TestWorker {
  url: string;
  call: Call;
  /** Restarts the Worker with other secrets, as a new version after `wrangler secret put` would start. */
  setSecrets(secrets: Record<string, string>): Promise<void>;
  destroy(): Promise<void>;
}

const DEFAULT_SECRETS = { GATEPASS_KEK: TEST_KEK, GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN };
/** Every variable is set here: wrangler.toml's [vars] would do, but a developer's .dev.vars must not leak in. */
const VARS = { GATEPASS_ISSUER: 'gatepass', GATEPASS_MAX_BODY_BYTES: '65536' };

async function runWorker(persistTo: string, secrets: Record<string, string>) {
  // miniflare runs in this process and reads these from process.env.
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';
  process.env.WRANGLER_SEND_METRICS = 'false';
  const { unstable_startWorker } = await import('wrangler');
  const worker = await unstable_startWorker({
    config: join(ROOT, 'wrangler.toml'),
    // wrangler reads .dev.vars only when no env files are named: name one that does not exist.
    envFiles: [join(persistTo, 'none.env')],
    bindings: Object.fromEntries(
      Object.entries({ ...VARS, ...secrets }).map(([name, value]) => [
        name,
        { type: 'secret_text' as const, value },
      ]),
    ),
    sendMetrics: false,
    dev: {
      persist: persistTo,
      server: { hostname: '127.0.0.1', port: 0 },
      inspector: false,
      watch: false,
      // Serves /__scheduled, which runs the Worker's scheduled handler as a Cron Trigger would.
      testScheduled: true,
      logLevel: 'error',
    },
  });
  return { worker, url: (await worker.url).origin };
}

/**
 * `secrets` become the Worker's secret bindings; by default the key-encryption key and the admin token
 * the Node test server uses, so the same tests drive both.
 */
export async function startTestWorker({
  persistTo,
  secrets = DEFAULT_SECRETS,
}: {
  persistTo: string;
  secrets?: Record<string, string>;
}): Promise<TestWorker> {
  let running = await runWorker(persistTo, secrets);
  return {
    get url() {
      return running.url;
    },
    call: createCall(() => running.url, ADMIN_TOKEN),
    async setSecrets(next) {
      await running.worker.dispose();
      running = await runWorker(persistTo, next);
    },
    destroy: () => running.worker.dispose(),
  };
}
