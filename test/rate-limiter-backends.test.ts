import { describe, expect, inject, it } from 'vitest';
import {
  createLoginThrottle,
  createRequestLimit,
  type LoginAttemptVerdict,
} from '../packages/auth/src/core/rate-limit/rate-limit.js';
import { createLeasedRequestLimit } from '../packages/auth/src/core/rate-limit/leased-limit.js';
import { createMemoryStore } from '../packages/auth/src/stores/memory/memory-store.js';
import { connectRedis } from '../packages/auth/src/stores/redis/connect-redis.js';
import { createRedisStore } from '../packages/auth/src/stores/redis/redis-store.js';
import { rateLimiterBackends } from './support/rate-limiter-backends.js';

const keySecret = 'r'.repeat(32);
const redisURL = inject('redisURL');

const backends = rateLimiterBackends();

const allowedOf = (verdicts: LoginAttemptVerdict[]): number => verdicts.filter((verdict) => verdict.allowed).length;

describe.each(backends)('login throttle on $name', (backend) => {
  it.skipIf(!backend.available)(
    'charges before the check: of 150 parallel attempts from two processes, exactly the budget is allowed',
    async () => {
      const [first, second] = await backend.open();
      // The IP budget does not bind here: with both binding, a refused attempt holds a point of the other counter
      // for a moment (it is given back), so a burst may evaluate fewer than the budget, never more.
      const options = { keySecret, maxAttemptsPerAccount: 10, maxAttemptsPerIP: 1000 };
      const a = createLoginThrottle({ store: first, ...options });
      const b = createLoginThrottle({ store: second, ...options });
      const burst = await Promise.all(
        Array.from({ length: 150 }, (_, i) => (i % 2 === 0 ? a : b).attempt('alice@example.com', '192.0.2.1')),
      );
      expect(allowedOf(burst)).toBe(10);
      const refused = burst.find((verdict) => !verdict.allowed);
      expect(!refused?.allowed && refused?.retryAfterSeconds).toBeGreaterThan(800);
      // The right password after the burst is refused too: it never reaches the check.
      expect((await b.attempt('alice@example.com', '192.0.2.50')).allowed).toBe(false);
    },
  );

  it.skipIf(!backend.available)(
    'holds the per-IP limit against a burst across accounts, and a success gives the IP its attempt back',
    async () => {
      const [first, second] = await backend.open();
      const options = { keySecret, maxAttemptsPerAccount: 10, maxAttemptsPerIP: 20 };
      const a = createLoginThrottle({ store: first, ...options });
      const b = createLoginThrottle({ store: second, ...options });
      const spray = await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).attempt(`user${i}@example.com`, '198.51.100.7')),
      );
      expect(allowedOf(spray)).toBe(20);

      // An office behind one address: successful sign-ins do not use up its budget.
      const office = '203.0.113.10';
      for (let i = 0; i < 25; i++) {
        const verdict = await (i % 2 === 0 ? a : b).attempt(`colleague${i}@example.com`, office);
        if (!verdict.allowed) throw new Error(`sign-in ${i} was refused`);
        await verdict.succeeded();
      }
      expect((await a.attempt('one-more@example.com', office)).allowed).toBe(true);
    },
  );

  it.skipIf(!backend.available)(
    'keeps a known device signing in through a lockout from elsewhere, and limits the device’s own burst',
    async () => {
      const [first, second] = await backend.open();
      const a = createLoginThrottle({ store: first, keySecret, maxAttemptsPerAccount: 3 });
      const b = createLoginThrottle({ store: second, keySecret, maxAttemptsPerAccount: 3 });
      const elsewhere = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).attempt('alice', `203.0.113.${i}`)),
      );
      expect(allowedOf(elsewhere)).toBe(3);
      expect((await a.attempt('alice', '203.0.113.99')).allowed).toBe(false);
      const device = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).attempt('alice', '192.0.2.1', { device: 'laptop' })),
      );
      expect(allowedOf(device)).toBe(3);
      const other = await b.attempt('alice', '192.0.2.1', { device: 'phone' });
      expect(other.allowed).toBe(true);
      if (other.allowed) await other.succeeded();
      // The device's success does not reopen the account to everyone else.
      expect((await a.attempt('alice', '203.0.113.99')).allowed).toBe(false);
    },
  );

  it.skipIf(!backend.available)('a success resets the account for every process', async () => {
    const [first, second] = await backend.open();
    const a = createLoginThrottle({ store: first, keySecret, maxAttemptsPerAccount: 3 });
    const b = createLoginThrottle({ store: second, keySecret, maxAttemptsPerAccount: 3 });
    await a.attempt('alice@example.com', '192.0.2.1');
    await b.attempt('alice@example.com', '192.0.2.2');
    const third = await a.attempt('alice@example.com', '192.0.2.1');
    expect((await b.attempt('alice@example.com', '192.0.2.3')).allowed).toBe(false);
    if (!third.allowed) throw new Error('expected the third attempt to be allowed');
    await third.succeeded();
    expect((await b.attempt('alice@example.com', '192.0.2.3')).allowed).toBe(true);
  });
});

