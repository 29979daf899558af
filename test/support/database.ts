// Reading the service's SQLite file from a test, through its own connection: every table, found from the
// schema itself, so a table added later is never left out of a no-partial-write check.
import type Database from 'better-sqlite3';

/** The service's tables (not SQLite's own, nor drizzle's migration journal). */
export function serviceTables(db: Database.Database): string[] {
  const rows = db
    .prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' " +
        "AND name NOT LIKE '__drizzle%' ORDER BY name",
    )
    .all() as Array<{ name: string }>;
  return rows.map((row) => row.name);
}

export function rowCounts(db: Database.Database): Record<string, number> {
  return Object.fromEntries(
    serviceTables(db).map((table) => [
      table,
      (db.prepare(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n,
    ]),
  );
}
