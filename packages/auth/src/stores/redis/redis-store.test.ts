import { randomBytes } from 'node:crypto';
import { Redis, type Cluster } from 'ioredis';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { isTesseraError } from '../../core/errors/errors.js';
import { redisUserTag } from './hash-tag.js';
import type { Store } from '../../core/store/types.js';
import { startRedisServer } from '../../../../../test/support/redis-harness.js';
import { connectRedis, connectRedisCluster } from './connect-redis.js';
import { createRedisStore } from './redis-store.js';
import { describeRefreshTokens, describeStore, makeSessionRecord } from 'tessera-auth/testing';

const redisURL = inject('redisURL');
const clusterNodes = inject('redisClusterNodes');
const serverAvailable = inject('redisServerAvailable');

const uniquePrefix = (): string => `t${randomBytes(4).toString('hex')}:`;
const user = (): string => `user-${randomBytes(6).toString('hex')}`;
const quietLogger = () => ({ warn: vi.fn(), info: vi.fn(), debug: vi.fn(), error: vi.fn() });

describe.skipIf(redisURL === null)('redis', () => {
  let client: Redis | null = null;
  describeStore('redis', {
    clock: 'backend',
    create: async ({ prefix }) => createRedisStore((client ??= await connectRedis(redisURL!)), { prefix }),
    teardown: async () => {
      await client?.quit();
    },
  });
  let refreshClient: Redis | null = null;
  afterAll(async () => {
    await refreshClient?.quit();
  });
  describeRefreshTokens('redis', async () =>
    createRedisStore((refreshClient ??= await connectRedis(redisURL!)), { prefix: uniquePrefix() }),
  );
});

describe.skipIf(clusterNodes === null)('redis cluster', () => {
  let client: Cluster | null = null;
  describeStore('redis-cluster', {
    clock: 'backend',
    create: async ({ prefix }) => createRedisStore((client ??= await connectRedisCluster(clusterNodes!)), { prefix }),
    teardown: async () => {
      await client?.quit();
    },
  });
  let refreshClient: Cluster | null = null;
  afterAll(async () => {
    await refreshClient?.quit();
  });
  describeRefreshTokens('redis-cluster', async () =>
    createRedisStore((refreshClient ??= await connectRedisCluster(clusterNodes!)), { prefix: uniquePrefix() }),
  );

  it('keeps a user’s sessions and index in one slot and prunes stale entries on every master', async () => {
    const cluster = await connectRedisCluster(clusterNodes!);
    const prefix = uniquePrefix();
    const store = createRedisStore(cluster, { prefix });
    try {
      const at = Date.now();
      const users = Array.from({ length: 24 }, user);
      for (const userId of users) {
        await store.createSession(makeSessionRecord(userId, at, { expiresAt: at + 300, idleExpiresAt: at + 300 }));
        await store.createSession(makeSessionRecord(userId, at + 1, { expiresAt: at + 60_000 }));
      }
      const keys = await cluster.nodes('master')[0]!.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 1000);
      expect(keys[1].length).toBeLessThan(users.length * 3);
      const record = makeSessionRecord(users[0]!, at);
      await store.createSession(record);
      const slots = await Promise.all(
        [`${prefix}{${record.id.slice(0, 4)}}:s:${record.id}`, `${prefix}{${record.id.slice(0, 4)}}:u:${users[0]}`].map(
          (key) => cluster.cluster('KEYSLOT', key),
        ),
      );
      expect(slots[0]).toBe(slots[1]);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(await store.deleteExpired()).toBe(users.length);
      expect(await store.deleteExpired()).toBe(0);
      for (const userId of users)
        expect(await store.listUserSessions(userId)).toHaveLength(userId === users[0] ? 2 : 1);
    } finally {
      await cluster.quit();
    }
  });
});

