// Durability: `npm start` under a load of concurrent issue and revoke calls, SIGKILLed at random moments and
// restarted on the same SQLite file, again and again. Whatever the API acknowledged (a 200 read in full)
// must be there afterwards: every revocation, every issued credential's record, and with each record its
// audit event (they are written in one transaction, so there is never one without the other).
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServerProcess } from '../support/process.js';
import { ADMIN_TOKEN } from '../support/server.js';

const KEK = 'ZHVyYWJpbGl0eS10ZXN0LWtleS1lbmNyeXB0aW9uLWs';
const KILLS = 6;
const WORKERS = 6;
const broker = '/v1/namespaces/home/brokers/sensors';

let dataDir: string;
let dbPath: string;

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'gatepass-durability-'));
  dbPath = join(dataDir, 'gatepass.db');
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function start(): Promise<ServerProcess> {
  return startServerProcess({ GATEPASS_DB: dbPath, GATEPASS_ADMIN_TOKEN: ADMIN_TOKEN, GATEPASS_KEK: KEK });
}

async function post(url: string, path: string, json: unknown) {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(json),
  });
  // Acknowledged means the whole answer arrived: read it before counting the call as done.
  return { status: response.status, body: await response.json() };
}

const random = (n: number) => Math.floor(Math.random() * n);

/** What the API acknowledged: jtis of issued credentials, and revoked jtis. */
const acknowledged = { issued: new Set<string>(), revoked: new Set<string>(), calls: 0, failures: 0 };

/** Issues and revokes until the server dies under it. */
async function worker(url: string): Promise<void> {
  for (;;) {
    try {
      if (random(10) < 6 || acknowledged.issued.size === 0) {
        const response = await post(url, `${broker}/credentials`, { number: 1 + random(10) });
        if (response.status !== 200) throw new Error(`issue answered ${response.status}`);
        for (const token of Object.values(response.body.result as Record<string, string>)) {
          acknowledged.issued.add(decodeJwt(token).jti!);
        }
      } else {
        // Only jtis this broker issued: any other is refused (404).
        const known = [...acknowledged.issued];
        const jtis = Array.from({ length: 1 + random(4) }, () => known[random(known.length)]!);
        const response = await post(url, `${broker}/revocations`, { jti: jtis });
        if (response.status !== 200) throw new Error(`revoke answered ${response.status}`);
        for (const jti of response.body.result as string[]) acknowledged.revoked.add(jti);
      }
      acknowledged.calls++;
    } catch (error) {
      // The kill: the connection is gone, the outcome of this call unknown (it may or may not have landed).
      if (error instanceof Error && /answered/.test(error.message)) throw error;
      acknowledged.failures++;
      return;
    }
  }
}

describe('SIGKILL under load', () => {
  it(`keeps every acknowledged write across ${KILLS} kills at random moments`, async () => {
    const started = performance.now();
    for (let round = 0; round < KILLS; round++) {
      const server = await start();
      if (round === 0) {
        expect((await post(server.url, '/v1/namespaces', { name: 'home' })).status).toBe(200);
        expect((await post(server.url, '/v1/namespaces/home/brokers', { name: 'sensors' })).status).toBe(200);
      }
      const load = Array.from({ length: WORKERS }, () => worker(server.url));
      await new Promise((resolve) => setTimeout(resolve, 150 + random(600)));
      server.child.kill('SIGKILL');
      const [code, signal] = await once(server.child, 'exit');
      expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
      await Promise.all(load);
    }
    expect(acknowledged.issued.size).toBeGreaterThan(50);
    expect(acknowledged.revoked.size).toBeGreaterThan(10);
    // Every round's load was cut by a kill, not by running out of work.
    expect(acknowledged.failures).toBeGreaterThanOrEqual(KILLS);

    // Recovery on the next start; the API lists every acknowledged revocation.
    const server = await start();
    const listed = new Set<string>();
    for (let page = 1; ; page++) {
      const response = await fetch(`${server.url}${broker}/revocations?per_page=100&page=${page}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const body = await response.json();
      for (const entry of body.result as Array<{ jti: string }>) listed.add(entry.jti);
      if (page * 100 >= body.result_info.total_count) break;
    }
    const missingFromApi = [...acknowledged.revoked].filter((jti) => !listed.has(jti));
    expect(missingFromApi).toEqual([]);
    expect(await server.stop()).toBe(0);

    // The file itself, read-only, after a clean stop.
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const column = (query: string) => new Set((db.prepare(query).pluck().all() as string[]).map(String));
      const records = column('select jti from issued_credentials');
      const revoked = column('select jti from revocations');
      const revokeEvents = column('select jti from revocation_events where revoked = 1');
      const audited = new Set(
        (
          db
            .prepare(`select details from audit_events where action = 'credentials.issue'`)
            .pluck()
            .all() as string[]
        ).flatMap((details) => (JSON.parse(details).credentials as Array<{ jti: string }>).map((c) => c.jti)),
      );
      const auditedRevocations = new Set(
        (
          db
            .prepare(`select details from audit_events where action = 'revocations.revoke'`)
            .pluck()
            .all() as string[]
        ).flatMap((details) => JSON.parse(details).jtis as string[]),
      );
      expect([...acknowledged.issued].filter((jti) => !records.has(jti))).toEqual([]);
      expect([...acknowledged.revoked].filter((jti) => !revoked.has(jti))).toEqual([]);
      expect([...acknowledged.revoked].filter((jti) => !revokeEvents.has(jti))).toEqual([]);
      // One transaction each: a record never lands without its audit event, nor an event without records.
      expect(audited).toEqual(records);
      expect([...revoked].filter((jti) => !auditedRevocations.has(jti))).toEqual([]);
    } finally {
      db.close();
    }
    expect(performance.now() - started).toBeLessThan(40_000);
  }, 60_000);
});
