// The API contract against the Worker in real workerd with a local D1 database (wrangler 4.86), then
// wrangler's `pubsub` commands against it, then what the Worker does with missing secrets.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN } from '../support/server.js';
import {
  createLocalD1,
  type LocalD1,
  startTestWorker,
  TEST_KEK,
  type TestWorker,
} from '../support/worker.js';
import { describeApiContract } from './api.contract.js';

const WRANGLER_PUBSUB = fileURLToPath(
  new URL('../../node_modules/wrangler-pubsub/bin/wrangler.js', import.meta.url),
);

// One local D1 database (migrated once) and one Worker serve the contract and the wrangler test; a copy of
// the freshly migrated database serves the configuration tests.
let d1: LocalD1 | undefined;
let spareDatabase: string;
let shared: Promise<TestWorker> | undefined;

function sharedWorker(): Promise<TestWorker> {
  shared ??= (async () => {
    d1 = await createLocalD1();
    spareDatabase = d1.copy();
    return startTestWorker({ persistTo: d1.persistTo });
  })();
  return shared;
}

afterAll(async () => {
  await (await shared)?.destroy();
  d1?.destroy();
});

describeApiContract('Worker in workerd, D1', async () => {
  const worker = await sharedWorker();
  // The shared Worker outlives the contract: it is stopped after the whole file.
  return { url: worker.url, call: worker.call, destroy: async () => {} };
});

describe('wrangler pubsub against the Worker', () => {
  const NS = 'wrangler-ns';
  const BROKER = 'wrangler-broker';
  let worker: TestWorker;
  let workspace: string;

  beforeAll(async () => {
    worker = await sharedWorker();
    workspace = mkdtempSync(join(tmpdir(), 'gatepass-wrangler-worker-'));
    // wrangler caches the account in the closest node_modules/.cache above its cwd: keep it in here.
    mkdirSync(join(workspace, 'project/node_modules'), { recursive: true });
    mkdirSync(join(workspace, 'home'));
  });
  afterAll(() => {
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  function pubsub(args: string[]): Promise<string> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '',
      HOME: join(workspace, 'home'),
      XDG_CONFIG_HOME: join(workspace, 'home/.config'),
      CLOUDFLARE_API_BASE_URL: `${worker.url}/client/v4`,
      CLOUDFLARE_API_TOKEN: ADMIN_TOKEN,
      CLOUDFLARE_ACCOUNT_ID: 'x',
      WRANGLER_SEND_METRICS: 'false',
      CI: 'true',
    };
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [WRANGLER_PUBSUB, 'pubsub', ...args],
        { cwd: join(workspace, 'project'), env, timeout: 60_000 },
        (error, stdout, stderr) => {
          const output = stripVTControlCharacters(`${stdout}\n${stderr}`);
          expect(error, `wrangler pubsub ${args.join(' ')}\n${output}`).toBeNull();
          resolve(output);
        },
      );
    });
  }

  it('namespace create, broker create, broker issue and broker public-keys work unchanged', async () => {
    expect(await pubsub(['namespace', 'create', NS])).toContain(`Created Pub/Sub Namespace ${NS}`);
    await pubsub(['broker', 'create', BROKER, '--namespace', NS, '--expiration', '1d']);
    const broker = await worker.call('GET', `/v1/namespaces/${NS}/brokers/${BROKER}`);
    expect(broker.body.result).toMatchObject({ name: BROKER, expiration: 86_400 });

    const issued = await pubsub(['broker', 'issue', BROKER, '--namespace', NS, '-n', '3']);
    const tokens = issued.match(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/g) ?? [];
    expect(tokens, issued).toHaveLength(3);

    const printedKeys = await pubsub(['broker', 'public-keys', BROKER, '--namespace', NS]);
    const served = await worker.call('GET', `/v1/namespaces/${NS}/brokers/${BROKER}/publickeys`, {
      token: null,
    });
    for (const key of served.body.result.keys) expect(printedKeys).toContain(`kid: '${key.kid}'`);
    const jwks = createLocalJWKSet(served.body.result);
    for (const token of tokens) {
      const { payload } = await jwtVerify(token, jwks, { issuer: 'gatepass', audience: `${BROKER}.${NS}` });
      expect(payload.exp! - payload.iat!).toBe(86_400);
    }
  });
});

describe('the Worker’s Cron Trigger', () => {
  it('runs the scheduled job (rotation and pruning) through the scheduled handler without error', async () => {
    const worker = await sharedWorker();
    const response = await fetch(`${worker.url}/__scheduled?cron=${encodeURIComponent('17 * * * *')}`);
    expect(response.status, await response.text()).toBe(200);
    // The isolate the handler shared with fetch still serves requests.
    const health = await fetch(`${worker.url}/healthz`);
    expect(health.status).toBe(200);
  });
});

describe('the Worker with missing secrets', () => {
  let worker: TestWorker;

  beforeAll(async () => {
    await sharedWorker();
    worker = await startTestWorker({
      persistTo: spareDatabase,
      secrets: { GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN },
    });
  });
  afterAll(() => worker?.destroy());

  async function expectMisconfigured(variable: string) {
    for (const [path, token] of [
      ['/v1/namespaces', ADMIN_TOKEN],
      ['/healthz', null],
    ] as const) {
      const response = await worker.call('GET', path, { token });
      expect(response.status).toBe(500);
      expect(response.body).toMatchObject({ success: false, errors: [{ code: 10500, error: 'internal' }] });
      expect(response.body.errors[0].message).toContain(`${variable}:`);
      // Names the variable, never a value.
      expect(JSON.stringify(response.body)).not.toContain(ADMIN_TOKEN);
      expect(JSON.stringify(response.body)).not.toContain(TEST_KEK);
    }
  }

  it('fails every request with a 500 naming GATEPASS_KEK while it is not set', async () => {
    await expectMisconfigured('GATEPASS_KEK');
  });

  it('needs GATEPASS_ADMIN_TOKEN while the database has no admin key, and not afterwards', async () => {
    await worker.setSecrets({ GATEPASS_KEK: TEST_KEK });
    await expectMisconfigured('GATEPASS_ADMIN_TOKEN');

    await worker.setSecrets({ GATEPASS_KEK: TEST_KEK, GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN });
    expect((await worker.call('GET', '/v1/namespaces')).status).toBe(200);

    // The key it registered stays valid once the secret is removed.
    await worker.setSecrets({ GATEPASS_KEK: TEST_KEK });
    expect((await worker.call('GET', '/v1/namespaces')).status).toBe(200);
  });
});
