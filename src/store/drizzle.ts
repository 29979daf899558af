// The Store on drizzle, for both SQLite drivers: queries are awaited (better-sqlite3 and D1 alike) and every
// multi-statement write goes through `runAtomically`, which the runtime provides (a transaction on
// better-sqlite3, `db.batch` on D1, which rejects BEGIN).
import {
  and,
  asc,
  count,
  eq,
  exists,
  getTableColumns,
  gt,
  gte,
  inArray,
  isNull,
  lt,
  max,
  notExists,
  or,
  type SQL,
  sql,
  type Table,
} from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import { alias, type BaseSQLiteDatabase, type SQLiteTable } from 'drizzle-orm/sqlite-core';
import { auditInsert, auditInsertWithDetail, createAuditStore } from './drizzle-audit.js';
import { createConfigurationStore } from './drizzle-configuration.js';
import { createIdentitySourceStore } from './drizzle-identity-sources.js';
import { createRevocationSinkStore } from './drizzle-revocation-sinks.js';
import { createSigningKeyStore } from './drizzle-signing-keys.js';
import { insertRowWhere as insertRowWhereIn, total } from './drizzle-sql.js';
import type { IssuedCredentialRecord, Store } from './port.js';
import * as schema from './schema.js';

export type GatepassDatabase = BaseSQLiteDatabase<'sync' | 'async', unknown, typeof schema>;
export type RunAtomically = (queries: BatchItem<'sqlite'>[]) => Promise<void>;

/** D1 allows 100 bound parameters per statement; rows are chunked to stay under it on every driver. */
const MAX_BOUND_PARAMETERS = 100;

/** An id list shares its statement with one broker id. */
const IDS_PER_STATEMENT = MAX_BOUND_PARAMETERS - 1;

function chunk<T>(rows: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < rows.length; i += size) chunks.push(rows.slice(i, i + size));
  return chunks;
}

/** A list as one bound parameter (a JSON array), whatever its length: `x IN ${jsonList(ids)}`. */
function jsonList(values: string[]): SQL {
  return sql`(SELECT value FROM json_each(${JSON.stringify(values)}))`;
}

function chunkRows<T>(table: Table, rows: T[]): T[][] {
  return chunk(rows, Math.floor(MAX_BOUND_PARAMETERS / Object.keys(getTableColumns(table)).length));
}

