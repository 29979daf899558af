// The migrations on a database written by an earlier version: what revocation_lineage and
// key_states_claim_profile derive from it.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterEach, describe, expect, it } from 'vitest';
import { signingKeyState } from '../../src/core/signing-keys.js';
import { MIGRATIONS_FOLDER } from '../../src/runtime/node.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The migrations folder as it was before the migration named `name` (its tag without the number). */
function migrationsBefore(name: string): string {
  const folder = mkdtempSync(join(tmpdir(), 'gatepass-migrations-'));
  dirs.push(folder);
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8'));
  // By name: the number changes when branches' migrations are merged.
  const index = journal.entries.findIndex((entry: { tag: string }) => entry.tag.endsWith(`_${name}`));
  expect(index).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, index);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

describe('migration revocation_lineage', () => {
  it('links refreshed credentials to their parents and revokes what a revocation by name now reaches', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatepass-db-'));
    dirs.push(dir);
    const sqlite = new Database(join(dir, 'old.db'));
    try {
      migrate(drizzle(sqlite), { migrationsFolder: migrationsBefore('revocation_lineage') });
      sqlite.exec(`
        INSERT INTO namespaces VALUES ('n', 'home', '', 0, 0);
        INSERT INTO brokers (id, namespace_id, name, auth_type, expiration, algorithm, default_topic_acl, issuer,
          audience, created_at, modified_at) VALUES ('b', 'n', 'sensors', 'TOKEN', 600, 'EdDSA', '"#"', 'gatepass',
          'sensors.home', 0, 0);
        -- admin -> a1 -> a2 (revoked by name: a), and r1 -> r2 -> r3, r1 and r2 revoked by refreshes.
        INSERT INTO issued_credentials (broker_id, jti, client_id, kid, issued_at, expires_at, issued_by) VALUES
          ('b', 'a', 'd', 'k', 1, 9000000001, 'key1'),
          ('b', 'a1', 'd', 'k', 2, 9000000002, 'refresh:a'),
          ('b', 'a2', 'd', 'k', 3, 9000000003, 'refresh:a1'),
          ('b', 'r1', 'e', 'k', 1, 9000000001, 'key1'),
          ('b', 'r2', 'e', 'k', 2, 9000000002, 'refresh:r1'),
          ('b', 'r3', 'e', 'k', 3, 9000000003, 'refresh:r2');
        INSERT INTO revocations (broker_id, jti, revoked_at, expires_at, revoked_by) VALUES
          ('b', 'a', 10, 9000000001, 'key1'),
          ('b', 'r1', 11, 9000000001, 'refresh:r2'),
          ('b', 'r2', 12, 9000000002, 'refresh:r3');
      `);
      migrate(drizzle(sqlite), { migrationsFolder: MIGRATIONS_FOLDER });

      const parents = sqlite.prepare('SELECT jti, parent_jti FROM issued_credentials ORDER BY jti').all();
      expect(parents).toEqual([
        { jti: 'a', parent_jti: null },
        { jti: 'a1', parent_jti: 'a' },
        { jti: 'a2', parent_jti: 'a1' },
        { jti: 'r1', parent_jti: null },
        { jti: 'r2', parent_jti: 'r1' },
        { jti: 'r3', parent_jti: 'r2' },
      ]);
      const revoked = sqlite
        .prepare('SELECT jti, expires_at, revoked_by, descendant_of FROM revocations ORDER BY jti')
        .all();
      expect(revoked).toEqual([
        { jti: 'a', expires_at: 9000000001, revoked_by: 'key1', descendant_of: null },
        { jti: 'a1', expires_at: 9000000002, revoked_by: 'key1', descendant_of: 'a' },
        { jti: 'a2', expires_at: 9000000003, revoked_by: 'key1', descendant_of: 'a' },
        { jti: 'r1', expires_at: 9000000001, revoked_by: 'refresh:r2', descendant_of: null },
        { jti: 'r2', expires_at: 9000000002, revoked_by: 'refresh:r3', descendant_of: null },
      ]);
      const events = sqlite
        .prepare('SELECT jti, revoked, expires_at FROM revocation_events ORDER BY jti')
        .all();
      expect(events).toEqual([
        { jti: 'a1', revoked: 1, expires_at: 9000000002 },
        { jti: 'a2', revoked: 1, expires_at: 9000000003 },
      ]);
    } finally {
      sqlite.close();
    }
  });
});

describe('migration key_states_claim_profile', () => {
  it('makes the keys of an earlier version current or retired, never next, and brokers standard', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatepass-db-'));
    dirs.push(dir);
    const sqlite = new Database(join(dir, 'old.db'));
    try {
      migrate(drizzle(sqlite), { migrationsFolder: migrationsBefore('key_states_claim_profile') });
      sqlite.exec(`
        INSERT INTO namespaces VALUES ('n', 'home', '', 0, 0);
        INSERT INTO brokers (id, namespace_id, name, auth_type, expiration, algorithm, default_topic_acl, issuer,
          audience, created_at, modified_at) VALUES ('b', 'n', 'sensors', 'TOKEN', 600, 'EdDSA', '"#"', 'gatepass',
          'sensors.home', 0, 0);
        INSERT INTO signing_keys (broker_id, kid, algorithm, public_jwk, sealed_private_jwk, created_at, retired_at,
          remove_after) VALUES
          ('b', 'old', 'EdDSA', '{}', 'sealed', 1000, 5000, 9000),
          ('b', 'now', 'EdDSA', '{}', 'sealed', 5000, null, null);
      `);
      migrate(drizzle(sqlite), { migrationsFolder: MIGRATIONS_FOLDER });

      type Row = { kid: string; created_at: number; activated_at: number | null; retired_at: number | null };
      const keys = sqlite
        .prepare(
          'SELECT kid, created_at, activated_at, retired_at, revoked_at FROM signing_keys ORDER BY kid',
        )
        .all() as Array<Row & { revoked_at: number | null }>;
      expect(keys).toEqual([
        { kid: 'now', created_at: 5000, activated_at: 5000, retired_at: null, revoked_at: null },
        { kid: 'old', created_at: 1000, activated_at: 1000, retired_at: 5000, revoked_at: null },
      ]);
      const states = keys.map((key) =>
        signingKeyState({
          activatedAt: key.activated_at,
          retiredAt: key.retired_at,
          revokedAt: key.revoked_at,
        }),
      );
      expect(states).toEqual(['current', 'retired']);
      expect(sqlite.prepare('SELECT claim_profile FROM brokers').all()).toEqual([
        { claim_profile: 'standard' },
      ]);
    } finally {
      sqlite.close();
    }
  });
});
