import pg from 'pg';
import { isTesseraError, StoreUnavailableError } from '../../core/errors/errors.js';
import { isSessionRecord } from '../../core/store/session-record.js';
import { ttlMilliseconds } from '../../core/store/ttl.js';
import type {
  CreateSessionOptions,
  JsonValue,
  SessionPatch,
  SessionRecord,
  SessionStore,
} from '../../core/store/types.js';
import { fingerprint } from '../../internal/crypto.js';
import { silentLogger, type Logger } from '../../internal/logger.js';
import { functionOption, positiveIntegerOption } from '../../internal/options.js';
import { postgresKeyValuePrimitives } from './kv-primitives.js';
import { resolvePostgresTables, type PostgresTableOptions } from './migrations.js';

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

const SESSION_COLUMNS =
  'id, secret_hash, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, expires_at, revoked_at, ip, user_agent, data';
const SESSION_PARAMETERS =
  '$1::text, $2::text, $3::text, $4::float8, $5::float8, $6::float8, $7::float8, $8::float8, $9::float8, $10::text, $11::text, $12::text';

interface SessionRow {
  id: string;
  secret_hash: string;
  user_id: string;
  created_at: number;
  last_seen_at: number;
  idle_expires_at: number;
  absolute_expires_at: number;
  expires_at: number;
  revoked_at: number | null;
  ip: string | null;
  user_agent: string | null;
  data: string;
}

/** The patchable fields and their columns. Column names come only from here, never from input. */
const PATCH_COLUMNS = {
  lastSeenAt: 'last_seen_at',
  idleExpiresAt: 'idle_expires_at',
  expiresAt: 'expires_at',
  ip: 'ip',
  userAgent: 'user_agent',
  data: 'data',
} as const satisfies Record<keyof SessionPatch, string>;

