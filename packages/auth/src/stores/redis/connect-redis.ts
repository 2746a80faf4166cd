import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from '../../core/errors/errors.js';

/**
 * How long a command may wait for its reply before it fails, milliseconds.
 * Bounds how long a request can hang on a store that stopped answering.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 2000;

const reconnectDelay = (attempt: number): number => Math.min(attempt * 200, 2000);

/**
 * The ioredis options Tessera relies on, applied under the caller's own:
 * - `commandTimeout` 2000 ms: a command that gets no reply fails instead of hanging.
 * - `enableOfflineQueue: false`: while disconnected a command fails at once
 *   rather than waiting to run later, after its caller has already given up.
 * - `maxRetriesPerRequest: 0`: a command in flight when the connection drops
 *   fails instead of being resent; the session scripts are not idempotent
 *   (a resent rotation would log the user out).
 * - `retryStrategy`: reconnect forever, backing off to one attempt every 2 s.
 */
export const safeRedisOptions: Readonly<RedisOptions> = Object.freeze({
  commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
  connectTimeout: REDIS_COMMAND_TIMEOUT_MS,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: reconnectDelay,
});

/**
 * Connects to a standalone Redis with {@link safeRedisOptions} and resolves once
 * it is ready, so the first store call does not meet a connection still opening.
 * The caller owns the client and ends it with `quit()`.
 *
 * @param url a `redis://` or `rediss://` URL
 * @throws StoreUnavailableError when the server cannot be reached within the connect timeout
 * @example
 * const store = createRedisStore(await connectRedis(process.env.REDIS_URL));
 */
export async function connectRedis(url: string, options: RedisOptions = {}): Promise<Redis> {
  return ready(new Redis(url, { ...safeRedisOptions, ...options, lazyConnect: true }), 'Could not connect to Redis');
}

/** Connects a lazily created client; on failure disconnects it and throws the typed error. */
async function ready<Client extends Redis | Cluster>(client: Client, failure: string): Promise<Client> {
  // Errors reach the caller as rejected commands; an unhandled 'error' event would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    client.disconnect();
    throw new StoreUnavailableError(failure, { cause: error });
  }
}

/**
 * Connects to a Redis Cluster with {@link safeRedisOptions} (the per-node ones
 * under `redisOptions`) and resolves once the cluster is ready.
 *
 * @param nodes some of the cluster's nodes: `"host:port"` strings or `{ host, port }`
 * @throws StoreUnavailableError when the cluster cannot be reached
 */
export async function connectRedisCluster(nodes: ClusterNode[], options: ClusterOptions = {}): Promise<Cluster> {
  const { enableOfflineQueue, retryStrategy: _retryStrategy, ...nodeOptions } = safeRedisOptions;
  const client = new Cluster(nodes, {
    enableOfflineQueue,
    clusterRetryStrategy: reconnectDelay,
    ...options,
    redisOptions: { ...nodeOptions, ...options.redisOptions },
    lazyConnect: true,
  });
  return ready(client, 'Could not connect to the Redis Cluster');
}
