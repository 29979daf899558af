// The revocation-sink part of the drizzle Store: sinks (settings with their secret already sealed) and their
// delivery state, and the two logs they read after their cursors (revocation_events, audit_events).
import { and, asc, count, eq, exists, gt, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import type { AuditEvent } from '../core/audit.js';
import type { GatepassDatabase, RunAtomically } from './drizzle.js';
import { auditInsert, auditInsertWhere } from './drizzle-audit.js';
import { isUniqueViolation, total } from './drizzle-sql.js';
import type { RevocationSinkRecord, Store } from './port.js';
import { auditEvents, issuedCredentials, revocationEvents, revocationSinks } from './schema.js';

type Row = typeof revocationSinks.$inferSelect;

type RevocationSinkStore = Pick<
  Store,
  | 'insertRevocationSink'
  | 'findRevocationSink'
  | 'listRevocationSinks'
  | 'updateRevocationSink'
  | 'deleteRevocationSink'
  | 'listDueRevocationSinks'
  | 'advanceRevocationSink'
  | 'recordRevocationSinkFailure'
  | 'listRevocationChanges'
  | 'countRevocationChanges'
  | 'listBrokerAuditEvents'
  | 'countBrokerAuditEvents'
>;

function toRecord(row: Row): RevocationSinkRecord {
  return { ...row, settings: JSON.parse(row.settings) } as RevocationSinkRecord;
}

export function createRevocationSinkStore(
  db: GatepassDatabase,
  runAtomically: RunAtomically,
): RevocationSinkStore {
  const sinkExists = (id: string) =>
    exists(db.select({ id: revocationSinks.id }).from(revocationSinks).where(eq(revocationSinks.id, id)));

  /** The sink's row while its cursor is still `cursor`: what a delivery result may be written to. */
  const atCursor = (id: string, cursor: number) =>
    and(eq(revocationSinks.id, id), eq(revocationSinks.cursor, cursor));

  return {
    async insertRevocationSink(sink, audit) {
      // The end of the sink's log, read by the insert itself: a change committed before it is the past, one
      // after it is delivered.
      const log = sink.kind === 'webhook' ? auditEvents : revocationEvents;
      try {
        await runAtomically([
          db.insert(revocationSinks).values({
            ...sink,
            settings: JSON.stringify(sink.settings),
            cursor: sql`(SELECT coalesce(max(${log.seq}), 0) FROM ${log})`,
          }),
          auditInsert(db, audit),
        ]);
        return true;
      } catch (error) {
        if (isUniqueViolation(error)) return false;
        throw error;
      }
    },

    async findRevocationSink(brokerId, name) {
      const [row] = await db
        .select()
        .from(revocationSinks)
        .where(and(eq(revocationSinks.brokerId, brokerId), eq(revocationSinks.name, name)))
        .limit(1);
      return row && toRecord(row);
    },

    async listRevocationSinks(brokerId, { offset, limit }) {
      const where = eq(revocationSinks.brokerId, brokerId);
      const rows = await db
        .select()
        .from(revocationSinks)
        .where(where)
        .orderBy(asc(revocationSinks.name))
        .limit(limit)
        .offset(offset);
      return {
        items: rows.map(toRecord),
        total: await total(db.select({ value: count() }).from(revocationSinks).where(where)),
      };
    },

    async updateRevocationSink(id, { config, modifiedAt }, audit) {
      await runAtomically([
        db
          .update(revocationSinks)
          .set({ settings: JSON.stringify(config.settings), modifiedAt, nextAttemptAt: null })
          .where(eq(revocationSinks.id, id)),
        auditInsertWhere(db, audit, sinkExists(id)),
      ]);
      const [row] = await db.select().from(revocationSinks).where(eq(revocationSinks.id, id)).limit(1);
      return row && toRecord(row);
    },

    async deleteRevocationSink(id, audit) {
      await runAtomically([
        auditInsertWhere(db, audit, sinkExists(id)),
        db.delete(revocationSinks).where(eq(revocationSinks.id, id)),
      ]);
    },

    async listDueRevocationSinks(now, afterId, limit) {
      const rows = await db
        .select()
        .from(revocationSinks)
        .where(
          and(
            gt(revocationSinks.id, afterId),
            or(isNull(revocationSinks.nextAttemptAt), lte(revocationSinks.nextAttemptAt, now)),
          ),
        )
        .orderBy(asc(revocationSinks.id))
        .limit(limit);
      return rows.map(toRecord);
    },

    async advanceRevocationSink(id, from, to, at) {
      const updated = await db
        .update(revocationSinks)
        .set({
          cursor: to,
          attempts: 0,
          nextAttemptAt: null,
          failingSince: null,
          lastError: null,
          // Staying put only clears a failure: nothing was delivered.
          ...(from === to ? {} : { lastDeliveredAt: at }),
        })
        .where(atCursor(id, from))
        .returning({ id: revocationSinks.id });
      return updated.length > 0;
    },

    async recordRevocationSinkFailure(id, cursor, { attempts, nextAttemptAt, error, at }) {
      const updated = await db
        .update(revocationSinks)
        .set({
          attempts,
          nextAttemptAt,
          lastError: error,
          failingSince: sql`coalesce(${revocationSinks.failingSince}, ${at})`,
        })
        .where(atCursor(id, cursor))
        .returning({ id: revocationSinks.id });
      return updated.length > 0;
    },

    async listRevocationChanges(brokerId, afterSeq, limit) {
      const rows = await db
        .select({
          seq: revocationEvents.seq,
          jti: revocationEvents.jti,
          revoked: revocationEvents.revoked,
          clientId: issuedCredentials.clientId,
        })
        .from(revocationEvents)
        .leftJoin(
          issuedCredentials,
          and(
            eq(issuedCredentials.brokerId, revocationEvents.brokerId),
            eq(issuedCredentials.jti, revocationEvents.jti),
          ),
        )
        .where(and(eq(revocationEvents.brokerId, brokerId), gt(revocationEvents.seq, afterSeq)))
        .orderBy(asc(revocationEvents.seq))
        .limit(limit);
      return rows.map((row) => ({ kind: 'jti' as const, ...row }));
    },

    async countRevocationChanges(brokerId, afterSeq) {
      return total(
        db
          .select({ value: count() })
          .from(revocationEvents)
          .where(and(eq(revocationEvents.brokerId, brokerId), gt(revocationEvents.seq, afterSeq))),
      );
    },

    async listBrokerAuditEvents(brokerId, afterSeq, actions, limit) {
      if (actions.length === 0) return [];
      const rows = await db
        .select()
        .from(auditEvents)
        .where(
          and(
            eq(auditEvents.brokerId, brokerId),
            gt(auditEvents.seq, afterSeq),
            inArray(auditEvents.action, [...actions]),
          ),
        )
        .orderBy(asc(auditEvents.seq))
        .limit(limit);
      return rows.map((row): AuditEvent => ({ ...row, details: JSON.parse(row.details) }) as AuditEvent);
    },

    async countBrokerAuditEvents(brokerId, afterSeq, actions) {
      if (actions.length === 0) return 0;
      return total(
        db
          .select({ value: count() })
          .from(auditEvents)
          .where(
            and(
              eq(auditEvents.brokerId, brokerId),
              gt(auditEvents.seq, afterSeq),
              inArray(auditEvents.action, [...actions]),
            ),
          ),
      );
    },
  };
}