const sessionValues = (record: SessionRecord): unknown[] => [
  record.id,
  record.secretHash,
  record.userId,
  record.createdAt,
  record.lastSeenAt,
  record.idleExpiresAt,
  record.absoluteExpiresAt,
  record.expiresAt,
  record.revokedAt,
  record.ip,
  record.userAgent,
  JSON.stringify(record.data),
];

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
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
 * Every operation is one statement, atomic on its own, except a create with
 * `maxSessionsPerUser` and `revokeUserSessions`: each one transaction under a
 * per-user `pg_advisory_xact_lock`, so they take turns for one user. Expiry is
 * compared with the injected clock, passed as a parameter, never `now()`.
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
export function createPostgresStore(pool: pg.Pool, options: PostgresStoreOptions = {}): SessionStore {
  const tables = resolvePostgresTables(options);
  const batchSize = positiveIntegerOption('deleteBatchSize', options.deleteBatchSize, 500);
  const now = functionOption<() => number>('now', options.now, Date.now);
  const logger = options.logger ?? silentLogger;
  const { sessions, values } = tables;

  const inFlight = new Set<Promise<unknown>>();
  let closed = false;

  /** Runs one operation, turning driver failures into the typed store error. */
  const guard = <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new StoreUnavailableError('The PostgreSQL store is closed'));
    const call = (async () => {
      try {
        return await run();
      } catch (error) {
        if (isTesseraError(error)) throw error;
        const message =
          (error as { code?: unknown }).code === '42P01'
            ? `PostgreSQL store tables are missing (run migratePostgres with tablePrefix "${tables.prefix}" first), during ${operation}`
            : `PostgreSQL store failed during ${operation}`;
        throw new StoreUnavailableError(message, { cause: error });
      }
    })();
    inFlight.add(call);
    const forget = (): void => {
      inFlight.delete(call);
    };
    call.then(forget, forget);
    return call;
  };

  const query = <R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    parameters: unknown[],
  ): Promise<pg.QueryResult<R>> => pool.query<R>(text, parameters);

  const decode = (row: SessionRow): SessionRecord | null => {
    const record = {
      id: row.id,
      secretHash: row.secret_hash,
      userId: row.user_id,
      createdAt: row.created_at,
      lastSeenAt: row.last_seen_at,
      idleExpiresAt: row.idle_expires_at,
      absoluteExpiresAt: row.absolute_expires_at,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      ip: row.ip,
      userAgent: row.user_agent,
      data: parseJson(row.data),
    };
    if (!isSessionRecord(record)) {
      logger.warn({ store: 'postgres', session: fingerprint(row.id) }, 'corrupt session record ignored');
      return null;
    }
    return record;
  };
  const decodeAll = (rows: SessionRow[]): SessionRecord[] =>
    rows.map(decode).filter((record): record is SessionRecord => record !== null);

  const expiry = (ttlSeconds: number | undefined): number | null => {
    const ttlMs = ttlMilliseconds(ttlSeconds);
    return ttlMs === undefined ? null : now() + ttlMs;
  };

  /** Runs `run` in a transaction on one pooled connection; a failed connection is discarded, not reused. */
  const transaction = async <T>(run: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await run(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      // Destroying the connection rolls the transaction back server-side, and never waits on a dead socket.
      client.release(error instanceof Error ? error : true);
      throw error;
    }
  };

  /** Serialises a user's capped logins and revoke-alls (until commit), so each sees the other's result whole. */
  const lockUser = async (client: pg.PoolClient, userId: string): Promise<void> => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [sessions, userId]);
  };

  const createCapped = (record: SessionRecord, cap: number): Promise<string[]> =>
    transaction(async (client) => {
      await lockUser(client, record.userId);
      // Runs after the lock, so under READ COMMITTED it sees every session committed by an earlier holder.
      const evicted = await client.query<{ id: string }>(
        `UPDATE ${sessions} SET revoked_at = $2 WHERE id IN (
           SELECT id FROM ${sessions}
           WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $3
           ORDER BY created_at DESC, id DESC OFFSET $4
         ) RETURNING id`,
        [record.userId, record.createdAt, now(), cap - 1],
      );
      await client.query(
        `INSERT INTO ${sessions} (${SESSION_COLUMNS}) VALUES (${SESSION_PARAMETERS})`,
        sessionValues(record),
      );
      return evicted.rows.map((row) => row.id);
    });

  const deleteExpiredFrom = async (table: string, at: number): Promise<number> => {
    let removed = 0;
    for (;;) {
      // The outer expiry check re-runs on a row changed since the sub-select, so a renewal in between wins.
      const result = await query(
        `DELETE FROM ${table}
         WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${table} WHERE expires_at <= $1 LIMIT $2))
           AND expires_at <= $1`,
        [at, batchSize],
      );
      const count = result.rowCount ?? 0;
      removed += count;
      if (count < batchSize) return removed;
    }
  };

  return {
    name: 'postgres',

    createSession(record: SessionRecord, createOptions: CreateSessionOptions = {}) {
      return guard('createSession', async () => {
        const cap = positiveIntegerOption('maxSessionsPerUser', createOptions.maxSessionsPerUser, undefined);
        if (cap !== undefined) return createCapped(record, cap);
        await query(
          `INSERT INTO ${sessions} (${SESSION_COLUMNS}) VALUES (${SESSION_PARAMETERS})`,
          sessionValues(record),
        );
        return [];
      });
    },

    getSession(id: string) {
      return guard('getSession', async () => {
        const { rows } = await query<SessionRow>(
          `SELECT ${SESSION_COLUMNS} FROM ${sessions} WHERE id = $1 AND expires_at > $2`,
          [id, now()],
        );
        return rows[0] === undefined ? null : decode(rows[0]);
      });
    },

    updateSession(id: string, patch: SessionPatch) {
      return guard('updateSession', async () => {
        const assignments: string[] = [];
        const parameters: unknown[] = [id, now()];
        for (const [field, column] of Object.entries(PATCH_COLUMNS) as [keyof SessionPatch, string][]) {
          const value = patch[field];
          if (value === undefined) continue;
          parameters.push(field === 'data' ? JSON.stringify(value) : value);
          assignments.push(`${column} = $${parameters.length}`);
        }
        if (assignments.length === 0) assignments.push('id = id');
        const result = await query(
          `UPDATE ${sessions} SET ${assignments.join(', ')} WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2`,
          parameters,
        );
        return result.rowCount === 1;
      });
    },

    rotateSession(oldId: string, record: SessionRecord) {
      return guard('rotateSession', async () => {
        // One statement: of concurrent rotations only the one whose DELETE found the row inserts.
        const result = await query(
          `WITH old AS (
             DELETE FROM ${sessions} WHERE id = $13 AND revoked_at IS NULL AND expires_at > $14 RETURNING id
           )
           INSERT INTO ${sessions} (${SESSION_COLUMNS}) SELECT ${SESSION_PARAMETERS} FROM old`,
          [...sessionValues(record), oldId, now()],
        );
        return result.rowCount === 1;
      });
    },

    revokeSession(id: string, revokedAt: number) {
      return guard('revokeSession', async () => {
        const result = await query(
          `UPDATE ${sessions} SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL AND expires_at > $3`,
          [id, revokedAt, now()],
        );
        return result.rowCount === 1;
      });
    },

    revokeUserSessions(userId: string, revokedAt: number, revokeOptions: { exceptId?: string } = {}) {
      return guard('revokeUserSessions', () =>
        transaction(async (client) => {
          // The lock orders this after (or before) a capped login in flight: without it the UPDATE
          // could see that login's evictions but not its new session.
          await lockUser(client, userId);
          const { rows } = await client.query<{ id: string }>(
            `UPDATE ${sessions} SET revoked_at = $2
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $3 AND id IS DISTINCT FROM $4
             RETURNING id`,
            [userId, revokedAt, now(), revokeOptions.exceptId ?? null],
          );
          return rows.map((row) => row.id);
        }),
      );
    },

    deleteSession(id: string) {
      return guard('deleteSession', async () => {
        const { rows } = await query<{ live: boolean }>(
          `DELETE FROM ${sessions} WHERE id = $1 RETURNING expires_at > $2 AS live`,
          [id, now()],
        );
        return rows[0]?.live === true;
      });
    },

    countLiveSessions() {
      return guard('countLiveSessions', async () => {
        const at = now();
        const { rows } = await query<{ live: string }>(
          `SELECT count(*) AS live FROM ${sessions}
           WHERE expires_at > $1 AND revoked_at IS NULL AND idle_expires_at > $1 AND absolute_expires_at > $1`,
          [at],
        );
        return Number(rows[0]?.live ?? 0);
      });
    },

    listUserSessions(userId: string) {
      return guard('listUserSessions', async () => {
        const { rows } = await query<SessionRow>(
          `SELECT ${SESSION_COLUMNS} FROM ${sessions}
           WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
           ORDER BY created_at, id`,
          [userId, now()],
        );
        return decodeAll(rows);
      });
    },

    get(key: string) {
      return guard('get', async () => {
        const { rows } = await query<{ value: string }>(
          `SELECT value FROM ${values} WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)`,
          [key, now()],
        );
        return rows[0] === undefined ? null : (JSON.parse(rows[0].value) as JsonValue);
      });
    },

    set(key: string, value: JsonValue, ttlSeconds?: number) {
      return guard('set', async () => {
        await query(
          `INSERT INTO ${values} (key, value, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
          [key, JSON.stringify(value), expiry(ttlSeconds)],
        );
      });
    },

    setIfAbsent(key: string, value: JsonValue, ttlSeconds?: number) {
      return guard('setIfAbsent', async () => {
        // ON CONFLICT locks the existing row and re-checks the WHERE on its latest version, so
        // only an expired value is replaced and concurrent callers see each other's insert.
        const result = await query(
          `INSERT INTO ${values} AS current (key, value, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
           WHERE current.expires_at IS NOT NULL AND current.expires_at <= $4`,
          [key, JSON.stringify(value), expiry(ttlSeconds), now()],
        );
        return result.rowCount === 1;
      });
    },

    getAndDelete(key: string) {
      return guard('getAndDelete', async () => {
        const { rows } = await query<{ value: string }>(
          `DELETE FROM ${values} WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2) RETURNING value`,
          [key, now()],
        );
        return rows[0] === undefined ? null : (JSON.parse(rows[0].value) as JsonValue);
      });
    },

    delete(key: string) {
      return guard('delete', async () => {
        const result = await query(`DELETE FROM ${values} WHERE key = $1 AND (expires_at IS NULL OR expires_at > $2)`, [
          key,
          now(),
        ]);
        return (result.rowCount ?? 0) > 0;
      });
    },

    ...postgresKeyValuePrimitives({ query, table: values, now, guard }),

    deleteExpired() {
      return guard('deleteExpired', async () => {
        const at = now();
        return (await deleteExpiredFrom(sessions, at)) + (await deleteExpiredFrom(values, at));
      });
    },

    async close() {
      closed = true;
      await Promise.allSettled([...inFlight]);
    },
  };
}
