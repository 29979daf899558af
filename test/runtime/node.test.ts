// `npm start` as a real process: a port already taken at first start.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runServerProcessToExit, startServerProcess } from '../support/process.js';

const KEK = 'dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM';

let dataDir: string;
let holder: Server;
let heldPort: number;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'gatepass-start-'));
  holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  heldPort = (holder.address() as { port: number }).port;
});
afterEach(async () => {
  await new Promise((resolve) => holder.close(resolve));
  rmSync(dataDir, { recursive: true, force: true });
});

const adminKeyCount = (dbPath: string) => {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM admin_keys').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('first start on a port in use', () => {
  it('exits 1 with one line naming PORT, before creating the first admin key, which the next start prints', async () => {
    const dbPath = join(dataDir, 'gatepass.db');
    // No GATEPASS_ADMIN_TOKEN: the first start generates a key (empty counts as unset).
    const env = { GATEPASS_DB: dbPath, GATEPASS_KEK: KEK, GATEPASS_ADMIN_TOKEN: '', HOST: '127.0.0.1' };
    const failed = await runServerProcessToExit({ ...env, PORT: String(heldPort) });
    expect(failed.code, failed.stderr).toBe(1);
    expect(failed.stderr).toBe(
      `gatepass: 127.0.0.1:${heldPort} is in use by another process: set PORT (or HOST) to a free one\n`,
    );
    expect(failed.stdout).not.toContain('gpk_');
    expect(adminKeyCount(dbPath)).toBe(0);

    const started = await startServerProcess({ ...env, PORT: '0' });
    try {
      // The key is announced in a write after the one saying where the service listens.
      const key = await new Promise<string>((resolve) => {
        const found = () => {
          const match = /First admin key[^\n]*\n\n\s+(gpk_\S+)\n/.exec(started.output().stderr);
          if (match) resolve(match[1]!);
        };
        started.child.stderr!.on('data', found);
        found();
      });
      const response = await fetch(`${started.url}/v1/namespaces`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(response.status).toBe(200);
    } finally {
      expect(await started.stop()).toBe(0);
    }
    expect(adminKeyCount(dbPath)).toBe(1);
  });
});
