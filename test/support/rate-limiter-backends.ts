import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, inject } from 'vitest';
import { memoryRateLimiters, type RateLimiterFactory } from '../../packages/auth/src/core/rate-limit/rate-limit.js';
import { connectPostgres } from '../../packages/auth/src/stores/postgres/postgres-store.js';
import { createPostgresRateLimiters } from '../../packages/auth/src/stores/postgres/postgres-rate-limiters.js';
import { connectRedis, connectRedisCluster } from '../../packages/auth/src/stores/redis/connect-redis.js';
import { createRedisRateLimiters } from '../../packages/auth/src/stores/redis/redis-rate-limiters.js';
import { createSQLiteRateLimiters } from '../../packages/auth/src/stores/sqlite/sqlite-rate-limiters.js';

/** One rate-limit backend of the test run. */
export interface RateLimiterBackend {
  name: string;
  available: boolean;
  /**
   * Two factories over one fresh set of counters, as two server processes would have, and a dump of the raw
   * counters (empty where the backend cannot list them cheaply: memory, Redis Cluster).
   */
  open(): Promise<[RateLimiterFactory, RateLimiterFactory, () => Promise<string>]>;
}

/**
 * Every rate-limit backend (memory, SQLite, Redis, Redis Cluster, PostgreSQL) for `describe.each`; the
 * connections close after the calling test file.
 */
export function rateLimiterBackends(): RateLimiterBackend[] {
  const redisURL = inject('redisURL');
  const clusterNodes = inject('redisClusterNodes');
  const postgresUrl = inject('postgresUrl');
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers) await close();
  });
  const nothing = async (): Promise<string> => '';
  const prefix = (): string => `t${randomBytes(4).toString('hex')}:rl:`;
  return [
    {
      name: 'memory',
      available: true,
      // One process: the same factory twice would share nothing, so both get the same limiters.
      async open() {
        const shared = new Map<string, ReturnType<RateLimiterFactory>>();
        const factory: RateLimiterFactory = (options) => {
          const limiter = shared.get(options.keyPrefix) ?? memoryRateLimiters(options);
          shared.set(options.keyPrefix, limiter);
          return limiter;
        };
        return [factory, factory, nothing];
      },
    },
    {
      name: 'sqlite',
      available: true,
      async open() {
        const db = new BetterSqlite3(':memory:');
        closers.push(async () => db.close());
        const dump = async () => JSON.stringify(db.prepare('SELECT * FROM tessera_rate_limits').all());
        return [createSQLiteRateLimiters(db), createSQLiteRateLimiters(db), dump];
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
        const keys = prefix();
        const dump = async () => (await a.keys(`${keys}*`)).join('\n');
        return [createRedisRateLimiters(a, keys), createRedisRateLimiters(b, keys), dump];
      },
    },
    {
      name: 'redis-cluster',
      available: clusterNodes !== null,
      async open() {
        const cluster = await connectRedisCluster(clusterNodes!);
        closers.push(() => cluster.quit());
        const keys = prefix();
        return [createRedisRateLimiters(cluster, keys), createRedisRateLimiters(cluster, keys), nothing];
      },
    },
    {
      name: 'postgres',
      available: postgresUrl !== null,
      async open() {
        const pool = connectPostgres(postgresUrl!);
        closers.push(() => pool.end());
        const table = `rl_${randomBytes(4).toString('hex')}`;
        const dump = async () => JSON.stringify((await pool.query(`SELECT * FROM ${table}`)).rows);
        return [await createPostgresRateLimiters(pool, table), await createPostgresRateLimiters(pool, table), dump];
      },
    },
  ];
}
