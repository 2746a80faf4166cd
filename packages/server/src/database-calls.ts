import type { Database } from 'better-sqlite3';
import type pg from 'pg';
import { StoreUnavailableError } from 'tessera-auth/errors';
import { retryWhileBusy } from 'tessera-auth/stores/sqlite';

/**
 * How the server's own SQLite stores (accounts, admin keys, clients, webhooks) run a statement: a locked
 * database is retried asynchronously, never waited for on the event loop, and any failure becomes a
 * `StoreUnavailableError` with `message` (the API answers 503), the driver's error as its cause.
 */
export function sqliteCalls(db: Database, message: string): <T>(run: () => T, readOnly?: boolean) => Promise<T> {
  return async (run, readOnly = false) => {
    try {
      return await retryWhileBusy(db, run, { readOnly });
    } catch (error) {
      throw new StoreUnavailableError(message, { cause: error });
    }
  };
}

/** The same for the server's own PostgreSQL stores: one pooled query, a failure a `StoreUnavailableError`. */
export function postgresQueries(
  pool: pg.Pool,
  message: string,
): <T extends pg.QueryResultRow>(sql: string, values: unknown[]) => Promise<pg.QueryResult<T>> {
  return async <T extends pg.QueryResultRow>(sql: string, values: unknown[]) => {
    try {
      return await pool.query<T>(sql, values);
    } catch (error) {
      throw new StoreUnavailableError(message, { cause: error });
    }
  };
}
