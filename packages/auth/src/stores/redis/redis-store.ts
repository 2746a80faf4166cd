import type { Cluster, Redis } from 'ioredis';
import { InvalidOptionError } from '../../core/errors/errors.js';
import { defineStore } from '../../core/store/define-store.js';
import { redisKeyValuePrimitives } from './kv-primitives.js';
import {
  isSessionRecord,
  mergeJsonObject,
  sessionRecordFromTextFields,
  sessionRecordToTextFields,
} from '../../core/store/session-record.js';
import { ttlMilliseconds } from '../../core/store/ttl.js';
import type {
  JsonObject,
  JsonValue,
  KeyValueStore,
  SessionPatch,
  SessionRecord,
  Store,
} from '../../core/store/types.js';
import { fingerprint } from '../../internal/crypto.js';
import { silentLogger, type Logger } from '../../internal/logger.js';
import { positiveIntegerOption } from '../../internal/options.js';
import { REDIS_TAG_LENGTH, redisUserTag } from './hash-tag.js';
import { redisInvalidation } from './invalidation.js';
import {
  createSessionScript,
  deleteSessionScript,
  listUserSessionsScript,
  mergeSessionDataScript,
  pruneIndexScript,
  revokeSessionScript,
  revokeUserSessionsScript,
  rotateSessionScript,
  updateSessionScript,
  type RedisScript,
} from './scripts.js';

/** Options of {@link createRedisStore}. */
export interface RedisStoreOptions {
  /**
   * Prefix of every key this store writes, so several stores (or apps) can
   * share one Redis. Must not contain `{` or `}`: the store places hash tags
   * itself.
   * @default "tessera:"
   */
  prefix?: string;
  /**
   * Keys asked for per `SCAN` step of `deleteExpired`.
   * @default 500
   */
  scanCount?: number;
  /** Where corrupt records and an unsafely configured client are reported (fingerprints, never ids). */
  logger?: Logger;
}

const PATCH_FIELDS = ['lastSeenAt', 'idleExpiresAt', 'expiresAt', 'ip', 'userAgent', 'data'] as const;
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

type RedisClient = Redis | Cluster;

/**
 * The scale-out store: Redis or Redis Cluster through ioredis. Redis TTLs do
 * the expiry (a session key expires at `expiresAt`, a value after its TTL);
 * every multi-key step is one Lua script, so it is atomic on the server.
 *
 * Key layout, where `tag` is the user's hash tag ({@link redisUserTag}: 4
 * characters of SHA-256(userId)). Through its `sessionIdPrefix` hook the store
 * has the engine start every session id of the user with it, so the tag of a
 * session key is read off the id itself:
 * - `<prefix>{<tag>}:s:<id>` a hash: the session record;
 * - `<prefix>{<tag>}:u:<userId>` a sorted set of the user's session ids, scored by
 *   `createdAt`, expiring with the last of them. The hash tag puts it in the
 *   slot of the sessions it lists, so the scripts stay single-slot on a Cluster.
 *   Entries left behind by expired or deleted sessions are pruned by the
 *   scripts that read the index and by `deleteExpired`. Scripts that walk an
 *   index touch the session keys it names without declaring them: they share
 *   the index's slot, which Redis Cluster 7 accepts;
 * - `<prefix>v:<key>` a string: a JSON value.
 *
 * The scripts that revoke, delete or rotate a session or replace its data
 * PUBLISH its id on `<prefix>invalidate`; `invalidation()` subscribes to it
 * (one extra connection, opened when a session manager's near cache first
 * subscribes, closed by `close`). Nothing but PUBLISH and SUBSCRIBE rights is
 * needed: no server configuration.
 *
 * Needs Redis 7.0 or later (`PEXPIREAT … GT`, `GETDEL`).
 *
 * The caller owns the client: `close` leaves it open. Configure it with
 * {@link connectRedis} (or its options) so a Redis outage fails requests
 * within seconds instead of queueing them.
 *
 * @example
 * const store = createRedisStore(await connectRedis('redis://127.0.0.1:6379'), { prefix: 'myapp:' });
 */
