// Graceful shutdown of `npm start`: on SIGTERM a request in flight still gets its answer, new connections are
// refused, the process exits 0, and the database is closed cleanly (WAL checkpointed, integrity ok).
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: an ACL template spells ${sub}
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalWebhook, startWebhook } from '../support/identity.js';
import { type ServerProcess, startServerProcess } from '../support/process.js';
import { ADMIN_TOKEN } from '../support/server.js';

const KEK = 'c2h1dGRvd24tdGVzdC1rZXktZW5jcnlwdGlvbi1rZXk';
const broker = '/v1/namespaces/home/brokers/sensors';
const WEBHOOK_DELAY_MS = 1_500;

let dataDir: string;
let webhook: LocalWebhook;

function call(url: string, method: string, path: string, json?: unknown) {
  return fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
}

async function start(db: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  return startServerProcess({
    GATEPASS_DB: db,
    GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN,
    GATEPASS_KEK: KEK,
    ...env,
  });
}

/** Exit code and milliseconds from now until the process is gone. */
async function exitOf(server: ServerProcess): Promise<{ code: number | null; ms: number }> {
  const started = performance.now();
  const { child } = server;
  const code =
    child.exitCode !== null || child.signalCode !== null
      ? child.exitCode
      : ((await once(child, 'exit'))[0] as number | null);
  return { code, ms: performance.now() - started };
}

function inspect(db: string) {
  const sqlite = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return {
      integrity: sqlite.pragma('integrity_check', { simple: true }),
      journal: sqlite.pragma('journal_mode', { simple: true }),
      issued: (sqlite.prepare('select jti from issued_credentials').all() as Array<{ jti: string }>).map(
        (row) => row.jti,
      ),
    };
  } finally {
    sqlite.close();
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'gatepass-shutdown-'));
  webhook = await startWebhook(() => ({ status: 200, body: { user_id: 'u1' }, delayMs: WEBHOOK_DELAY_MS }));
});
afterAll(async () => {
  await webhook.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('SIGTERM', () => {
  it('lets a slow request in flight finish, refuses new connections, exits 0 and closes SQLite cleanly', async () => {
    const db = join(dataDir, 'inflight.db');
    const server = await start(db);
    try {
      expect((await call(server.url, 'POST', '/v1/namespaces', { name: 'home' })).status).toBe(200);
      expect(
        (await call(server.url, 'POST', '/v1/namespaces/home/brokers', { name: 'sensors' })).status,
      ).toBe(200);
      const source = await call(server.url, 'POST', `${broker}/identity-sources`, {
        name: 'slow',
        kind: 'webhook',
        url: webhook.url,
        timeout_ms: 5_000,
        acl_template: { pub: ['users/${sub}/#'], sub: [] },
      });
      expect(source.status).toBe(200);

      const calls = webhook.calls.length;
      const slow = call(server.url, 'POST', `${broker}/token-exchange`, {
        identity_source: 'slow',
        username: 'u',
        password: 'p',
      });
      // Wait until the request is inside the server, waiting on the webhook.
      for (let i = 0; i < 100 && webhook.calls.length === calls; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(webhook.calls.length).toBe(calls + 1);
      const signalled = performance.now();
      server.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();

      const response = await slow;
      expect(response.status).toBe(200);
      const { token, jti } = (await response.json()).result;
      expect(decodeJwt(token).sub).toBe('u1');
      const { code } = await exitOf(server);
      expect(code).toBe(0);
      // The request finished, then the process: no waiting out idle keep-alive connections.
      expect(performance.now() - signalled).toBeLessThan(WEBHOOK_DELAY_MS + 2_000);

      // Closed cleanly: the last connection checkpointed the WAL into the database and removed it.
      expect(existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0).toBe(0);
      const after = inspect(db);
      expect(after.integrity).toBe('ok');
      expect(after.journal).toBe('wal');
      expect(after.issued).toContain(jti);
      expect(server.output().stderr).not.toMatch(/error/i);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('exits at once when only idle keep-alive connections are open', async () => {
    const db = join(dataDir, 'idle.db');
    const server = await start(db);
    try {
      // A few requests leave pooled keep-alive connections open in this process.
      for (let i = 0; i < 3; i++) expect((await call(server.url, 'GET', '/v1/namespaces')).status).toBe(200);
      server.child.kill('SIGTERM');
      const { code, ms } = await exitOf(server);
      expect(code).toBe(0);
      expect(ms).toBeLessThan(2_000);
      expect(inspect(db).integrity).toBe('ok');
      expect(existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0).toBe(0);
    } finally {
      server.child.kill('SIGKILL');
    }
  });

  it('does not hang on a client that never finishes its request: cut a second after the request deadline', async () => {
    const db = join(dataDir, 'stuck.db');
    const server = await start(db, { GATEPASS_REQUEST_TIMEOUT_MS: '500' });
    const { port, hostname } = new URL(server.url);
    const socket = connect(Number(port), hostname);
    try {
      await once(socket, 'connect');
      // Headers begun, never ended.
      socket.write('POST /v1/namespaces HTTP/1.1\r\nHost: gatepass\r\nContent-Type: application/json\r\n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      server.child.kill('SIGTERM');
      const { code, ms } = await exitOf(server);
      expect(code).toBe(0);
      expect(ms).toBeGreaterThan(1_000);
      expect(ms).toBeLessThan(3_500);
      expect(inspect(db).integrity).toBe('ok');
    } finally {
      socket.destroy();
      server.child.kill('SIGKILL');
    }
  });

  it('SIGINT (Ctrl-C) does the same', async () => {
    const db = join(dataDir, 'sigint.db');
    const server = await start(db);
    try {
      expect((await call(server.url, 'POST', '/v1/namespaces', { name: 'home' })).status).toBe(200);
      server.child.kill('SIGINT');
      expect((await exitOf(server)).code).toBe(0);
      expect(inspect(db).integrity).toBe('ok');
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
