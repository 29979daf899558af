// Helpers every part of the drizzle Store shares: rows to records, and conditional inserts for batches.
import { getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import type { TopicAcl } from '../core/claims.js';
import type { GatepassDatabase } from './drizzle.js';
import type { BrokerRecord } from './port.js';
import type { brokers } from './schema.js';

export function toBroker(row: typeof brokers.$inferSelect): BrokerRecord {
  return { ...row, defaultTopicAcl: JSON.parse(row.defaultTopicAcl) as TopicAcl };
}

/**
 * `INSERT INTO table SELECT <row> WHERE condition`: the row is written only if the condition holds when
 * the statement runs, so a batch can make a later write depend on an earlier one (D1 has no BEGIN).
 */
export function rowInserter(db: GatepassDatabase) {
  return (table: SQLiteTable, row: Record<string, unknown>, condition: SQL | undefined) => {
    // Every column, in the table's order: the order drizzle names them in `INSERT INTO table (...)`.
    const values = Object.entries(getTableColumns(table)).map(([key, column]) => {
      const value = row[key];
      return value === undefined || value === null ? sql`null` : sql.param(value, column);
    });
    return db.insert(table).select(sql`select ${sql.join(values, sql`, `)} where ${condition}`);
  };
}

export type InsertRowWhere = ReturnType<typeof rowInserter>;
