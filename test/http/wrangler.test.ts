// Acceptance: wrangler's own `pubsub` commands (wrangler 4.61.1, the last with them) run unchanged against gatepass.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { createLocalJWKSet, type JWTPayload, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/server.js';

const WRANGLER = fileURLToPath(
  new URL('../../node_modules/wrangler-pubsub/bin/wrangler.js', import.meta.url),
);
const NS = 'wrangler-ns';
const BROKER = 'wrangler-broker';
const brokerPath = `/v1/namespaces/${NS}/brokers/${BROKER}`;
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/g;
// One `'client id': 'token'` line of the util.inspect output wrangler logs for `issue`.
const CREDENTIAL_LINE = /^\s*'?([^'\s:]+)'?: '(eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+)',?$/gm;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr, without colours. */
  output: string;
}

let server: TestServer;
let workspace: string;
let cwd: string;
let home: string;

beforeAll(async () => {
  server = await startTestServer();
  workspace = mkdtempSync(join(tmpdir(), 'gatepass-wrangler-'));
  cwd = join(workspace, 'project');
  home = join(workspace, 'home');
  // wrangler caches the account it discovers in the closest node_modules/.cache/wrangler above its cwd:
  // this one keeps that cache inside the workspace (and empty at the start), whatever lies above tmpdir.
  mkdirSync(join(cwd, 'node_modules'), { recursive: true });
  mkdirSync(home);
});
afterAll(async () => {
  await server?.destroy();
  if (workspace) rmSync(workspace, { recursive: true, force: true });
});

/** Runs `wrangler pubsub ...` as a user would: API token only, the account discovered unless `accountId`. */
function wrangler(args: string[], { accountId }: { accountId?: string } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    CLOUDFLARE_API_BASE_URL: `${server.url}/client/v4`,
    CLOUDFLARE_API_TOKEN: ADMIN_TOKEN,
    WRANGLER_SEND_METRICS: 'false',
    // Non-interactive: `confirm()` answers its fallback (yes) to the delete prompts.
    CI: 'true',
    ...(accountId === undefined ? {} : { CLOUDFLARE_ACCOUNT_ID: accountId }),
  };
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [WRANGLER, 'pubsub', ...args],
      { cwd, env, timeout: 60_000, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({
          code: error ? (error.code as number) : 0,
          stdout,
          stderr,
          output: stripVTControlCharacters(`${stdout}\n${stderr}`),
        });
      },
    );
  });
}

/** Runs wrangler and fails the test, with everything it printed, unless it exits 0. */
async function ok(args: string[], options?: { accountId?: string }): Promise<string> {
  const run = await wrangler(args, options);
  expect(run.code, `wrangler pubsub ${args.join(' ')}\n${run.output}`).toBe(0);
  return run.output;
}

const membershipRequests = () => server.logs.filter((line) => line.path === '/client/v4/memberships').length;

function credentialsIn(output: string): Map<string, string> {
  const credentials = new Map<string, string>();
  for (const [, clientId, token] of output.matchAll(CREDENTIAL_LINE)) credentials.set(clientId!, token!);
  expect(credentials.size, output).toBe(output.match(JWT)?.length ?? 0);
  return credentials;
}

async function verifyCredential(token: string): Promise<JWTPayload> {
  const [keys, broker] = await Promise.all([
    server.call('GET', `${brokerPath}/publickeys`, { token: null }),
    server.call('GET', brokerPath),
  ]);
  expect(keys.status).toBe(200);
  const { payload } = await jwtVerify(token, createLocalJWKSet(keys.body.result), {
    issuer: broker.body.result.issuer,
    audience: broker.body.result.audience,
  });
  return payload;
}

