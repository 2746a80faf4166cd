import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, inject } from 'vitest';
import type { CounterStore } from '../../packages/auth/src/core/rate-limit/rate-limit.js';
import { createMemoryStore } from '../../packages/auth/src/stores/memory/memory-store.js';
import { migratePostgres } from '../../packages/auth/src/stores/postgres/migrations.js';
import { connectPostgres, createPostgresStore } from '../../packages/auth/src/stores/postgres/postgres-store.js';
import { connectRedis, connectRedisCluster } from '../../packages/auth/src/stores/redis/connect-redis.js';
import { createRedisStore } from '../../packages/auth/src/stores/redis/redis-store.js';
import { createSQLiteStore } from '../../packages/auth/src/stores/sqlite/sqlite-store.js';

/** One rate-limit backend of the test run: the store the counters live in. */
export interface RateLimiterBackend {
  name: string;
  available: boolean;
  /**
   * Two stores over one fresh set of counters, as two server processes would have (two connections where the
   * backend has them), and a dump of the raw stored values (empty where the backend cannot list them cheaply:
   * memory, Redis Cluster).
   */
  open(): Promise<[CounterStore, CounterStore, () => Promise<string>]>;
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
    for (const close of closers.reverse()) await close();
  });
  const nothing = async (): Promise<string> => '';
  const prefix = (): string => `t${randomBytes(4).toString('hex')}:`;
  return [
    {
      name: 'memory',
      available: true,
      // One process: a second memory store would share nothing, so both are the same store.
      async open() {
        const store = createMemoryStore();
        closers.push(() => store.close());
        return [store, store, nothing];
      },
    },
    {
      name: 'sqlite',
      available: true,
      async open() {
        const dir = mkdtempSync(join(tmpdir(), 'tessera-counters-'));
        const file = join(dir, 'counters.db');
        const [a, b] = [createSQLiteStore(file), createSQLiteStore(file)];
        closers.push(async () => {
          await a.close();
          await b.close();
          rmSync(dir, { recursive: true, force: true });
        });
        const dump = async () => {
          const { default: BetterSqlite3 } = await import('better-sqlite3');
          const db = new BetterSqlite3(file, { readonly: true });
          try {
            return JSON.stringify(db.prepare('SELECT * FROM tessera_values').all());
          } finally {
            db.close();
          }
        };
        return [a, b, dump];
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
        return [createRedisStore(a, { prefix: keys }), createRedisStore(b, { prefix: keys }), dump];
      },
    },
    {
      name: 'redis-cluster',
      available: clusterNodes !== null,
      async open() {
        const [a, b] = [await connectRedisCluster(clusterNodes!), await connectRedisCluster(clusterNodes!)];
        closers.push(
          () => a.quit(),
          () => b.quit(),
        );
        const keys = prefix();
        return [createRedisStore(a, { prefix: keys }), createRedisStore(b, { prefix: keys }), nothing];
      },
    },
    {
      name: 'postgres',
      available: postgresUrl !== null,
      async open() {
        const [a, b] = [connectPostgres(postgresUrl!), connectPostgres(postgresUrl!)];
        const tablePrefix = `rl_${randomBytes(4).toString('hex')}_`;
        await migratePostgres(a, { tablePrefix });
        closers.push(async () => {
          await b.end();
          await a.query(
            `DROP TABLE IF EXISTS "${tablePrefix}sessions", "${tablePrefix}values", "${tablePrefix}migrations"`,
          );
          await a.end();
        });
        const dump = async () => JSON.stringify((await a.query(`SELECT * FROM "${tablePrefix}values"`)).rows);
        return [createPostgresStore(a, { tablePrefix }), createPostgresStore(b, { tablePrefix }), dump];
      },
    },
  ];
}
