import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import { createLoginThrottle, createRequestLimit, memoryRateLimiters, type RateLimiterFactory } from './rate-limit.js';

const keySecret = 's'.repeat(32);

describe('createLoginThrottle', () => {
  it('refuses an account after maxAttemptsPerAccount failures, with a wait time, and not other accounts', async () => {
    const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerAccount: 3 });
    for (let i = 0; i < 3; i++) {
      expect(await throttle.check('alice@example.com', '192.0.2.1')).toEqual({ allowed: true });
      await throttle.recordFailure('alice@example.com', '192.0.2.1');
    }
    const verdict = await throttle.check('alice@example.com', '192.0.2.99');
    expect(verdict.allowed).toBe(false);
    expect(!verdict.allowed && verdict.retryAfterSeconds).toBeGreaterThan(800);
    expect(await throttle.check('bob@example.com', '192.0.2.1')).toEqual({ allowed: true });
  });

  it('refuses an IP after maxAttemptsPerIP failures across accounts', async () => {
    const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerIP: 5 });
    for (let i = 0; i < 5; i++) await throttle.recordFailure(`user${i}@example.com`, '198.51.100.7');
    expect((await throttle.check('new@example.com', '198.51.100.7')).allowed).toBe(false);
    expect((await throttle.check('new@example.com', '198.51.100.8')).allowed).toBe(true);
  });

  it('forgets an account’s failures after a success', async () => {
    const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerAccount: 2 });
    await throttle.recordFailure('alice', null);
    await throttle.recordFailure('alice', null);
    expect((await throttle.check('alice', null)).allowed).toBe(false);
    await throttle.recordSuccess('alice');
    expect((await throttle.check('alice', null)).allowed).toBe(true);
  });

  it('keeps no account name or IP in its counter keys', async () => {
    const keys: string[] = [];
    const spying: RateLimiterFactory = (options) => {
      const limiter = new RateLimiterMemory({ keyPrefix: options.keyPrefix, points: options.points, duration: 60 });
      const consume = limiter.consume.bind(limiter);
      limiter.consume = (key, points) => {
        keys.push(String(key));
        return consume(key, points);
      };
      return limiter;
    };
    const throttle = createLoginThrottle({ limiters: spying, keySecret });
    await throttle.recordFailure('alice@example.com', '192.0.2.1');
    expect(keys).toHaveLength(2);
    expect(keys.join()).not.toMatch(/alice|192\.0\.2\.1/);
  });

  it('fails closed when the counter store fails', async () => {
    const broken: RateLimiterFactory = (options) => {
      const limiter = memoryRateLimiters(options);
      limiter.get = () => Promise.reject(new Error('ECONNREFUSED'));
      limiter.consume = () => Promise.reject(new Error('ECONNREFUSED'));
      return limiter;
    };
    const throttle = createLoginThrottle({ limiters: broken, keySecret });
    await expect(throttle.check('alice', null)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await expect(throttle.recordFailure('alice', null)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });
});

describe('createRequestLimit', () => {
  it('allows points requests per window per key', async () => {
    const limit = createRequestLimit({ limiters: memoryRateLimiters, points: 2, durationSeconds: 60 });
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(await limit.consume('s1')).toMatchObject({ allowed: false });
    expect(await limit.consume('s2')).toEqual({ allowed: true });
  });

  it('requires its budget', () => {
    expect(() => createRequestLimit({ limiters: memoryRateLimiters, points: 0, durationSeconds: 60 })).toThrow(
      '"points" must be a positive integer',
    );
    expect(() =>
      createRequestLimit({ limiters: memoryRateLimiters, points: 5 } as unknown as Parameters<
        typeof createRequestLimit
      >[0]),
    ).toThrow('"durationSeconds" is required');
  });
});
