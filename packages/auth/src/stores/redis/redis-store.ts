import type { Cluster, Redis } from 'ioredis';
import { InvalidOptionError, isTesseraError, StoreUnavailableError } from '../../core/errors/errors.js';
import { sessionShardTag, SHARD_TAG_LENGTH } from '../../core/session/session-token.js';
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
import { positiveIntegerOption } from '../../internal/options.js';
import { redisKeyValuePrimitives } from './kv-primitives.js';
import {
  createSessionScript,
  listUserSessionsScript,
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

/** The record fields a session hash keeps as JSON text; `userId` is kept raw, the id is the key. */
const JSON_FIELDS = [
  'secretHash',
  'createdAt',
  'lastSeenAt',
  'idleExpiresAt',
  'absoluteExpiresAt',
  'expiresAt',
  'revokedAt',
  'ip',
  'userAgent',
  'data',
] as const;
const PATCH_FIELDS = ['lastSeenAt', 'idleExpiresAt', 'expiresAt', 'ip', 'userAgent', 'data'] as const;
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

type RedisClient = Redis | Cluster;

/**
 * The scale-out store: Redis or Redis Cluster through ioredis. Redis TTLs do
 * the expiry (a session key expires at `expiresAt`, a value after its TTL);
 * every multi-key step is one Lua script, so it is atomic on the server.
 *
 * Key layout, where `tag` is the user's shard tag (the first 4 characters of
 * every session id of the user):
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
 * Needs Redis 7.0 or later (`PEXPIREAT … GT`, `GETDEL`).
 *
 * The caller owns the client: `close` leaves it open. Configure it with
 * {@link connectRedis} (or its options) so a Redis outage fails requests
 * within seconds instead of queueing them.
 *
 * @example
 * const store = createRedisStore(await connectRedis('redis://127.0.0.1:6379'), { prefix: 'myapp:' });
 */
export function createRedisStore(client: RedisClient, options: RedisStoreOptions = {}): SessionStore {
  const prefix = options.prefix ?? 'tessera:';
  if (typeof prefix !== 'string' || /[{}]/.test(prefix) || prefix.length > 100) {
    throw new InvalidOptionError('"prefix" must be a string of at most 100 characters without "{" or "}"');
  }
  const scanCount = positiveIntegerOption('scanCount', options.scanCount, 500);
  const logger = options.logger ?? silentLogger;
  warnIfUnsafe(client, logger);

  const sessionBase = (tag: string): string => `${prefix}{${tag}}:s:`;
  const indexBase = (tag: string): string => `${prefix}{${tag}}:u:`;
  const sessionKey = (id: string): string => sessionBase(id.slice(0, SHARD_TAG_LENGTH)) + id;
  const indexKey = (userId: string): string => indexBase(sessionShardTag(userId)) + userId;
  const valueKey = (key: string): string => `${prefix}v:${key}`;
  const indexPattern = `${escapeGlob(prefix)}{*}:u:*`;

  const run = async (script: RedisScript, keys: string[], args: string[]): Promise<unknown> => {
    try {
      return await client.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return client.eval(script.lua, keys.length, ...keys, ...args);
    }
  };

  const reportCorrupt = (id: string): null => {
    logger.warn({ store: 'redis', session: fingerprint(id) }, 'corrupt session record ignored');
    return null;
  };

  const decodeSession = (id: string, hash: Record<string, string>): SessionRecord | null => {
    if (typeof hash.userId !== 'string') return reportCorrupt(id);
    const record: Record<string, unknown> = { id, userId: hash.userId };
    try {
      for (const field of JSON_FIELDS) {
        const text = hash[field];
        if (text === undefined) return reportCorrupt(id);
        record[field] = JSON.parse(text);
      }
    } catch {
      return reportCorrupt(id);
    }
    return isSessionRecord(record) ? record : reportCorrupt(id);
  };

  const encodeSession = (record: SessionRecord): string[] => {
    const fields = ['userId', record.userId];
    for (const field of JSON_FIELDS) fields.push(field, JSON.stringify(record[field]));
    return fields;
  };

  const checkRecord = (record: SessionRecord): void => {
    if (!SESSION_ID_PATTERN.test(record.id) || !record.id.startsWith(sessionShardTag(record.userId))) {
      throw new InvalidOptionError('"record.id" must be base64url and start with sessionShardTag(record.userId)');
    }
    epochMilliseconds('record.expiresAt', record.expiresAt);
    epochMilliseconds('record.createdAt', record.createdAt);
  };

  const flatHash = (fields: string[]): Record<string, string> => {
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) hash[fields[i] as string] = fields[i + 1] as string;
    return hash;
  };

  const parseValue = (key: string, json: string | null): JsonValue | null => {
    if (json === null) return null;
    try {
      return JSON.parse(json) as JsonValue;
    } catch {
      logger.warn({ store: 'redis', key: fingerprint(key) }, 'corrupt value ignored');
      return null;
    }
  };

  /** Runs one operation, turning driver failures into the typed store error so nothing fails open. */
  const guard = async <T>(operation: string, step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      if (isTesseraError(error)) throw error;
      throw new StoreUnavailableError(`Redis store failed during ${operation}`, { cause: error });
    }
  };

  const pruneNode = async (node: Redis): Promise<number> => {
    let pruned = 0;
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', indexPattern, 'COUNT', scanCount, 'TYPE', 'zset');
      cursor = next;
      for (const key of keys) {
        const tag = key.slice(prefix.length + 1, prefix.length + 1 + SHARD_TAG_LENGTH);
        if (!key.startsWith(indexBase(tag))) continue;
        // Through the client rather than the node, so a slot that moved mid-scan still reaches its owner.
        pruned += Number(await run(pruneIndexScript, [key], [sessionBase(tag)]));
      }
    } while (cursor !== '0');
    return pruned;
  };

  return {
    name: 'redis',

    createSession(record: SessionRecord, createOptions: CreateSessionOptions = {}) {
      return guard('createSession', async () => {
        checkRecord(record);
        const cap = positiveIntegerOption('maxSessionsPerUser', createOptions.maxSessionsPerUser, undefined) ?? 0;
        const evicted = await run(
          createSessionScript,
          [sessionKey(record.id), indexKey(record.userId)],
          [
            sessionBase(record.id.slice(0, SHARD_TAG_LENGTH)),
            record.id,
            String(record.createdAt),
            String(Math.ceil(record.expiresAt)),
            String(cap),
            ...encodeSession(record),
          ],
        );
        return evicted as string[];
      });
    },

    getSession(id: string) {
      return guard('getSession', async () => {
        let hash: Record<string, string>;
        try {
          hash = await client.hgetall(sessionKey(id));
        } catch (error) {
          if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return reportCorrupt(id);
          throw error;
        }
        return Object.keys(hash).length === 0 ? null : decodeSession(id, hash);
      });
    },

    updateSession(id: string, patch: SessionPatch) {
      return guard('updateSession', async () => {
        const fields: string[] = [];
        for (const field of PATCH_FIELDS) {
          if (patch[field] !== undefined) fields.push(field, JSON.stringify(patch[field]));
        }
        const expiresAt =
          patch.expiresAt === undefined ? '' : String(Math.ceil(epochMilliseconds('patch.expiresAt', patch.expiresAt)));
        const tag = id.slice(0, SHARD_TAG_LENGTH);
        return (await run(updateSessionScript, [sessionKey(id)], [indexBase(tag), expiresAt, ...fields])) === 1;
      });
    },

    rotateSession(oldId: string, record: SessionRecord) {
      return guard('rotateSession', async () => {
        checkRecord(record);
        if (!oldId.startsWith(sessionShardTag(record.userId))) {
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
            ...encodeSession(record),
          ],
        );
        if (result === -1) {
          throw new InvalidOptionError('rotateSession: the new record must belong to the old session’s user');
        }
        return result === 1;
      });
    },

    revokeSession(id: string, revokedAt: number) {
      return guard('revokeSession', async () => {
        const at = String(epochMilliseconds('revokedAt', revokedAt));
        return (await run(revokeSessionScript, [sessionKey(id)], [at])) === 1;
      });
    },

    revokeUserSessions(userId: string, revokedAt: number, revokeOptions: { exceptId?: string } = {}) {
      return guard('revokeUserSessions', async () => {
        const at = String(epochMilliseconds('revokedAt', revokedAt));
        const revoked = await run(
          revokeUserSessionsScript,
          [indexKey(userId)],
          [sessionBase(sessionShardTag(userId)), at, revokeOptions.exceptId ?? ''],
        );
        return revoked as string[];
      });
    },

    deleteSession(id: string) {
      // The index entry it leaves is pruned by the next script that reads the index.
      return guard('deleteSession', async () => (await client.del(sessionKey(id))) === 1);
    },

    listUserSessions(userId: string) {
      return guard('listUserSessions', async () => {
        const reply = (await run(
          listUserSessionsScript,
          [indexKey(userId)],
          [sessionBase(sessionShardTag(userId))],
        )) as (string | string[])[];
        const records: SessionRecord[] = [];
        for (let i = 0; i + 1 < reply.length; i += 2) {
          const record = decodeSession(reply[i] as string, flatHash(reply[i + 1] as string[]));
          if (record !== null && record.userId === userId) records.push(record);
        }
        return records;
      });
    },

    get(key: string) {
      return guard('get', async () => parseValue(key, await client.get(valueKey(key))));
    },

    set(key: string, value: JsonValue, ttlSeconds?: number) {
      return guard('set', async () => {
        const ttlMs = ttlMilliseconds(ttlSeconds);
        const json = JSON.stringify(value);
        if (ttlMs === undefined) await client.set(valueKey(key), json);
        else await client.set(valueKey(key), json, 'PX', ttlMs);
      });
    },

    setIfAbsent(key: string, value: JsonValue, ttlSeconds?: number) {
      return guard('setIfAbsent', async () => {
        const ttlMs = ttlMilliseconds(ttlSeconds);
        const json = JSON.stringify(value);
        const reply =
          ttlMs === undefined
            ? await client.set(valueKey(key), json, 'NX')
            : await client.set(valueKey(key), json, 'PX', ttlMs, 'NX');
        return reply === 'OK';
      });
    },

    getAndDelete(key: string) {
      return guard('getAndDelete', async () => parseValue(key, await client.getdel(valueKey(key))));
    },

    delete(key: string) {
      return guard('delete', async () => (await client.del(valueKey(key))) === 1);
    },

    ...redisKeyValuePrimitives({ run, valueKey, guard }),

    deleteExpired() {
      // Redis expires sessions and values itself; what is left to remove are
      // the index entries they leave behind. Every master holds its own share
      // of the keyspace, so each is scanned (SCAN in steps, never KEYS).
      return guard('deleteExpired', async () => {
        const nodes = client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
        let pruned = 0;
        for (const node of nodes) pruned += await pruneNode(node);
        return pruned;
      });
    },

    async close() {
      // The caller owns the client and may share it; it ends it with quit().
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
