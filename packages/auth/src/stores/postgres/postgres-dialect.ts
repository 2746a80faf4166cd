import type pg from 'pg';
import { driveAsync, type SqlDialect, type SqlResult, type SqlStatement } from '../sql/sql-dialect.js';
import type { PostgresTables } from './migrations.js';

/** `?` placeholders as PostgreSQL's `$1`, `$2`, … (the shared statements hold no `?` anywhere else). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/**
 * The PostgreSQL dialect of the SQL store, over a `pg.Pool`. A statement runs
 * on any pooled connection; a transaction on one connection, discarded rather
 * than reused when it failed. Expiry is compared with the injected clock,
 * passed as a parameter, never `now()`.
 */
export function postgresDialect(pool: pg.Pool, tables: PostgresTables): SqlDialect {
  const texts = new Map<string, string>();
  const text = (sql: string): string => {
    let converted = texts.get(sql);
    if (converted === undefined) texts.set(sql, (converted = numbered(sql)));
    return converted;
  };
  const execute = async (client: pg.Pool | pg.PoolClient, { sql, params }: SqlStatement): Promise<SqlResult> => {
    const result = await client.query<Record<string, unknown>>(text(sql), params);
    return { rows: result.rows, count: result.rowCount ?? 0 };
  };

  return {
    name: 'postgres',
    tables,
    run: (statement) => execute(pool, statement),
    // jsonb's `||` is a shallow merge; the patch's null-valued keys are then removed.
    mergeJsonObject: (column) =>
      `((${column}::jsonb || ?::jsonb) - ARRAY(SELECT key FROM jsonb_each(?::jsonb) WHERE jsonb_typeof(value) = 'null'))::text`,
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await driveAsync(work(), (statement) => execute(client, statement));
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        // Destroying the connection rolls the transaction back server-side, and never waits on a dead socket.
        client.release(error instanceof Error ? error : true);
        throw error;
      }
    },
    close: async () => undefined,
    describeFailure: (error, operation) =>
      (error as { code?: unknown }).code === '42P01'
        ? `PostgreSQL store tables are missing (run migratePostgres with tablePrefix "${tables.prefix}" first), during ${operation}`
        : undefined,
  };
}
