// Issuing 100 credentials: pure signing vs the HTTP path end to end (real server, real SQLite), and ULIDs.
// First: src/http/schemas.ts calls `.openapi()` on zod schemas from src/core, which only have it when
// @hono/zod-openapi has patched zod before src/core/claims.ts is evaluated (sign.ts imports claims.ts).
import '@hono/zod-openapi';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ulid } from 'ulid';
import type { CredentialClaims } from '../../src/core/claims.js';
import { systemClock, toEpochSeconds } from '../../src/core/clock.js';
import { createUlidGenerator, type IdGenerator } from '../../src/core/ids.js';
import { createKeyEncryptionKey, generateKeyEncryptionKey } from '../../src/crypto/key-encryption.js';
import { type SigningKey, signCredential } from '../../src/crypto/sign.js';
import { openDatabase } from '../../src/runtime/node.js';
import { createKeyring } from '../../src/service/keyring.js';
import type { BrokerRecord } from '../../src/store/port.js';
import { startServerProcess } from '../support/process.js';
import { ADMIN_TOKEN } from '../support/server.js';
import { type BenchRow, type MeasureOptions, measureAll, relativeTo } from './harness.js';

const BATCH = 100;
const NAMESPACE = 'n';
const EDDSA_BROKER = 'b';
const ES256_BROKER = 'b256';

const timing: MeasureOptions = { minTime: 300, warmup: 300, rounds: 7 };

/**
 * The brokers' keys exactly as the service gets them: the sealed row from SQLite, unsealed with the
 * key-encryption key and imported by the service's own keyring.
 */
async function loadBrokerKeys(dbPath: string, kek: string, names: string[]) {
  const { sqlite, store } = openDatabase(dbPath);
  try {
    const keyring = createKeyring({
      store,
      keyEncryptionKey: await createKeyEncryptionKey(new Uint8Array(Buffer.from(kek, 'base64url'))),
      clock: systemClock,
      newId: createUlidGenerator(systemClock),
      defaultIssuer: 'gatepass',
    });
    const namespace = await store.findNamespace(NAMESPACE);
    if (!namespace) throw new Error(`namespace ${NAMESPACE} is missing`);
    const loaded: Array<{ broker: BrokerRecord; key: SigningKey }> = [];
    for (const name of names) {
      const broker = await store.findBroker(namespace.id, name);
      if (!broker) throw new Error(`broker ${name} is missing`);
      loaded.push({ broker, key: await keyring.currentSigningKey(broker) });
    }
    return loaded;
  } finally {
    sqlite.close();
  }
}

/** The claims the credential service builds for a generated batch. */
function batchClaims(broker: BrokerRecord, newId: IdGenerator): CredentialClaims[] {
  const issuedAt = toEpochSeconds(systemClock());
  return Array.from({ length: BATCH }, () => ({
    iss: broker.issuer,
    aud: broker.audience,
    sub: newId(),
    jti: newId(),
    iat: issuedAt,
    topicAcl: broker.defaultTopicAcl,
  }));
}

/** As the service signs: the whole batch at once (WebCrypto runs each signature as a threadpool job). */
const signBatch = (claims: CredentialClaims[], key: SigningKey) =>
  Promise.all(claims.map((claim) => signCredential(claim, key)));

