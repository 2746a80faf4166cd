import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createFaultyStore } from '../../testing/failing-store.js';
import { createLeasedRequestLimit } from './leased-limit.js';
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

describe('createLeasedRequestLimit', () => {
  /** A memory store whose increments are counted. */
  const countingStore = () => {
    const store = createMemoryStore();
    const calls: number[] = [];
    return {
      calls,
      store: {
        ...store,
        increment: (key: string, by: number, ttlSeconds: number) => {
          calls.push(by);
          return store.increment(key, by, ttlSeconds);
        },
      },
    };
  };

  it('asks the store once per chunk of requests, not once per request', async () => {
    const { store, calls } = countingStore();
    const limit = createLeasedRequestLimit({ store, points: 100, durationSeconds: 60 });
    for (let i = 0; i < 100; i++) expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(calls).toEqual(Array.from({ length: 10 }, () => 10));
    expect(await limit.consume('s1')).toMatchObject({ allowed: false });
  });

  it('refuses locally once the store says the budget is gone, until the window ends', async () => {
    let clock = Date.now();
    const store = createMemoryStore({ now: () => clock });
    const calls: number[] = [];
    const counted = {
      ...store,
      increment: (key: string, by: number, ttlSeconds: number) => (
        calls.push(by),
        store.increment(key, by, ttlSeconds)
      ),
    };
    const limit = createLeasedRequestLimit({
      store: counted,
      points: 4,
      durationSeconds: 60,
      chunk: 3,
      now: () => clock,
    });
    const verdicts = [];
    for (let i = 0; i < 6; i++) verdicts.push(await limit.consume('s1'));
    expect(verdicts.filter((verdict) => verdict.allowed)).toHaveLength(4);
    // Leased 3, then 3 of which only 1 was left: the 2 it could not get went back at once.
    expect(calls).toEqual([3, 3, -2]);
    clock += 20_000;
    const refused = await limit.consume('s1');
    expect(refused).toMatchObject({ allowed: false });
    expect(!refused.allowed && refused.retryAfterSeconds).toBe(40);
    expect(calls).toHaveLength(3);
    clock += 40_000;
    expect(await limit.consume('s1')).toEqual({ allowed: true });
  });

  it('racing instances on one store never admit more than the budget together', async () => {
    const store = createMemoryStore();
    const instances = Array.from({ length: 5 }, () =>
      createLeasedRequestLimit({ store, points: 50, durationSeconds: 60, chunk: 7 }),
    );
    const burst = await Promise.all(Array.from({ length: 400 }, (_, i) => instances[i % 5]!.consume('s1')));
    const admitted = burst.filter((verdict) => verdict.allowed).length;
    expect(admitted).toBeLessThanOrEqual(50);
    expect(admitted).toBeGreaterThanOrEqual(50 - 5 * 6);
  });

  it('prepare leases ahead without spending; consume then spends from that lease', async () => {
    const { store, calls } = countingStore();
    const limit = createLeasedRequestLimit({ store, points: 2, durationSeconds: 60, chunk: 2 });
    limit.prepare?.('s1');
    limit.prepare?.('s1');
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(await limit.consume('s1')).toMatchObject({ allowed: false });
    expect(calls).toEqual([2, 2, -2]);
  });

  it('gives a refunded request back to its own lease only', async () => {
    const { store, calls } = countingStore();
    const limit = createLeasedRequestLimit({ store, points: 1, durationSeconds: 60 });
    await limit.refund('s1');
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    await limit.refund('s1');
    expect(await limit.consume('s1')).toEqual({ allowed: true });
    expect(await limit.consume('s1')).toMatchObject({ allowed: false });
    expect(calls).toEqual([1, 1, -1]);
  });

  it('fails closed when the store fails, and keeps no lease from the failure', async () => {
    const broken = createFaultyStore(createMemoryStore());
    broken.down = true;
    const limit = createLeasedRequestLimit({ store: broken, points: 10, durationSeconds: 60 });
    limit.prepare?.('s1');
    await expect(limit.consume('s1')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    broken.down = false;
    expect(await limit.consume('s1')).toEqual({ allowed: true });
  });

  it('drops its oldest lease past maxLeases (unspent points lost, never extra ones)', async () => {
    const store = createMemoryStore();
    const limit = createLeasedRequestLimit({ store, points: 4, durationSeconds: 60, chunk: 2, maxLeases: 1 });
    expect(await limit.consume('a')).toEqual({ allowed: true });
    expect(await limit.consume('b')).toEqual({ allowed: true });
    // a's lease (one point left) was dropped: a leases again, and its last lease is all it gets.
    const verdicts = [];
    for (let i = 0; i < 5; i++) verdicts.push(await limit.consume('a'));
    expect(verdicts.filter((verdict) => verdict.allowed)).toHaveLength(2);
  });

  it('keeps the leases in use when a flood of prepared leases nobody spends arrives', async () => {
    const { store, calls } = countingStore();
    const limit = createLeasedRequestLimit({ store, points: 100, durationSeconds: 60, maxLeases: 10 });
    expect(await limit.consume('in-use')).toEqual({ allowed: true });
    for (let i = 0; i < 50; i++) limit.prepare?.(`forged-${i}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    calls.length = 0;
    for (let i = 0; i < 9; i++) expect(await limit.consume('in-use')).toEqual({ allowed: true });
    expect(calls).toEqual([]);
  });

  it('checks its options', () => {
    const store = createMemoryStore();
    expect(() => createLeasedRequestLimit({ store, points: 10, durationSeconds: 60, chunk: 0 })).toThrow(
      '"chunk" must be a positive integer',
    );
    expect(() => createLeasedRequestLimit({ store, points: 0, durationSeconds: 60 })).toThrow(
      '"points" must be a positive integer',
    );
  });
});
