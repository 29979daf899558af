// The webhooks' per-broker verifiers over a real SQLite database: changes through the services at once
// (revocations, broker settings and lifetimes, keys), changes by other processes within their intervals.
import '@hono/zod-openapi';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createUlidGenerator } from '../../src/core/ids.js';
import { createKeyEncryptionKey, generateKeyEncryptionKey } from '../../src/crypto/key-encryption.js';
import { openDatabase } from '../../src/runtime/node.js';
import type { Actor } from '../../src/service/access.js';
import { brokerEvent } from '../../src/service/audit.js';
import { type BrokerVerifiers, createBrokerVerifiers } from '../../src/service/broker-verifiers.js';
import { createServices, type Services } from '../../src/service/index.js';
import type { Store } from '../../src/store/port.js';

const T0 = Date.UTC(2025, 0, 1);
const admin: Actor = { keyId: 'test-admin', namespaceId: null, permission: 'write' };

let dir: string;
let close: () => void;
let now: number;
let store: Store;
let services: Services;
let verifiers: BrokerVerifiers;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatepass-verifiers-'));
  const db = openDatabase(join(dir, 'gatepass.db'));
  close = () => db.sqlite.close();
  store = db.store;
  now = T0;
  const clock = () => now;
  const kek = await createKeyEncryptionKey(
    new Uint8Array(Buffer.from(generateKeyEncryptionKey(), 'base64url')),
  );
  services = createServices({
    store,
    keyEncryptionKey: kek,
    clock,
    newId: createUlidGenerator(clock),
    defaultIssuer: 'gatepass',
  });
  verifiers = services.brokerVerifiers;
  await services.namespaces.create(admin, { name: 'home' });
  await services.brokers.create(admin, 'home', { name: 'sensors', keyRotationPeriod: 3600 });
});

afterEach(() => {
  close();
  rmSync(dir, { recursive: true, force: true });
});

async function issue(clientId = 'd1'): Promise<{ token: string; jti: string }> {
  const [issued] = await services.credentials.issue(admin, 'home', 'sensors', {
    number: 1,
    clientIds: [clientId],
  });
  return { token: issued!.token, jti: issued!.jti };
}

async function verify(token: string, clientId = 'd1') {
  const verification = await verifiers.get('home', 'sensors');
  if (verification === undefined) throw new Error('no broker');
  return verification.verifier.verifyConnect({ clientId, password: token });
}

