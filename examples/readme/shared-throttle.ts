/**
 * Completes the README's "Login throttling" fragment (the lines between the markers are the README's, verbatim):
 * sessions and login counters on one Redis, shared by every instance.
 *   REDIS_URL=redis://127.0.0.1:6379 TESSERA_SECRET=$(openssl rand -base64 32) npx tsx examples/readme/shared-throttle.ts
 */
import { createLoginThrottle, createSessionManager } from 'tessera-auth';
import { createHttpAuth } from 'tessera-auth/http';
import { connectRedis, createRedisStore } from 'tessera-auth/stores/redis';

export async function createSharedAuth(redisUrl: string, secret: string) {
  const redisStore = createRedisStore(await connectRedis(redisUrl));
  const sessions = createSessionManager(redisStore);
  const csrfSecrets: [string] = [secret];
  // README start
  const auth = createHttpAuth({
    sessions,
    csrfSecrets,
    // store: any Tessera store shared by the instances (here the Redis store the sessions use).
    // keySecret: ≥ 32 random bytes that hash account names and IPs into counter keys (e.g. csrfSecrets[0]).
    loginThrottle: createLoginThrottle({ store: redisStore, keySecret: csrfSecrets[0] }),
  });
  // README end
  return { auth, redisStore };
}