describe.skipIf(redisURL === null)('redis store', () => {
  const clients: Redis[] = [];
  const connect = async (): Promise<Redis> => {
    const made = await connectRedis(redisURL!);
    clients.push(made);
    return made;
  };
  afterAll(async () => {
    await Promise.all(clients.map((made) => made.quit()));
  });

  it('reads a corrupt record as absent and logs a fingerprint, never the id', async () => {
    const client = await connect();
    const logger = quietLogger();
    const prefix = uniquePrefix();
    const store = createRedisStore(client, { prefix, logger });
    const record = makeSessionRecord(user(), Date.now());
    const key = `${prefix}{${record.id.slice(0, 4)}}:s:${record.id}`;
    await store.createSession(record);
    await client.hset(key, 'data', '{not json');
    expect(await store.getSession(record.id)).toBeNull();
    expect(await store.listUserSessions(record.userId)).toEqual([]);
    await client.hset(key, 'data', '"a string, not an object"');
    expect(await store.getSession(record.id)).toBeNull();
    await client.hdel(key, 'secretHash');
    expect(await store.getSession(record.id)).toBeNull();
    await client.set(key, 'a string where a hash belongs');
    expect(await store.getSession(record.id)).toBeNull();
    expect(await store.revokeSession(record.id, Date.now())).toBeNull();
    expect(logger.warn).toHaveBeenCalledTimes(5);
    expect(JSON.stringify(logger.warn.mock.calls)).not.toContain(record.id);
  });

  it('sets the session TTL to expiresAt and never leaves an index outliving nothing', async () => {
    const client = await connect();
    const prefix = uniquePrefix();
    const store = createRedisStore(client, { prefix });
    const at = Date.now();
    const record = makeSessionRecord(user(), at, { expiresAt: at + 30_000 });
    await store.createSession(record);
    const tag = record.id.slice(0, 4);
    expect(await client.pexpiretime(`${prefix}{${tag}}:s:${record.id}`)).toBe(at + 30_000);
    expect(await client.pexpiretime(`${prefix}{${tag}}:u:${record.userId}`)).toBe(at + 30_000);
    await store.updateSession(record.id, { expiresAt: at + 90_000 });
    expect(await client.pexpiretime(`${prefix}{${tag}}:s:${record.id}`)).toBe(at + 90_000);
    expect(await client.pexpiretime(`${prefix}{${tag}}:u:${record.userId}`)).toBe(at + 90_000);
    expect(await client.pttl(`${prefix}v:k`)).toBe(-2);
    await store.set('k', 1, 10);
    expect(await client.pttl(`${prefix}v:k`)).toBeGreaterThan(9000);
  });

  it('prunes the index entry of a deleted session', async () => {
    const client = await connect();
    const prefix = uniquePrefix();
    const store = createRedisStore(client, { prefix });
    const userId = user();
    const [kept, deleted] = [0, 1].map((i) => makeSessionRecord(userId, Date.now() + i));
    for (const record of [kept!, deleted!]) await store.createSession(record);
    await store.deleteSession(deleted!.id);
    const index = `${prefix}{${kept!.id.slice(0, 4)}}:u:${userId}`;
    expect(await client.zcard(index)).toBe(2);
    expect(await store.deleteExpired()).toBe(1);
    expect(await client.zrange(index, '0', '-1')).toEqual([kept!.id]);
  });

  it('refuses a record whose id does not carry its user’s shard tag, and a prefix with braces', async () => {
    const store = createRedisStore(await connect(), { prefix: uniquePrefix() });
    const record = { ...makeSessionRecord(user(), Date.now()), id: `ZZZZ${randomBytes(16).toString('base64url')}` };
    await expect(store.createSession(record)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    const other = makeSessionRecord(user(), Date.now());
    await store.createSession(other);
    await expect(store.rotateSession(other.id, makeSessionRecord(user(), Date.now()))).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
    });
    expect(() => createRedisStore(new Redis({ lazyConnect: true }), { prefix: 'a{b}' })).toThrow(/"prefix"/);
  });

  it('warns when the client has no command timeout', () => {
    const logger = quietLogger();
    const unsafe = new Redis({ lazyConnect: true });
    createRedisStore(unsafe, { logger });
    expect(logger.warn.mock.calls[0]![1]).toMatch(/commandTimeout/);
    unsafe.disconnect();
  });

  it('measures memory per session (session hash plus its share of the index)', async () => {
    const client = await connect();
    const prefix = uniquePrefix();
    const store = createRedisStore(client, { prefix });
    const at = Date.now();
    const users = Array.from({ length: 100 }, user);
    const records = users.flatMap((userId) =>
      [0, 1].map((i) => makeSessionRecord(userId, at + i, { data: { role: 'user' } })),
    );
    for (const record of records) await store.createSession(record);
    const keys = [
      ...records.map((record) => `${prefix}{${record.id.slice(0, 4)}}:s:${record.id}`),
      ...users.map((userId) => `${prefix}{${redisUserTag(userId)}}:u:${userId}`),
    ];
    let bytes = 0;
    for (const key of keys) bytes += (await client.memory('USAGE', key, 'SAMPLES', '0')) ?? 0;
    const perSession = Math.round(bytes / records.length);
    console.log(`redis store: ${perSession} bytes per session (MEMORY USAGE, 2 sessions per user, ip, user agent)`);
    expect(perSession).toBeLessThan(1024);
  });
});

