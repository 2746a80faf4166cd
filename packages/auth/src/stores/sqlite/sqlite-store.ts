import BetterSqlite3, { type Database } from 'better-sqlite3';
import { InvalidOptionError, StoreUnavailableError } from '../../core/errors/errors.js';
import { defineStore } from '../../core/store/define-store.js';
import { sqliteKeyValuePrimitives } from './kv-primitives.js';
import type { Store } from '../../core/store/types.js';
import type { Logger } from '../../internal/logger.js';
import { functionOption, positiveIntegerOption } from '../../internal/options.js';
import { createSqlBackend } from '../sql/sql-store.js';
import { retryWhileBusy, SQLITE_BUSY_TIMEOUT_MS, withStartupBusyTimeout } from './busy.js';
import { migrateSQLite, type SQLiteMigration } from './migrations.js';
import { sqliteDialect } from './sqlite-dialect.js';

/** Options of {@link createSQLiteStore}. */
export interface SQLiteStoreOptions {
  /**
   * Prefix of every table this store creates, so several stores can share one
   * database file. Lower-case letters, digits and `_`.
   * @default "tessera_"
   */
  tablePrefix?: string;
  /**
   * Rows removed per statement by `deleteExpired`, which yields to the event
   * loop between batches.
   * @default 500
   */
  deleteBatchSize?: number;
  /** Where corrupt records are reported (with a fingerprint, never the id). */
  logger?: Logger;
  /**
   * The clock, epoch milliseconds.
   * @default Date.now
   */
  now?: () => number;
}

/** The versioned schema of the SQLite store. Append; never edit an applied step. */
export function sqliteStoreMigrations(prefix: string): SQLiteMigration[] {
  const sessions = `${prefix}sessions`;
  const field = (name: string): string => `json_extract(record, '$.${name}')`;
  return [
    {
      version: 1,
      name: 'create sessions and values',
      sql: `
        CREATE TABLE ${prefix}sessions (
          id TEXT PRIMARY KEY,
          user_id TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          revoked_at INTEGER,
          record TEXT NOT NULL
        ) STRICT;
        CREATE INDEX ${prefix}sessions_user_id ON ${prefix}sessions (user_id, created_at);
        CREATE INDEX ${prefix}sessions_expires_at ON ${prefix}sessions (expires_at);
        CREATE TABLE ${prefix}values (
          key TEXT PRIMARY KEY,
          value TEXT NOT NULL,
          expires_at INTEGER
        ) STRICT;
        CREATE INDEX ${prefix}values_expires_at ON ${prefix}values (expires_at) WHERE expires_at IS NOT NULL;
      `,
    },
    {
      version: 2,
      name: 'sessions: one column per record field',
      // Rebuilt from the JSON record; a row whose record is not JSON or lacks a field was unreadable already, and is dropped.
      sql: `
        CREATE TABLE ${sessions}_v2 (
          id TEXT PRIMARY KEY,
          secret_hash TEXT NOT NULL,
          user_id TEXT NOT NULL,
          created_at REAL NOT NULL,
          last_seen_at REAL NOT NULL,
          idle_expires_at REAL NOT NULL,
          absolute_expires_at REAL NOT NULL,
          expires_at REAL NOT NULL,
          revoked_at REAL,
          ip TEXT,
          user_agent TEXT,
          data TEXT NOT NULL
        ) STRICT;
        INSERT INTO ${sessions}_v2
          SELECT id, ${field('secretHash')}, user_id, created_at, ${field('lastSeenAt')}, ${field('idleExpiresAt')},
                 ${field('absoluteExpiresAt')}, expires_at, revoked_at, ${field('ip')}, ${field('userAgent')},
                 json(${field('data')})
          FROM ${sessions}
          WHERE json_valid(record) AND json_type(record, '$.secretHash') = 'text'
            AND json_type(record, '$.lastSeenAt') IN ('integer', 'real')
            AND json_type(record, '$.idleExpiresAt') IN ('integer', 'real')
            AND json_type(record, '$.absoluteExpiresAt') IN ('integer', 'real')
            AND json_type(record, '$.data') = 'object';
        DROP TABLE ${sessions};
        ALTER TABLE ${sessions}_v2 RENAME TO ${sessions};
        CREATE INDEX ${prefix}sessions_user_id ON ${sessions} (user_id, created_at);
        CREATE INDEX ${prefix}sessions_expires_at ON ${sessions} (expires_at);
      `,
    },
    {
      version: 3,
      name: 'sessions: sign-in ip and user agent',
      sql: `
        ALTER TABLE ${sessions} ADD COLUMN sign_in_ip TEXT;
        ALTER TABLE ${sessions} ADD COLUMN sign_in_user_agent TEXT;
      `,
    },
    {
      version: 4,
      name: 'sessions: authentication time, own idle timeout, cookie lifetime',
      sql: `
        ALTER TABLE ${sessions} ADD COLUMN authenticated_at REAL;
        ALTER TABLE ${sessions} ADD COLUMN idle_timeout_ms REAL;
        ALTER TABLE ${sessions} ADD COLUMN cookie_lifetime TEXT;
      `,
    },
    {
      version: 5,
      name: 'sessions: new-device mark',
      sql: `ALTER TABLE ${sessions} ADD COLUMN new_device_until REAL;`,
    },
  ];
}

/**
 * The embedded default store: one SQLite file (WAL mode) that survives
 * restarts, through better-sqlite3. Creates and migrates its tables on
 * construction (a file made by an earlier version is migrated forward).
 *
 * better-sqlite3 is synchronous, so every statement runs to completion before
 * any other JavaScript does, and a rotation runs in one transaction, atomic
 * across processes too. While another process holds the write lock, a method
 * retries for about a second without blocking the event loop, then fails with
 * `StoreUnavailableError`.
 *
 * @param database a file path (`":memory:"` for a throwaway database) or an open better-sqlite3 `Database`
 *   (then the caller owns it and `close` leaves it open).
 */
export function createSQLiteStore(database: string | Database, options: SQLiteStoreOptions = {}): Store {
  const prefix = options.tablePrefix ?? 'tessera_';
  if (typeof prefix !== 'string' || !/^[a-z][a-z0-9_]{0,30}$/.test(prefix)) {
    throw new InvalidOptionError(
      '"tablePrefix" must be 1–31 lower-case letters, digits or "_", starting with a letter',
    );
  }
  const deleteBatchSize = positiveIntegerOption('deleteBatchSize', options.deleteBatchSize, 500);
  const now = functionOption<() => number>('now', options.now, Date.now);

  const ownsDatabase = typeof database === 'string';
  let db: Database;
  try {
    const opened = ownsDatabase ? new BetterSqlite3(database) : database;
    db = opened;
    withStartupBusyTimeout(opened, () => {
      opened.pragma('journal_mode = WAL');
      migrateSQLite(opened, `${prefix}migrations`, sqliteStoreMigrations(prefix));
    });
    opened.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  } catch (error) {
    throw new StoreUnavailableError('Could not open the SQLite database', { cause: error });
  }

  const dialect = sqliteDialect(db, { sessions: `${prefix}sessions`, values: `${prefix}values` }, { ownsDatabase });
  const values = sqliteKeyValuePrimitives({
    db,
    table: `${prefix}values`,
    now,
    guard: (_operation, run) => retryWhileBusy(db, run),
  });
  return defineStore({ ...createSqlBackend(dialect, { deleteBatchSize, now }), ...values }, { logger: options.logger });
}
