import pg from 'pg';
import { defineStore } from '../../core/store/define-store.js';
import type { Store } from '../../core/store/types.js';
import { silentLogger, type Logger } from '../../internal/logger.js';
import { functionOption, positiveIntegerOption } from '../../internal/options.js';
import { createSqlBackend } from '../sql/sql-store.js';
import { postgresKeyValuePrimitives } from './kv-primitives.js';
import { resolvePostgresTables, type PostgresTableOptions } from './migrations.js';
import { postgresDialect } from './postgres-dialect.js';
import { announceWithNotify, postgresInvalidation, postgresInvalidationChannel } from './invalidation.js';

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions extends PostgresTableOptions {
  /**
   * Rows removed per statement by `deleteExpired`; each batch is its own
   * short transaction.
   * @default 500
   */
  deleteBatchSize?: number;
  /** Where corrupt records are reported (with a fingerprint, never the id). */
  logger?: Logger;
  /**
   * The clock, epoch milliseconds. Expiry is compared against it, never
   * against the database's `now()`.
   * @default Date.now
   */
  now?: () => number;
}

/** Options of {@link connectPostgres}: every `pg.Pool` setting, overriding the safe defaults. */
export interface ConnectPostgresOptions extends pg.PoolConfig {
  /** Where failures of idle connections are reported. */
  logger?: Logger;
}

/**
 * A `pg.Pool` with bounds that keep a store fail-closed and fast to fail: a
 * connection attempt gives up after 3 s, the server cancels a statement after
 * 5 s, the client stops waiting for an answer after 6 s (a server that is gone
 * without closing the socket), and TCP keep-alive is on. Failures of idle
 * connections (a server restart) are logged instead of crashing the process;
 * the pool reconnects on the next query. The caller owns the pool: `end()` it
 * on shutdown.
 *
 * @param url a `postgresql://` connection string
 * @example
 * const pool = connectPostgres(process.env.DATABASE_URL!);
 */
export function connectPostgres(url: string, options: ConnectPostgresOptions = {}): pg.Pool {
  const { logger = silentLogger, ...config } = options;
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis: 3_000,
    statement_timeout: 5_000,
    query_timeout: 6_000,
    idle_in_transaction_session_timeout: 10_000,
    keepAlive: true,
    ...config,
  });
  pool.on('error', (error: Error & { code?: string }) => {
    logger.warn({ store: 'postgres', code: error.code ?? null }, 'idle PostgreSQL connection failed');
  });
  return pool;
}

/**
 * The PostgreSQL store, through a `pg.Pool` (see {@link connectPostgres}).
 * Sessions live in `<prefix>sessions`, one column per record field with
 * `data` as JSON text, indexed by user and by expiry; short-lived values in
 * `<prefix>values`.
 *
 * The tables must exist: run {@link migratePostgres} with the same
 * `tablePrefix` and `schema` first (at deploy or start time). Until then every
 * call rejects with `StoreUnavailableError` saying so.
 *
 * Every operation is one statement, atomic on its own (a mutation returns the
 * changed row), except a rotation: one transaction. Expiry is compared with
 * the injected clock, passed as a parameter, never `now()`.
 *
 * The statements that revoke, delete or rotate a session or replace its data
 * `pg_notify` its id on `[<schema>.]<tablePrefix>invalidate`, in the same
 * statement; `invalidation()` listens there (one connection outside the pool,
 * opened when a session manager's near cache first subscribes, closed by
 * `close`). Nothing but the default NOTIFY and LISTEN rights is needed.
 *
 * Calls are bounded only by the pool's timeouts: give it some
 * (`connectPostgres` does), or a call may wait as long as the network does.
 * The caller owns the pool, and must listen to its `error` event (again,
 * `connectPostgres` does), or a server restart crashes the process through an
 * idle connection. `close` waits for this store's calls in flight and leaves
 * the pool open.
 *
 * @example
 * const pool = connectPostgres(process.env.DATABASE_URL!);
 * await migratePostgres(pool);
 * const store = createPostgresStore(pool);
 */
export function createPostgresStore(pool: pg.Pool, options: PostgresStoreOptions = {}): Store {
  const tables = resolvePostgresTables(options);
  const deleteBatchSize = positiveIntegerOption('deleteBatchSize', options.deleteBatchSize, 500);
  const now = functionOption<() => number>('now', options.now, Date.now);
  const values = postgresKeyValuePrimitives({
    query: (text, parameters) => pool.query(text, parameters),
    table: tables.values,
    now,
    guard: (_operation, run) => run(),
  });
  const channel = postgresInvalidationChannel(tables);
  const dialect = { ...postgresDialect(pool, tables), announce: announceWithNotify(channel) };
  const backend = createSqlBackend(dialect, { deleteBatchSize, now });
  const logger = options.logger ?? silentLogger;
  let invalidation: ReturnType<typeof postgresInvalidation> | null = null;
  let closed = false;
  return defineStore(
    {
      ...backend,
      ...values,
      invalidation() {
        if (invalidation === null) {
          invalidation = postgresInvalidation(pool, channel, logger);
          if (closed) void invalidation.close();
        }
        return invalidation;
      },
      async close() {
        closed = true;
        await invalidation?.close();
        await backend.close();
      },
    },
    { logger },
  );
}