describe('wrangler pubsub against gatepass', { timeout: 120_000 }, () => {
  const issued = new Map<string, JWTPayload>();

  it('namespace create: discovers the account through /client/v4/memberships, then caches it', async () => {
    expect(membershipRequests()).toBe(0);
    const output = await ok(['namespace', 'create', NS, '--description', 'made by wrangler']);
    expect(output).toContain(`Success! Created Pub/Sub Namespace ${NS}`);
    expect(membershipRequests()).toBe(1);
    const cache = join(cwd, 'node_modules/.cache/wrangler/wrangler-account.json');
    expect(JSON.parse(readFileSync(cache, 'utf8')).account.id).toBe('gatepass');
    // Its logs and settings went to the temporary home, not the user's.
    expect(existsSync(join(home, '.config/.wrangler/logs'))).toBe(true);

    const created = await server.call('GET', `/v1/namespaces/${NS}`);
    expect(created.status).toBe(200);
    expect(created.body.result).toMatchObject({ name: NS, description: 'made by wrangler' });
  });

  it('namespace list and describe print the namespace (any account id is accepted)', async () => {
    const { id } = (await server.call('GET', `/v1/namespaces/${NS}`)).body.result;
    // One run after another: each wrangler start is CPU-bound, so parallel runs gain nothing on small CI boxes.
    const list = await ok(['namespace', 'list'], { accountId: 'a1b2c3d4e5f6' });
    const described = await ok(['namespace', 'describe', NS]);
    expect(list).toContain(`name: '${NS}'`);
    expect(list).toContain(id);
    expect(described).toContain(`id: '${id}'`);
    expect(described).toContain("description: 'made by wrangler'");
    // The explicit account id skipped discovery, and the cached one served the other run.
    expect(membershipRequests()).toBe(1);
  });

  it('broker create with --expiration and --description', async () => {
    const output = await ok([
      'broker',
      'create',
      BROKER,
      '--namespace',
      NS,
      '--expiration',
      '1d',
      '--description',
      'sensors on the roof',
    ]);
    const broker = await server.call('GET', brokerPath);
    expect(broker.status).toBe(200);
    expect(broker.body.result).toMatchObject({
      name: BROKER,
      namespace: NS,
      description: 'sensors on the roof',
      expiration: 86_400,
      auth_type: 'TOKEN',
    });
    expect(output).toContain(`id: '${broker.body.result.id}'`);
  });

  it('broker list and describe print the broker', async () => {
    const { id } = (await server.call('GET', brokerPath)).body.result;
    const list = await ok(['broker', 'list', '--ns', NS]);
    const described = await ok(['broker', 'describe', BROKER, '--ns', NS]);
    expect(list).toContain(`name: '${BROKER}'`);
    expect(list).toContain(id);
    expect(described).toContain(`id: '${id}'`);
    expect(described).toContain('expiration: 86400');
  });

  it('broker update changes the description and expiration', async () => {
    const output = await ok([
      'broker',
      'update',
      BROKER,
      '--ns',
      NS,
      '--description',
      'sensors in the cellar',
      '--expiration',
      '2h',
    ]);
    expect(output).toContain(`Successfully updated Pub/Sub Broker ${BROKER}`);
    const broker = await server.call('GET', brokerPath);
    expect(broker.body.result).toMatchObject({ description: 'sensors in the cellar', expiration: 7_200 });
  });

  it('broker issue -n 3 prints three tokens bound to generated client ids', async () => {
    const output = await ok(['broker', 'issue', BROKER, '--ns', NS, '-n', '3']);
    const credentials = credentialsIn(output);
    expect(credentials.size).toBe(3);
    const jtis = new Set<string>();
    for (const [clientId, token] of credentials) {
      const payload = await verifyCredential(token);
      expect(payload.sub).toBe(clientId);
      expect(payload.aud).toBe(`${BROKER}.${NS}`);
      expect(payload.iss).toBe('gatepass');
      expect(payload.jti).toBeTypeOf('string');
      // The broker's expiration (2h, after the update) applies.
      expect(payload.exp! - payload.iat!).toBe(7_200);
      jtis.add(payload.jti!);
    }
    expect(jtis.size).toBe(3);
  });

  it('broker issue --client-id twice --expiration issues exactly those clients, with the shorter expiry', async () => {
    const output = await ok([
      'broker',
      'issue',
      BROKER,
      '--ns',
      NS,
      '--client-id',
      'thermostat-1',
      '--client-id',
      'thermostat-2',
      '--expiration',
      '1h',
    ]);
    const credentials = credentialsIn(output);
    expect([...credentials.keys()].sort()).toEqual(['thermostat-1', 'thermostat-2']);
    for (const [clientId, token] of credentials) {
      const payload = await verifyCredential(token);
      expect(payload).toMatchObject({ sub: clientId, aud: `${BROKER}.${NS}`, iss: 'gatepass' });
      expect(payload.jti).toBeTypeOf('string');
      expect(payload.exp! - payload.iat!).toBe(3_600);
      issued.set(clientId, payload);
    }
    expect(issued.get('thermostat-1')!.jti).not.toBe(issued.get('thermostat-2')!.jti);
  });

  it('broker public-keys prints the JWKS served to brokers', async () => {
    const output = await ok(['broker', 'public-keys', BROKER, '--ns', NS]);
    const keys = (await server.call('GET', `${brokerPath}/publickeys`, { token: null })).body.result.keys;
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) expect(output).toContain(`kid: '${key.kid}'`);
  });

  it('broker revoke --jti twice, show-revocations, unrevoke', async () => {
    const first = issued.get('thermostat-1')!;
    const second = issued.get('thermostat-2')!;
    const revoked = await ok([
      'broker',
      'revoke',
      BROKER,
      '--ns',
      NS,
      '--jti',
      first.jti!,
      '--jti',
      second.jti!,
    ]);
    expect(revoked).toContain('Revoked 2 credential(s).');
    let list = await server.call('GET', `${brokerPath}/revocations`);
    expect(list.status).toBe(200);
    const revocations = list.body.result as { jti: string; expires_on: string | null }[];
    expect(revocations.map((r) => r.jti).sort()).toEqual([first.jti, second.jti].sort());
    // gatepass knows the tokens it issued, so each revocation keeps its token's expiry.
    for (const payload of [first, second]) {
      expect(revocations.find((r) => r.jti === payload.jti)!.expires_on).toBe(
        new Date(payload.exp! * 1000).toISOString(),
      );
    }

    const shown = await ok(['broker', 'show-revocations', BROKER, '--ns', NS]);
    expect(shown).toContain(`jti: '${first.jti}'`);
    expect(shown).toContain(`jti: '${second.jti}'`);

    const unrevoked = await ok(['broker', 'unrevoke', BROKER, '--ns', NS, '--jti', first.jti!]);
    expect(unrevoked).toContain('Unrevoked 1 credential(s)');
    list = await server.call('GET', `${brokerPath}/revocations`);
    expect(list.body.result.map((r: { jti: string }) => r.jti)).toEqual([second.jti]);
  });

  it('surfaces the service’s error message and exits non-zero', async () => {
    const missing = await server.call('GET', `/v1/namespaces/${NS}/brokers/no-such-broker`);
    expect(missing.status).toBe(404);
    const { message, code } = missing.body.errors[0];
    const run = await wrangler(['broker', 'describe', 'no-such-broker', '--ns', NS]);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain(`${message} [code: ${code}]`);
  });

  it('broker delete and namespace delete, confirmed non-interactively', async () => {
    const brokerDeleted = await ok(['broker', 'delete', BROKER, '--ns', NS]);
    expect(brokerDeleted).toContain('Using fallback value in non-interactive context: yes');
    expect(brokerDeleted).toContain(`Deleted Pub/Sub Broker ${BROKER}.`);
    expect((await server.call('GET', brokerPath)).status).toBe(404);

    const namespaceDeleted = await ok(['namespace', 'delete', NS]);
    expect(namespaceDeleted).toContain(`Deleted namespace ${NS}.`);
    expect((await server.call('GET', `/v1/namespaces/${NS}`)).status).toBe(404);
  });
});
