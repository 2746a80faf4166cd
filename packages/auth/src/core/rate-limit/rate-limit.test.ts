import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createFaultyStore } from '../../testing/failing-store.js';
import { createLoginThrottle, createRequestLimit, type LoginAttemptVerdict } from './rate-limit.js';

const keySecret = 's'.repeat(32);

const allowed = async (verdict: Promise<LoginAttemptVerdict>): Promise<boolean> => (await verdict).allowed;

describe('createLoginThrottle', () => {
  it('allows maxAttemptsPerAccount attempts, then refuses with a wait time, and not other accounts', async () => {
    const throttle = createLoginThrottle({ store: createMemoryStore(), keySecret, maxAttemptsPerAccount: 3 });
    for (let i = 0; i < 3; i++) expect(await allowed(throttle.attempt('alice@example.com', '192.0.2.1'))).toBe(true);
    const verdict = await throttle.attempt('alice@example.com', '192.0.2.99');
    expect(verdict.allowed).toBe(false);
    expect(!verdict.allowed && verdict.retryAfterSeconds).toBeGreaterThan(800);
    expect(await allowed(throttle.attempt('bob@example.com', '192.0.2.1'))).toBe(true);
  });

  it('charges before the check: of a burst, exactly the budget is allowed', async () => {
    const throttle = createLoginThrottle({ store: createMemoryStore(), keySecret, maxAttemptsPerAccount: 10 });
    const burst = await Promise.all(Array.from({ length: 150 }, () => throttle.attempt('alice', '192.0.2.1')));
    expect(burst.filter((verdict) => verdict.allowed)).toHaveLength(10);
  });

  it('refuses an IP after maxAttemptsPerIP attempts across accounts', async () => {
    const throttle = createLoginThrottle({ store: createMemoryStore(), keySecret, maxAttemptsPerIP: 5 });
    for (let i = 0; i < 5; i++) await throttle.attempt(`user${i}@example.com`, '198.51.100.7');
    expect(await allowed(throttle.attempt('new@example.com', '198.51.100.7'))).toBe(false);
    expect(await allowed(throttle.attempt('new@example.com', '198.51.100.8'))).toBe(true);
  });

  it('resets the account and gives the IP its attempt back after a success', async () => {
    const throttle = createLoginThrottle({
      store: createMemoryStore(),
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
      store: createMemoryStore(),
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
    const throttle = createLoginThrottle({ store: createMemoryStore(), keySecret, maxAttemptsPerAccount: 3 });
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
    const throttle = createLoginThrottle({ store: createMemoryStore(), keySecret, maxAttemptsPerAccount: 2 });
    await throttle.attempt('alice', '203.0.113.1');
    await throttle.attempt('alice', '203.0.113.1');
    const mine = await throttle.attempt('alice', '192.0.2.1', { device: 'laptop' });
    if (!mine.allowed) throw new Error('expected the device to be allowed');
    await mine.succeeded();
    expect(await allowed(throttle.attempt('alice', '203.0.113.1'))).toBe(false);
  });

  it('keeps no account name, device id or IP in its counter keys', async () => {
    const keys: string[] = [];
    const store = createMemoryStore();
    const spying = {
      ...store,
      increment: (key: string, by: number, ttlSeconds: number) => {
        keys.push(key);
        return store.increment(key, by, ttlSeconds);
      },
    };
    const throttle = createLoginThrottle({ store: spying, keySecret });
    await throttle.attempt('alice@example.com', '192.0.2.1');
    await throttle.attempt('alice@example.com', '192.0.2.1', { device: 'device-id-1234' });
    expect(keys).toHaveLength(4);
    expect(keys.join()).not.toMatch(/alice|192\.0\.2\.1|device-id/);
  });

  it('fails closed when the counter store fails', async () => {
    const broken = createFaultyStore(createMemoryStore());
    broken.down = true;
    const throttle = createLoginThrottle({ store: broken, keySecret });
    await expect(throttle.attempt('alice', null)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });

  it('gives the account its point back when the IP counter fails, so a failing store locks no one out', async () => {
    const store = createMemoryStore();
    const failingIP = {
      ...store,
      increment: (key: string, by: number, ttlSeconds: number) =>
        key.startsWith('rl:login-ip:') ? Promise.reject(new Error('ECONNRESET')) : store.increment(key, by, ttlSeconds),
    };
    const throttle = createLoginThrottle({ store: failingIP, keySecret, maxAttemptsPerAccount: 1 });
    await expect(throttle.attempt('alice', null)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(
      await allowed(createLoginThrottle({ store, keySecret, maxAttemptsPerAccount: 1 }).attempt('alice', null)),
    ).toBe(true);
  });

  it('refuses with the seconds left in the window, and counts afresh once it has passed', async () => {
    let clock = Date.now();
    const store = createMemoryStore({ now: () => clock });
    const throttle = createLoginThrottle({
      store,
      keySecret,
      maxAttemptsPerAccount: 1,
      windowSeconds: 60,
      now: () => clock,
    });
    await throttle.attempt('alice', null);
    clock += 20_500;
    const refused = await throttle.attempt('alice', null);
    expect(refused.allowed).toBe(false);
    expect(!refused.allowed && refused.retryAfterSeconds).toBeGreaterThanOrEqual(39);
    expect(!refused.allowed && refused.retryAfterSeconds).toBeLessThanOrEqual(40);
    clock += 40_000;
    expect(await allowed(throttle.attempt('alice', null))).toBe(true);
  });
});

describe('createRequestLimit', () => {
  it('allows points requests per window per key', async () => {
    const limit = createRequestLimit({ store: createMemoryStore(), points: 2, durationSeconds: 60 });
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(await limit.consume('s1')).toMatchObject({ allowed: false });
    expect(await limit.consume('s2')).toEqual({ allowed: true });
  });

  it('gives a refunded request back', async () => {
    const limit = createRequestLimit({ store: createMemoryStore(), points: 1, durationSeconds: 60 });
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    await limit.refund('s1');
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(await limit.consume('s1')).toMatchObject({ allowed: false });
  });

  it('keeps two limits on one store apart', async () => {
    const store = createMemoryStore();
    const a = createRequestLimit({ store, points: 1, durationSeconds: 60, name: 'a' });
    const b = createRequestLimit({ store, points: 1, durationSeconds: 60, name: 'b' });
    expect(await a.consume('k')).toEqual({ allowed: true });
    expect(await b.consume('k')).toEqual({ allowed: true });
    expect(await a.consume('k')).toMatchObject({ allowed: false });
  });

  it('requires its budget', () => {
    expect(() => createRequestLimit({ store: createMemoryStore(), points: 0, durationSeconds: 60 })).toThrow(
      '"points" must be a positive integer',
    );
    expect(() =>
      createRequestLimit({ store: createMemoryStore(), points: 5 } as unknown as Parameters<
        typeof createRequestLimit
      >[0]),
    ).toThrow('"durationSeconds" is required');
  });
});
