import type { TestProject } from 'vitest/node';
import {
  findRedisBinaries,
  parseClusterNodes,
  startRedisCluster,
  startRedisServer,
  type RedisCluster,
  type RedisServer,
} from './redis-harness.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** URL of the standalone Redis for this run; `null` when none is available (suites skip). */
    redisURL: string | null;
    /** Nodes of the Redis Cluster for this run; `null` when none is available (suites skip). */
    redisClusterNodes: { host: string; port: number }[] | null;
    /** Whether tests may start their own redis-server (fault and durability tests). */
    redisServerAvailable: boolean;
  }
}

/**
 * Starts one standalone Redis and one 3-master cluster for the whole run, or
 * uses `REDIS_URL` / `REDIS_CLUSTER_NODES` when set. Without redis-server the
 * Redis suites are skipped locally but the run fails under `CI=true`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const binaries = findRedisBinaries();
  const envURL = process.env.REDIS_URL;
  const envNodes = process.env.REDIS_CLUSTER_NODES;
  const needsServer = binaries === null && (envURL === undefined || envNodes === undefined);
  if (needsServer) {
    if (process.env.CI === 'true') {
      throw new Error(
        'redis-server not found and CI=true: install it (apt-get install -y redis-server) or set REDIS_URL and REDIS_CLUSTER_NODES',
      );
    }
    console.warn('⚠ redis-server not found: Redis store suites are SKIPPED (apt-get install -y redis-server)');
  }

  let server: RedisServer | null = null;
  let cluster: RedisCluster | null = null;
  const teardown = async (): Promise<void> => {
    await Promise.all([server?.stop(), cluster?.stop()]);
  };
  try {
    if (envURL !== undefined) project.provide('redisURL', envURL);
    else if (binaries !== null) project.provide('redisURL', (server = await startRedisServer()).url);
    else project.provide('redisURL', null);

    if (envNodes !== undefined) project.provide('redisClusterNodes', parseClusterNodes(envNodes));
    else if (binaries !== null) project.provide('redisClusterNodes', (cluster = await startRedisCluster()).nodes);
    else project.provide('redisClusterNodes', null);
  } catch (error) {
    await teardown();
    throw error;
  }
  project.provide('redisServerAvailable', binaries !== null);
  return teardown;
}
