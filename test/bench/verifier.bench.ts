// Verifying CONNECT credentials: cold and warm verifyConnect against jose, node:crypto and fast-jwt;
// revocation lookups by set size; ACL checks per second. Run directly with `tsx test/bench/verifier.bench.ts`.
import { createPublicKey, type JsonWebKey as NodeJsonWebKey, verify as nodeVerify } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { createVerifier as createFastJwtVerifier } from 'fast-jwt';
import { exportJWK, exportSPKI, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { authorize, compileAcl } from '../../src/core/acl.js';
import type { TopicAcl } from '../../src/core/claims.js';
import { createRevocationFeed, createStaticRevocations, createVerifier } from '../../src/verifier/index.js';
import { type BenchRow, type MeasureOptions, markdownTable, median, relativeTo } from './harness.js';

const ISSUER = 'https://gatepass.bench';
const AUDIENCE = 'plant-1';
const CLIENT_ID = 'sensor-17';
/** Distinct tokens cycled through by the cold benches: four times what the caching cold verifier holds. */
const COLD_TOKENS = 4096;
const COLD_CACHE_ENTRIES = 1024;
/** Cold verifications started together. */
const IN_FLIGHT = 16;
/** Calls per timed function for the fast paths, so the per-call await of the timing loop does not dominate. */
const BATCH = 100;

/** A realistic credential: EdDSA, a ULID jti, one hour, a device-shaped ACL. */
const ACL: TopicAcl = {
  pub: ['plant/line-3/sensor-17/#', 'plant/line-3/alerts'],
  sub: ['plant/commands/sensor-17', 'plant/broadcast/+'],
};

function ulidLike(n: number): string {
  return `01J${n.toString(32).toUpperCase().padStart(23, '0')}`;
}

export async function runVerifierBench(): Promise<BenchRow[]> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = 'bench-key';
  const now = Math.floor(Date.now() / 1000);
  const sign = (n: number) =>
    new SignJWT({ topicAcl: ACL })
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(CLIENT_ID)
      .setJti(ulidLike(n))
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(privateKey);
  // As a broker holds them, decoded from the bytes of a CONNECT packet (not jose's concatenated strings).
  const fromPacket = (token: string) => new TextDecoder().decode(new TextEncoder().encode(token));
  const tokens = (await Promise.all(Array.from({ length: COLD_TOKENS }, (_, n) => sign(n)))).map(fromPacket);
  const warmToken = tokens[0]!;

  const options = {
    keys: { keys: [{ ...jwk, kid, alg: 'EdDSA', use: 'sig' }] },
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['EdDSA'] as const,
    revocations: createStaticRevocations(),
  };
  // The verification alone, and the verification plus the cache's upkeep: with four times more tokens than
  // entries, every call misses, inserts, and evicts an entry that lived ~1,000 calls (old enough to have
  // been promoted by the GC, as in a storm of new clients).
  const cold = createVerifier({ ...options, cache: false });
  const coldCached = createVerifier({ ...options, cache: { maxEntries: COLD_CACHE_ENTRIES } });
  const warm = createVerifier(options);
  let next = 0;
  const nextToken = () => tokens[next++ % COLD_TOKENS]!;
  const nodeKey = createPublicKey({ key: jwk as NodeJsonWebKey, format: 'jwk' });

  // Cold: a full verification per call, same tokens and key for all three. WebCrypto verifies on libuv's
  // thread pool, so the asynchronous two run IN_FLIGHT at a time, as a broker does with a burst of CONNECTs;
  // node:crypto's verify is synchronous and runs one at a time on the main thread.
  const burst = (verify: (token: string) => Promise<unknown>) => () =>
    Promise.all(Array.from({ length: IN_FLIGHT }, () => verify(nextToken())));
  const verifyWith = (verifier: typeof cold) => async (password: string) => {
    const result = await verifier.verifyConnect({ clientId: CLIENT_ID, password });
    if (!result.ok) throw new Error(`bench token refused: ${result.reason}`);
  };
  const [coldRow, coldCachedRow, joseRow, nodeRow] = await interleaved([
    {
      name: `verifyConnect, cold (full verification; cache off), ${IN_FLIGHT} in flight`,
      batch: IN_FLIGHT,
      run: burst(verifyWith(cold)),
    },
    {
      name: `verifyConnect, cold, then cached (${COLD_CACHE_ENTRIES.toLocaleString('en-US')}-entry cache, all misses), ${IN_FLIGHT} in flight`,
      batch: IN_FLIGHT,
      run: burst(verifyWith(coldCached)),
    },
    {
      name: `jose.jwtVerify (same checks but topicAcl and client binding), ${IN_FLIGHT} in flight`,
      batch: IN_FLIGHT,
      run: burst((token) =>
        jwtVerify(token, publicKey, {
          algorithms: ['EdDSA'],
          issuer: ISSUER,
          audience: AUDIENCE,
          typ: 'JWT',
          requiredClaims: ['sub', 'jti', 'iat'],
          clockTolerance: 5,
        }),
      ),
    },
    {
      name: 'node:crypto verify (signature only, synchronous)',
      run: () => {
        const token = nextToken();
        const lastDot = token.lastIndexOf('.');
        const signature = Buffer.from(token.slice(lastDot + 1), 'base64url');
        if (!nodeVerify(null, Buffer.from(token.slice(0, lastDot)), nodeKey, signature)) {
          throw new Error('bench signature refused');
        }
      },
    },
  ]);

  // Warm: a reconnect storm, the same token again and again.
  const fastJwt = createFastJwtVerifier({
    key: await exportSPKI(publicKey),
    algorithms: ['EdDSA'],
    allowedIss: ISSUER,
    allowedAud: AUDIENCE,
    checkTyp: 'JWT',
    requiredClaims: ['sub', 'jti', 'iat'],
    cache: true,
  });
  const [warmRow, fastJwtRow] = await interleaved([
    {
      name: 'verifyConnect, warm (cache hit; revocation, expiry, key and binding checked)',
      batch: BATCH,
      run: async () => {
        for (let i = 0; i < BATCH; i++) {
          const result = await warm.verifyConnect({ clientId: CLIENT_ID, password: warmToken });
          if (!result.ok) throw new Error(`bench token refused: ${result.reason}`);
        }
      },
    },
    {
      name: 'fast-jwt createVerifier({ cache: true }), synchronous, cache hit',
      batch: BATCH,
      run: () => {
        for (let i = 0; i < BATCH; i++) fastJwt(warmToken);
      },
    },
  ]);

  // Revocation: the feed's hash lookup, whatever the number of revoked credentials. The feed is filled by
  // its own sync from a stubbed answer (one page holding every change), so what is measured is the
  // structure a broker following gatepass's feed really consults.
  const lookups = Array.from({ length: 1024 }, (_, n) => ulidLike(n * 977 + 13));
  const feedHolding = async (size: number) => {
    const result = {
      changes: Array.from({ length: size }, (_, n) => ({ jti: ulidLike(n * 2), revoked: true, exp: null })),
      cursor: String(size),
      more: false,
    };
    const answer = { ok: true, status: 200, json: async () => ({ success: true, result }) } as Response;
    const feed = createRevocationFeed({
      url: 'https://gatepass.bench/v1/namespaces/bench/brokers/plant-1/revocations',
      token: 'gpk_bench',
      fetch: async () => answer,
    });
    await feed.start();
    feed.stop();
    if (feed.size !== size) throw new Error(`the feed holds ${feed.size} revocations, not ${size}`);
    return feed;
  };
  const feeds = new Map([
    [1_000, await feedHolding(1_000)],
    [1_000_000, await feedHolding(1_000_000)],
  ]);
  const revocationSubject = (size: number): Subject => {
    const revocations = feeds.get(size)!;
    let i = 0;
    return {
      name: `revocation lookup, ${size.toLocaleString('en-US')} revoked`,
      batch: BATCH,
      run: () => {
        for (let n = 0; n < BATCH; n++) revocations.isRevoked(lookups[i++ & 1023]!);
      },
    };
  };
  const [smallRow, largeRow] = await interleaved([revocationSubject(1_000), revocationSubject(1_000_000)]);

  // ACL checks: a 20-filter ACL compiled once, mixed allowed and refused topics.
  const acl = compileAcl({
    pub: [
      ...Array.from({ length: 6 }, (_, n) => `plant/line-${n}/sensor-17/telemetry`),
      'plant/line-3/sensor-17/#',
      'plant/+/sensor-17/status',
      'plant/line-3/alerts',
      'fleet/sensor-17/+/state',
    ],
    sub: [
      ...Array.from({ length: 6 }, (_, n) => `plant/commands/line-${n}/sensor-17`),
      'plant/broadcast/+',
      'plant/line-3/#',
      'fleet/+/sensor-17/#',
      'config/sensor-17',
    ],
  });
  const topics = [
    'plant/line-2/sensor-17/telemetry',
    'plant/line-3/sensor-17/temperature/raw',
    'plant/line-9/sensor-17/status',
    'plant/line-4/sensor-18/status',
    'fleet/sensor-17/gps/state',
    'other/topic/entirely',
  ];
  const filters = [
    'plant/commands/line-1/sensor-17',
    'plant/broadcast/+',
    'plant/line-3/+/temperature',
    '$share/workers/plant/line-3/#',
    'plant/#',
    'fleet/eu/sensor-17/+',
  ];
  let t = 0;
  const [publishRow, subscribeRow] = await interleaved([
    {
      name: 'authorize publish, 20-filter ACL (half allowed)',
      batch: BATCH,
      run: () => {
        for (let n = 0; n < BATCH; n++) authorize(acl, 'publish', topics[t++ % topics.length]!);
      },
    },
    {
      name: 'authorize subscribe, 20-filter ACL (half allowed)',
      batch: BATCH,
      run: () => {
        for (let n = 0; n < BATCH; n++) authorize(acl, 'subscribe', filters[t++ % filters.length]!);
      },
    },
  ]);

  return [
    compared(coldRow!, joseRow!, 'target ≤ 1.11, i.e. ≥ 0.9 of jose’s throughput'),
    compared(coldCachedRow!, joseRow!, 'the same plus hashing, inserting and evicting (GC included)'),
    compared(coldRow!, nodeRow!, 'the floor: a bare signature check on the main thread'),
    plain(joseRow!),
    plain(nodeRow!),
    compared(warmRow!, fastJwtRow!, 'target ≤ 1.0, i.e. at least fast-jwt’s throughput'),
    plain(fastJwtRow!),
    plain(smallRow!),
    compared(largeRow!, smallRow!, 'O(1): should stay near 1'),
    plain(publishRow!),
    plain(subscribeRow!),
  ];
}

