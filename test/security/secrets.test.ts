// Secrets at rest and in logs: a full run of `npm start` (its real stdout and stderr), then every byte of the
// SQLite file (with its -wal and -shm) and every log line searched for every secret the run handled: admin
// keys, signing keys' private halves, issued and refreshed tokens, subject tokens, identity-source secrets,
// webhook header values and passwords, revocation sinks' secrets, and the key-encryption key. None may appear.
//
// The one deliberate print: with GATEPASS_ADMIN_TOKEN unset, the first admin key is generated and shown
// once on stderr (README, Quick start). That banner, and only it, is left out of the search.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ACL templates and webhook bodies spell ${...}
import { createHash, createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyEncryptionKey } from '../../src/crypto/key-encryption.js';
import { sealingContext } from '../../src/service/keyring.js';
import { type LocalWebhook, startWebhook } from '../support/identity.js';
import { type ServerProcess, startServerProcess } from '../support/process.js';

const HMAC_SECRET = 'hmac-secret-for-the-idp-0123456789-abcdefghij';
const WEBHOOK_HEADER_VALUE = 'Bearer webhook-header-secret-0123456789abcdef';
const USER_PASSWORD = 'correct-horse-battery-staple-42';
const SINK_PASSWORD = 'rabbitmq-management-password-0123456789';
const SINK_API_SECRET = 'emqx-api-secret-0123456789-abcdefghijkl';
const IDP = 'https://idp.example';
const home = '/v1/namespaces/home/brokers';

let dataDir: string;
let dbPath: string;
let server: ServerProcess;
let webhook: LocalWebhook;
let firstKey: string;
/** name -> secret value: everything that must appear nowhere. */
const secrets = new Map<string, string>();
/** Files and logs, captured while the server runs and after it stopped. */
const captured: { running: Record<string, Buffer>; stopped: Record<string, Buffer> } = {
  running: {},
  stopped: {},
};

async function call(method: string, path: string, json?: unknown, key: string | null = firstKey) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  return { status: response.status, body: await response.json() };
}

async function ok(method: string, path: string, json?: unknown, key: string | null = firstKey) {
  const response = await call(method, path, json, key);
  expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(200);
  return response.body.result;
}

