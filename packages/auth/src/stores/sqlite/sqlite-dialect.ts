import type { Database, Statement } from 'better-sqlite3';
import { driveSync, type SqlDialect, type SqlResult, type SqlStatement } from '../sql/sql-dialect.js';
import { retryWhileBusy } from './busy.js';

/**
 * A shallow merge in SQLite. Its `json_patch` is RFC 7396, which merges nested objects too (and drops the
 * `null`s inside them), so the object is rebuilt from its entries instead: the stored keys the patch does not
 * name, then the patch's keys but its `null`s. Each value keeps its JSON type (`json_each` gives objects and
 * arrays as text and booleans as 0/1, turned back into JSON here).
 */
const SQLITE_MERGE_JSON = `(SELECT json_group_object(key, CASE
    WHEN type IN ('object', 'array') THEN json(value)
    WHEN type = 'true' THEN json('true')
    WHEN type = 'false' THEN json('false')
    ELSE value END)
  FROM (
    SELECT key, value, type FROM json_each($column) WHERE key NOT IN (SELECT key FROM json_each(?))
    UNION ALL SELECT key, value, type FROM json_each(?) WHERE type <> 'null'
  ))`;

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
    mergeJsonObject: (column) => SQLITE_MERGE_JSON.replaceAll('$column', column),
    close: async () => {
      if (options.ownsDatabase && db.open) db.close();
    },
  };
}
