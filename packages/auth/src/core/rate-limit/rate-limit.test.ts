import { RateLimiterMemory } from 'rate-limiter-flexible';
import { describe, expect, it } from 'vitest';
import {
  createLoginThrottle,
  createRequestLimit,
  memoryRateLimiters,
  type LoginAttemptVerdict,
  type RateLimiterFactory,
} from './rate-limit.js';

const keySecret = 's'.repeat(32);

const allowed = async (verdict: Promise<LoginAttemptVerdict>): Promise<boolean> => (await verdict).allowed;

describe('createLoginThrottle', () => {
  it('allows maxAttemptsPerAccount attempts, then refuses with a wait time, and not other accounts', async () => {
    const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerAccount: 3 });
    for (let i = 0; i < 3; i++) expect(await allowed(throttle.attempt('alice@example.com', '192.0.2.1'))).toBe(true);
    const verdict = await throttle.attempt('alice@example.com', '192.0.2.99');
    expect(verdict.allowed).toBe(false);
    expect(!verdict.allowed && verdict.retryAfterSeconds).toBeGreaterThan(800);
    expect(await allowed(throttle.attempt('bob@example.com', '192.0.2.1'))).toBe(true);
  });

  it('charges before the check: of a burst, exactly the budget is allowed', async () => {
    const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerAccount: 10 });
    const burst = await Promise.all(Array.from({ length: 150 }, () => throttle.attempt('alice', '192.0.2.1')));
    expect(burst.filter((verdict) => verdict.allowed)).toHaveLength(10);
  });

  it('refuses an IP after maxAttemptsPerIP attempts across accounts', async () => {
    const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerIP: 5 });
    for (let i = 0; i < 5; i++) await throttle.attempt(`user${i}@example.com`, '198.51.100.7');
    expect(await allowed(throttle.attempt('new@example.com', '198.51.100.7'))).toBe(false);
    expect(await allowed(throttle.attempt('new@example.com', '198.51.100.8'))).toBe(true);
  });

  it('resets the account and gives the IP its attempt back after a success', async () => {
    const throttle = createLoginThrottle({
      limiters: memoryRateLimiters,
      keySecret,
      maxAttemptsPerAccount: 2,
      maxAttemptsPerIP: 3,
    });
    await throttle.attempt('alice', '192.0.2.1');
    const second = await throttle.attempt('alice', '192.0.2.1');
    expect(await allowed(throttle.attempt('alice', '192.0.2.2'))).toBe(false);
    if (!second.allowed) throw new Error('expected the second attempt to be allowed');
    await second.succeeded();
    expect(await allowed(throttle.attempt('alice', '192.0.2.2'))).toBe(true);
    // 192.0.2.1 spent two, got one back: two more fit in its budget of three, then it is refused.
    expect(await allowed(throttle.attempt('bob', '192.0.2.1'))).toBe(true);
    expect(await allowed(throttle.attempt('carol', '192.0.2.1'))).toBe(true);
    expect(await allowed(throttle.attempt('dave', '192.0.2.1'))).toBe(false);
  });

  it('does not charge the IP for an attempt the account refused, nor the account for one the IP refused', async () => {
    const throttle = createLoginThrottle({
      limiters: memoryRateLimiters,
      keySecret,
      maxAttemptsPerAccount: 1,
      maxAttemptsPerIP: 2,
    });
    await throttle.attempt('locked', '192.0.2.9');
    for (let i = 0; i < 5; i++) expect(await allowed(throttle.attempt('locked', '192.0.2.1'))).toBe(false);
    expect(await allowed(throttle.attempt('bob', '192.0.2.1'))).toBe(true);
    expect(await allowed(throttle.attempt('carol', '192.0.2.1'))).toBe(true);
    expect(await allowed(throttle.attempt('dave', '192.0.2.1'))).toBe(false);
    expect(await allowed(throttle.attempt('dave', '192.0.2.2'))).toBe(true);
  });

  it('gives a known device its own budget: a lockout from elsewhere does not reach it, its own burst is limited', async () => {
    const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerAccount: 3 });
    for (let i = 0; i < 3; i++) await throttle.attempt('alice', `203.0.113.${i}`);
    expect(await allowed(throttle.attempt('alice', '203.0.113.50'))).toBe(false);
    const burst = await Promise.all(
      Array.from({ length: 20 }, () => throttle.attempt('alice', '192.0.2.1', { device: 'laptop' })),
    );
    expect(burst.filter((verdict) => verdict.allowed)).toHaveLength(3);
    expect(await allowed(throttle.attempt('alice', '192.0.2.1', { device: 'phone' }))).toBe(true);
    // The same device id for another account is another budget.
    expect(await allowed(throttle.attempt('bob', '192.0.2.1', { device: 'laptop' }))).toBe(true);
  });

  it('resets only the device on a known device’s success, never the shared account budget', async () => {
    const throttle = createLoginThrottle({ limiters: memoryRateLimiters, keySecret, maxAttemptsPerAccount: 2 });
    await throttle.attempt('alice', '203.0.113.1');
    await throttle.attempt('alice', '203.0.113.1');
    const mine = await throttle.attempt('alice', '192.0.2.1', { device: 'laptop' });
    if (!mine.allowed) throw new Error('expected the device to be allowed');
    await mine.succeeded();
    expect(await allowed(throttle.attempt('alice', '203.0.113.1'))).toBe(false);
  });

  it('keeps no account name, device id or IP in its counter keys', async () => {
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
    await throttle.attempt('alice@example.com', '192.0.2.1');
    await throttle.attempt('alice@example.com', '192.0.2.1', { device: 'device-id-1234' });
    expect(keys).toHaveLength(4);
    expect(keys.join()).not.toMatch(/alice|192\.0\.2\.1|device-id/);
  });

  it('fails closed when the counter store fails', async () => {
    const broken: RateLimiterFactory = (options) => {
      const limiter = memoryRateLimiters(options);
      limiter.consume = () => Promise.reject(new Error('ECONNREFUSED'));
      return limiter;
    };
    const throttle = createLoginThrottle({ limiters: broken, keySecret });
    await expect(throttle.attempt('alice', null)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
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