describe.each(backends)('request limit on $name', (backend) => {
  it.skipIf(!backend.available)(
    'of 100 parallel requests from two processes, exactly the budget is allowed; a refund gives exactly one back',
    async () => {
      const [first, second, dump] = await backend.open();
      const a = createRequestLimit({ store: first, points: 7, durationSeconds: 60, name: 'race' });
      const b = createRequestLimit({ store: second, points: 7, durationSeconds: 60, name: 'race' });
      const burst = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).consume('client-1')));
      expect(burst.filter((verdict) => verdict.allowed)).toHaveLength(7);
      for (const verdict of burst) if (!verdict.allowed) expect(verdict.retryAfterSeconds).toBeGreaterThan(30);
      // 100 charged: 93 refunds in parallel bring it back to the budget, one more opens one place.
      await Promise.all(Array.from({ length: 94 }, (_, i) => (i % 2 === 0 ? b : a).refund('client-1')));
      const again = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consume('client-1')));
      expect(again.filter((verdict) => verdict.allowed)).toHaveLength(1);
      expect(await dump()).not.toContain('client-2');
    },
  );
});

describe.each(backends)('leased request limit on $name', (backend) => {
  it.skipIf(!backend.available)(
    'of 200 parallel requests from two processes, never more than the budget; one process alone gets all of it',
    async () => {
      const [first, second] = await backend.open();
      const options = { points: 40, durationSeconds: 60, name: 'leased-race', chunk: 6 };
      const limits = [first, second].map((store) => createLeasedRequestLimit({ store, ...options }));
      const burst = await Promise.all(Array.from({ length: 200 }, (_, i) => limits[i % 2]!.consume('client-1')));
      const admitted = burst.filter((verdict) => verdict.allowed).length;
      expect(admitted).toBeLessThanOrEqual(40);
      // At most chunk - 1 points stranded per process.
      expect(admitted).toBeGreaterThanOrEqual(40 - 2 * 5);
      const alone = createLeasedRequestLimit({ store: first, ...options });
      const own = await Promise.all(Array.from({ length: 100 }, () => alone.consume('client-2')));
      expect(own.filter((verdict) => verdict.allowed)).toHaveLength(40);
    },
  );
});

it('memory counters work as the reference', async () => {
  const throttle = createLoginThrottle({ store: createMemoryStore(), keySecret, maxAttemptsPerAccount: 1 });
  await throttle.attempt('a', null);
  expect((await throttle.attempt('a', null)).allowed).toBe(false);
});

describe.skipIf(redisURL === null)('a disconnected Redis', () => {
  it('fails the attempt closed with the typed error, at once', async () => {
    const client = await connectRedis(redisURL!);
    const throttle = createLoginThrottle({ store: createRedisStore(client), keySecret });
    client.disconnect();
    await expect(throttle.attempt('alice', null)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });
});
