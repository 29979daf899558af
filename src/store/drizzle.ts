// The Store on drizzle, for both SQLite drivers: queries are awaited (better-sqlite3 and D1 alike) and every
// multi-statement write goes through `runAtomically`, which the runtime provides (a transaction on
// better-sqlite3, `db.batch` on D1, which rejects BEGIN).
import {
  and,
  asc,
  count,
  desc,
  eq,
  exists,
  getTableColumns,
  gt,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  max,
  notExists,
  type SQL,
  sql,
  type Table,
} from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import type { BaseSQLiteDatabase, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { auditInsert, createAuditStore } from './drizzle-audit.js';
import { createConfigurationStore, toBroker } from './drizzle-configuration.js';
import { createIdentitySourceStore } from './drizzle-identity-sources.js';
import { createRevocationSinkStore } from './drizzle-revocation-sinks.js';
import { insertRowWhere as insertRowWhereIn, total } from './drizzle-sql.js';
import type { IssuedCredentialRecord, RevocationRecord, SigningKeyRecord, Store } from './port.js';
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

function chunkRows<T>(table: Table, rows: T[]): T[][] {
  return chunk(rows, Math.floor(MAX_BOUND_PARAMETERS / Object.keys(getTableColumns(table)).length));
}

type SigningKeyRow = typeof schema.signingKeys.$inferSelect;

function toSigningKey(row: SigningKeyRow): SigningKeyRecord {
  return { ...row, publicJwk: JSON.parse(row.publicJwk) };
}

export function createDrizzleStore(db: GatepassDatabase, runAtomically: RunAtomically): Store {
  const { namespaces, brokers, signingKeys, issuedCredentials, revocations, revocationEvents } = schema;

  const insertRowWhere = (table: SQLiteTable, row: Record<string, unknown>, condition: SQL | undefined) =>
    insertRowWhereIn(db, table, row, condition);

  return {
    ...createConfigurationStore(db, runAtomically),
    ...createIdentitySourceStore(db, runAtomically),
    ...createRevocationSinkStore(db, runAtomically),
    ...createAuditStore(db),

    async ping() {
      await db.select({ value: count() }).from(namespaces).limit(1);
    },

    async listSigningKeys(brokerId) {
      const rows = await db
        .select()
        .from(signingKeys)
        .where(eq(signingKeys.brokerId, brokerId))
        .orderBy(desc(signingKeys.createdAt));
      return rows.map(toSigningKey);
    },
    async listBrokersDueForRotation(now, afterId, limit) {
      const rows = await db
        .select({ broker: brokers, currentKey: signingKeys, namespaceName: namespaces.name })
        .from(brokers)
        .innerJoin(signingKeys, and(eq(signingKeys.brokerId, brokers.id), isNull(signingKeys.retiredAt)))
        .innerJoin(namespaces, eq(namespaces.id, brokers.namespaceId))
        .where(
          and(
            isNotNull(brokers.keyRotationPeriod),
            lte(sql`${signingKeys.createdAt} + ${brokers.keyRotationPeriod} * 1000`, now),
            gt(brokers.id, afterId),
          ),
        )
        .orderBy(asc(brokers.id))
        .limit(limit);
      return rows.map((row) => ({
        broker: toBroker(row.broker),
        currentKey: toSigningKey(row.currentKey),
        namespaceName: row.namespaceName,
      }));
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
    async rotateSigningKey({ brokerId, kid, retiredAt, removeAfter }, next, audit) {
      // A concurrent rotation (two schedulers) retires the same key; only one new key may become current.
      const noCurrentKey = notExists(
        db
          .select({ kid: signingKeys.kid })
          .from(signingKeys)
          .where(and(eq(signingKeys.brokerId, brokerId), isNull(signingKeys.retiredAt))),
      );
      const brokerExists = exists(
        db.select({ id: brokers.id }).from(brokers).where(eq(brokers.id, brokerId)),
      );
      await runAtomically([
        db
          .update(signingKeys)
          .set({ retiredAt, removeAfter })
          .where(
            and(eq(signingKeys.brokerId, brokerId), eq(signingKeys.kid, kid), isNull(signingKeys.retiredAt)),
          ),
        insertRowWhere(
          signingKeys,
          { ...next, publicJwk: JSON.stringify(next.publicJwk) },
          and(noCurrentKey, brokerExists),
        ),
        // Recorded only when this call's key became current.
        ...(audit === undefined
          ? []
          : [
              insertRowWhere(
                schema.auditEvents,
                { ...audit, details: JSON.stringify(audit.details) },
                exists(
                  db
                    .select({ kid: signingKeys.kid })
                    .from(signingKeys)
                    .where(and(eq(signingKeys.brokerId, next.brokerId), eq(signingKeys.kid, next.kid))),
                ),
              ),
            ]),
      ]);
      const [inserted] = await db
        .select({ kid: signingKeys.kid })
        .from(signingKeys)
        .where(and(eq(signingKeys.brokerId, next.brokerId), eq(signingKeys.kid, next.kid)))
        .limit(1);
      return inserted !== undefined;
    },
    async deleteRemovableSigningKeys(now) {
      const deleted = await db
        .delete(signingKeys)
        .where(and(isNotNull(signingKeys.retiredAt), lt(signingKeys.removeAfter, now)))
        .returning({ brokerId: signingKeys.brokerId });
      return deleted.map((key) => key.brokerId);
    },

    async insertIssuedCredentials(records: IssuedCredentialRecord[], audit) {
      if (records.length === 0) return;
      // One statement with one bound parameter for the whole batch: atomic on its own, under D1's
      // parameter cap at any batch size, and its SQL text never changes, so SQLite prepares it once.
      // Building 100 rows of bound values per request cost more than executing the insert.
      const rows = sql`
        SELECT value ->> 'brokerId', value ->> 'jti', value ->> 'clientId', value ->> 'kid',
               value ->> 'issuedAt', value ->> 'expiresAt', value ->> 'issuedBy'
        FROM json_each(${JSON.stringify(records)})`;
      if (audit !== undefined) {
        // The same statement as a query builder (drizzle lists the columns in the table's order), so the
        // audit event joins it in one transaction.
        await runAtomically([db.insert(issuedCredentials).select(rows), auditInsert(db, audit)]);
        return;
      }
      await db.run(sql`
        INSERT INTO ${issuedCredentials}
          (broker_id, jti, client_id, kid, issued_at, expires_at, issued_by)
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
    async insertRefreshedCredential(record, revokePresented, audit) {
      if (!revokePresented) {
        if (audit === undefined) await db.insert(issuedCredentials).values(record);
        else await runAtomically([db.insert(issuedCredentials).values(record), auditInsert(db, audit)]);
        return true;
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
      const [recorded] = await db
        .select({ jti: issuedCredentials.jti })
        .from(issuedCredentials)
        .where(and(eq(issuedCredentials.brokerId, record.brokerId), eq(issuedCredentials.jti, record.jti)))
        .limit(1);
      return recorded !== undefined;
    },
    async deleteExpiredCredentials(before) {
      const deleted = await db
        .delete(issuedCredentials)
        .where(lt(issuedCredentials.expiresAt, before))
        .returning({ jti: issuedCredentials.jti });
      return deleted.length;
    },

    async insertRevocations(brokerId, records: RevocationRecord[], audit) {
      if (records.length === 0) return;
      const rows = records.map((record) => ({ ...record, brokerId }));
      const events = records.map(({ jti, expiresAt, revokedAt }) => ({
        brokerId,
        jti,
        revoked: true,
        expiresAt,
        at: revokedAt,
      }));
      await runAtomically([
        ...chunkRows(revocations, rows).map((part) =>
          db.insert(revocations).values(part).onConflictDoNothing(),
        ),
        ...chunkRows(revocationEvents, events).map((part) => db.insert(revocationEvents).values(part)),
        ...(audit === undefined ? [] : [auditInsert(db, audit)]),
      ]);
    },
    async deleteRevocations(brokerId, jtis, at, audit) {
      if (jtis.length === 0) return;
      const events = jtis.map((jti) => ({ brokerId, jti, revoked: false, expiresAt: null, at }));
      await runAtomically([
        ...chunk(jtis, IDS_PER_STATEMENT).map((ids) =>
          db
            .delete(revocations)
            .where(and(eq(revocations.brokerId, brokerId), inArray(revocations.jti, ids))),
        ),
        ...chunkRows(revocationEvents, events).map((part) => db.insert(revocationEvents).values(part)),
        ...(audit === undefined ? [] : [auditInsert(db, audit)]),
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