function hmacJwt(claims: Record<string, unknown>) {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${input}.${createHmac('sha256', HMAC_SECRET).update(input).digest('base64url')}`;
}

function addToken(name: string, token: string) {
  secrets.set(name, token);
  // The signature is the part that cannot be made up; the whole token is checked too.
  secrets.set(`${name} (signature)`, token.split('.')[2]!);
}

function readDatabaseFiles(): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  for (const suffix of ['', '-wal', '-shm']) {
    if (existsSync(`${dbPath}${suffix}`)) files[`gatepass.db${suffix}`] = readFileSync(`${dbPath}${suffix}`);
  }
  return files;
}

/** stdout whole; stderr without the first-key banner, the one place the generated key is shown. */
function readLogs(): Record<string, Buffer> {
  const { stdout, stderr } = server.output();
  const banner = /First admin key \(shown once[^\n]*\n\n {2}gpk_[A-Za-z0-9_-]+\n\nTry: curl [^\n]*\n/;
  expect(stderr).toMatch(banner);
  return {
    stdout: Buffer.from(stdout),
    'stderr without the banner': Buffer.from(stderr.replace(banner, '')),
  };
}

/** The ways a secret could sit in a file: as it is, and base64, base64url or hex of its UTF-8 bytes. */
function spellings(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, bytes.toString('base64url'), bytes.toString('base64'), bytes.toString('hex')];
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'gatepass-secrets-'));
  dbPath = join(dataDir, 'gatepass.db');
  webhook = await startWebhook((call) =>
    call.headers.authorization === WEBHOOK_HEADER_VALUE
      ? { status: 200, body: { user_id: 'alice', attributes: { team: 'blue' } } }
      : { status: 401, body: { error: 'bad header' } },
  );
  // Unset (empty counts as unset): the first admin key is generated and printed, the KEK generated into a file.
  server = await startServerProcess({ GATEPASS_DB: dbPath, GATEPASS_ADMIN_TOKEN: '', GATEPASS_KEK: '' });
  // The banner follows the "listening on" line, maybe in a later chunk.
  for (let i = 0; i < 100 && !/\n {2}gpk_\S{43}\n/.test(server.output().stderr); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  firstKey = /\n {2}(gpk_[A-Za-z0-9_-]{43})\n/.exec(server.output().stderr)![1]!;
  secrets.set('the first admin key', firstKey);
  secrets.set('the first admin key without its prefix', firstKey.slice(4));

  // -- a full run: namespaces, brokers of both algorithms, admin keys, identity sources with secrets
  await ok('POST', '/v1/namespaces', { name: 'home' });
  await ok('POST', `${home}`, { name: 'sensors', expiration: 3600 });
  await ok('POST', `${home}`, { name: 'meters', algorithm: 'ES256', key_rotation_period: 3600 });
  for (const [name, body] of [
    ['writer', { name: 'writer' }],
    ['reader', { name: 'reader', permission: 'read' }],
    ['scoped', { name: 'scoped', namespace: 'home' }],
    ['exchanger', { name: 'exchanger', permission: 'exchange' }],
  ] as const) {
    const key = (await ok('POST', '/v1/admin-keys', body)).key as string;
    secrets.set(`admin key ${name}`, key);
    secrets.set(`admin key ${name} without its prefix`, key.slice(4));
  }
  await ok('POST', `${home}/sensors/identity-sources`, {
    name: 'idp',
    kind: 'jwt',
    issuer: IDP,
    audience: 'mqtt',
    secret: HMAC_SECRET,
    acl_template: { pub: ['users/${sub}/#'], sub: [] },
  });
  secrets.set('the identity source’s HMAC secret', HMAC_SECRET);
  await ok('POST', `${home}/sensors/identity-sources`, {
    name: 'hook',
    kind: 'webhook',
    url: webhook.url,
    headers: { Authorization: WEBHOOK_HEADER_VALUE },
    acl_template: { client_id: '${sub}', pub: ['teams/${attributes.team}/#'], sub: [] },
  });
  secrets.set('the webhook header value', WEBHOOK_HEADER_VALUE);

  // -- revocation sinks, all failing (nothing listens on the discard port): their failures are logged
  const nowhere = 'http://127.0.0.1:9';
  await ok('POST', `${home}/sensors/revocation-sinks`, {
    name: 'rabbit',
    kind: 'rabbitmq',
    url: nowhere,
    username: 'gatepass-sink',
    password: SINK_PASSWORD,
  });
  secrets.set('a rabbitmq sink’s password', SINK_PASSWORD);
  secrets.set('its Basic credentials', Buffer.from(`gatepass-sink:${SINK_PASSWORD}`).toString('base64'));
  await ok('POST', `${home}/sensors/revocation-sinks`, {
    name: 'emqx',
    kind: 'emqx',
    url: nowhere,
    api_key: 'gatepass',
    api_secret: SINK_API_SECRET,
  });
  secrets.set('an emqx sink’s API secret', SINK_API_SECRET);
  const hook = await ok('POST', `${home}/sensors/revocation-sinks`, {
    name: 'hook',
    kind: 'webhook',
    url: nowhere,
  });
  secrets.set('a webhook sink’s generated secret', hook.secret);
  secrets.set('its key bytes in base64', hook.secret.slice('whsec_'.length));

  // -- credentials: issued (both forms, both algorithms), refreshed, exchanged; revoked and un-revoked
  const writer = secrets.get('admin key writer')!;
  const issued = await ok('GET', `${home}/sensors/credentials?number=3`);
  const posted = await ok('POST', `${home}/meters/credentials`, { clientid: ['meter-1', 'meter-2'] }, writer);
  for (const [clientId, token] of Object.entries({ ...issued, ...posted } as Record<string, string>)) {
    addToken(`the issued token of ${clientId}`, token);
  }
  const [first] = Object.values(issued as Record<string, string>);
  const refreshed = await ok(
    'POST',
    `${home}/sensors/credentials/refresh`,
    { token: first, revoke_old: true },
    null,
  );
  addToken('a refreshed token', Object.values(refreshed as Record<string, string>)[0]!);
  const now = Math.floor(Date.now() / 1000);
  const subjectToken = hmacJwt({ iss: IDP, aud: 'mqtt', sub: 'bob', iat: now, exp: now + 300 });
  addToken('a subject token', subjectToken);
  const exchanger = secrets.get('admin key exchanger')!;
  const viaJwt = await ok(
    'POST',
    `${home}/sensors/token-exchange`,
    { subject_token: subjectToken },
    exchanger,
  );
  addToken('a token from a JWT exchange', viaJwt.token);
  const viaWebhook = await ok(
    'POST',
    `${home}/sensors/token-exchange`,
    {
      identity_source: 'hook',
      username: 'alice',
      password: USER_PASSWORD,
      clientid: 'c1',
      peerhost: '10.0.0.7',
    },
    exchanger,
  );
  expect(webhook.calls.at(-1)!.body).toMatchObject({ password: USER_PASSWORD });
  secrets.set('a user’s password sent to the webhook', USER_PASSWORD);
  addToken('a token from a webhook exchange', viaWebhook.token);
  const jti = decodeJwt(viaWebhook.token).jti!;
  await ok('POST', `${home}/sensors/revocations?jti=${jti}`);
  await ok('DELETE', `${home}/sensors/revocations?jti=${jti}`);
  await ok('POST', '/v1/maintenance/run');
  await ok('GET', '/v1/audit?per_page=100', undefined, secrets.get('admin key reader')!);

  // -- refusals carrying secrets: a wrong key, a tampered token, a wrong subject token
  expect((await call('GET', '/v1/namespaces', undefined, `${firstKey.slice(0, -2)}xx`)).status).toBe(401);
  const tampered = `${first!.slice(0, -4)}AAAA`;
  expect((await call('POST', `${home}/sensors/credentials/refresh`, { token: tampered }, null)).status).toBe(
    401,
  );
  const forged = `${subjectToken.slice(0, -4)}AAAA`;
  expect(
    (await call('POST', `${home}/sensors/token-exchange`, { subject_token: forged }, exchanger)).status,
  ).toBe(401);

  // -- the signing keys' private halves, unsealed the way only gatepass can (the KEK sits in the data folder)
  const kek = readFileSync(join(dataDir, 'kek.key'), 'utf8').trim();
  secrets.set('the key-encryption key', kek);
  const keyEncryptionKey = await createKeyEncryptionKey(new Uint8Array(Buffer.from(kek, 'base64url')));
  const db = new Database(dbPath, { readonly: true });
  const sealed = db.prepare('select broker_id, kid, sealed_private_jwk from signing_keys').all() as Array<{
    broker_id: string;
    kid: string;
    sealed_private_jwk: string;
  }>;
  db.close();
  expect(sealed.length).toBeGreaterThanOrEqual(2);
  for (const row of sealed) {
    const jwk = JSON.parse(
      await keyEncryptionKey.decrypt(row.sealed_private_jwk, sealingContext(row.broker_id, row.kid)),
    );
    expect(typeof jwk.d).toBe('string');
    secrets.set(`the private key d of ${row.kid}`, jwk.d);
    expect(row.sealed_private_jwk).not.toContain('"d"');
  }

  captured.running = { ...readDatabaseFiles(), ...readLogs() };
  expect(Object.keys(captured.running)).toContain('gatepass.db-wal');
  expect(await server.stop()).toBe(0);
  captured.stopped = { ...readDatabaseFiles(), ...readLogs() };
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await webhook?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('no secret at rest or in the logs', () => {
  it('the run handled every kind of secret, and its logs are there to search', () => {
    expect([...secrets.keys()].filter((name) => name.startsWith('admin key'))).toHaveLength(8);
    // Two brokers, each with its current key and the next one published ahead.
    expect([...secrets.keys()].filter((name) => name.startsWith('the private key d'))).toHaveLength(4);
    const requests = captured.stopped
      .stdout!.toString()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(requests.filter((line) => line.msg === 'request').length).toBeGreaterThan(20);
    const sinkFailures = requests.filter((line) => line.msg === 'revocation sink delivery failed');
    expect(new Set(sinkFailures.map((line) => line.kind))).toEqual(new Set(['rabbitmq', 'emqx', 'webhook']));
    // Controls: the search does find what is stored on purpose (a digest, a jti), in the files as captured.
    const database = Buffer.concat(
      Object.entries(captured.running)
        .filter(([file]) => file.startsWith('gatepass.db'))
        .map(([, bytes]) => bytes),
    );
    expect(database.includes(createHash('sha256').update(firstKey).digest('hex'))).toBe(true);
    expect(database.includes(decodeJwt(secrets.get('a token from a webhook exchange')!).jti!)).toBe(true);
  });

  it.each(['running', 'stopped'] as const)('not in the database files or the logs (%s)', (moment) => {
    const found: string[] = [];
    for (const [file, bytes] of Object.entries(captured[moment])) {
      for (const [name, secret] of secrets) {
        for (const spelling of spellings(secret)) {
          if (bytes.includes(spelling)) found.push(`${name} in ${file}`);
        }
      }
    }
    expect(found).toEqual([]);
  });

  it('no JWK private member anywhere in the database', () => {
    for (const [file, bytes] of Object.entries(captured.running)) {
      if (!file.startsWith('gatepass.db')) continue;
      expect(bytes.includes('"d":"'), file).toBe(false);
      expect(bytes.includes('"d": "'), file).toBe(false);
    }
  });

  it('the generated first key is shown on stderr in the banner only', () => {
    const { stderr, stdout } = server.output();
    expect(stderr.split(firstKey).length - 1).toBe(2); // the key line and the curl example
    expect(stdout).not.toContain(firstKey);
  });
});
