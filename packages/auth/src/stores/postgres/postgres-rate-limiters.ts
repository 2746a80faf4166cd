import type pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import { InvalidOptionError } from '../../core/errors/errors.js';
import type { RateLimiterFactory } from '../../core/rate-limit/rate-limit.js';
import { runPostgresMigrations } from './migrations.js';

/**
 * Rate-limit counters in the same PostgreSQL database as the sessions. Creates
 * the counters' table first (as a versioned migration): left to
 * rate-limiter-flexible it is created in the background, and a failure there
 * would be an unhandled rejection.
 *
 * @param tableName the counters' table
 * @default tableName "tessera_rate_limits"
 */
export async function createPostgresRateLimiters(
  pool: pg.Pool,
  tableName = 'tessera_rate_limits',
): Promise<RateLimiterFactory> {
  if (!/^[a-z][a-z0-9_]{0,40}$/.test(tableName)) {
    throw new InvalidOptionError('"tableName" must be lower-case letters, digits or "_", starting with a letter');
  }
  await runPostgresMigrations(pool, { schema: undefined, migrations: `"${tableName}_migrations"` }, [
    {
      version: 1,
      name: 'create rate-limit counters',
      sql: `CREATE TABLE IF NOT EXISTS "${tableName}" (key varchar(255) PRIMARY KEY, points integer NOT NULL DEFAULT 0, expire bigint)`,
    },
  ]);
  return ({ keyPrefix, points, durationSeconds }) =>
    new RateLimiterPostgres({
      storeClient: pool,
      storeType: 'pool',
      tableName,
      tableCreated: true,
      clearExpiredByTimeout: true,
      keyPrefix,
      points,
      duration: durationSeconds,
    });
}
