import type { Database, Statement } from 'better-sqlite3';
import { driveSync, type SqlDialect, type SqlResult, type SqlStatement } from '../sql/sql-dialect.js';
import { retryWhileBusy } from './busy.js';

/**
 * The SQLite dialect of the SQL store, over better-sqlite3. Statements are
 * synchronous: each runs to completion before any other JavaScript does, and a
 * transaction runs whole inside `BEGIN IMMEDIATE`. While another connection
 * holds the write lock, a write is retried for about a second without
 * blocking the event loop ({@link retryWhileBusy}); reads never wait (WAL).
 */
export function sqliteDialect(
  db: Database,
  tables: SqlDialect['tables'],
  options: { ownsDatabase: boolean },
): SqlDialect {
  const prepared = new Map<string, Statement<unknown[], Record<string, unknown>>>();
  const execute = ({ sql, params }: SqlStatement): SqlResult => {
    let prepare = prepared.get(sql);
    if (prepare === undefined) {
      prepare = db.prepare<unknown[], Record<string, unknown>>(sql);
      prepared.set(sql, prepare);
    }
    if (prepare.reader) {
      const rows = prepare.all(...params);
      return { rows, count: rows.length };
    }
    return { rows: [], count: prepare.run(...params).changes };
  };

  return {
    name: 'sqlite',
    tables,
    run: (statement, { write }) => retryWhileBusy(db, () => execute(statement), { readOnly: !write }),
    transaction: (work) => retryWhileBusy(db, () => db.transaction(() => driveSync(work(), execute)).immediate()),
    close: async () => {
      if (options.ownsDatabase && db.open) db.close();
    },
  };
}
