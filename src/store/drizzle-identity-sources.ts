// The identity-source part of the drizzle Store: settings (secrets already sealed) and ACL templates as JSON,
// each change written with its audit event in one atomic batch.
import { and, asc, count, eq, exists, sql } from 'drizzle-orm';
import type { GatepassDatabase, RunAtomically } from './drizzle.js';
import { auditInsert, auditInsertWhere } from './drizzle-audit.js';
import { isUniqueViolation } from './drizzle-sql.js';
import type { IdentitySourceRecord, Store } from './port.js';
import { identitySources } from './schema.js';

type Row = typeof identitySources.$inferSelect;

type IdentitySourceStore = Pick<
  Store,
  | 'insertIdentitySource'
  | 'findIdentitySource'
  | 'listIdentitySources'
  | 'findJwtSourcesByIssuer'
  | 'updateIdentitySource'
  | 'deleteIdentitySource'
>;

function toRecord(row: Row): IdentitySourceRecord {
  return {
    ...row,
    settings: JSON.parse(row.settings),
    aclTemplate: JSON.parse(row.aclTemplate),
  } as IdentitySourceRecord;
}

export function createIdentitySourceStore(
  db: GatepassDatabase,
  runAtomically: RunAtomically,
): IdentitySourceStore {
  const sourceExists = (id: string) =>
    exists(db.select({ id: identitySources.id }).from(identitySources).where(eq(identitySources.id, id)));

  return {
    async insertIdentitySource(source, audit) {
      try {
        await runAtomically([
          db.insert(identitySources).values({
            ...source,
            settings: JSON.stringify(source.settings),
            aclTemplate: JSON.stringify(source.aclTemplate),
          }),
          auditInsert(db, audit),
        ]);
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },

    async findIdentitySource(brokerId, name) {
      const [row] = await db
        .select()
        .from(identitySources)
        .where(and(eq(identitySources.brokerId, brokerId), eq(identitySources.name, name)))
        .limit(1);
      return row && toRecord(row);
    },

    async listIdentitySources(brokerId, { offset, limit }) {
      const where = eq(identitySources.brokerId, brokerId);
      const rows = await db
        .select()
        .from(identitySources)
        .where(where)
        .orderBy(asc(identitySources.name))
        .limit(limit)
        .offset(offset);
      const [total] = await db.select({ value: count() }).from(identitySources).where(where);
      return { items: rows.map(toRecord), total: total?.value ?? 0 };
    },

    async findJwtSourcesByIssuer(brokerId, issuer, limit) {
      // json_extract is built into SQLite (better-sqlite3) and D1 alike.
      const rows = await db
        .select()
        .from(identitySources)
        .where(
          and(
            eq(identitySources.brokerId, brokerId),
            eq(identitySources.kind, 'jwt'),
            eq(sql`json_extract(${identitySources.settings}, '$.issuer')`, issuer),
          ),
        )
        .orderBy(asc(identitySources.name))
        .limit(limit);
      return rows.map(toRecord);
    },

    async updateIdentitySource(id, { settings, aclTemplate, modifiedAt }, audit) {
      await runAtomically([
        db
          .update(identitySources)
          .set({
            modifiedAt,
            ...(settings === undefined ? {} : { settings: JSON.stringify(settings) }),
            ...(aclTemplate === undefined ? {} : { aclTemplate: JSON.stringify(aclTemplate) }),
          })
          .where(eq(identitySources.id, id)),
        auditInsertWhere(db, audit, sourceExists(id)),
      ]);
      const [row] = await db.select().from(identitySources).where(eq(identitySources.id, id)).limit(1);
      return row && toRecord(row);
    },

    async deleteIdentitySource(id, audit) {
      await runAtomically([
        auditInsertWhere(db, audit, sourceExists(id)),
        db.delete(identitySources).where(eq(identitySources.id, id)),
      ]);
    },
  };
}
