import BetterSqlite3, { type Database } from 'better-sqlite3';
import { InvalidOptionError, isTesseraError, StoreUnavailableError } from '../../core/errors/errors.js';
import { parseSessionRecord } from '../../core/store/session-record.js';
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
import { retryWhileBusy, SQLITE_BUSY_TIMEOUT_MS, withStartupBusyTimeout } from './busy.js';
import { sqliteKeyValuePrimitives } from './kv-primitives.js';
import { migrateSQLite, type SQLiteMigration } from './migrations.js';

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
  ];
}

interface SessionRow {
  id: string;
  record: string;
}

/**
 * The embedded default store: one SQLite file (WAL mode) that survives
 * restarts, through better-sqlite3. Creates and migrates its tables on
 * construction.
 *
 * better-sqlite3 is synchronous, so every method runs to completion before any
 * other JavaScript does: each is atomic within the process, and multi-step
 * changes run in one transaction so they are atomic across processes too.
 * While another process holds the write lock, a method retries for about a
 * second without blocking the event loop, then fails with `StoreUnavailableError`.
 *
 * @param database a file path (`":memory:"` for a throwaway database) or an open better-sqlite3 `Database`
 *   (then the caller owns it and `close` leaves it open).
 */
export function createSQLiteStore(database: string | Database, options: SQLiteStoreOptions = {}): SessionStore {
  const prefix = options.tablePrefix ?? 'tessera_';
  if (typeof prefix !== 'string' || !/^[a-z][a-z0-9_]{0,30}$/.test(prefix)) {
    throw new InvalidOptionError(
      '"tablePrefix" must be 1–31 lower-case letters, digits or "_", starting with a letter',
    );
  }
  const batchSize = positiveIntegerOption('deleteBatchSize', options.deleteBatchSize, 500);
  const now = functionOption<() => number>('now', options.now, Date.now);
  const logger = options.logger ?? silentLogger;

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

  const sessions = `${prefix}sessions`;
  const values = `${prefix}values`;
  const statements = {
    getSession: db.prepare<[string], SessionRow>(`SELECT id, record FROM ${sessions} WHERE id = ? AND expires_at > ?`),
    insertSession: db.prepare(
      `INSERT INTO ${sessions} (id, user_id, created_at, expires_at, revoked_at, record) VALUES (@id, @userId, @createdAt, @expiresAt, @revokedAt, @record)`,
    ),
    replaceSession: db.prepare(
      `UPDATE ${sessions} SET expires_at = @expiresAt, revoked_at = @revokedAt, record = @record WHERE id = @id`,
    ),
    deleteSession: db.prepare<[string]>(`DELETE FROM ${sessions} WHERE id = ?`),
    liveUserSessions: db.prepare<[string, number], SessionRow>(
      `SELECT id, record FROM ${sessions} WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at, id`,
    ),
    getValue: db.prepare<[string, number], { value: string }>(
      `SELECT value FROM ${values} WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)`,
    ),
    setValue: db.prepare<[string, string, number | null]>(
      `INSERT INTO ${values} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    ),
    deleteValue: db.prepare<[string, number]>(
      `DELETE FROM ${values} WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)`,
    ),
    countLiveSessions: db.prepare<[number, number, number], { live: number }>(
      `SELECT count(*) AS live FROM ${sessions} WHERE expires_at > ? AND revoked_at IS NULL
         AND json_extract(record, '$.idleExpiresAt') > ? AND json_extract(record, '$.absoluteExpiresAt') > ?`,
    ),
    deleteExpiredSessions: db.prepare<[number, number]>(
      `DELETE FROM ${sessions} WHERE id IN (SELECT id FROM ${sessions} WHERE expires_at <= ? LIMIT ?)`,
    ),
    deleteExpiredValues: db.prepare<[number, number]>(
      `DELETE FROM ${values} WHERE key IN (SELECT key FROM ${values} WHERE expires_at <= ? LIMIT ?)`,
    ),
  };
  // getSession's second parameter is the clock; prepare's typing above takes one, so bind both here.
  const selectSession = (id: string): SessionRow | undefined =>
    (statements.getSession as unknown as { get(id: string, at: number): SessionRow | undefined }).get(id, now());

  const decode = (row: SessionRow | undefined): SessionRecord | null => {
    if (row === undefined) return null;
    const record = parseSessionRecord(row.record);
    if (record === null || record.id !== row.id) {
      logger.warn({ store: 'sqlite', session: fingerprint(row.id) }, 'corrupt session record ignored');
      return null;
    }
    return record;
  };

  const readSession = (id: string): SessionRecord | null => decode(selectSession(id));
  const liveRecord = (id: string): SessionRecord | null => {
    const record = readSession(id);
    return record === null || record.revokedAt !== null ? null : record;
  };
  const insert = (record: SessionRecord): void => {
    statements.insertSession.run({ ...record, record: JSON.stringify(record) });
  };
  const replace = (record: SessionRecord): void => {
    statements.replaceSession.run({
      id: record.id,
      expiresAt: record.expiresAt,
      revokedAt: record.revokedAt,
      record: JSON.stringify(record),
    });
  };
  const liveUserSessions = (userId: string): SessionRecord[] =>
    statements.liveUserSessions
      .all(userId, now())
      .map(decode)
      .filter((record): record is SessionRecord => record !== null);

  const revokeAll = (records: SessionRecord[], revokedAt: number): string[] => {
    for (const record of records) replace({ ...record, revokedAt });
    return records.map((record) => record.id);
  };

  const createSessionTx = db.transaction((record: SessionRecord, cap: number | undefined): string[] => {
    let evicted: string[] = [];
    if (cap !== undefined) {
      const live = liveUserSessions(record.userId);
      evicted = revokeAll(live.slice(0, Math.max(0, live.length - (cap - 1))), record.createdAt);
    }
    insert(record);
    return evicted;
  });
  const updateSessionTx = db.transaction((id: string, patch: SessionPatch): boolean => {
    const record = liveRecord(id);
    if (record === null) return false;
    replace({ ...record, ...patch });
    return true;
  });
  const rotateSessionTx = db.transaction((oldId: string, record: SessionRecord): boolean => {
    if (liveRecord(oldId) === null) return false;
    statements.deleteSession.run(oldId);
    insert(record);
    return true;
  });
  const revokeSessionTx = db.transaction((id: string, revokedAt: number): boolean => {
    const record = liveRecord(id);
    if (record === null) return false;
    replace({ ...record, revokedAt });
    return true;
  });
  const revokeUserSessionsTx = db.transaction((userId: string, revokedAt: number, exceptId?: string): string[] =>
    revokeAll(
      liveUserSessions(userId).filter((record) => record.id !== exceptId),
      revokedAt,
    ),
  );
  const setIfAbsentTx = db.transaction((key: string, json: string, expiresAt: number | null): boolean => {
    if (statements.getValue.get(key, now()) !== undefined) return false;
    statements.setValue.run(key, json, expiresAt);
    return true;
  });
  const getAndDeleteTx = db.transaction((key: string): string | null => {
    const row = statements.getValue.get(key, now());
    if (row === undefined) return null;
    statements.deleteValue.run(key, now());
    return row.value;
  });

  const expiry = (ttlSeconds: number | undefined): number | null => {
    const ttlMs = ttlMilliseconds(ttlSeconds);
    return ttlMs === undefined ? null : now() + ttlMs;
  };

  /**
   * Runs a synchronous database step, turning driver failures into the typed
   * store error. While another connection holds the write lock the step is
   * retried asynchronously for about a second, never waited for on the event loop.
   */
  const guard = async <T>(operation: string, run: () => T, readOnly = false): Promise<T> => {
    try {
      return await retryWhileBusy(db, run, { readOnly });
    } catch (error) {
      if (isTesseraError(error)) throw error;
      throw new StoreUnavailableError(`SQLite store failed during ${operation}`, { cause: error });
    }
  };

  return {
    name: 'sqlite',

    createSession(record: SessionRecord, createOptions: CreateSessionOptions = {}) {
      return guard('createSession', () => createSessionTx.immediate(record, createOptions.maxSessionsPerUser));
    },

    getSession(id: string) {
      return guard('getSession', () => readSession(id), true);
    },

    updateSession(id: string, patch: SessionPatch) {
      return guard('updateSession', () => updateSessionTx.immediate(id, patch));
    },

    rotateSession(oldId: string, record: SessionRecord) {
      return guard('rotateSession', () => rotateSessionTx.immediate(oldId, record));
    },

    revokeSession(id: string, revokedAt: number) {
      return guard('revokeSession', () => revokeSessionTx.immediate(id, revokedAt));
    },

    revokeUserSessions(userId: string, revokedAt: number, revokeOptions: { exceptId?: string } = {}) {
      return guard('revokeUserSessions', () =>
        revokeUserSessionsTx.immediate(userId, revokedAt, revokeOptions.exceptId),
      );
    },

    deleteSession(id: string) {
      return guard('deleteSession', () => {
        const live = readSession(id) !== null;
        return statements.deleteSession.run(id).changes > 0 && live;
      });
    },

    listUserSessions(userId: string) {
      return guard('listUserSessions', () => liveUserSessions(userId), true);
    },

    get(key: string) {
      return guard(
        'get',
        () => {
          const row = statements.getValue.get(key, now());
          return row === undefined ? null : (JSON.parse(row.value) as JsonValue);
        },
        true,
      );
    },

    set(key: string, value: JsonValue, ttlSeconds?: number) {
      return guard('set', () => {
        statements.setValue.run(key, JSON.stringify(value), expiry(ttlSeconds));
      });
    },

    setIfAbsent(key: string, value: JsonValue, ttlSeconds?: number) {
      return guard('setIfAbsent', () => setIfAbsentTx.immediate(key, JSON.stringify(value), expiry(ttlSeconds)));
    },

    getAndDelete(key: string) {
      return guard('getAndDelete', () => {
        const json = getAndDeleteTx.immediate(key);
        return json === null ? null : (JSON.parse(json) as JsonValue);
      });
    },

    delete(key: string) {
      return guard('delete', () => statements.deleteValue.run(key, now()).changes > 0);
    },

    ...sqliteKeyValuePrimitives({ db, table: values, now, guard }),

    countLiveSessions() {
      return guard(
        'countLiveSessions',
        () => {
          const at = now();
          return statements.countLiveSessions.get(at, at, at)?.live ?? 0;
        },
        true,
      );
    },

    async deleteExpired() {
      let removed = 0;
      for (const statement of [statements.deleteExpiredSessions, statements.deleteExpiredValues]) {
        for (;;) {
          const changes = (await guard('deleteExpired', () => statement.run(now(), batchSize))).changes;
          removed += changes;
          if (changes < batchSize) break;
          // Let requests in between batches: better-sqlite3 blocks the event loop while a statement runs.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      return removed;
    },

    async close() {
      if (ownsDatabase && db.open) db.close();
    },
  };
}
