import type { Cluster, Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { RateLimiterFactory } from '../../core/rate-limit/rate-limit.js';

/**
 * Rate-limit counters in the same Redis (or Redis Cluster) as the sessions:
 * one key per counter, updated atomically by rate-limiter-flexible's script.
 * A disconnected client refuses at once instead of queueing, so a limit check
 * fails closed fast.
 *
 * @param prefix key prefix of the counters
 * @default prefix "tessera:rl:"
 */
export function createRedisRateLimiters(client: Redis | Cluster, prefix = 'tessera:rl:'): RateLimiterFactory {
  return ({ keyPrefix, points, durationSeconds }) =>
    new RateLimiterRedis({
      storeClient: client,
      keyPrefix: `${prefix}${keyPrefix}`,
      points,
      duration: durationSeconds,
      rejectIfRedisNotReady: true,
    });
}