export function createRedisStore(client: RedisClient, options: RedisStoreOptions = {}): Store {
  const prefix = options.prefix ?? 'tessera:';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix) || prefix.length > 100) {
    throw new InvalidOptionError('"prefix" must be a string of at most 100 characters without "{" or "}"');
  }
  const scanCount = positiveIntegerOption('scanCount', options.scanCount, 500);
  const logger = options.logger ?? silentLogger;
  warnIfUnsafe(client, logger);

  const sessionBase = (tag: string): string => `${prefix}{${tag}}:s:`;
  const indexBase = (tag: string): string => `${prefix}{${tag}}:u:`;
  const tagOf = (id: string): string => id.slice(0, REDIS_TAG_LENGTH);
  const sessionKey = (id: string): string => sessionBase(tagOf(id)) + id;
  const indexKey = (userId: string): string => indexBase(redisUserTag(userId)) + userId;
  const valueKey = (key: string): string => `${prefix}v:${key}`;
  const indexPattern = `${escapeGlob(prefix)}{*}:u:*`;
  const channel = `${prefix}invalidate`;
  let invalidation: ReturnType<typeof redisInvalidation> | null = null;
  let closed = false;

  const run = async (script: RedisScript, keys: string[], args: string[]): Promise<unknown> => {
    try {
      return await client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(script.lua, keys.length, ...keys, ...args);
    }
  };

  /** A candidate record from a flat `HGETALL` reply; `null` for an empty one (no such key). */
  const fromReply = (id: string, fields: unknown): unknown => {
    if (!Array.isArray(fields) || fields.length === 0) return null;
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) hash[String(fields[i])] = String(fields[i + 1]);
    return sessionRecordFromTextFields(id, hash);
  };
  /** Candidates from an `[id, [field, value, …], …]` reply. */
  const fromPairs = (reply: unknown): unknown[] => {
    const pairs = reply as unknown[];
    const records: unknown[] = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) records.push(fromReply(String(pairs[i]), pairs[i + 1]));
    return records;
  };

  const checkRecord = (record: SessionRecord): void => {
    if (!SESSION_ID_PATTERN.test(record.id) || !record.id.startsWith(redisUserTag(record.userId))) {
      throw new InvalidOptionError('"record.id" must be base64url and start with the store’s sessionIdPrefix(userId)');
    }
    epochMilliseconds('record.expiresAt', record.expiresAt);
    epochMilliseconds('record.createdAt', record.createdAt);
  };

  const pruneNode = async (node: Redis): Promise<number> => {
    let pruned = 0;
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', indexPattern, 'COUNT', scanCount, 'TYPE', 'zset');
      cursor = next;
      for (const key of keys) {
        const tag = key.slice(prefix.length + 1, prefix.length + 1 + REDIS_TAG_LENGTH);
        if (!key.startsWith(indexBase(tag))) continue;
        // Through the client rather than the node, so a slot that moved mid-scan still reaches its owner.
        pruned += Number(await run(pruneIndexScript, [key], [sessionBase(tag)]));
      }
    } while (cursor !== '0');
    return pruned;
  };

  return defineStore(
    {
      name: 'redis',
      sessionIdPrefix: redisUserTag,

      async createSession(record: SessionRecord) {
        checkRecord(record);
        await run(
          createSessionScript,
          [sessionKey(record.id), indexKey(record.userId)],
          [
            record.id,
            String(record.createdAt),
            String(Math.ceil(record.expiresAt)),
            ...sessionRecordToTextFields(record),
          ],
        );
      },

      async getSession(id: string) {
        try {
          return fromReply(id, await client.call('HGETALL', sessionKey(id)));
        } catch (error) {
          // A key of another type where a session hash belongs: corrupt, reported as such by defineStore.
          if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return { id };
          throw error;
        }
      },

      async updateSession(id: string, patch: SessionPatch) {
        const fields: string[] = [];
        for (const field of PATCH_FIELDS) {
          if (patch[field] !== undefined) fields.push(field, JSON.stringify(patch[field]));
        }
        const expiresAt =
          patch.expiresAt === undefined ? '' : String(Math.ceil(epochMilliseconds('patch.expiresAt', patch.expiresAt)));
        return fromReply(
          id,
          await run(
            updateSessionScript,
            [sessionKey(id)],
            // Only a data change is published: a renewal leaves other instances' copies correct enough.
            [indexBase(tagOf(id)), expiresAt, patch.data === undefined ? '' : channel, id, ...fields],
          ),
        );
      },

      async mergeSessionData(id: string, partial: JsonObject) {
        // Lua's cjson would round large numbers and turn [] into {}: the merge is done here, in JSON, and set by
        // a compare-and-set script; a merge that lost the race to another write reads the data again.
        for (;;) {
          const fields = await client.call('HGETALL', sessionKey(id)).catch((error: unknown) => {
            if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return [];
            throw error;
          });
          const current = fromReply(id, fields);
          if (!isSessionRecord(current)) return current;
          const pairs = fields as unknown[];
          const at = pairs.findIndex((field, index) => index % 2 === 0 && field === 'data');
          const stored = String(pairs[at + 1]);
          const merged = JSON.stringify(mergeJsonObject(current.data, partial));
          const reply = await run(mergeSessionDataScript, [sessionKey(id)], [stored, merged, channel, id]);
          if (reply !== 0) return fromReply(id, reply);
        }
      },

      async rotateSession(oldId: string, record: SessionRecord) {
        checkRecord(record);
        if (!oldId.startsWith(redisUserTag(record.userId))) {
          throw new InvalidOptionError('rotateSession: the new record must belong to the old session’s user');
        }
        const result = await run(
          rotateSessionScript,
          [sessionKey(oldId), sessionKey(record.id), indexKey(record.userId)],
          [
            oldId,
            record.id,
            String(record.createdAt),
            String(Math.ceil(record.expiresAt)),
            record.userId,
            channel,
            ...sessionRecordToTextFields(record),
          ],
        );
        if (result === -1) {
          throw new InvalidOptionError('rotateSession: the new record must belong to the old session’s user');
        }
        return result === 1;
      },

      async revokeSession(id: string, revokedAt: number) {
        const at = String(epochMilliseconds('revokedAt', revokedAt));
        return fromReply(id, await run(revokeSessionScript, [sessionKey(id)], [at, channel, id]));
      },

      async revokeUserSessions(userId: string, revokedAt: number, revokeOptions: { exceptId?: string } = {}) {
        const at = String(epochMilliseconds('revokedAt', revokedAt));
        const reply = await run(
          revokeUserSessionsScript,
          [indexKey(userId)],
          [sessionBase(redisUserTag(userId)), at, revokeOptions.exceptId ?? '', channel],
        );
        return fromPairs(reply);
      },

      async deleteSession(id: string) {
        // The index entry it leaves is pruned by the next script that reads the index.
        return fromReply(id, await run(deleteSessionScript, [sessionKey(id)], [channel, id]));
      },

      async listUserSessions(userId: string) {
        const reply = await run(listUserSessionsScript, [indexKey(userId)], [sessionBase(redisUserTag(userId))]);
        return fromPairs(reply).filter((candidate) => (candidate as { userId?: unknown }).userId === userId);
      },

      ...redisValueMethods(client, valueKey, logger),
      ...redisKeyValuePrimitives({ run, valueKey, guard: (_operation, step) => step() }),

      async deleteExpired() {
        // Redis expires sessions and values itself; what is left to remove are
        // the index entries they leave behind. Every master holds its own share
        // of the keyspace, so each is scanned (SCAN in steps, never KEYS).
        const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
        let pruned = 0;
        for (const node of nodes) pruned += await pruneNode(node);
        return pruned;
      },

      invalidation() {
        if (invalidation === null) {
          invalidation = redisInvalidation(client, channel, logger);
          if (closed) void invalidation.close();
        }
        return invalidation;
      },

      async close() {
        // The caller owns the client and may share it; it ends it with quit(). The subscriber is the store's own.
        closed = true;
        await invalidation?.close();
      },
    },
    { logger },
  );
}