interface Subject {
  name: string;
  run: () => unknown;
  /** Operations per call of `run`. */
  batch?: number;
}

/** A subject's median rate, and its median CPU time per operation (main thread and thread pool alike). */
type Measured = BenchRow & { cpuPerOp: number };

/**
 * Measures subjects in alternating rounds and reports each one's median round, so drift on a busy machine
 * (thermal, neighbours, GC) hits every subject of a comparison alike.
 */
async function interleaved(
  subjects: Subject[],
  { rounds = 12, minTime = 150, warmup = 300 }: MeasureOptions = {},
): Promise<Measured[]> {
  for (const subject of subjects) {
    const end = performance.now() + warmup;
    do await subject.run();
    while (performance.now() < end);
  }
  const rates = subjects.map((): number[] => []);
  const cpuPerOp = subjects.map((): number[] => []);
  for (let round = 0; round < rounds; round++) {
    // Each round starts with the next subject, so none always runs right after the same neighbour.
    for (let turn = 0; turn < subjects.length; turn++) {
      const i = (round + turn) % subjects.length;
      const subject = subjects[i]!;
      let calls = 0;
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      let elapsed = 0;
      do {
        await subject.run();
        calls++;
        elapsed = performance.now() - started;
      } while (elapsed < minTime);
      const cpu = process.cpuUsage(cpuBefore);
      const ops = calls * (subject.batch ?? 1);
      rates[i]!.push((ops * 1000) / elapsed);
      cpuPerOp[i]!.push((cpu.user + cpu.system) / ops);
    }
  }
  return subjects.map((subject, i) => ({
    name: subject.name,
    opsPerSec: median(rates[i]!),
    cpuPerOp: median(cpuPerOp[i]!),
  }));
}

/**
 * The row against a baseline measured in the same rounds (the harness's ratio: time ÷ baseline time), with
 * the same ratio in CPU time in the note: on a shared machine, wall time also measures the neighbours.
 */
function compared(row: Measured, baseline: Measured, note: string): BenchRow {
  const cpuRatio = row.cpuPerOp / baseline.cpuPerOp;
  return relativeTo(
    plain(row),
    plain(baseline),
    `${note}; CPU time ÷ baseline CPU time: ${cpuRatio.toFixed(2)}`,
  );
}

function plain({ cpuPerOp: _cpuPerOp, ...row }: Measured): BenchRow {
  return row;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  console.log(markdownTable(await runVerifierBench()));
  console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
