import { positiveIntegerOption, functionOption } from '../../internal/options.js';
import type { Logger } from '../../internal/logger.js';
import { defineStore } from '../../core/store/define-store.js';
import { memoryKeyValuePrimitives } from './kv-primitives.js';
import {
  compareSessionAge,
  mergeJsonObject,
  parseSessionRecord,
  sessionRecordToJson,
} from '../../core/store/session-record.js';
import { ttlMilliseconds } from '../../core/store/ttl.js';
import type { JsonObject, JsonValue, SessionPatch, SessionRecord, Store } from '../../core/store/types.js';

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most sessions plus values kept at once; past it the oldest entry is
   * dropped, so memory stays bounded under a flood of logins.
   * @default 100000
   */
  maxEntries?: number;
  /**
   * Seconds between sweeps of expired entries (an unref'd timer).
   * @default 60
   */
  sweepIntervalSeconds?: number;
  /** Receives the one warning given when used with `NODE_ENV=production`. */
  logger?: Logger;
  /**
   * The clock, epoch milliseconds.
   * @default Date.now
   */
  now?: () => number;
}

interface StoredValue {
  json: string;
  expiresAt: number | null;
}

let warnedInProduction = false;

/**
 * A store in this process's memory, for tests and single-process development.
 * Values round-trip through JSON, as they would through a real backend, so
 * code that mutates what it read cannot change what is stored. Everything is
 * lost on restart and nothing is shared between processes.
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  const maxEntries = positiveIntegerOption('maxEntries', options.maxEntries, 100_000);
  const sweepIntervalMs = positiveIntegerOption('sweepIntervalSeconds', options.sweepIntervalSeconds, 60) * 1000;
  const now = functionOption<() => number>('now', options.now, Date.now);

  if (process.env.NODE_ENV === 'production' && !warnedInProduction) {
    warnedInProduction = true;
    const message =
      'The memory store keeps sessions in one process and loses them on restart; use SQLite, Redis or PostgreSQL in production.';
    if (options.logger === undefined) process.emitWarning(message, { code: 'TESSERA_MEMORY_STORE' });
    else options.logger.warn({ store: 'memory' }, message);
  }

  const sessions = new Map<string, string>();
  const userIndex = new Map<string, Set<string>>();
  const values = new Map<string, StoredValue>();

  // Records are kept as JSON text: reads are copies, and a corrupt entry reads as absent.
  const readSession = (id: string): SessionRecord | null => {
    const json = sessions.get(id);
    if (json === undefined) return null;
    const record = parseSessionRecord(json);
    if (record === null || record.expiresAt <= now()) {
      removeSession(id);
      return null;
    }
    return record;
  };

  const writeSession = (record: SessionRecord): SessionRecord => {
    if (!sessions.has(record.id)) makeRoom();
    sessions.set(record.id, sessionRecordToJson(record));
    let ids = userIndex.get(record.userId);
    if (ids === undefined) userIndex.set(record.userId, (ids = new Set()));
    ids.add(record.id);
    return record;
  };

  const removeSession = (id: string): boolean => {
    const json = sessions.get(id);
    if (json === undefined) return false;
    sessions.delete(id);
    const record = parseSessionRecord(json);
    if (record !== null) {
      const ids = userIndex.get(record.userId);
      ids?.delete(id);
      if (ids?.size === 0) userIndex.delete(record.userId);
    }
    return true;
  };

  const liveRecord = (id: string): SessionRecord | null => {
    const record = readSession(id);
    return record === null || record.revokedAt !== null ? null : record;
  };

  const liveUserSessions = (userId: string): SessionRecord[] => {
    const records: SessionRecord[] = [];
    for (const id of userIndex.get(userId) ?? []) {
      const record = liveRecord(id);
      if (record !== null) records.push(record);
    }
    return records.sort(compareSessionAge);
  };

  const readValue = (key: string): StoredValue | null => {
    const stored = values.get(key);
    if (stored === undefined) return null;
    if (stored.expiresAt !== null && stored.expiresAt <= now()) {
      values.delete(key);
      return null;
    }
    return stored;
  };

  const writeValue = (key: string, value: JsonValue, ttlSeconds: number | undefined): void => {
    const ttlMs = ttlMilliseconds(ttlSeconds);
    if (!values.has(key)) makeRoom();
    values.delete(key);
    values.set(key, { json: JSON.stringify(value), expiresAt: ttlMs === undefined ? null : now() + ttlMs });
  };

  const sweep = (): number => {
    const at = now();
    let removed = 0;
    for (const [id, json] of sessions) {
      const record = parseSessionRecord(json);
      if (record === null || record.expiresAt <= at) removed += Number(removeSession(id));
    }
    for (const [key, stored] of values) {
      if (stored.expiresAt !== null && stored.expiresAt <= at) removed += Number(values.delete(key));
    }
    return removed;
  };

  // Both maps keep insertion order, so the first key of each is its oldest entry.
  const makeRoom = (): void => {
    if (sessions.size + values.size < maxEntries) return;
    sweep();
    while (sessions.size + values.size >= maxEntries) {
      const oldestSession = sessions.keys().next();
      const oldestValue = values.keys().next();
      if (!oldestSession.done && (oldestValue.done || sessions.size >= values.size)) removeSession(oldestSession.value);
      else if (!oldestValue.done) values.delete(oldestValue.value);
    }
  };

  const timer = setInterval(sweep, sweepIntervalMs);
  timer.unref();

  const isLiveAt = (record: SessionRecord, at: number): boolean =>
    record.revokedAt === null && record.idleExpiresAt > at && record.absoluteExpiresAt > at;

  // Every method body below runs without an `await`, so each is atomic with
  // respect to every other call in this process.
  return defineStore({
    name: 'memory',
    createSession: async (record: SessionRecord) => {
      writeSession(record);
    },
    getSession: async (id: string) => readSession(id),
    updateSession: async (id: string, patch: SessionPatch) => {
      const record = liveRecord(id);
      return record === null ? null : writeSession({ ...record, ...patch });
    },
    mergeSessionData: async (id: string, partial: JsonObject) => {
      const record = liveRecord(id);
      return record === null ? null : writeSession({ ...record, data: mergeJsonObject(record.data, partial) });
    },
    rotateSession: async (oldId: string, record: SessionRecord) => {
      if (liveRecord(oldId) === null) return false;
      removeSession(oldId);
      writeSession(record);
      return true;
    },
    revokeSession: async (id: string, revokedAt: number) => {
      const record = liveRecord(id);
      return record === null ? null : writeSession({ ...record, revokedAt });
    },
    revokeUserSessions: async (userId: string, revokedAt: number, revokeOptions: { exceptId?: string } = {}) =>
      liveUserSessions(userId)
        .filter((record) => record.id !== revokeOptions.exceptId)
        .map((record) => writeSession({ ...record, revokedAt })),
    deleteSession: async (id: string) => {
      const record = readSession(id);
      if (record !== null) removeSession(id);
      return record;
    },
    listUserSessions: async (userId: string) => liveUserSessions(userId),
    countLiveSessions: async () => {
      const at = now();
      let live = 0;
      for (const json of sessions.values()) {
        const record = parseSessionRecord(json);
        if (record !== null && isLiveAt(record, at)) live++;
      }
      return live;
    },
    get: async (key: string) => {
      const stored = readValue(key);
      return stored === null ? null : (JSON.parse(stored.json) as JsonValue);
    },
    set: async (key: string, value: JsonValue, ttlSeconds?: number) => {
      writeValue(key, value, ttlSeconds);
    },
    setIfAbsent: async (key: string, value: JsonValue, ttlSeconds?: number) => {
      if (readValue(key) !== null) return false;
      writeValue(key, value, ttlSeconds);
      return true;
    },
    getAndDelete: async (key: string) => {
      const stored = readValue(key);
      if (stored === null) return null;
      values.delete(key);
      return JSON.parse(stored.json) as JsonValue;
    },
    delete: async (key: string) => readValue(key) !== null && values.delete(key),
    ...memoryKeyValuePrimitives({ map: values, read: readValue, makeRoom, now }),
    deleteExpired: async () => sweep(),
    close: async () => {
      clearInterval(timer);
      sessions.clear();
      userIndex.clear();
      values.clear();
    },
  });
}
