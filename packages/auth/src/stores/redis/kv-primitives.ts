import { createHash } from 'node:crypto';
import { incrementArguments, jsonText } from '../../core/store/kv-arguments.js';
import { ttlMilliseconds } from '../../core/store/ttl.js';
import type { JsonValue, KeyValueStore } from '../../core/store/types.js';
import type { RedisScript } from './scripts.js';

const script = (lua: string): RedisScript => ({ lua, sha: createHash('sha1').update(lua).digest('hex') });

/**
 * KEYS: value. ARGV: "1" when a value is expected (else "0"), its JSON text,
 * the next JSON text, TTL in milliseconds or "". Returns 1 when it replaced.
 */
export const compareAndSetScript = script(`
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[4] == '' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
`);

/**
 * KEYS: counter. ARGV: by, TTL in milliseconds. A new counter expires after
 * the TTL; an existing one keeps its expiry (one without any gets the TTL).
 * Returns { value, expiresAt (epoch ms, the server's clock) }.
 */
export const incrementScript = script(`
redis.call('SET', KEYS[1], '0', 'PX', ARGV[2], 'NX')
local value = redis.call('INCRBY', KEYS[1], ARGV[1])
local expiresAt = redis.call('PEXPIRETIME', KEYS[1])
if expiresAt < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  expiresAt = redis.call('PEXPIRETIME', KEYS[1])
end
return { value, expiresAt }
`);

/** What the Redis store gives its primitives. */
export interface RedisValues {
  /** Runs a script by EVALSHA, sending it in full when the server lacks it. */
  run(script: RedisScript, keys: string[], args: string[]): Promise<unknown>;
  valueKey(key: string): string;
  /** The store's wrapper: driver errors as `StoreUnavailableError`. */
  guard<T>(operation: string, step: () => Promise<T>): Promise<T>;
}

/**
 * `compareAndSet` and `increment` of the Redis store: one single-key Lua
 * script each, atomic on the server (and on a Cluster, where the key's slot
 * decides the node). Values are compared by their JSON text; counters are
 * Redis integers, which read back as the same JSON numbers.
 */
export function redisKeyValuePrimitives(options: RedisValues): Pick<KeyValueStore, 'compareAndSet' | 'increment'> {
  const { run, valueKey, guard } = options;
  return {
    compareAndSet(key: string, expected: JsonValue | null, next: JsonValue, ttlSeconds?: number) {
      return guard('compareAndSet', async () => {
        const ttlMs = ttlMilliseconds(ttlSeconds);
        const reply = await run(
          compareAndSetScript,
          [valueKey(key)],
          [
            expected === null ? '0' : '1',
            expected === null ? '' : jsonText(expected),
            jsonText(next),
            ttlMs === undefined ? '' : String(ttlMs),
          ],
        );
        return reply === 1;
      });
    },

    increment(key: string, by: number, ttlSeconds: number) {
      return guard('increment', async () => {
        const ttlMs = incrementArguments(by, ttlSeconds);
        const [value, expiresAt] = (await run(incrementScript, [valueKey(key)], [String(by), String(ttlMs)])) as [
          number,
          number,
        ];
        return { value, expiresAt };
      });
    },
  };
}