async function issueOverHttp(url: string, init: RequestInit): Promise<void> {
  const response = await fetch(url, init);
  const body = await response.text();
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${body.slice(0, 300)}`);
}

async function expectBatch(url: string, init: RequestInit): Promise<void> {
  const response = await fetch(url, init);
  const body = (await response.json()) as { result?: Record<string, string> };
  const count = Object.keys(body.result ?? {}).length;
  if (response.status !== 200 || count !== BATCH) {
    throw new Error(`expected ${BATCH} credentials, got HTTP ${response.status}: ${JSON.stringify(body)}`);
  }
}

async function adminPost(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
}

/** The server's own view of the GET requests: the median `duration_ms` of their request log lines. */
function serverSideRow(stdout: string, path: string): BenchRow {
  const durations = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { method?: string; path?: string; duration_ms?: number })
    .filter((line) => line.method === 'GET' && line.path === path && line.duration_ms !== undefined)
    .map((line) => line.duration_ms!)
    .sort((a, b) => a - b);
  const median = durations[durations.length >> 1] ?? Number.NaN;
  return { name: `HTTP GET ?number=${BATCH}: server-side handler time`, opsPerSec: 1000 / median };
}

/** The server runs in its own process, as deployed, so the benchmark's client does not share its loop. */
export async function runIssueBench(): Promise<BenchRow[]> {
  const kek = generateKeyEncryptionKey();
  const dataDir = mkdtempSync(join(tmpdir(), 'gatepass-bench-'));
  const dbPath = join(dataDir, 'gatepass.db');
  const server = await startServerProcess({
    GATEPASS_DB: dbPath,
    GATEPASS_KEK: kek,
    GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  try {
    await adminPost(`${server.url}/v1/namespaces`, { name: NAMESPACE });
    await adminPost(`${server.url}/v1/namespaces/${NAMESPACE}/brokers`, { name: EDDSA_BROKER });
    await adminPost(`${server.url}/v1/namespaces/${NAMESPACE}/brokers`, {
      name: ES256_BROKER,
      algorithm: 'ES256',
    });
    const [eddsa, es256] = await loadBrokerKeys(dbPath, kek, [EDDSA_BROKER, ES256_BROKER]);
    const newId = createUlidGenerator(systemClock);
    const eddsaClaims = batchClaims(eddsa!.broker, newId);
    const es256Claims = batchClaims(es256!.broker, newId);

    const credentials = `${server.url}/v1/namespaces/${NAMESPACE}/brokers/${EDDSA_BROKER}/credentials`;
    const authorization = `Bearer ${ADMIN_TOKEN}`;
    const get: RequestInit = { headers: { authorization } };
    const clientIds = Array.from({ length: BATCH }, (_, i) => `device-${String(i).padStart(4, '0')}`);
    const post: RequestInit = {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ clientid: clientIds }),
    };
    await expectBatch(`${credentials}?number=${BATCH}`, get);
    await expectBatch(credentials, post);

    const [signing, signingSequential, es256Signing, httpGet, httpPost, naiveIds, pooledIds] =
      await measureAll(
        [
          [
            `EdDSA: sign ${BATCH} tokens (Promise.all, as the service)`,
            () => signBatch(eddsaClaims, eddsa!.key),
          ],
          [
            `EdDSA: sign ${BATCH} tokens one at a time`,
            async () => {
              for (const claim of eddsaClaims) await signCredential(claim, eddsa!.key);
            },
          ],
          [`ES256: sign ${BATCH} tokens (Promise.all)`, () => signBatch(es256Claims, es256!.key)],
          [
            `HTTP GET ?number=${BATCH}: issue ${BATCH} credentials + DB write`,
            () => issueOverHttp(`${credentials}?number=${BATCH}`, get),
          ],
          [`HTTP POST {clientid: [${BATCH} fixed ids]} (rotation)`, () => issueOverHttp(credentials, post)],
          [
            `IDs: ${2 * BATCH} × ulid() (ulid's default PRNG)`,
            () => {
              for (let i = 0; i < 2 * BATCH; i++) ulid();
            },
          ],
          [
            `IDs: ${2 * BATCH} × createUlidGenerator() (pooled CSPRNG)`,
            () => {
              for (let i = 0; i < 2 * BATCH; i++) newId();
            },
          ],
        ],
        timing,
      );

    const endToEnd =
      'sequential keep-alive requests to the server in its own process (as `npm start`): admin-key check, ' +
      'routing, zod, broker and key lookups, 200 ULIDs, signing, the SQLite insert, ~40 KB of JSON; ' +
      'target ≤ 2x slower; CPU is the benchmark process only, so compare wall time';
    return [
      {
        ...signing,
        note:
          'the baseline: the broker’s key as the service’s keyring unseals and imports it, claims as the ' +
          'service builds them; "Nx slower" below = N times this row’s time (or CPU) per op',
      },
      relativeTo(
        signingSequential,
        signing,
        'awaiting each signature in turn: no overlap between the event loop and the thread pool',
      ),
      relativeTo(es256Signing, signing, 'for reference: ECDSA P-256 instead of Ed25519'),
      relativeTo(httpGet, signing, endToEnd),
      relativeTo(
        serverSideRow(
          server.output().stdout,
          `/v1/namespaces/${NAMESPACE}/brokers/${EDDSA_BROKER}/credentials`,
        ),
        signing,
        'the same GETs timed inside the server: the median `duration_ms` of its request log lines (auth, ' +
          'lookups, signing, insert, JSON), without the transport and the client',
      ),
      relativeTo(
        httpPost,
        signing,
        `as GET, plus a ~1.4 KB JSON body and ${BATCH} client ids validated; the same ids every time`,
      ),
      relativeTo(
        naiveIds,
        signing,
        'two IDs per token (client id + jti); one getRandomValues call per random character',
      ),
      relativeTo(pooledIds, signing, 'two IDs per token; the generator the service uses'),
    ];
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
