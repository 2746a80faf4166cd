export { createRedisStore, type RedisStoreOptions } from './redis-store.js';
export { redisUserTag } from './hash-tag.js';
export { connectRedis, connectRedisCluster, REDIS_COMMAND_TIMEOUT_MS, safeRedisOptions } from './connect-redis.js';
