// The EMQX webhook over real HTTP under load (autocannon, loopback): gatepass in its own process, as
// `npm start`, against a bare node:http server doing the same verification in another, in the same run.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { generateKeyEncryptionKey } from '../../src/crypto/key-encryption.js';
import { startServerProcess } from '../support/process.js';
import { ADMIN_TOKEN } from '../support/server.js';
import { type BenchRow, median, relativeTo } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NAMESPACE = 'n';
const BROKER = 'b';
const CLIENT = 'bench-client';
/** Concurrent keep-alive connections, as a broker's HTTP client pool would hold. */
const CONNECTIONS = 16;
const ROUND_SECONDS = 3;
const ROUNDS = 3;
const TARGET = 0.7;

interface Load {
  requestsPerSecond: number;
  p50: number;
  p99: number;
}

async function admin(url: string, method: string, body?: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await response.json()) as { result?: unknown };
  if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${JSON.stringify(json)}`);
  return json.result;
}

function startBareServer(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/bench/bare-emqx-server.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bare server did not start: ${stderr}`)), 30_000);
    child.stderr!.on('data', (chunk) => {
      stderr += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ url, child });
      }
    });
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}: ${stderr}`)));
  });
}

async function load(url: string, body: string, seconds: number): Promise<Load> {
  const result = await autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: seconds,
  });
  if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  return { requestsPerSecond: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

async function expectAllow(url: string, body: string): Promise<string> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const text = await response.text();
  if (response.status !== 200 || !text.includes('"result":"allow"')) {
    throw new Error(`${url}: expected allow, got HTTP ${response.status} ${text}`);
  }
  return text;
}

export async function runWebhookBench(): Promise<BenchRow[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatepass-bench-hooks-'));
  const service = await startServerProcess({
    GATEPASS_DB: join(dataDir, 'gatepass.db'),
    GATEPASS_KEK: generateKeyEncryptionKey(),
    GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN,
    // The limiter stays on (its cost is part of the path), far above what one loopback client can send.
    GATEPASS_RATE_HOOKS_PER_MINUTE: '1000000000',
  });
  let bare: { url: string; child: ChildProcess } | undefined;
  try {
    await admin(`${service.url}/v1/namespaces`, 'POST', { name: NAMESPACE });
    const broker = (await admin(`${service.url}/v1/namespaces/${NAMESPACE}/brokers`, 'POST', {
      name: BROKER,
      expiration: 3600,
    })) as { issuer: string; audience: string; algorithm: string };
    const base = `${service.url}/v1/namespaces/${NAMESPACE}/brokers/${BROKER}`;
    const issued = (await admin(`${base}/credentials`, 'POST', {
      clientid: [CLIENT],
      topicAcl: { pub: ['plant/+/temp', 'plant/+/humidity'], sub: ['commands/bench-client/#'] },
    })) as Record<string, string>;
    const jwks = await admin(`${base}/publickeys`, 'GET');
    bare = await startBareServer({
      BARE_JWKS: JSON.stringify(jwks),
      BARE_ISSUER: broker.issuer,
      BARE_AUDIENCE: broker.audience,
      BARE_ALGORITHM: broker.algorithm,
    });

    const body = JSON.stringify({
      clientid: CLIENT,
      username: CLIENT,
      password: issued[CLIENT],
      peerhost: '10.0.0.7',
    });
    const hook = `${base}/hooks/emqx`;
    const targets = { bare: `${bare.url}/`, service: hook };
    // Both answer the same bytes: the comparison is of the same work.
    const [bareAnswer, serviceAnswer] = [
      await expectAllow(targets.bare, body),
      await expectAllow(hook, body),
    ];
    if (bareAnswer !== serviceAnswer) throw new Error(`answers differ:\n${bareAnswer}\n${serviceAnswer}`);

    await load(targets.bare, body, 1);
    await load(targets.service, body, 1);
    const runs: Record<keyof typeof targets, Load[]> = { bare: [], service: [] };
    // Alternating rounds, so a busy neighbour weighs on both alike; the median round is reported.
    for (let round = 0; round < ROUNDS; round++) {
      runs.bare.push(await load(targets.bare, body, ROUND_SECONDS));
      runs.service.push(await load(targets.service, body, ROUND_SECONDS));
    }
    const row = (name: string, loads: Load[]): BenchRow => ({
      name,
      opsPerSec: median(loads.map((l) => l.requestsPerSecond)),
      note: `latency p50 ${median(loads.map((l) => l.p50))} ms, p99 ${median(loads.map((l) => l.p99))} ms`,
    });
    const bareRow = row('bare node:http + createVerifier: EMQX auth request', runs.bare);
    const serviceRow = row('gatepass POST .../hooks/emqx (npm start, SQLite)', runs.service);
    const share = serviceRow.opsPerSec / bareRow.opsPerSec;
    return [
      {
        ...bareRow,
        note:
          `${bareRow.note}; the baseline: each server in its own process, autocannon in the bench process, ` +
          `${CONNECTIONS} keep-alive connections, ${ROUNDS} alternating ${ROUND_SECONDS} s rounds (median), ` +
          'the same valid token every time (the verifier’s cache hit path, as a reconnecting client)',
      },
      relativeTo(
        serviceRow,
        bareRow,
        `${serviceRow.note}; ${(share * 100).toFixed(0)}% of the bare server’s requests/s (target ≥ ${
          TARGET * 100
        }%): the app's middleware (request log line, deadline, body limit), routing, the per-address ` +
          `rate limit, zod, the broker's verifier lookup${share >= TARGET ? '' : ' — BELOW TARGET'}`,
      ),
    ];
  } finally {
    bare?.child.kill('SIGTERM');
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
