import type { Database } from 'better-sqlite3';
import { RateLimiterSQLite } from 'rate-limiter-flexible';
import { InvalidOptionError } from '../../core/errors/errors.js';
import type { RateLimiterFactory } from '../../core/rate-limit/rate-limit.js';
import { withStartupBusyTimeout } from './busy.js';

/**
 * Rate-limit counters in the same SQLite database as the sessions, so limits
 * hold across restarts and across processes sharing the file.
 *
 * @param tableName the counters' table
 * @default tableName "tessera_rate_limits"
 */
export function createSQLiteRateLimiters(db: Database, tableName = 'tessera_rate_limits'): RateLimiterFactory {
  if (!/^[a-z][a-z0-9_]{0,62}$/.test(tableName)) {
    throw new InvalidOptionError('"tableName" must be lower-case letters, digits or "_", starting with a letter');
  }
  // The table rate-limiter-flexible expects, made here synchronously: left to the library it is created
  // asynchronously and the first consume may race it ("Table is not created yet").
  withStartupBusyTimeout(db, () =>
    db.exec(
      `CREATE TABLE IF NOT EXISTS ${tableName} (key TEXT PRIMARY KEY, points INTEGER NOT NULL DEFAULT 0, expire INTEGER)`,
    ),
  );
  return ({ keyPrefix, points, durationSeconds }) =>
    new RateLimiterSQLite({
      storeClient: db,
      storeType: 'better-sqlite3',
      tableName,
      tableCreated: true,
      clearExpiredByTimeout: true,
      keyPrefix,
      points,
      duration: durationSeconds,
    });
}
