import { incrementArguments, jsonText, notACounter } from '../../core/store/kv-arguments.js';
import { ttlMilliseconds } from '../../core/store/ttl.js';
import type { JsonValue, KeyValueStore } from '../../core/store/types.js';

/** What the memory store gives its primitives: its value table, read and written as it does. */
export interface MemoryValues {
  map: Map<string, { json: string; expiresAt: number | null }>;
  /** The live entry, or `null` (an expired one is dropped). */
  read(key: string): { json: string; expiresAt: number | null } | null;
  /** Makes room for one more entry. */
  makeRoom(): void;
  now(): number;
}

/**
 * `compareAndSet` and `increment` of the memory store. Each body runs without
 * an `await`, so it is atomic with respect to every other call in the process.
 */
export function memoryKeyValuePrimitives(values: MemoryValues): Pick<KeyValueStore, 'compareAndSet' | 'increment'> {
  const write = (key: string, json: string, expiresAt: number | null): void => {
    if (!values.map.has(key)) values.makeRoom();
    values.map.delete(key);
    values.map.set(key, { json, expiresAt });
  };
  return {
    async compareAndSet(key: string, expected: JsonValue | null, next: JsonValue, ttlSeconds?: number) {
      const ttlMs = ttlMilliseconds(ttlSeconds);
      const stored = values.read(key);
      if (expected === null ? stored !== null : stored?.json !== jsonText(expected)) return false;
      write(key, jsonText(next), ttlMs === undefined ? null : values.now() + ttlMs);
      return true;
    },

    async increment(key: string, by: number, ttlSeconds: number) {
      const ttlMs = incrementArguments(by, ttlSeconds);
      const stored = values.read(key);
      let value = by;
      let expiresAt = values.now() + ttlMs;
      if (stored !== null) {
        const current = JSON.parse(stored.json) as unknown;
        if (typeof current !== 'number' || !Number.isSafeInteger(current)) throw notACounter(key);
        value = current + by;
        expiresAt = stored.expiresAt ?? expiresAt;
      }
      write(key, jsonText(value), expiresAt);
      return { value, expiresAt };
    },
  };
}
