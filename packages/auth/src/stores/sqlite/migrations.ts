import type { Database } from 'better-sqlite3';
import { withStartupBusyTimeout } from './busy.js';

/** One step of a schema's history. `sql` runs inside a transaction, once. */
export interface SQLiteMigration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Applies the migrations not yet recorded in `historyTable`, in version order,
 * each in its own transaction with its history row. Safe to call at every
 * start and from several processes at once (SQLite serialises the writers and
 * the history check runs inside the write transaction). Each step holds the
 * write lock only for its own transaction, so a running server is kept
 * waiting for one step at most. Returns the versions it applied.
 */
export function migrateSQLite(db: Database, historyTable: string, migrations: readonly SQLiteMigration[]): number[] {
  return withStartupBusyTimeout(db, () => applyMigrations(db, historyTable, migrations));
}

function applyMigrations(db: Database, historyTable: string, migrations: readonly SQLiteMigration[]): number[] {
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${historyTable} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
  );
  const isApplied = db.prepare<[number]>(`SELECT 1 FROM ${historyTable} WHERE version = ?`);
  const record = db.prepare<[number, string, number]>(
    `INSERT INTO ${historyTable} (version, name, applied_at) VALUES (?, ?, ?)`,
  );
  const applied: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    const apply = db.transaction(() => {
      if (isApplied.get(migration.version) !== undefined) return false;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
      return true;
    });
    if (apply.immediate()) applied.push(migration.version);
  }
  return applied;
}
