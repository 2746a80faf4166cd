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
import type { JsonValue, SessionPatch, SessionRecord } from '../../core/store/types.js';
import { statement, type SqlDialect, type SqlWork } from './sql-dialect.js';

/** Options of {@link createSqlBackend}. */
export interface SqlBackendOptions {
  /** Rows removed per statement by `deleteExpired`. */
  deleteBatchSize: number;
  /** The clock, epoch milliseconds. Expiry is compared against it, never the database's. */
  now: () => number;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The SQL store, written once for SQLite and PostgreSQL: one column per
 * record field (from the record codec), `?` placeholders, and `RETURNING`
 * so every mutation hands back the record it changed in the same statement.
 * Only a rotation needs two statements, run in one transaction.
 */
export function createSqlBackend(dialect: SqlDialect, options: SqlBackendOptions): StoreBackend {
  const { now, deleteBatchSize } = options;
  const { sessions, values } = dialect.tables;
  const live = 'revoked_at IS NULL AND expires_at > ?';
  const insertSession = `INSERT INTO ${sessions} (${SESSION_COLUMNS.join(', ')}) VALUES (${SESSION_COLUMNS.map(() => '?').join(', ')})`;
  const liveValue = '(expires_at IS NULL OR expires_at > ?)';

  const read = async (sql: string, params: SqlValue[]): Promise<Record<string, unknown>[]> =>
    (await dialect.run({ sql, params }, { write: false })).rows;
  const write = (sql: string, params: SqlValue[]) => dialect.run({ sql, params }, { write: true });
  const first = (rows: Record<string, unknown>[]): unknown =>
    rows[0] === undefined ? null : sessionRecordFromRow(rows[0]);
  const parseValue = (rows: Record<string, unknown>[]): JsonValue | null =>
    rows[0] === undefined ? null : (JSON.parse(String(rows[0].value)) as JsonValue);
  const expiry = (ttlSeconds: number | undefined): number | null => {
    const ttlMs = ttlMilliseconds(ttlSeconds);
    return ttlMs === undefined ? null : now() + ttlMs;
  };

  function* rotate(oldId: string, record: SessionRecord): SqlWork<boolean> {
    const old = yield* statement(`DELETE FROM ${sessions} WHERE id = ? AND ${live} RETURNING id`, [oldId, now()]);
    if (old.count !== 1) return false;
    yield* statement(insertSession, sessionRecordToRow(record));
    return true;
  }

  const deleteExpiredFrom = async (table: string, key: string): Promise<number> => {
    let removed = 0;
    for (;;) {
      const at = now();
      // The outer expiry check re-runs on a row changed since the sub-select, so a renewal in between wins.
      const { count } = await write(
        `DELETE FROM ${table} WHERE ${key} IN (SELECT ${key} FROM ${table} WHERE expires_at <= ? LIMIT ?) AND expires_at <= ?`,
        [at, deleteBatchSize, at],
      );
      removed += count;
      if (count < deleteBatchSize) return removed;
      await yieldToEventLoop();
    }
  };

  return {
    name: dialect.name,
    describeFailure: (error, operation) => dialect.describeFailure?.(error, operation),

    async createSession(record: SessionRecord) {
      await write(insertSession, sessionRecordToRow(record));
    },
    async getSession(id: string) {
      return first(await read(`SELECT * FROM ${sessions} WHERE id = ? AND expires_at > ?`, [id, now()]));
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
      const { rows } = await write(
        `UPDATE ${sessions} SET ${assignments.join(', ')} WHERE id = ? AND ${live} RETURNING *`,
        [...params, id, now()],
      );
      return first(rows);
    },
    rotateSession: (oldId: string, record: SessionRecord) => dialect.transaction(() => rotate(oldId, record)),
    async revokeSession(id: string, revokedAt: number) {
      const { rows } = await write(`UPDATE ${sessions} SET revoked_at = ? WHERE id = ? AND ${live} RETURNING *`, [
        revokedAt,
        id,
        now(),
      ]);
      return first(rows);
    },
    async revokeUserSessions(userId: string, revokedAt: number, revokeOptions: { exceptId?: string } = {}) {
      const { rows } = await write(
        `UPDATE ${sessions} SET revoked_at = ? WHERE user_id = ? AND ${live} AND id <> ? RETURNING *`,
        [revokedAt, userId, now(), revokeOptions.exceptId ?? ''],
      );
      return rows.map(sessionRecordFromRow);
    },
    async deleteSession(id: string) {
      const { rows } = await write(`DELETE FROM ${sessions} WHERE id = ? RETURNING *`, [id]);
      // An expired row is removed all the same, but there was no session to delete.
      return rows[0] !== undefined && Number(rows[0].expires_at) > now() ? first(rows) : null;
    },
    async listUserSessions(userId: string) {
      const rows = await read(`SELECT * FROM ${sessions} WHERE user_id = ? AND ${live} ORDER BY created_at, id`, [
        userId,
        now(),
      ]);
      return rows.map(sessionRecordFromRow);
    },
    async countLiveSessions() {
      const at = now();
      const rows = await read(
        `SELECT count(*) AS live FROM ${sessions} WHERE ${live} AND idle_expires_at > ? AND absolute_expires_at > ?`,
        [at, at, at],
      );
      return Number(rows[0]?.live ?? 0);
    },

    async get(key: string) {
      return parseValue(await read(`SELECT value FROM ${values} WHERE key = ? AND ${liveValue}`, [key, now()]));
    },
    async set(key: string, value: JsonValue, ttlSeconds?: number) {
      await write(
        `INSERT INTO ${values} (key, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        [key, JSON.stringify(value), expiry(ttlSeconds)],
      );
    },
    async setIfAbsent(key: string, value: JsonValue, ttlSeconds?: number) {
      // The upsert replaces only an expired value; concurrent callers meet at the key's row, so one wins.
      const { count } = await write(
        `INSERT INTO ${values} (key, value, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at
         WHERE ${values}.expires_at IS NOT NULL AND ${values}.expires_at <= ?`,
        [key, JSON.stringify(value), expiry(ttlSeconds), now()],
      );
      return count === 1;
    },
    async getAndDelete(key: string) {
      const { rows } = await write(`DELETE FROM ${values} WHERE key = ? AND ${liveValue} RETURNING value`, [
        key,
        now(),
      ]);
      return parseValue(rows);
    },
    async delete(key: string) {
      return (await write(`DELETE FROM ${values} WHERE key = ? AND ${liveValue}`, [key, now()])).count > 0;
    },

    async deleteExpired() {
      return (await deleteExpiredFrom(sessions, 'id')) + (await deleteExpiredFrom(values, 'key'));
    },
    close: () => dialect.close(),
  };
}
