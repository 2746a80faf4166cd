import {
  encodeSessionField,
  SESSION_COLUMNS,
  SESSION_FIELDS,
  sessionRecordFromRow,
  sessionRecordToRow,
  type SqlValue,
} from '../../core/store/session-record.js';
import type { StoreBackend } from '../../core/store/define-store.js';
import { ttlMilliseconds } from '../../core/store/ttl.js';
import type {
  JsonObject,
  JsonValue,
  KeyValueStore,
  SessionPatch,
  SessionRecord,
  SessionStore,
  Store,
} from '../../core/store/types.js';
import { statement, type SqlDialect, type SqlResult, type SqlWork } from './sql-dialect.js';

/** Options of {@link createSqlBackend}. */
export interface SqlBackendOptions {
  /** Rows removed per statement by `deleteExpired`. */
  deleteBatchSize: number;
  /** The clock, epoch milliseconds. Expiry is compared against it, never the database's. */
  now: () => number;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What the statements share: the dialect, its tables, the clock, and one way to read and to write. */
interface SqlContext {
  dialect: SqlDialect;
  sessions: string;
  values: string;
  now: () => number;
  read(sql: string, params: SqlValue[]): Promise<Record<string, unknown>[]>;
  write(sql: string, params: SqlValue[]): Promise<SqlResult>;
}

const LIVE = 'revoked_at IS NULL AND expires_at > ?';
const LIVE_VALUE = '(expires_at IS NULL OR expires_at > ?)';

const firstRecord = (rows: Record<string, unknown>[]): unknown =>
  rows[0] === undefined ? null : sessionRecordFromRow(rows[0]);

/** The session half: one column per record field (from the codec), and `RETURNING` on every mutation. */
function sqlSessionMethods(context: SqlContext): Omit<StoreBackend, keyof Omit<Store, keyof SessionStore>> {
  const { dialect, sessions, now, read, write } = context;
  // Statements that end a session or replace its data publish its id where the dialect has a channel.
  const announce = (sql: string): string => dialect.announce?.(sql) ?? sql;
  const insertSession = `INSERT INTO ${sessions} (${SESSION_COLUMNS.join(', ')}) VALUES (${SESSION_COLUMNS.map(() => '?').join(', ')})`;

  function* rotate(oldId: string, record: SessionRecord): SqlWork<boolean> {
    const old = yield* statement(announce(`DELETE FROM ${sessions} WHERE id = ? AND ${LIVE} RETURNING id`), [
      oldId,
      now(),
    ]);
    if (old.count !== 1) return false;
    yield* statement(insertSession, sessionRecordToRow(record));
    return true;
  }

  return {
    name: dialect.name,
    async createSession(record: SessionRecord) {
      await write(insertSession, sessionRecordToRow(record));
    },
    async getSession(id: string) {
      return firstRecord(await read(`SELECT * FROM ${sessions} WHERE id = ? AND expires_at > ?`, [id, now()]));
    },
    async updateSession(id: string, patch: SessionPatch) {
      const assignments: string[] = [];
      const params: SqlValue[] = [];
      for (const [field, value] of Object.entries(patch) as [keyof SessionPatch, SessionPatch[keyof SessionPatch]][]) {
        if (value === undefined || !(field in SESSION_FIELDS)) continue;
        assignments.push(`${SESSION_FIELDS[field].column} = ?`);
        params.push(encodeSessionField(field, value as SessionRecord[typeof field]));
      }
      if (assignments.length === 0) assignments.push('id = id');
      const update = `UPDATE ${sessions} SET ${assignments.join(', ')} WHERE id = ? AND ${LIVE} RETURNING *`;
      // A renewal is not published: other instances re-read their copy once it looks expired.
      const sql = patch.data === undefined ? update : announce(update);
      return firstRecord((await write(sql, [...params, id, now()])).rows);
    },
    async mergeSessionData(id: string, partial: JsonObject) {
      const patch = JSON.stringify(partial);
      const sql = announce(
        `UPDATE ${sessions} SET data = ${dialect.mergeJsonObject('data')} WHERE id = ? AND ${LIVE} RETURNING *`,
      );
      return firstRecord((await write(sql, [patch, patch, id, now()])).rows);
    },
    rotateSession: (oldId: string, record: SessionRecord) => dialect.transaction(() => rotate(oldId, record)),
    async revokeSession(id: string, revokedAt: number) {
      const sql = announce(`UPDATE ${sessions} SET revoked_at = ? WHERE id = ? AND ${LIVE} RETURNING *`);
      return firstRecord((await write(sql, [revokedAt, id, now()])).rows);
    },
    async revokeUserSessions(userId: string, revokedAt: number, revokeOptions: { exceptId?: string } = {}) {
      const sql = announce(
        `UPDATE ${sessions} SET revoked_at = ? WHERE user_id = ? AND ${LIVE} AND id <> ? RETURNING *`,
      );
      const { rows } = await write(sql, [revokedAt, userId, now(), revokeOptions.exceptId ?? '']);
      return rows.map(sessionRecordFromRow);
    },
    async deleteSession(id: string) {
      const { rows } = await write(announce(`DELETE FROM ${sessions} WHERE id = ? RETURNING *`), [id]);
      // An expired row is removed all the same, but there was no session to delete.
      return rows[0] !== undefined && Number(rows[0].expires_at) > now() ? firstRecord(rows) : null;
    },
    async listUserSessions(userId: string) {
      const sql = `SELECT * FROM ${sessions} WHERE user_id = ? AND ${LIVE} ORDER BY created_at, id`;
      return (await read(sql, [userId, now()])).map(sessionRecordFromRow);
    },
    async countLiveSessions() {
      const at = now();
      const sql = `SELECT count(*) AS live FROM ${sessions} WHERE ${LIVE} AND idle_expires_at > ? AND absolute_expires_at > ?`;
      return Number((await read(sql, [at, at, at]))[0]?.live ?? 0);
    },
  };
}

/** The key-value half: JSON text under a key, with an optional expiry. */
function sqlValueMethods(context: SqlContext): Omit<KeyValueStore, 'name' | 'compareAndSet' | 'increment'> {
  const { values, now, read, write } = context;
  const parseValue = (rows: Record<string, unknown>[]): JsonValue | null =>
    rows[0] === undefined ? null : (JSON.parse(String(rows[0].value)) as JsonValue);
  const expiry = (ttlSeconds: number | undefined): number | null => {
    const ttlMs = ttlMilliseconds(ttlSeconds);
    return ttlMs === undefined ? null : now() + ttlMs;
  };
  const upsert = `INSERT INTO ${values} (key, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`;

  return {
    async get(key: string) {
      return parseValue(await read(`SELECT value FROM ${values} WHERE key = ? AND ${LIVE_VALUE}`, [key, now()]));
    },
    async set(key: string, value: JsonValue, ttlSeconds?: number) {
      await write(upsert, [key, JSON.stringify(value), expiry(ttlSeconds)]);
    },
    async setIfAbsent(key: string, value: JsonValue, ttlSeconds?: number) {
      // The upsert replaces only an expired value; concurrent callers meet at the key's row, so one wins.
      const sql = `${upsert} WHERE ${values}.expires_at IS NOT NULL AND ${values}.expires_at <= ?`;
      return (await write(sql, [key, JSON.stringify(value), expiry(ttlSeconds), now()])).count === 1;
    },
    async getAndDelete(key: string) {
      const sql = `DELETE FROM ${values} WHERE key = ? AND ${LIVE_VALUE} RETURNING value`;
      return parseValue((await write(sql, [key, now()])).rows);
    },
    async delete(key: string) {
      return (await write(`DELETE FROM ${values} WHERE key = ? AND ${LIVE_VALUE}`, [key, now()])).count > 0;
    },
  };
}

/**
 * The SQL store, written once for SQLite and PostgreSQL: one column per
 * record field (from the record codec), `?` placeholders, and `RETURNING`
 * so every mutation hands back the record it changed in the same statement.
 * Only a rotation needs two statements, run in one transaction. `compareAndSet` and `increment` are not here:
 * each dialect's store adds its own (one `BEGIN IMMEDIATE` transaction in SQLite, one statement in PostgreSQL).
 */
export function createSqlBackend(
  dialect: SqlDialect,
  options: SqlBackendOptions,
): Omit<StoreBackend, 'compareAndSet' | 'increment'> {
  const { now, deleteBatchSize } = options;
  const context: SqlContext = {
    dialect,
    ...dialect.tables,
    now,
    read: async (sql, params) => (await dialect.run({ sql, params }, { write: false })).rows,
    write: (sql, params) => dialect.run({ sql, params }, { write: true }),
  };

  const deleteExpiredFrom = async (table: string, key: string): Promise<number> => {
    let removed = 0;
    for (;;) {
      const at = now();
      // The outer expiry check re-runs on a row changed since the sub-select, so a renewal in between wins.
      const { count } = await context.write(
        `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE expires_at <= ? LIMIT ?) AND expires_at <= ?`,
        [at, deleteBatchSize, at],
      );
      removed += count;
      if (count < deleteBatchSize) return removed;
      await yieldToEventLoop();
    }
  };

  return {
    ...sqlSessionMethods(context),
    ...sqlValueMethods(context),
    describeFailure: (error, operation) => dialect.describeFailure?.(error, operation),
    deleteExpired: async () =>
      (await deleteExpiredFrom(context.sessions, 'id')) + (await deleteExpiredFrom(context.values, 'key')),
    close: () => dialect.close(),
  };
}