export function createDrizzleStore(db: GatepassDatabase, runAtomically: RunAtomically): Store {
  const { namespaces, issuedCredentials, revocations, revocationEvents } = schema;

  const insertRowWhere = (table: SQLiteTable, row: Record<string, unknown>, condition: SQL | undefined) =>
    insertRowWhereIn(db, table, row, condition);

  /**
   * `lineage(jti, origin)`: every credential of the broker refreshed from one of `named`, directly or not,
   * with the nearest of `named` it descends from. The walk stops at named jtis, which are origins themselves.
   * UNION (not UNION ALL) ends the walk even on a cycle, which parent links should never form.
   */
  function lineage(brokerId: string, named: string[]): SQL {
    const names = jsonList(named);
    return sql`WITH RECURSIVE lineage(jti, origin) AS (
        SELECT c.jti, c.parent_jti FROM ${issuedCredentials} c
        WHERE c.broker_id = ${brokerId} AND c.parent_jti IN ${names} AND c.jti NOT IN ${names}
        UNION
        SELECT c.jti, lineage.origin FROM lineage
        -- CROSS JOIN keeps this order: each step looks up one jti's children in the index.
        CROSS JOIN ${issuedCredentials} c ON c.broker_id = ${brokerId} AND c.parent_jti = lineage.jti
        WHERE c.jti NOT IN ${names}
      )`;
  }

  /** JSON: the jtis revoked as descendants of `named`, sorted. */
  function revokedDescendants(brokerId: string, named: string[]): SQL {
    return sql`(SELECT json_group_array(jti) FROM (
        SELECT jti FROM ${revocations}
        WHERE broker_id = ${brokerId} AND descendant_of IN ${jsonList(named)} ORDER BY jti))`;
  }

  return {
    ...createConfigurationStore(db, runAtomically),
    ...createIdentitySourceStore(db, runAtomically),
    ...createRevocationSinkStore(db, runAtomically),
    ...createAuditStore(db),
    ...createSigningKeyStore(db, runAtomically),

    async ping() {
      await db.select({ value: count() }).from(namespaces).limit(1);
    },

    async findKeyUsage(brokerId, kid) {
      const [row] = await db
        .select({
          latestExpiry: max(issuedCredentials.expiresAt),
          withoutExpiry: sql`count(*) - count(${issuedCredentials.expiresAt})`.mapWith(Number),
        })
        .from(issuedCredentials)
        .where(and(eq(issuedCredentials.brokerId, brokerId), eq(issuedCredentials.kid, kid)));
      return { latestExpiry: row?.latestExpiry ?? null, withoutExpiry: row?.withoutExpiry ?? 0 };
    },

    async insertIssuedCredentials(records: IssuedCredentialRecord[], audit) {
      if (records.length === 0) return;
      // One statement with one bound parameter for the whole batch: atomic on its own, under D1's
      // parameter cap at any batch size, and its SQL text never changes, so SQLite prepares it once.
      // Building 100 rows of bound values per request cost more than executing the insert.
      const rows = sql`
        SELECT value ->> 'brokerId', value ->> 'jti', value ->> 'clientId', value ->> 'kid',
               value ->> 'issuedAt', value ->> 'expiresAt', value ->> 'issuedBy', value ->> 'parentJti'
        FROM json_each(${JSON.stringify(records)})`;
      if (audit !== undefined) {
        // The same statement as a query builder (drizzle lists the columns in the table's order), so the
        // audit event joins it in one transaction.
        await runAtomically([db.insert(issuedCredentials).select(rows), auditInsert(db, audit)]);
        return;
      }
      await db.run(sql`
        INSERT INTO ${issuedCredentials}
          (broker_id, jti, client_id, kid, issued_at, expires_at, issued_by, parent_jti)
        ${rows}`);
    },
    async findCredentialExpiries(brokerId, jtis) {
      const expiries = new Map<string, number | null>();
      for (const ids of chunk(jtis, IDS_PER_STATEMENT)) {
        const rows = await db
          .select({ jti: issuedCredentials.jti, expiresAt: issuedCredentials.expiresAt })
          .from(issuedCredentials)
          .where(and(eq(issuedCredentials.brokerId, brokerId), inArray(issuedCredentials.jti, ids)));
        for (const row of rows) expiries.set(row.jti, row.expiresAt);
      }
      return expiries;
    },
    async findUnknownJtis(brokerId, jtis) {
      if (jtis.length === 0) return [];
      const rows = await db.all<{ jti: string }>(sql`
        SELECT named.value AS jti FROM json_each(${JSON.stringify(jtis)}) AS named
        WHERE NOT EXISTS (
            SELECT 1 FROM ${issuedCredentials} WHERE broker_id = ${brokerId} AND jti = named.value)
          AND NOT EXISTS (
            SELECT 1 FROM ${revocations} WHERE broker_id = ${brokerId} AND jti = named.value)
        ORDER BY named.key`);
      return rows.map((row) => row.jti);
    },
    async insertRefreshedCredential(record, revokePresented, audit) {
      const recorded = exists(
        db
          .select({ jti: issuedCredentials.jti })
          .from(issuedCredentials)
          .where(and(eq(issuedCredentials.brokerId, record.brokerId), eq(issuedCredentials.jti, record.jti))),
      );
      const wasRecorded = async () => {
        const [row] = await db
          .select({ jti: issuedCredentials.jti })
          .from(issuedCredentials)
          .where(and(eq(issuedCredentials.brokerId, record.brokerId), eq(issuedCredentials.jti, record.jti)))
          .limit(1);
        return row !== undefined;
      };
      if (!revokePresented) {
        // Checked by the statement that writes: a revocation committed after the caller's check still wins.
        const presentedNotRevoked = notExists(
          db
            .select({ jti: revocations.jti })
            .from(revocations)
            .where(
              and(eq(revocations.brokerId, record.brokerId), eq(revocations.jti, record.parentJti ?? '')),
            ),
        );
        await runAtomically([
          insertRowWhere(issuedCredentials, { ...record }, presentedNotRevoked),
          ...(audit === undefined
            ? []
            : [
                insertRowWhere(
                  schema.auditEvents,
                  { ...audit, details: JSON.stringify(audit.details) },
                  recorded,
                ),
              ]),
        ]);
        return wasRecorded();
      }
      const { brokerId, jti, revokedAt, revokedBy, expiresAt } = revokePresented;
      // revokedBy is unique to this call: the later writes happen only if this call's revocation landed.
      const revokedByThisCall = exists(
        db
          .select({ jti: revocations.jti })
          .from(revocations)
          .where(
            and(
              eq(revocations.brokerId, brokerId),
              eq(revocations.jti, jti),
              eq(revocations.revokedBy, revokedBy),
            ),
          ),
      );
      await runAtomically([
        db
          .insert(revocations)
          .values({ brokerId, jti, revokedAt, expiresAt, revokedBy })
          .onConflictDoNothing(),
        insertRowWhere(
          revocationEvents,
          { brokerId, jti, revoked: true, expiresAt, at: revokedAt },
          revokedByThisCall,
        ),
        insertRowWhere(issuedCredentials, { ...record }, revokedByThisCall),
        ...(audit === undefined
          ? []
          : [
              insertRowWhere(
                schema.auditEvents,
                { ...audit, details: JSON.stringify(audit.details) },
                revokedByThisCall,
              ),
            ]),
      ]);
      return wasRecorded();
    },
    async deleteExpiredCredentials(before) {
      // 1. An unexpired record whose parent is about to go, and is not the first of its chain, is attached to
      // its nearest ancestor that stays (unexpired, or first of its chain), walking up through those that go:
      // one walk per such record, one lookup a step (`at` is the ancestor reached, `at_goes` whether it goes
      // too), so the work grows with the expired links. The expired parents are found by a sequential scan
      // (NOT INDEXED: the partial index would cost a random read a refreshed credential).
      await db.run(sql`
        WITH RECURSIVE hop(broker_id, jti, at, at_parent, at_goes) AS (
          SELECT c.broker_id, c.jti, p.jti, p.parent_jti, 1
          FROM ${issuedCredentials} p NOT INDEXED
          CROSS JOIN ${issuedCredentials} c ON c.broker_id = p.broker_id AND c.parent_jti = p.jti
          WHERE p.expires_at < ${before} AND p.parent_jti IS NOT NULL
            AND (c.expires_at IS NULL OR c.expires_at >= ${before})
          UNION ALL
          SELECT hop.broker_id, hop.jti, hop.at_parent, n.parent_jti,
                 coalesce(n.expires_at < ${before} AND n.parent_jti IS NOT NULL, 0)
          FROM hop
          LEFT JOIN ${issuedCredentials} n ON n.broker_id = hop.broker_id AND n.jti = hop.at_parent
          WHERE hop.at_goes
        )
        UPDATE ${issuedCredentials} SET parent_jti = hop.at FROM hop
        WHERE NOT hop.at_goes
          AND ${issuedCredentials}.broker_id = hop.broker_id AND ${issuedCredentials}.jti = hop.jti`);
      // 2. Expired records go, but for the first of a chain with an unexpired credential refreshed from it:
      // after step 1 every unexpired credential's parent stays, so an expired record with no unexpired child
      // has nothing left that needs it.
      const child = alias(issuedCredentials, 'child');
      const deleted = await db
        .delete(issuedCredentials)
        .where(
          and(
            lt(issuedCredentials.expiresAt, before),
            notExists(
              db
                .select({ jti: child.jti })
                .from(child)
                .where(
                  and(
                    eq(child.brokerId, issuedCredentials.brokerId),
                    eq(child.parentJti, issuedCredentials.jti),
                    or(isNull(child.expiresAt), gte(child.expiresAt, before)),
                  ),
                ),
            ),
          ),
        )
        .returning({ jti: issuedCredentials.jti });
      return deleted.length;
    },

    async insertRevocations(brokerId, records, audit) {
      const [first] = records;
      if (first === undefined) return;
      const named = records.map((record) => record.jti);
      const rows = records.map((record) => ({ ...record, brokerId, descendantOf: null }));
      const events = records.map(({ jti, expiresAt, revokedAt }) => ({
        brokerId,
        jti,
        revoked: true,
        expiresAt,
        at: revokedAt,
      }));
      // Descendants not revoked yet, read by the statements that write them, inside the transaction: a
      // refresh committed before it is caught, one after it finds its presented credential revoked.
      const newDescendants = (columns: SQL) => sql`${lineage(brokerId, named)}
        SELECT ${columns} FROM lineage
        JOIN ${issuedCredentials} c ON c.broker_id = ${brokerId} AND c.jti = lineage.jti
        WHERE NOT EXISTS (SELECT 1 FROM ${revocations} r WHERE r.broker_id = ${brokerId} AND r.jti = lineage.jti)`;
      await runAtomically([
        // Revoked already: the first record stays, but one revoked as a descendant is now revoked by name,
        // so un-revoking its ancestor no longer un-revokes it.
        ...chunkRows(revocations, rows).map((part) =>
          db
            .insert(revocations)
            .values(part)
            .onConflictDoUpdate({
              target: [revocations.brokerId, revocations.jti],
              set: { descendantOf: null },
            }),
        ),
        ...chunkRows(revocationEvents, events).map((part) => db.insert(revocationEvents).values(part)),
        // Events first: once the revocations are in, these descendants no longer count as new.
        db
          .insert(revocationEvents)
          .select(newDescendants(sql`null, ${brokerId}, lineage.jti, 1, c.expires_at, ${first.revokedAt}`)),
        db
          .insert(revocations)
          .select(
            newDescendants(
              sql`${brokerId}, lineage.jti, ${first.revokedAt}, c.expires_at, ${first.revokedBy}, lineage.origin`,
            ),
          )
          .onConflictDoNothing(),
        ...(audit === undefined
          ? []
          : [auditInsertWithDetail(db, audit, 'descendants', revokedDescendants(brokerId, named))]),
      ]);
    },
    async deleteRevocations(brokerId, jtis, at, audit) {
      if (jtis.length === 0) return;
      const events = jtis.map((jti) => ({ brokerId, jti, revoked: false, expiresAt: null, at }));
      const revokedWithThem = and(
        eq(revocations.brokerId, brokerId),
        sql`${revocations.descendantOf} IN ${jsonList(jtis)}`,
        sql`${revocations.jti} NOT IN ${jsonList(jtis)}`,
      );
      await runAtomically([
        ...chunkRows(revocationEvents, events).map((part) => db.insert(revocationEvents).values(part)),
        // Events and audit before the deletes, which take away what they read.
        db
          .insert(revocationEvents)
          .select(
            sql`SELECT null, ${brokerId}, ${revocations.jti}, 0, null, ${at} FROM ${revocations} WHERE ${revokedWithThem}`,
          ),
        ...(audit === undefined
          ? []
          : [auditInsertWithDetail(db, audit, 'descendants', revokedDescendants(brokerId, jtis))]),
        ...chunk(jtis, IDS_PER_STATEMENT).map((ids) =>
          db
            .delete(revocations)
            .where(and(eq(revocations.brokerId, brokerId), inArray(revocations.jti, ids))),
        ),
        db.delete(revocations).where(revokedWithThem),
      ]);
    },
    async countRevocations(brokerId) {
      return total(db.select({ value: count() }).from(revocations).where(eq(revocations.brokerId, brokerId)));
    },
    async listRevocations(brokerId, { offset, limit }) {
      const where = eq(revocations.brokerId, brokerId);
      const items = await db
        .select({
          jti: revocations.jti,
          revokedAt: revocations.revokedAt,
          expiresAt: revocations.expiresAt,
          revokedBy: revocations.revokedBy,
          descendantOf: revocations.descendantOf,
        })
        .from(revocations)
        .where(where)
        .orderBy(asc(revocations.revokedAt), asc(revocations.jti))
        .limit(limit)
        .offset(offset);
      return { items, total: await total(db.select({ value: count() }).from(revocations).where(where)) };
    },

    async isRevoked(brokerId, jti) {
      const [row] = await db
        .select({ jti: revocations.jti })
        .from(revocations)
        .where(and(eq(revocations.brokerId, brokerId), eq(revocations.jti, jti)))
        .limit(1);
      return row !== undefined;
    },
    async deleteExpiredRevocations(before) {
      const deleted = await db
        .delete(revocations)
        .where(lt(revocations.expiresAt, before))
        .returning({ jti: revocations.jti });
      return deleted.length;
    },
    async deleteExpiredRevocationEvents(before) {
      const deleted = await db
        .delete(revocationEvents)
        .where(lt(revocationEvents.expiresAt, before))
        .returning({ seq: revocationEvents.seq });
      return deleted.length;
    },

    async listRevocationEvents(brokerId, afterSeq, limit) {
      return db
        .select({
          seq: revocationEvents.seq,
          jti: revocationEvents.jti,
          revoked: revocationEvents.revoked,
          expiresAt: revocationEvents.expiresAt,
        })
        .from(revocationEvents)
        .where(and(eq(revocationEvents.brokerId, brokerId), gt(revocationEvents.seq, afterSeq)))
        .orderBy(asc(revocationEvents.seq))
        .limit(limit);
    },
  };
}
