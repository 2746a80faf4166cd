import type { Database } from 'better-sqlite3';
import { incrementArguments, jsonText, notACounter } from '../../core/store/kv-arguments.js';
import { ttlMilliseconds } from '../../core/store/ttl.js';
import type { JsonValue, KeyValueStore } from '../../core/store/types.js';

/** What the SQLite store gives its primitives. */
export interface SQLiteValues {
  db: Database;
  /** The values table (a checked identifier). */
  table: string;
  now(): number;
  /** The store's wrapper: busy retries, driver errors as `StoreUnavailableError`. */
  guard<T>(operation: string, run: () => T): Promise<T>;
}

interface ValueRow {
  value: string;
  expires_at: number | null;
}

/**
 * `compareAndSet` and `increment` of the SQLite store: each one `BEGIN
 * IMMEDIATE` transaction (read, decide, write), so atomic across the
 * connections and processes that share the file.
 */
export function sqliteKeyValuePrimitives(options: SQLiteValues): Pick<KeyValueStore, 'compareAndSet' | 'increment'> {
  const { db, table, now, guard } = options;
  const read = db.prepare<[string, number], ValueRow>(
    `SELECT value, expires_at FROM ${table} WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)`,
  );
  const write = db.prepare<[string, string, number | null]>(
    `INSERT INTO ${table} (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
  );
  const compareAndSet = db.transaction(
    (key: string, expected: string | null, next: string, expiresAt: number | null): boolean => {
      const row = read.get(key, now());
      if (expected === null ? row !== undefined : row?.value !== expected) return false;
      write.run(key, next, expiresAt);
      return true;
    },
  );
  const increment = db.transaction((key: string, by: number, ttlMs: number): { value: number; expiresAt: number } => {
    const at = now();
    const row = read.get(key, at);
    let value = by;
    let expiresAt = at + ttlMs;
    if (row !== undefined) {
      const current = JSON.parse(row.value) as unknown;
      if (typeof current !== 'number' || !Number.isSafeInteger(current)) throw notACounter(key);
      value = current + by;
      expiresAt = row.expires_at ?? expiresAt;
    }
    write.run(key, jsonText(value), expiresAt);
    return { value, expiresAt };
  });
  return {
    compareAndSet(key: string, expected: JsonValue | null, next: JsonValue, ttlSeconds?: number) {
      return guard('compareAndSet', () => {
        const ttlMs = ttlMilliseconds(ttlSeconds);
        const expiresAt = ttlMs === undefined ? null : now() + ttlMs;
        return compareAndSet.immediate(key, expected === null ? null : jsonText(expected), jsonText(next), expiresAt);
      });
    },
    increment(key: string, by: number, ttlSeconds: number) {
      return guard('increment', () => increment.immediate(key, by, incrementArguments(by, ttlSeconds)));
    },
  };
}
