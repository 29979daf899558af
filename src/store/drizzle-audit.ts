// The audit part of the drizzle Store: events written inside another write's atomic batch (always or only
// when that write happens), listed newest first, and pruned past their retention.
import { and, count, desc, eq, gte, inArray, lt, type SQL, sql } from 'drizzle-orm';
import type { AuditEvent, AuditEventRecord } from '../core/audit.js';
import type { GatepassDatabase } from './drizzle.js';
import { insertRowWhere } from './drizzle-sql.js';
import type { Store } from './port.js';
import { auditEvents } from './schema.js';

type AuditStore = Pick<Store, 'listAuditEvents' | 'deleteAuditEventsBefore'>;

/** The insert as a query, for `runAtomically` batches: the event lands with the change it records. */
export function auditInsert(db: GatepassDatabase, event: AuditEventRecord) {
  return db.insert(auditEvents).values({ ...event, details: JSON.stringify(event.details) });
}

/**
 * The insert, written only if `condition` holds when it runs: placed in a batch before a conditional change
 * with the same condition, or after a change with a condition that tells whether it happened, the event is
 * written exactly when the change is. `details` may hold SQL (what a cascade is about to remove).
 */
export function auditInsertWhere(
  db: GatepassDatabase,
  event: AuditEventRecord,
  condition: SQL | undefined,
  details: SQL | string = JSON.stringify(event.details),
) {
  return insertRowWhere(db, auditEvents, { ...event, details }, condition);
}

/**
 * The insert with one more member of `details`, computed by `value` (SQL returning JSON) when the statement
 * runs: for what a write finds only inside its own transaction, such as the descendants a revocation reached.
 */
export function auditInsertWithDetail(
  db: GatepassDatabase,
  event: AuditEventRecord,
  key: string,
  value: SQL,
) {
  const details = sql`json_set(${JSON.stringify(event.details)}, ${`$.${key}`}, json(${value}))`;
  return auditInsertWhere(db, event, sql`1`, details);
}

export function createAuditStore(db: GatepassDatabase): AuditStore {
  return {
    async listAuditEvents(filter, { offset, limit }) {
      const conditions: SQL[] = [];
      if (filter.namespaceId !== undefined) conditions.push(eq(auditEvents.namespaceId, filter.namespaceId));
      if (filter.namespace !== undefined) conditions.push(eq(auditEvents.namespace, filter.namespace));
      if (filter.broker !== undefined) conditions.push(eq(auditEvents.broker, filter.broker));
      if (filter.action !== undefined) conditions.push(eq(auditEvents.action, filter.action));
      if (filter.actor !== undefined) conditions.push(eq(auditEvents.actor, filter.actor));
      if (filter.since !== undefined) conditions.push(gte(auditEvents.at, filter.since));
      const where = and(...conditions);
      const rows = await db
        .select()
        .from(auditEvents)
        .where(where)
        .orderBy(desc(auditEvents.seq))
        .limit(limit)
        .offset(offset);
      const [total] = await db.select({ value: count() }).from(auditEvents).where(where);
      return {
        items: rows.map((row): AuditEvent => ({ ...row, details: JSON.parse(row.details) }) as AuditEvent),
        total: total?.value ?? 0,
      };
    },

    async deleteAuditEventsBefore(before, limit) {
      // SQLite's DELETE takes no LIMIT unless compiled with it (D1 is not): the chunk is chosen by a subquery,
      // through the index on `at`.
      const deleted = await db
        .delete(auditEvents)
        .where(
          inArray(
            auditEvents.seq,
            db
              .select({ seq: auditEvents.seq })
              .from(auditEvents)
              .where(lt(auditEvents.at, before))
              .limit(limit),
          ),
        )
        .returning({ seq: auditEvents.seq });
      return deleted.length;
    },
  };
}
