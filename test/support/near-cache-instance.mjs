// A second OS process for the near-cache tests: a session manager over the built library (packages/auth/dist) on
// Redis or PostgreSQL. It prints {"ready":true} once its invalidation channel is subscribed, then answers each
// token read from stdin with one JSON line: the validation result and how many store reads it has made so far.
// Usage: node near-cache-instance.mjs redis|postgres <url> <prefix>
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';

const [backend, url, prefix] = process.argv.slice(2);
const dist = new URL('../../packages/auth/dist/', import.meta.url);
const { createSessionManager } = await import(new URL('index.js', dist).href);

let store;
let release;
if (backend === 'redis') {
  const { connectRedis, createRedisStore } = await import(new URL('stores/redis/index.js', dist).href);
  const client = await connectRedis(url);
  store = createRedisStore(client, { prefix });
  release = () => client.quit();
} else {
  const { connectPostgres, createPostgresStore } = await import(new URL('stores/postgres/index.js', dist).href);
  const pool = connectPostgres(url);
  store = createPostgresStore(pool, { tablePrefix: prefix });
  release = () => pool.end();
}

let reads = 0;
const counted = Object.assign(Object.create(store), {
  getSession: (id) => {
    reads++;
    return store.getSession(id);
  },
});
// A long max age: only the message, never the entry's age, can make this process refuse within the test's bound.
const sessions = createSessionManager(counted, { nearCacheMaxAgeSeconds: 600 });
while (!store.invalidation().healthy()) await sleep(10);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'quit') break;
  const result = await sessions.validateSessionToken(line);
  process.stdout.write(`${JSON.stringify({ ok: result.ok, reason: result.ok ? null : result.reason, reads })}\n`);
}
await store.close();
await release();
process.exit(0);
