// The JWT attack corpus (attack-corpus.ts) against the verifier brokers embed and against the refresh
// endpoint, with credentials a real gatepass issued: every row refused, for the reason the row names.

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeyEncryptionKey } from '../../src/crypto/key-encryption.js';
import { sealingContext } from '../../src/service/keyring.js';
import {
  createLocalKeySource,
  createStaticRevocations,
  createVerifier,
  type Verifier,
} from '../../src/verifier/index.js';
import { createBroker, startTestServer, type TestServer } from '../support/server.js';
import {
  ATTACK_CASE_COUNT,
  ATTACK_CASES,
  type AttackCase,
  type CorpusContext,
  type CorpusTarget,
  decodeSegment,
  parts,
  signRaw,
} from './attack-corpus.js';

/** 2031-01-01: the server's and the verifiers' clock, moved by each row's `at`. */
const T0 = Date.UTC(2031, 0, 1);
let nowMs = T0;

let server: TestServer;
let attackerServer: Server;
let attackerHits = 0;
let ctx: CorpusContext;
let verifiers: Record<CorpusTarget, Verifier>;
let issuedBefore: number;

const BROKERS = { sensors: '/v1/namespaces/home/brokers/sensors', ec: '/v1/namespaces/home/brokers/ec' };
const brokerOf = (target: CorpusTarget) => (target === 'ec' ? BROKERS.ec : BROKERS.sensors);

