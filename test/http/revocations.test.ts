import { connect } from 'node:net';
import Database from 'better-sqlite3';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRevocationFeed, createVerifier } from '../../src/verifier/index.js';
import { rowCounts } from '../support/database.js';
import { ADMIN_TOKEN, createBroker, startTestServer, type TestServer } from '../support/server.js';

const brokers = '/v1/namespaces/home/brokers';
const path = `${brokers}/sensors/revocations`;
let server: TestServer;

/** The injected clock: refresh rate limits and pruning run on it, never on the wall clock. */
let nowMs = Date.UTC(2031, 0, 1);
const advance = (seconds: number) => {
  nowMs += seconds * 1000;
};

beforeAll(async () => {
  server = await startTestServer({ clock: () => nowMs, env: { GATEPASS_CRON_INTERVAL: '0' } });
  await createBroker(server, 'home', 'sensors', { expiration: 600 });
});
afterAll(() => server.destroy());

interface Entry {
  jti: string;
  revoked_on: string;
  expires_on: string | null;
  descendant_of: string | null;
}

async function listed(broker = 'sensors'): Promise<Entry[]> {
  const response = await server.call('GET', `${brokers}/${broker}/revocations?per_page=100`);
  expect(response.status).toBe(200);
  return response.body.result;
}

const jtisOf = (entries: Entry[]) => entries.map((entry) => entry.jti).sort();

interface Detail {
  client_id: string;
  token: string;
  jti: string;
  exp: number | null;
}

/** Issues through the detailed form of the issue response, which names each credential's jti. */
async function issue(count: number, broker = 'sensors'): Promise<Detail[]> {
  const response = await server.call('GET', `${brokers}/${broker}/credentials?number=${count}&detail=true`);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.result;
}

async function refresh(token: string, revokeOld = false, broker = 'sensors') {
  const response = await server.call('POST', `${brokers}/${broker}/credentials/refresh`, {
    token: null,
    json: { token, revoke_old: revokeOld },
  });
  return response;
}

/** Refreshes and returns the new token with its jti. */
async function refreshed(token: string, revokeOld = false, broker = 'sensors') {
  const response = await refresh(token, revokeOld, broker);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  const fresh = Object.values(response.body.result as Record<string, string>)[0]!;
  return { token: fresh, jti: decodeJwt(fresh).jti! };
}

function counts() {
  const db = new Database(server.dbPath, { readonly: true });
  try {
    return rowCounts(db);
  } finally {
    db.close();
  }
}

describe('issuing with detail=true', () => {
  it('names client id, token, jti and exp per credential, in the query and the JSON forms', async () => {
    const fromQuery = await issue(2);
    expect(fromQuery).toHaveLength(2);
    for (const credential of fromQuery) {
      const claims = decodeJwt(credential.token);
      expect(credential).toEqual({
        client_id: claims.sub,
        token: credential.token,
        jti: claims.jti,
        exp: claims.exp,
      });
    }
    const credentials = `${brokers}/sensors/credentials`;
    const fromBody = await server.call('POST', credentials, { json: { clientid: ['b1'], detail: true } });
    expect(fromBody.body.result).toEqual([
      expect.objectContaining({ client_id: 'b1', jti: decodeJwt(fromBody.body.result[0].token).jti }),
    ]);
    const fromPostQuery = await server.call('POST', `${credentials}?detail=true`, {
      json: { clientid: ['b2'] },
    });
    expect(fromPostQuery.body.result[0]).toMatchObject({ client_id: 'b2', exp: expect.any(Number) });
    // Cloudflare's client id -> token map stays the default, and `detail=false` asks for it.
    for (const response of [
      await server.call('GET', `${credentials}?clientid=m1`),
      await server.call('GET', `${credentials}?clientid=m1&detail=false`),
      await server.call('POST', credentials, { json: { clientid: ['m1'], detail: false } }),
    ]) {
      expect(Object.keys(response.body.result)).toEqual(['m1']);
      expect(response.body.result.m1).toMatch(/^ey/);
    }
  });
});

