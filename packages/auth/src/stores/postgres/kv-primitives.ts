import type pg from 'pg';
import { incrementArguments, jsonText } from '../../core/store/kv-arguments.js';
import { ttlMilliseconds } from '../../core/store/ttl.js';
import type { JsonValue, KeyValueStore } from '../../core/store/types.js';

/** What the PostgreSQL store gives its primitives. */
export interface PostgresValues {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    parameters: unknown[],
  ): Promise<pg.QueryResult<R>>;
  /** The values table, quoted (a checked identifier). */
  table: string;
  now(): number;
  /** The store's wrapper: driver errors as `StoreUnavailableError`, calls tracked for `close`. */
  guard<T>(operation: string, run: () => Promise<T>): Promise<T>;
}

/**
 * `compareAndSet` and `increment` of the PostgreSQL store, one statement each.
 * Under READ COMMITTED a concurrent UPDATE of the row waits for the first and
 * re-checks its WHERE (or its ON CONFLICT branch) on the row's latest
 * version, so of racing callers exactly one compare succeeds and no increment
 * is lost.
 */
export function postgresKeyValuePrimitives(
  options: PostgresValues,
): Pick<KeyValueStore, 'compareAndSet' | 'increment'> {
  const { query, table, now, guard } = options;
  return {
    compareAndSet(key: string, expected: JsonValue | null, next: JsonValue, ttlSeconds?: number) {
      return guard('compareAndSet', async () => {
        const ttlMs = ttlMilliseconds(ttlSeconds);
        const at = now();
        const expiresAt = ttlMs === undefined ? null : at + ttlMs;
        const result =
          expected === null
            ? await query(
                `INSERT INTO ${table} AS current (key, value, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
                 WHERE current.expires_at IS NOT NULL AND current.expires_at <= $4`,
                [key, jsonText(next), expiresAt, at],
              )
            : await query(
                `UPDATE ${table} SET value = $3, expires_at = $4
                 WHERE key = $1 AND value = $2 AND (expires_at IS NULL OR expires_at > $5)`,
                [key, jsonText(expected), jsonText(next), expiresAt, at],
              );
        return result.rowCount === 1;
      });
    },

    increment(key: string, by: number, ttlSeconds: number) {
      return guard('increment', async () => {
        const ttlMs = incrementArguments(by, ttlSeconds);
        const at = now();
        // A value that is not an integer fails the cast: the call rejects instead of counting from it.
        const { rows } = await query<{ value: string; expires_at: number }>(
          `INSERT INTO ${table} AS current (key, value, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (key) DO UPDATE SET
             value = CASE WHEN current.expires_at IS NOT NULL AND current.expires_at <= $4 THEN excluded.value
                          ELSE (current.value::bigint + $5::bigint)::text END,
             expires_at = CASE WHEN current.expires_at IS NULL OR current.expires_at <= $4 THEN excluded.expires_at
                               ELSE current.expires_at END
           RETURNING value, expires_at`,
          [key, jsonText(by), at + ttlMs, at, by],
        );
        const row = rows[0];
        if (row === undefined) throw new Error('increment returned no row');
        return { value: Number(row.value), expiresAt: row.expires_at };
      });
    },
  };
}
