// SQL building blocks the drizzle store's parts share: conditional inserts for atomic batches, counts,
// and how both SQLite drivers report a taken name.
import { getTableColumns, is, SQL, sql } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import type { GatepassDatabase } from './drizzle.js';

/** Both drivers report a violated UNIQUE or PRIMARY KEY constraint in the message (sometimes of the cause). */
export function isUniqueViolation(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (/UNIQUE constraint failed|PRIMARYKEY|SQLITE_CONSTRAINT_UNIQUE/i.test(e.message)) return true;
  }
  return false;
}

/**
 * `INSERT INTO table SELECT <row> WHERE condition`: the row is written only if the condition holds when
 * the statement runs, so a batch can make a later write depend on an earlier one (D1 has no BEGIN). A value
 * may be an SQL expression, evaluated by the same statement.
 */
export function insertRowWhere(
  db: GatepassDatabase,
  table: SQLiteTable,
  row: Record<string, unknown>,
  condition: SQL | undefined,
) {
  // Every column, in the table's order: the order drizzle names them in `INSERT INTO table (...)`.
  const values = Object.entries(getTableColumns(table)).map(([key, column]) => {
    const value = row[key];
    if (is(value, SQL)) return value;
    return value === undefined || value === null ? sql`null` : sql.param(value, column);
  });
  return db.insert(table).select(sql`select ${sql.join(values, sql`, `)} where ${condition}`);
}

/** The count of a `select({ value: count() })` query. */
export async function total(query: Promise<Array<{ value: number }>>): Promise<number> {
  const [row] = await query;
  return row?.value ?? 0;
}