/** The key-value half: a value is a JSON string under `<prefix>v:<key>`, expired by Redis itself. */
function redisValueMethods(
  client: RedisClient,
  valueKey: (key: string) => string,
  logger: Logger,
): Omit<KeyValueStore, 'name' | 'compareAndSet' | 'increment'> {
  const parseValue = (key: string, json: string | null): JsonValue | null => {
    if (json === null) return null;
    try {
      return JSON.parse(json) as JsonValue;
    } catch {
      logger.warn({ store: 'redis', key: fingerprint(key) }, 'corrupt value ignored');
      return null;
    }
  };

  return {
    async get(key: string) {
      return parseValue(key, await client.get(valueKey(key)));
    },

    async set(key: string, value: JsonValue, ttlSeconds?: number) {
      const ttlMs = ttlMilliseconds(ttlSeconds);
      const json = JSON.stringify(value);
      if (ttlMs === undefined) await client.set(valueKey(key), json);
      else await client.set(valueKey(key), json, 'PX', ttlMs);
    },

    async setIfAbsent(key: string, value: JsonValue, ttlSeconds?: number) {
      const ttlMs = ttlMilliseconds(ttlSeconds);
      const json = JSON.stringify(value);
      const reply =
        ttlMs === undefined
          ? await client.set(valueKey(key), json, 'NX')
          : await client.set(valueKey(key), json, 'PX', ttlMs, 'NX');
      return reply === 'OK';
    },

    async getAndDelete(key: string) {
      return parseValue(key, await client.getdel(valueKey(key)));
    },

    async delete(key: string) {
      return (await client.del(valueKey(key))) === 1;
    },
  };
}

function epochMilliseconds(name: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidOptionError(`"${name}" must be a finite number of epoch milliseconds`);
  }
  return value;
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** A client without a command timeout turns a Redis outage into requests that hang instead of failing closed. */
function warnIfUnsafe(client: RedisClient, logger: Logger): void {
  const commandTimeout = client.isCluster
    ? (client as Cluster).options.redisOptions?.commandTimeout
    : (client as Redis).options.commandTimeout;
  if (commandTimeout === undefined) {
    logger.warn(
      { store: 'redis' },
      'the ioredis client has no commandTimeout: requests may hang while Redis is down; create it with connectRedis',
    );
  }
}