/** Every method once, for the outage checks. */
function everyCall(store: Store): [string, () => Promise<unknown>][] {
  const record = makeSessionRecord(user(), Date.now());
  return [
    ['createSession', () => store.createSession(record)],
    ['getSession', () => store.getSession(record.id)],
    ['updateSession', () => store.updateSession(record.id, { lastSeenAt: Date.now() })],
    ['rotateSession', () => store.rotateSession(record.id, makeSessionRecord(record.userId, Date.now()))],
    ['revokeSession', () => store.revokeSession(record.id, Date.now())],
    ['revokeUserSessions', () => store.revokeUserSessions(record.userId, Date.now())],
    ['deleteSession', () => store.deleteSession(record.id)],
    ['listUserSessions', () => store.listUserSessions(record.userId)],
    ['get', () => store.get('k')],
    ['set', () => store.set('k', 1)],
    ['setIfAbsent', () => store.setIfAbsent('k', 1, 5)],
    ['getAndDelete', () => store.getAndDelete('k')],
    ['delete', () => store.delete('k')],
    ['deleteExpired', () => store.deleteExpired()],
  ];
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(!serverAvailable)('redis store faults', () => {
  it('fails every call closed, within 5 s, while Redis is down, and recovers when it returns', async () => {
    const server = await startRedisServer();
    const client = await connectRedis(server.url);
    try {
      const store = createRedisStore(client, { prefix: uniquePrefix() });
      const record = makeSessionRecord(user(), Date.now());
      await store.createSession(record);
      await server.kill();
      for (const [operation, call] of everyCall(store)) {
        const started = Date.now();
        const error = await call().then(
          (value) => ({ resolved: value }),
          (caught: unknown) => caught,
        );
        expect(Date.now() - started, operation).toBeLessThan(5000);
        expect(isTesseraError(error) && error.code, operation).toBe('ERR_STORE_UNAVAILABLE');
        expect((error as Error).cause, operation).toBeInstanceOf(Error);
      }
      await server.restart();
      // Persistence is off for this server: the restart is empty, but the client must be back.
      await waitUntil(async () => (await store.getSession(record.id)) === null, 10_000);
      await store.createSession(record);
      expect(await store.getSession(record.id)).toEqual(record);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('bounds a call on a server that accepts connections but never answers', async () => {
    const server = await startRedisServer();
    const client = await connectRedis(server.url);
    try {
      const store = createRedisStore(client, { prefix: uniquePrefix() });
      server.freeze();
      const started = Date.now();
      await expect(store.getSession('AAAAbm90LWEtcmVhbC1zZXNzaW9u')).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
      });
      expect(Date.now() - started).toBeLessThan(5000);
      server.thaw();
      await waitUntil(async () => (await store.get('k')) === null, 10_000);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('rejects connectRedis with the typed error when nothing listens', async () => {
    const server = await startRedisServer();
    await server.stop();
    const started = Date.now();
    await expect(connectRedis(server.url)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('keeps a session through a crash with appendfsync always', async () => {
    const server = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const client = await connectRedis(server.url);
    try {
      const store = createRedisStore(client, { prefix: uniquePrefix() });
      const record = makeSessionRecord(user(), Date.now());
      await store.createSession(record);
      await store.set('grant', { kid: 'a' }, 60);
      await server.kill('SIGKILL');
      await server.restart();
      await waitUntil(async () => (await store.getSession(record.id)) !== null, 10_000);
      expect(await store.getSession(record.id)).toEqual(record);
      expect(await store.listUserSessions(record.userId)).toEqual([record]);
      expect(await store.get('grant')).toEqual({ kid: 'a' });
    } finally {
      client.disconnect();
      await server.stop();
    }
  });
});
