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
  inArray,
  isNull,
  lt,
  max,
  ne,
  not,
  or,
  sql,
  type Table,
} from 'drizzle-orm';
import type { BatchItem } from 'drizzle-orm/batch';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import { auditInsert, createAuditStore } from './drizzle-audit.js';
import { createIdentitySourceStore } from './drizzle-identity-sources.js';
import { rowInserter, toBroker } from './drizzle-rows.js';
import { createSigningKeyStore } from './drizzle-signing-keys.js';
import type {
  AdminKeyRecord,
  IssuedCredentialRecord,
  NamespaceRecord,
  RevocationRecord,
  Store,
} from './port.js';
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

/** Both drivers report a violated UNIQUE or PRIMARY KEY constraint in the message (sometimes of the cause). */
function isUniqueViolation(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (/UNIQUE constraint failed|PRIMARYKEY|SQLITE_CONSTRAINT_UNIQUE/i.test(e.message)) return true;
  }
  return false;
}

export function createDrizzleStore(db: GatepassDatabase, runAtomically: RunAtomically): Store {
  const { namespaces, brokers, signingKeys, issuedCredentials, revocations, revocationEvents, adminKeys } =
    schema;

  function selectAdminKeyListings() {
    return db
      .select({ ...getTableColumns(adminKeys), namespaceName: namespaces.name })
      .from(adminKeys)
      .leftJoin(namespaces, eq(adminKeys.namespaceId, namespaces.id))
      .$dynamic();
  }

  async function total(query: Promise<Array<{ value: number }>>): Promise<number> {
    const [row] = await query;
    return row?.value ?? 0;
  }

  const insertRowWhere = rowInserter(db);

  return {
    ...createIdentitySourceStore(db),
    ...createAuditStore(db),
    ...createSigningKeyStore(db, runAtomically, insertRowWhere),

    async ping() {
      await db.select({ value: count() }).from(namespaces).limit(1);
    },

    async insertNamespace(namespace: NamespaceRecord) {
      const inserted = await db
        .insert(namespaces)
        .values(namespace)
        .onConflictDoNothing()
        .returning({ id: namespaces.id });
      return inserted.length === 1;
    },
    async findNamespace(name) {
      const [row] = await db.select().from(namespaces).where(eq(namespaces.name, name)).limit(1);
      return row;
    },
    async listNamespaces({ offset, limit }, only) {
      const where = only === undefined ? undefined : eq(namespaces.id, only);
      const items = await db
        .select()
        .from(namespaces)
        .where(where)
        .orderBy(asc(namespaces.name))
        .limit(limit)
        .offset(offset);
      return { items, total: await total(db.select({ value: count() }).from(namespaces).where(where)) };
    },
    async updateNamespace(id, description, modifiedAt) {
      const [row] = await db
        .update(namespaces)
        .set({ description, modifiedAt })
        .where(eq(namespaces.id, id))
        .returning();
      return row;
    },
    async deleteNamespace(id) {
      await db.delete(namespaces).where(eq(namespaces.id, id));
    },

    async insertBroker(broker, keys) {
      try {
        await runAtomically([
          db.insert(brokers).values({ ...broker, defaultTopicAcl: JSON.stringify(broker.defaultTopicAcl) }),
          db
            .insert(signingKeys)
            .values(keys.map((key) => ({ ...key, publicJwk: JSON.stringify(key.publicJwk) }))),
        ]);
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },
    async findBroker(namespaceId, name) {
      const [row] = await db
        .select()
        .from(brokers)
        .where(and(eq(brokers.namespaceId, namespaceId), eq(brokers.name, name)))
        .limit(1);
      return row && toBroker(row);
    },
    async listBrokers(namespaceId, { offset, limit }) {
      const where = eq(brokers.namespaceId, namespaceId);
      const rows = await db
        .select()
        .from(brokers)
        .where(where)
        .orderBy(asc(brokers.name))
        .limit(limit)
        .offset(offset);
      return {
        items: rows.map(toBroker),
        total: await total(db.select({ value: count() }).from(brokers).where(where)),
      };
    },
    async updateBroker(id, { defaultTopicAcl, ...changes }) {
      const [row] = await db
        .update(brokers)
        .set({
          ...changes,
          ...(defaultTopicAcl === undefined ? {} : { defaultTopicAcl: JSON.stringify(defaultTopicAcl) }),
        })
        .where(eq(brokers.id, id))
        .returning();
      return row && toBroker(row);
    },
    async deleteBroker(id) {
      await db.delete(brokers).where(eq(brokers.id, id));
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

    async insertAdminKey(key: AdminKeyRecord) {
      // Two instances bootstrapping the same configured key at once insert the same hash: one wins, fine.
      await db.insert(adminKeys).values(key).onConflictDoNothing({ target: adminKeys.secretHash });
    },
    async findAdminKeyByHash(secretHash) {
      const [row] = await db.select().from(adminKeys).where(eq(adminKeys.secretHash, secretHash)).limit(1);
      return row;
    },
    async findAdminKey(id) {
      const [row] = await selectAdminKeyListings().where(eq(adminKeys.id, id)).limit(1);
      return row;
    },
    async listAdminKeys({ offset, limit }) {
      const items = await selectAdminKeyListings()
        .orderBy(asc(adminKeys.createdAt), asc(adminKeys.id))
        .limit(limit)
        .offset(offset);
      return { items, total: await total(db.select({ value: count() }).from(adminKeys)) };
    },
    async deleteAdminKey(id) {
      const globalWriter = and(isNull(adminKeys.namespaceId), eq(adminKeys.permission, 'write'));
      const otherGlobalWriters = db
        .select({ id: adminKeys.id })
        .from(adminKeys)
        .where(and(globalWriter, ne(adminKeys.id, id)));
      const deleted = await db
        .delete(adminKeys)
        .where(and(eq(adminKeys.id, id), or(not(globalWriter!), exists(otherGlobalWriters))))
        .returning({ id: adminKeys.id });
      return deleted.length === 1;
    },
    async countAdminKeys() {
      return total(db.select({ value: count() }).from(adminKeys));
    },
  };
}
