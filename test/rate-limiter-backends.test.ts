import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createLoginThrottle, memoryRateLimiters, type RateLimiterFactory } from '../src/core/rate-limit/rate-limit.js';
import { connectPostgres } from '../src/stores/postgres/postgres-store.js';
import { createPostgresRateLimiters } from '../src/stores/postgres/postgres-rate-limiters.js';
import { connectRedis, connectRedisCluster } from '../src/stores/redis/connect-redis.js';
import { createRedisRateLimiters } from '../src/stores/redis/redis-rate-limiters.js';
import { createSQLiteRateLimiters } from '../src/stores/sqlite/sqlite-rate-limiters.js';

const keySecret = 'r'.repeat(32);
const redisURL = inject('redisURL');
const clusterNodes = inject('redisClusterNodes');
const postgresUrl = inject('postgresUrl');
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

interface Backend {
  name: string;
  available: boolean;
  /** Two factories over one backend, as two server processes would have. */
  open(): Promise<[RateLimiterFactory, RateLimiterFactory]>;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    available: true,
    async open() {
      const db = new BetterSqlite3(':memory:');
      closers.push(async () => db.close());
      return [createSQLiteRateLimiters(db), createSQLiteRateLimiters(db)];
    },
  },
  {
    name: 'redis',
    available: redisURL !== null,
    async open() {
      const [a, b] = [await connectRedis(redisURL!), await connectRedis(redisURL!)];
      closers.push(
        () => a.quit(),
        () => b.quit(),
      );
      const prefix = `t${randomBytes(4).toString('hex')}:rl:`;
      return [createRedisRateLimiters(a, prefix), createRedisRateLimiters(b, prefix)];
    },
  },
  {
    name: 'redis-cluster',
    available: clusterNodes !== null,
    async open() {
      const cluster = await connectRedisCluster(clusterNodes!);
      closers.push(() => cluster.quit());
      const prefix = `t${randomBytes(4).toString('hex')}:rl:`;
      return [createRedisRateLimiters(cluster, prefix), createRedisRateLimiters(cluster, prefix)];
    },
  },
  {
    name: 'postgres',
    available: postgresUrl !== null,
    async open() {
      const pool = connectPostgres(postgresUrl!);
      closers.push(() => pool.end());
      const table = `rl_${randomBytes(4).toString('hex')}`;
      return [await createPostgresRateLimiters(pool, table), await createPostgresRateLimiters(pool, table)];
    },
  },
];

describe.each(backends)('login throttle on $name', (backend) => {
  it.skipIf(!backend.available)(
    'counts failures shared by every process on the backend, and resets on success',
    async () => {
      const [first, second] = await backend.open();
      const a = createLoginThrottle({ limiters: first, keySecret, maxAttemptsPerAccount: 3 });
      const b = createLoginThrottle({ limiters: second, keySecret, maxAttemptsPerAccount: 3 });
      await a.recordFailure('alice@example.com', '192.0.2.1');
      await b.recordFailure('alice@example.com', '192.0.2.2');
      expect((await b.check('alice@example.com', '192.0.2.3')).allowed).toBe(true);
      await a.recordFailure('alice@example.com', '192.0.2.1');
      const blocked = await b.check('alice@example.com', '192.0.2.3');
      expect(blocked.allowed).toBe(false);
      expect(!blocked.allowed && blocked.retryAfterSeconds).toBeGreaterThan(800);
      await a.recordSuccess('alice@example.com');
      expect((await b.check('alice@example.com', '192.0.2.3')).allowed).toBe(true);
    },
  );
});

it('memory counters work as the reference', async () => {
  const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerAccount: 1 });
  await throttle.recordFailure('a', null);
  expect((await throttle.check('a', null)).allowed).toBe(false);
});

describe.skipIf(redisURL === null)('a disconnected Redis', () => {
  it('fails the check closed with the typed error, at once', async () => {
    const client = await connectRedis(redisURL!);
    const throttle = createLoginThrottle({ limiters: createRedisRateLimiters(client), keySecret });
    client.disconnect();
    await expect(throttle.check('alice', null)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await expect(throttle.recordFailure('alice', null)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });
});
