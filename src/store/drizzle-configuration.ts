// The configuration part of the drizzle Store: namespaces, brokers and admin keys, each change written with
// its audit event in one atomic batch, the event only when the change happens.
import {
  and,
  asc,
  count,
  eq,
  exists,
  getTableColumns,
  isNull,
  ne,
  not,
  notExists,
  or,
  sql,
} from 'drizzle-orm';
import type { TopicAcl } from '../core/claims.js';
import type { GatepassDatabase, RunAtomically } from './drizzle.js';
import { auditInsert, auditInsertWhere } from './drizzle-audit.js';
import { isUniqueViolation, total } from './drizzle-sql.js';
import type { BrokerRecord, Store } from './port.js';
import { adminKeys, brokers, namespaces, signingKeys } from './schema.js';

type ConfigurationStore = Pick<
  Store,
  | 'insertNamespace'
  | 'findNamespace'
  | 'listNamespaces'
  | 'updateNamespace'
  | 'deleteNamespace'
  | 'insertBroker'
  | 'findBroker'
  | 'listBrokers'
  | 'updateBroker'
  | 'deleteBroker'
  | 'insertAdminKey'
  | 'findAdminKeyByHash'
  | 'findAdminKey'
  | 'listAdminKeys'
  | 'deleteAdminKey'
  | 'countAdminKeys'
>;

type BrokerRow = typeof brokers.$inferSelect;

export function toBroker(row: BrokerRow): BrokerRecord {
  return { ...row, defaultTopicAcl: JSON.parse(row.defaultTopicAcl) as TopicAcl };
}

export function createConfigurationStore(
  db: GatepassDatabase,
  runAtomically: RunAtomically,
): ConfigurationStore {
  /** Inserts that fail on a taken name: the batch, event included, is rolled back. */
  async function insertUnlessTaken(queries: Parameters<RunAtomically>[0]): Promise<boolean> {
    try {
      await runAtomically(queries);
      return true;
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
  }

  const namespaceExists = (id: string) =>
    exists(db.select({ id: namespaces.id }).from(namespaces).where(eq(namespaces.id, id)));
  const brokerExists = (id: string) =>
    exists(db.select({ id: brokers.id }).from(brokers).where(eq(brokers.id, id)));

  function selectAdminKeyListings() {
    return db
      .select({ ...getTableColumns(adminKeys), namespaceName: namespaces.name })
      .from(adminKeys)
      .leftJoin(namespaces, eq(adminKeys.namespaceId, namespaces.id))
      .$dynamic();
  }

  return {
    insertNamespace(namespace, audit) {
      return insertUnlessTaken([db.insert(namespaces).values(namespace), auditInsert(db, audit)]);
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
    async updateNamespace(id, description, modifiedAt, audit) {
      await runAtomically([
        db.update(namespaces).set({ description, modifiedAt }).where(eq(namespaces.id, id)),
        auditInsertWhere(db, audit, namespaceExists(id)),
      ]);
      const [row] = await db.select().from(namespaces).where(eq(namespaces.id, id)).limit(1);
      return row;
    },
    async deleteNamespace(id, { force, audit }) {
      const empty = notExists(db.select({ id: brokers.id }).from(brokers).where(eq(brokers.namespaceId, id)));
      const deletable = and(eq(namespaces.id, id), force ? undefined : empty);
      // Read by the event's own statement, before the delete cascades: exactly what it removes.
      const removed = sql`json_patch(${JSON.stringify(audit.details)}, json_object(
        'brokers', json((select json_group_array(${brokers.name}) from ${brokers} where ${brokers.namespaceId} = ${id})),
        'admin_keys', json((select json_group_array(${adminKeys.id}) from ${adminKeys} where ${adminKeys.namespaceId} = ${id}))))`;
      await runAtomically([
        auditInsertWhere(
          db,
          audit,
          exists(db.select({ id: namespaces.id }).from(namespaces).where(deletable)),
          removed,
        ),
        db.delete(namespaces).where(deletable),
      ]);
      const [left] = await db.select({ id: namespaces.id }).from(namespaces).where(eq(namespaces.id, id));
      return left === undefined;
    },

    insertBroker(broker, keys, audit) {
      return insertUnlessTaken([
        db.insert(brokers).values({ ...broker, defaultTopicAcl: JSON.stringify(broker.defaultTopicAcl) }),
        db
          .insert(signingKeys)
          .values(keys.map((key) => ({ ...key, publicJwk: JSON.stringify(key.publicJwk) }))),
        auditInsert(db, audit),
      ]);
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
    async updateBroker(id, { defaultTopicAcl, ...changes }, audit) {
      await runAtomically([
        db
          .update(brokers)
          .set({
            ...changes,
            ...(defaultTopicAcl === undefined ? {} : { defaultTopicAcl: JSON.stringify(defaultTopicAcl) }),
          })
          .where(eq(brokers.id, id)),
        auditInsertWhere(db, audit, brokerExists(id)),
      ]);
      const [row] = await db.select().from(brokers).where(eq(brokers.id, id)).limit(1);
      return row && toBroker(row);
    },
    async deleteBroker(id, audit) {
      await runAtomically([
        auditInsertWhere(db, audit, brokerExists(id)),
        db.delete(brokers).where(eq(brokers.id, id)),
      ]);
    },

    async insertAdminKey(key, audit) {
      // Two instances bootstrapping the same configured key at once insert the same hash: one wins, fine.
      await runAtomically([
        db.insert(adminKeys).values(key).onConflictDoNothing({ target: adminKeys.secretHash }),
        auditInsertWhere(
          db,
          audit,
          exists(db.select({ id: adminKeys.id }).from(adminKeys).where(eq(adminKeys.id, key.id))),
        ),
      ]);
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
    async deleteAdminKey(id, audit) {
      // Unless it is the last read-write key for all namespaces, checked by the delete itself, so that two
      // concurrent deletes cannot both pass; the event is written under the same condition, just before.
      const globalWriter = and(isNull(adminKeys.namespaceId), eq(adminKeys.permission, 'write'));
      const otherGlobalWriters = db
        .select({ id: adminKeys.id })
        .from(adminKeys)
        .where(and(globalWriter, ne(adminKeys.id, id)));
      const deletable = and(eq(adminKeys.id, id), or(not(globalWriter!), exists(otherGlobalWriters)));
      await runAtomically([
        auditInsertWhere(db, audit, exists(db.select({ id: adminKeys.id }).from(adminKeys).where(deletable))),
        db.delete(adminKeys).where(deletable),
      ]);
      const [left] = await db.select({ id: adminKeys.id }).from(adminKeys).where(eq(adminKeys.id, id));
      return left === undefined;
    },
    async countAdminKeys() {
      return total(db.select({ value: count() }).from(adminKeys));
    },
  };
}