describe('createBrokerVerifiers', () => {
  it('knows no broker that does not exist', async () => {
    expect(await verifiers.get('home', 'nope')).toBeUndefined();
    expect(await verifiers.get('nope', 'sensors')).toBeUndefined();
  });

  it('verifies the broker’s credentials as the library does', async () => {
    const { token } = await issue();
    expect(await verify(token)).toMatchObject({ ok: true, clientId: 'd1' });
    expect(await verify(token, 'd2')).toEqual({ ok: false, reason: 'client_id_mismatch' });
  });

  it('applies a revocation through the services to the very next verification, and an un-revoke too', async () => {
    const { token, jti } = await issue();
    expect((await verify(token)).ok).toBe(true);
    await services.revocations.revoke(admin, 'home', 'sensors', [jti]);
    expect(await verify(token)).toEqual({ ok: false, reason: 'revoked' });
    await services.revocations.unrevoke(admin, 'home', 'sensors', [jti]);
    expect((await verify(token)).ok).toBe(true);
  });

  it('applies a refresh that revokes the old token at once', async () => {
    const { token } = await issue();
    expect((await verify(token)).ok).toBe(true);
    const refreshed = await services.refresh.refresh('home', 'sensors', { token, revokeOld: true });
    expect(refreshed.ok).toBe(true);
    expect(await verify(token)).toEqual({ ok: false, reason: 'revoked' });
    if (refreshed.ok) expect((await verify(refreshed.token)).ok).toBe(true);
  });

  it('sees revocations written by another process sharing the database within feedPollMs, over many pages', async () => {
    const { token, jti } = await issue();
    expect((await verify(token)).ok).toBe(true);
    const broker = (await services.brokers.get(admin, 'home', 'sensors')) as { id: string };
    const records = Array.from({ length: 2500 }, (_, i) => ({
      jti: i === 2499 ? jti : `other-${i}`,
      revokedAt: now,
      expiresAt: null,
      revokedBy: 'elsewhere',
    }));
    // Written past these services' store: only the periodic feed read can see it.
    await store.insertRevocations(broker.id, records);
    expect((await verify(token)).ok).toBe(true);
    now += 1000;
    expect(await verify(token)).toEqual({ ok: false, reason: 'revoked' });
    const verification = await verifiers.get('home', 'sensors');
    expect(verification?.revocations.isRevoked('other-0')).toBe(true);
    expect(verification?.revocations.isRevoked('other-2498')).toBe(true);
  });

  it('accepts the first token of a rotated key at once, and the old key’s tokens still', async () => {
    const old = await issue();
    expect((await verify(old.token)).ok).toBe(true);
    // Rotate as the scheduled job would an hour later, while this process's clock moves by a second only:
    // well inside the recheck interval, so only the unknown kid can make the verifier read the keys again.
    expect((await services.maintenance.runScheduledJob({ now: T0 + 3601_000 })).keysRotated).toBe(1);
    now = T0 + 1000;
    const fresh = await issue();
    expect(fresh.token.split('.')[0]).not.toBe(old.token.split('.')[0]);
    expect(await verify(fresh.token)).toMatchObject({ ok: true });
    expect(await verify(old.token)).toMatchObject({ ok: true });
  });

  it('applies broker changes made through the services to the very next verification', async () => {
    const { token } = await issue();
    expect((await verify(token)).ok).toBe(true);
    await services.brokers.update(admin, 'home', 'sensors', { audience: 'elsewhere' });
    expect(await verify(token)).toEqual({ ok: false, reason: 'wrong_audience' });
    await services.brokers.update(admin, 'home', 'sensors', { audience: 'sensors.home' });
    expect((await verify(token)).ok).toBe(true);
    await services.brokers.delete(admin, 'home', 'sensors');
    expect(await verifiers.get('home', 'sensors')).toBeUndefined();
  });

  it('forgets every broker of a deleted namespace at once', async () => {
    expect(await verifiers.get('home', 'sensors')).toBeDefined();
    await services.namespaces.delete(admin, 'home', { force: true });
    expect(await verifiers.get('home', 'sensors')).toBeUndefined();
  });

  it('applies a new expiration and max_lifetime to tokens issued before', async () => {
    await services.brokers.update(admin, 'home', 'sensors', { expiration: null });
    const { token } = await issue();
    expect(await verify(token)).toMatchObject({ ok: true, expiresAt: null });
    await services.brokers.update(admin, 'home', 'sensors', { maxLifetime: 3600 });
    expect(await verify(token)).toEqual({ ok: false, reason: 'missing_expiry' });

    await services.brokers.update(admin, 'home', 'sensors', { expiration: 86_400, maxLifetime: null });
    const day = await issue();
    expect(await verify(day.token)).toMatchObject({ ok: true, expiresAt: T0 / 1000 + 86_400 });
    await services.brokers.update(admin, 'home', 'sensors', { expiration: 3600 });
    expect(await verify(day.token)).toMatchObject({ ok: true, expiresAt: T0 / 1000 + 3600 });
    now = T0 + 3606_000;
    expect(await verify(day.token)).toEqual({ ok: false, reason: 'lifetime_exceeded' });
  });

  it('drops a retired key the scheduled job removes at once', async () => {
    await services.brokers.update(admin, 'home', 'sensors', { expiration: null });
    const old = await issue();
    expect((await verify(old.token)).ok).toBe(true);
    // The job runs with its own time (days ahead) while this process's clock stands still: only the
    // notification can make the verifier read the keys again.
    expect((await services.maintenance.runScheduledJob({ now: T0 + 3601_000 })).keysRotated).toBe(1);
    expect((await verify(old.token)).ok).toBe(true);
    const removed = await services.maintenance.runScheduledJob({ now: T0 + 9 * 86_400_000 });
    expect(removed.keysRemoved).toBe(1);
    expect(await verify(old.token)).toEqual({ ok: false, reason: 'unknown_key' });
  });

  it('sees broker changes made by another process sharing the database within recheckMs', async () => {
    const { token } = await issue();
    expect((await verify(token)).ok).toBe(true);
    const broker = (await services.brokers.get(admin, 'home', 'sensors')) as { id: string; name: string };
    const namespace = { id: (await store.findNamespace('home'))!.id, name: 'home' };
    const audit = (action: 'broker.update' | 'broker.delete') =>
      brokerEvent(action, admin.keyId, now, { namespace, broker }, {});
    // Written past these services: only the periodic re-read can see it.
    await store.updateBroker(broker.id, { audience: 'elsewhere', modifiedAt: now }, audit('broker.update'));
    expect((await verify(token)).ok).toBe(true);
    now += 5_000;
    expect(await verify(token)).toEqual({ ok: false, reason: 'wrong_audience' });
    await store.deleteBroker(broker.id, audit('broker.delete'));
    expect(await verifiers.get('home', 'sensors')).toBeDefined();
    now += 5_000;
    expect(await verifiers.get('home', 'sensors')).toBeUndefined();
  });

  it('reads again when told of a change while a read is under way', async () => {
    const { token } = await issue();
    let reading: () => void = () => {};
    const readStarted = new Promise<void>((resolve) => {
      reading = resolve;
    });
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A store whose first broker read returns what it found only once the test says so.
    let held = false;
    const gated: Store = {
      ...store,
      async findBroker(namespaceId, name) {
        const found = await store.findBroker(namespaceId, name);
        if (!held) {
          held = true;
          reading();
          await released;
        }
        return found;
      },
    };
    const own = createBrokerVerifiers({ store: gated, clock: () => now });
    const verification = own.get('home', 'sensors');
    await readStarted;
    const broker = await services.brokers.update(admin, 'home', 'sensors', { audience: 'elsewhere' });
    own.listener.brokerChanged(broker.id);
    release();
    const verifier = (await verification)?.verifier;
    expect(await verifier?.verifyConnect({ clientId: 'd1', password: token })).toEqual({
      ok: false,
      reason: 'wrong_audience',
    });
  });
});