async function issue(path: string, clientId: string, expiration = 3600): Promise<string> {
  const response = await server.call('POST', `${path}/credentials`, {
    json: {
      clientid: [clientId],
      expiration,
      topicAcl: { pub: [`sensors/${clientId}/#`], sub: [`commands/${clientId}`] },
    },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.result[clientId];
}

/** The published key that signs now (the set also holds the next key, published ahead). */
async function publishedKey(path: string): Promise<JWK & { kid: string; x: string }> {
  const response = await server.call('GET', `${path}/publickeys`, { token: null });
  const listed = await server.call('GET', `${path}/signing-keys`);
  const current = listed.body.result.find((key: { state: string }) => key.state === 'current').kid;
  return response.body.result.keys.find((key: { kid: string }) => key.kid === current);
}

/** The broker's private key, as only gatepass (or an insider with the database and the KEK) holds it. */
async function unsealPrivateKey(path: string, kid: string, alg: 'EdDSA' | 'ES256'): Promise<CryptoKey> {
  const kek = readFileSync(join(server.dataDir, 'kek.key'), 'utf8').trim();
  const db = new Database(server.dbPath, { readonly: true });
  const row = db
    .prepare(
      `select k.broker_id as brokerId, k.sealed_private_jwk as sealed from signing_keys k
       join brokers b on b.id = k.broker_id join namespaces n on n.id = b.namespace_id
       where n.name = ? and b.name = ? and k.kid = ?`,
    )
    .get(path.split('/')[3], path.split('/')[5], kid) as { brokerId: string; sealed: string };
  db.close();
  const keyEncryptionKey = await createKeyEncryptionKey(new Uint8Array(Buffer.from(kek, 'base64url')));
  const jwk = JSON.parse(await keyEncryptionKey.decrypt(row.sealed, sealingContext(row.brokerId, kid)));
  return (await importJWK(jwk, alg)) as CryptoKey;
}

async function attackerKey(alg: 'EdDSA' | 'ES256' | 'RS256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(publicKey);
  return { privateKey, jwk: { ...jwk, kid: await calculateJwkThumbprint(jwk), alg } };
}

function issuedCount(): number {
  const db = new Database(server.dbPath, { readonly: true });
  try {
    return (db.prepare('select count(*) as n from issued_credentials').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function refresh(target: CorpusTarget, token: string) {
  return server.call('POST', `${brokerOf(target)}/credentials/refresh`, { token: null, json: { token } });
}

beforeAll(async () => {
  server = await startTestServer({ clock: () => nowMs });
  await createBroker(server, 'home', 'sensors');
  await createBroker(server, 'home', 'other');
  await createBroker(server, 'away', 'sensors');
  await createBroker(server, 'home', 'ec', { algorithm: 'ES256' });

  attackerServer = createServer((_request, response) => {
    attackerHits++;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}');
  });
  attackerServer.listen(0, '127.0.0.1');
  await once(attackerServer, 'listening');

  const revoked = await issue(BROKERS.sensors, 'dev-1');
  const revokedResponse = await server.call('POST', `${BROKERS.sensors}/revocations`, {
    json: { jti: [decodeJwt(revoked).jti] },
  });
  expect(revokedResponse.status).toBe(200);

  const publicJwk = await publishedKey(BROKERS.sensors);
  const ecPublicJwk = await publishedKey(BROKERS.ec);
  const sensorsKey = await unsealPrivateKey(BROKERS.sensors, publicJwk.kid, 'EdDSA');
  const ecKey = await unsealPrivateKey(BROKERS.ec, ecPublicJwk.kid, 'ES256');
  const [ed, es, rsa] = await Promise.all([attackerKey('EdDSA'), attackerKey('ES256'), attackerKey('RS256')]);

  ctx = {
    genuine: await issue(BROKERS.sensors, 'dev-1'),
    genuine2: await issue(BROKERS.sensors, 'dev-2'),
    shortLived: await issue(BROKERS.sensors, 'dev-1', 60),
    revoked,
    otherBroker: await issue('/v1/namespaces/home/brokers/other', 'dev-1'),
    otherNamespace: await issue('/v1/namespaces/away/brokers/sensors', 'dev-1'),
    ec: await issue(BROKERS.ec, 'dev-1'),
    publicJwk,
    ecPublicJwk,
    insiderSign: (header, payload) => signRaw(sensorsKey, 'EdDSA', header, payload),
    insiderSignEc: (header, payload) => signRaw(ecKey, 'ES256', header, payload),
    attacker: { ed, es, rsa },
    attackerUrl: `http://127.0.0.1:${(attackerServer.address() as AddressInfo).port}`,
  };

  const list = await server.call('GET', `${BROKERS.sensors}/revocations`);
  const revocations = createStaticRevocations(list.body.result.map((entry: { jti: string }) => entry.jti));
  const common = {
    issuer: 'gatepass',
    // The most a broker could pin: so an algorithm is refused for its key, not merely for being unpinned.
    algorithms: ['EdDSA', 'ES256'] as const,
    revocations,
    now: () => nowMs,
  };
  const othersKeys = await Promise.all(
    ['/v1/namespaces/home/brokers/other', '/v1/namespaces/away/brokers/sensors'].map(publishedKey),
  );
  verifiers = {
    sensors: createVerifier({
      ...common,
      algorithms: [...common.algorithms],
      keys: `${server.url}${BROKERS.sensors}/publickeys`,
      audience: 'sensors.home',
    }),
    combined: createVerifier({
      ...common,
      algorithms: [...common.algorithms],
      keys: createLocalKeySource({ keys: [publicJwk, ...othersKeys] }, { algorithms: ['EdDSA'] }),
      audience: 'sensors.home',
    }),
    ec: createVerifier({
      ...common,
      algorithms: [...common.algorithms],
      keys: `${server.url}${BROKERS.ec}/publickeys`,
      audience: 'ec.home',
    }),
  };

  // Controls: the genuine tokens pass, so each refusal below is the attack's doing. They are also cached
  // now, so a tampered token sharing a cached signature must not ride on the cache.
  nowMs = T0 + 10_000;
  for (const [target, token, clientId] of [
    ['sensors', ctx.genuine, 'dev-1'],
    ['sensors', ctx.genuine2, 'dev-2'],
    ['combined', ctx.genuine, 'dev-1'],
    ['ec', ctx.ec, 'dev-1'],
  ] as const) {
    expect(await verifiers[target].verifyConnect({ clientId, password: token })).toMatchObject({ ok: true });
  }
  issuedBefore = issuedCount();
});

afterAll(async () => {
  attackerServer.closeAllConnections();
  await new Promise((resolve) => attackerServer.close(resolve));
  await server.destroy();
});

describe('the JWT attack corpus', () => {
  it(`has ${ATTACK_CASE_COUNT} cases, each with a distinct name, quoted in docs/security.md`, () => {
    expect(ATTACK_CASES).toHaveLength(ATTACK_CASE_COUNT);
    const names = ATTACK_CASES.map((row) => `${row.group}: ${row.name}`);
    expect(new Set(names).size).toBe(names.length);
    const securityDoc = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
    expect(securityDoc).toContain(`${ATTACK_CASE_COUNT} attack cases, all refused`);
  });

  describe('verifyConnect refuses every case', () => {
    it.each(ATTACK_CASES)('$group: $name -> $reason', async (row: AttackCase) => {
      nowMs = T0 + row.at * 1000;
      const input = await row.build(ctx);
      expect(await verifiers[row.target].verifyConnect(input)).toEqual({ ok: false, reason: row.reason });
    });
  });

  describe('POST .../credentials/refresh refuses every token-shaped case, never with a 5xx', () => {
    const applicable = ATTACK_CASES.filter((row) => row.refresh !== null);
    it.each(applicable)('$group: $name -> $refresh', async (row: AttackCase) => {
      nowMs = T0 + row.at * 1000;
      const { password } = await row.build(ctx);
      expect(typeof password).toBe('string');
      const response = await refresh(row.target, password as string);
      expect({ status: response.status, body: response.body }).toMatchObject({
        status: row.refresh,
        body: { success: false, result: null },
      });
      if (row.refresh === 401)
        expect(response.body.errors).toMatchObject([{ error: 'invalid_token', code: 10461 }]);
      // Generic on the wire: the presented token is never echoed.
      const [, payloadSegment] = parts(password as string);
      if (payloadSegment && payloadSegment.length > 8)
        expect(JSON.stringify(response.body)).not.toContain(payloadSegment);
    });

    it('issued nothing and logged no server error', () => {
      expect(issuedCount()).toBe(issuedBefore);
      expect(server.logs.filter((line) => Number(line.status) >= 500 || line.level === 'error')).toEqual([]);
    });
  });

  it('never fetched a jku or x5u URL from a token', () => {
    expect(attackerHits).toBe(0);
  });
});

describe('duplicate members: the last one counts, for every check alike', () => {
  // RFC 7519 §4 allows either refusing duplicate claim names or taking the lexically last; JSON.parse, and
  // so the verifier and jose, take the last. What must hold is that no check reads another value than the
  // binding does: a token whose first `sub` names a victim binds only its last `sub`.
  async function duplicateSub() {
    const claims = decodeSegment(parts(ctx.genuine)[1]);
    delete claims.sub;
    const text = JSON.stringify(claims)
      .replace(/^\{/, '{"sub":"dev-1",')
      .replace(/\}$/, ',"sub":"intruder"}');
    const header = JSON.stringify({ alg: 'EdDSA', kid: ctx.publicJwk.kid, typ: 'JWT' });
    return ctx.insiderSign(header, text);
  }

  it('the verifier binds the last sub, and the session reports it', async () => {
    nowMs = T0 + 10_000;
    const token = await duplicateSub();
    expect(await verifiers.sensors.verifyConnect({ clientId: 'dev-1', password: token })).toEqual({
      ok: false,
      reason: 'client_id_mismatch',
    });
    const session = await verifiers.sensors.verifyConnect({ clientId: '', password: token });
    expect(session).toMatchObject({ ok: true, clientId: 'intruder', assignedClientId: 'intruder' });
    expect(session.ok && session.claims.sub).toBe('intruder');
  });

  it('a refresh renews the last sub only, never the first', async () => {
    nowMs = T0 + 10_000;
    const response = await refresh('sensors', await duplicateSub());
    expect(response.status).toBe(200);
    expect(Object.keys(response.body.result)).toEqual(['intruder']);
    expect(decodeJwt(response.body.result.intruder).sub).toBe('intruder');
  });
});