describe('revocations', () => {
  it('revokes, lists with the token expiry kept, and un-revokes', async () => {
    const [a, b] = await issue(2);
    const revoked = await server.call('POST', `${path}?jti=${a!.jti}&jti=${b!.jti}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.result).toEqual([a!.jti, b!.jti]);

    const entries = await listed();
    expect(jtisOf(entries)).toEqual([a!.jti, b!.jti].sort());
    expect(entries.find((entry) => entry.jti === a!.jti)).toMatchObject({
      expires_on: new Date(a!.exp! * 1000).toISOString(),
      descendant_of: null,
    });

    const unrevoked = await server.call('DELETE', `${path}?jti=${a!.jti}`);
    expect(unrevoked.status).toBe(200);
    expect(jtisOf(await listed())).toEqual([b!.jti]);
    await server.call('DELETE', `${path}?jti=${b!.jti}`);
  });

  it('accepts comma-separated jtis and a JSON body', async () => {
    const [c1, c2, c3] = (await issue(3)).map((credential) => credential.jti);
    await server.call('POST', `${path}?jti=${c1},${c2}`);
    await server.call('POST', path, { json: { jti: [c3] } });
    expect(jtisOf(await listed())).toEqual([c1, c2, c3].sort());
    await server.call('DELETE', `${path}?jti=${c1},${c2},${c3}`);
    expect(await listed()).toEqual([]);
  });

  it('is idempotent: revoking twice keeps the first record, un-revoking twice succeeds', async () => {
    const [credential] = await issue(1);
    const first = await server.call('POST', `${path}?jti=${credential!.jti}`);
    const firstEntry = (await listed())[0];
    advance(1);
    const again = await server.call('POST', `${path}?jti=${credential!.jti}&jti=${credential!.jti}`);
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(await listed()).toEqual([firstEntry]);
    const unrevokeTwice = [
      await server.call('DELETE', `${path}?jti=${credential!.jti}`),
      await server.call('DELETE', `${path}?jti=${credential!.jti}`),
    ];
    expect(unrevokeTwice.map((response) => response.status)).toEqual([200, 200]);
    expect(await listed()).toEqual([]);
  });

  it('takes up to 100 jtis a call and pages the list', async () => {
    const jtis = (await issue(100)).map((credential) => credential.jti);
    const response = await server.call('POST', path, { json: { jti: jtis } });
    expect(response.status).toBe(200);
    const page1 = await server.call('GET', `${path}?per_page=40&page=1`);
    const page3 = await server.call('GET', `${path}?per_page=40&page=3`);
    expect(page1.body.result).toHaveLength(40);
    expect(page3.body.result).toHaveLength(20);
    expect(page3.body.result_info).toEqual({ page: 3, per_page: 40, count: 20, total_count: 100 });
    const tooMany = await server.call('POST', `${path}?jti=x`, { json: { jti: jtis } });
    expect(tooMany.status).toBe(400);
    await server.call('DELETE', `${path}?jti=${jtis.join(',')}`);
    expect(await listed()).toEqual([]);
  });
});

describe('jtis this broker never issued', () => {
  it('refuses them by name with 404, alone or mixed with known ones, and writes nothing', async () => {
    await createBroker(server, 'home', 'elsewhere');
    const [known] = await issue(1);
    const [foreign] = await issue(1, 'elsewhere');
    const before = counts();
    for (const [method, target, options] of [
      ['POST', `${path}?jti=01JDX4Q3N8T7K9ZC5V2M6B1R0A`, {}],
      ['POST', `${path}?jti=${known!.jti},typo-1`, { json: { jti: ['typo-2', known!.jti] } }],
      // Issued, but by another broker.
      ['POST', `${path}?jti=${foreign!.jti}`, {}],
      ['DELETE', `${path}?jti=${known!.jti},typo-3`, {}],
    ] as const) {
      const response = await server.call(method, target, options);
      expect(response.status, JSON.stringify(response.body)).toBe(404);
      expect(response.body.errors).toEqual([
        expect.objectContaining({ code: 10404, error: 'not_found', field: 'jti' }),
      ]);
      const message: string = response.body.errors[0].message;
      expect(message).not.toContain(known!.jti);
      for (const unknown of ['01JDX4Q3N8T7K9ZC5V2M6B1R0A', 'typo-1', 'typo-2', 'typo-3', foreign!.jti]) {
        if (target.includes(unknown) || JSON.stringify(options).includes(unknown)) {
          expect(message).toContain(unknown);
        }
      }
    }
    expect(counts()).toEqual(before);
    expect(await listed()).toEqual([]);
  });

  it('un-revokes a known jti that is not revoked (idempotent), and revocations made before the rule', async () => {
    const [credential] = await issue(1);
    expect((await server.call('DELETE', `${path}?jti=${credential!.jti}`)).status).toBe(200);
    // A jti revoked while unknown jtis were still accepted is on the list: it can be un-revoked.
    const db = new Database(server.dbPath);
    try {
      db.prepare(
        "INSERT INTO revocations (broker_id, jti, revoked_at, expires_at, revoked_by) SELECT id, 'legacy', 0, NULL, 'k' FROM brokers WHERE name = 'sensors'",
      ).run();
    } finally {
      db.close();
    }
    expect((await server.call('POST', `${path}?jti=legacy`)).status).toBe(200);
    expect((await server.call('DELETE', `${path}?jti=legacy`)).status).toBe(200);
    expect((await server.call('DELETE', `${path}?jti=legacy`)).status).toBe(404);
  });
});

describe('revoking a credential revokes what was refreshed from it', () => {
  it('revokes descendants, transitively, in the list and the feed, and their refresh fails', async () => {
    await createBroker(server, 'home', 'chains', { expiration: 600 });
    const chains = `${brokers}/chains/revocations`;
    const [root, unrelated] = await issue(2, 'chains');
    const child = await refreshed(root!.token, false, 'chains');
    const grandchild = await refreshed(child.token, false, 'chains');
    // A second refresh of the root (no revoke_old): a sibling branch.
    const sibling = await refreshed(root!.token, false, 'chains');
    const start = (await server.call('GET', `${chains}?since=0`)).body.result.cursor;

    const revoked = await server.call('POST', `${chains}?jti=${root!.jti}`);
    expect(revoked.status).toBe(200);
    // The result names what was asked; the descendants are in the list and the feed.
    expect(revoked.body.result).toEqual([root!.jti]);
    const entries = await listed('chains');
    expect(jtisOf(entries)).toEqual([root!.jti, child.jti, grandchild.jti, sibling.jti].sort());
    expect(jtisOf(entries)).not.toContain(unrelated!.jti);
    for (const descendant of [child, grandchild, sibling]) {
      expect(entries.find((entry) => entry.jti === descendant.jti)).toMatchObject({
        descendant_of: root!.jti,
        expires_on: new Date(decodeJwt(descendant.token).exp! * 1000).toISOString(),
      });
    }
    const feed = await server.call('GET', `${chains}?since=${start}`);
    expect(feed.body.result.changes).toEqual(
      expect.arrayContaining(
        [root!, child, grandchild, sibling].map((credential) => ({
          jti: credential.jti,
          revoked: true,
          exp: decodeJwt(credential.token).exp,
        })),
      ),
    );
    expect(feed.body.result.changes).toHaveLength(4);
    for (const credential of [child, grandchild, sibling]) {
      expect((await refresh(credential.token, false, 'chains')).status).toBe(401);
    }
    const audit = await server.call('GET', '/v1/audit?action=revocations.revoke&broker=chains');
    expect(audit.body.result[0].details).toEqual({
      jtis: [root!.jti],
      descendants: [child.jti, grandchild.jti, sibling.jti].sort(),
    });
  });

  it('a broker verifying with the revocation feed refuses the refreshed credential once the first is revoked', async () => {
    await createBroker(server, 'home', 'verified', { expiration: 600 });
    const base = `${server.url}${brokers}/verified`;
    const [first] = await issue(1, 'verified');
    const refreshedOnce = await refreshed(first!.token, false, 'verified');
    const connect = async () => {
      // A fresh feed syncs from the start: no waiting for a poll.
      const revocations = createRevocationFeed({
        url: `${base}/revocations`,
        token: ADMIN_TOKEN,
        now: () => nowMs,
      });
      await revocations.start();
      try {
        const verifier = createVerifier({
          keys: `${base}/publickeys`,
          issuer: 'gatepass',
          audience: 'verified.home',
          algorithms: ['EdDSA'],
          revocations,
          now: () => nowMs,
        });
        const clientId = decodeJwt(refreshedOnce.token).sub!;
        return await verifier.verifyConnect({ clientId, password: refreshedOnce.token });
      } finally {
        revocations.stop();
      }
    };
    expect(await connect()).toMatchObject({ ok: true });
    expect((await server.call('POST', `${brokers}/verified/revocations?jti=${first!.jti}`)).status).toBe(200);
    expect(await connect()).toMatchObject({ ok: false, reason: 'revoked' });
  });

  it('revokes only the subtree of the jti named, and un-revokes what was revoked with it', async () => {
    await createBroker(server, 'home', 'tree', { expiration: 600 });
    const tree = `${brokers}/tree/revocations`;
    const [root] = await issue(1, 'tree');
    const a = await refreshed(root!.token, false, 'tree');
    const a1 = await refreshed(a.token, false, 'tree');
    const a2 = await refreshed(a1.token, false, 'tree');
    const b = await refreshed(root!.token, false, 'tree');

    expect((await server.call('POST', `${tree}?jti=${a.jti}`)).status).toBe(200);
    expect(jtisOf(await listed('tree'))).toEqual([a.jti, a1.jti, a2.jti].sort());
    // Revoked by name later: it keeps its own record, and stays revoked when its ancestor is un-revoked.
    expect((await server.call('POST', `${tree}?jti=${root!.jti},${a2.jti}`)).status).toBe(200);
    const entries = await listed('tree');
    expect(jtisOf(entries)).toEqual([root!.jti, a.jti, a1.jti, a2.jti, b.jti].sort());
    expect(Object.fromEntries(entries.map((entry) => [entry.jti, entry.descendant_of]))).toEqual({
      [root!.jti]: null,
      [a.jti]: null,
      [a1.jti]: a.jti,
      [a2.jti]: null,
      [b.jti]: root!.jti,
    });

    const start = (await server.call('GET', `${tree}?since=0`)).body.result.cursor;
    expect((await server.call('DELETE', `${tree}?jti=${root!.jti}`)).body.result).toEqual([root!.jti]);
    // b was revoked because root was; a (named) and its descendants were not.
    expect(jtisOf(await listed('tree'))).toEqual([a.jti, a1.jti, a2.jti].sort());
    const feed = await server.call('GET', `${tree}?since=${start}`);
    expect(feed.body.result.changes).toEqual([
      { jti: root!.jti, revoked: false, exp: null },
      { jti: b.jti, revoked: false, exp: null },
    ]);
    expect((await refresh(b.token, false, 'tree')).status).toBe(200);

    expect((await server.call('DELETE', `${tree}?jti=${a.jti}`)).status).toBe(200);
    // a1 came back with a; a2, named since, stays revoked.
    expect(jtisOf(await listed('tree'))).toEqual([a2.jti]);
  });

  it('leaves the links a refresh with revoke_old revoked, and reaches the credential at the end', async () => {
    await createBroker(server, 'home', 'rolling', { expiration: 600 });
    const rolling = `${brokers}/rolling/revocations`;
    const [first] = await issue(1, 'rolling');
    const second = await refreshed(first!.token, true, 'rolling');
    const third = await refreshed(second.token, true, 'rolling');
    expect(jtisOf(await listed('rolling'))).toEqual([first!.jti, second.jti].sort());

    // An operator who only knows the first credential's jti revokes the device's current one with it.
    expect((await server.call('POST', `${rolling}?jti=${first!.jti}`)).status).toBe(200);
    expect((await refresh(third.token, false, 'rolling')).status).toBe(401);
    const entries = await listed('rolling');
    expect(entries.find((entry) => entry.jti === third.jti)?.descendant_of).toBe(first!.jti);
    expect(entries.find((entry) => entry.jti === second.jti)?.descendant_of).toBeNull();

    expect((await server.call('DELETE', `${rolling}?jti=${first!.jti}`)).status).toBe(200);
    // The refresh's own revocation of the middle link stays.
    expect(jtisOf(await listed('rolling'))).toEqual([second.jti]);
    expect((await refresh(third.token, false, 'rolling')).status).toBe(200);
  });

  it('never leaves a refresh racing the revocation alive', async () => {
    await createBroker(server, 'home', 'race', { expiration: 600 });
    const [root] = await issue(1, 'race');
    const child = await refreshed(root!.token, false, 'race');
    const [refreshes, revoked] = await Promise.all([
      Promise.all(Array.from({ length: 8 }, () => refresh(child.token, false, 'race'))),
      server.call('POST', `${brokers}/race/revocations?jti=${root!.jti}`),
    ]);
    expect(revoked.status).toBe(200);
    const listedJtis = new Set(jtisOf(await listed('race')));
    for (const response of refreshes) {
      expect([200, 401]).toContain(response.status);
      if (response.status === 200) {
        const token = Object.values(response.body.result as Record<string, string>)[0]!;
        expect(listedJtis.has(decodeJwt(token).jti!)).toBe(true);
      }
    }
    expect(listedJtis.has(child.jti)).toBe(true);
  });
});

describe('pruning keeps refresh chains whole', () => {
  it('after the links expire, revoking the first credential still reaches the live one', async () => {
    await createBroker(server, 'home', 'pruned', { expiration: 600 });
    const pruned = `${brokers}/pruned/revocations`;
    const [first] = await issue(1, 'pruned');
    advance(500);
    const second = await refreshed(first!.token, false, 'pruned');
    advance(500);
    const middle = await refreshed(second.token, false, 'pruned');
    advance(500);
    const third = await refreshed(middle.token, false, 'pruned');
    // Expiries: first +600, second +1100, middle +1600; third lives until +2100. The job prunes a minute
    // after exp.
    advance(200);
    const run = await server.call('POST', '/v1/maintenance/run');
    expect(run.body.result.credentials_pruned).toBeGreaterThanOrEqual(1);

    const db = new Database(server.dbPath, { readonly: true });
    const rows = db
      .prepare(
        "SELECT jti, parent_jti FROM issued_credentials WHERE broker_id = (SELECT id FROM brokers WHERE name = 'pruned') ORDER BY jti",
      )
      .all();
    db.close();
    // The expired middle links are gone, their child attached to the first credential, which stays for it.
    expect(rows).toEqual([
      { jti: first!.jti, parent_jti: null },
      { jti: third.jti, parent_jti: first!.jti },
    ]);

    // The pruned link is as unknown as a typo; the first credential reaches the live one.
    const refused = await server.call('POST', `${pruned}?jti=${middle.jti}`);
    expect(refused.status).toBe(404);
    expect(refused.body.errors[0].message).toContain('expired');
    expect((await server.call('POST', `${pruned}?jti=${first!.jti}`)).status).toBe(200);
    expect(jtisOf(await listed('pruned'))).toEqual([first!.jti, third.jti].sort());

    // Once the live one has expired too, the job prunes the whole chain.
    advance(1000);
    await server.call('POST', '/v1/maintenance/run');
    const after = new Database(server.dbPath, { readonly: true });
    const left = after
      .prepare(
        "SELECT count(*) AS n FROM issued_credentials WHERE broker_id = (SELECT id FROM brokers WHERE name = 'pruned')",
      )
      .get() as { n: number };
    after.close();
    expect(left.n).toBe(0);
  });
});

describe('an empty body is no body', () => {
  /** What curl sends for `curl -X POST -H 'Content-Type: application/json' URL`: no body at all. */
  function rawRequest(method: string, target: string, extraHeaders: string[], body = ''): Promise<string> {
    const url = new URL(server.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          [
            `${method} ${target} HTTP/1.1`,
            `Host: ${url.host}`,
            `Authorization: Bearer ${ADMIN_TOKEN}`,
            'Content-Type: application/json',
            'Connection: close',
            ...extraHeaders,
            '',
            body,
          ].join('\r\n'),
        );
      });
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk.toString();
      });
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  it('revokes from the query with Content-Type: application/json and no body, however it is framed', async () => {
    const [a, b, c] = await issue(3);
    const noLength = await rawRequest('POST', `${path}?jti=${a!.jti}`, []);
    expect(noLength).toMatch(/^HTTP\/1\.1 200/);
    const zeroLength = await server.call('POST', `${path}?jti=${b!.jti}`, {
      body: '',
      headers: { 'content-type': 'application/json' },
    });
    expect(zeroLength.status, JSON.stringify(zeroLength.body)).toBe(200);
    const emptyChunked = await rawRequest(
      'POST',
      `${path}?jti=${c!.jti}`,
      ['Transfer-Encoding: chunked'],
      '0\r\n\r\n',
    );
    expect(emptyChunked).toMatch(/^HTTP\/1\.1 200/);
    expect(jtisOf(await listed())).toEqual([a!.jti, b!.jti, c!.jti].sort());
    // A body that is there but not JSON is still malformed.
    const blank = await server.call('POST', `${path}?jti=${a!.jti}`, {
      body: ' ',
      headers: { 'content-type': 'application/json' },
    });
    expect(blank.status).toBe(400);
    await server.call('DELETE', `${path}?jti=${a!.jti},${b!.jti},${c!.jti}`);
  });

  it('reads as no body where a body is required: the request the fields allow, or the field missing', async () => {
    const emptyJson = { body: '', headers: { 'content-type': 'application/json' } };
    const issued = await server.call('POST', `${brokers}/sensors/credentials?detail=true`, emptyJson);
    expect(issued.status, JSON.stringify(issued.body)).toBe(200);
    expect(issued.body.result).toHaveLength(1);
    const namespace = await server.call('POST', '/v1/namespaces', emptyJson);
    expect(namespace.status).toBe(400);
    expect(namespace.body.errors[0]).toMatchObject({ error: 'invalid_input', field: 'name' });
    const refreshWithout = await server.call('POST', `${brokers}/sensors/credentials/refresh`, {
      ...emptyJson,
      token: null,
    });
    expect(refreshWithout.status).toBe(400);
    expect(refreshWithout.body.errors[0]).toMatchObject({ field: 'token' });
  });
});
