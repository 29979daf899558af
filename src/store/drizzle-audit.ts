// The audit part of the drizzle Store: appending events (alone, or inside another write's atomic batch) and
// listing them newest first.
import { and, count, desc, eq, gte, type SQL, sql } from 'drizzle-orm';
import type { AuditEvent, AuditEventRecord } from '../core/audit.js';
import type { GatepassDatabase } from './drizzle.js';
import type { Store } from './port.js';
import { auditEvents } from './schema.js';

type AuditStore = Pick<Store, 'insertAuditEvent' | 'listAuditEvents'>;

/** The insert as a query, for `runAtomically` batches: the event lands with the change it records. */
export function auditInsert(db: GatepassDatabase, event: AuditEventRecord) {
  return db.insert(auditEvents).values({ ...event, details: JSON.stringify(event.details) });
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
  // Every column in the table's order, as drizzle lists them in `INSERT INTO audit_events (...)`.
  return db.insert(auditEvents).select(sql`
    SELECT null, ${event.at}, ${event.action}, ${event.actor}, ${event.namespaceId}, ${event.namespace},
           ${event.brokerId}, ${event.broker}, json_set(${JSON.stringify(event.details)}, ${`$.${key}`}, json(${value}))`);
}

export function createAuditStore(db: GatepassDatabase): AuditStore {
  return {
    async insertAuditEvent(event) {
      await auditInsert(db, event);
    },
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
  };
}
