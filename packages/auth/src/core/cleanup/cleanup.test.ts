import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { scheduleCleanup } from './cleanup.js';
import { createFaultyStore, makeSessionRecord } from 'tessera-auth/testing';

describe('scheduleCleanup', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('removes expired entries on every interval and reports the count', async () => {
    let clock = 1_000_000;
    const store = createMemoryStore({ now: () => clock, sweepIntervalSeconds: 86_400 });
    await store.createSession(makeSessionRecord('alice', clock, { expiresAt: clock + 1000 }));
    await store.createSession(makeSessionRecord('bob', clock, { expiresAt: clock + 600_000 }));
    await store.set('short', 1, 1);
    const results: number[] = [];
    const cleanup = scheduleCleanup(store, { intervalSeconds: 60, onResult: (n) => results.push(n) });
    clock += 2000;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(results).toEqual([2]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(results).toEqual([2, 0]);
    await cleanup.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(results).toEqual([2, 0]);
    expect(await store.listUserSessions('bob')).toHaveLength(1);
  });

  it('never runs twice at once', async () => {
    const store = createMemoryStore();
    let release: (n: number) => void = () => undefined;
    const deleteExpired = vi.spyOn(store, 'deleteExpired').mockImplementation(
      () =>
        new Promise<number>((resolve) => {
          release = resolve;
        }),
    );
    const cleanup = scheduleCleanup(store, { intervalSeconds: 1 });
    const first = cleanup.runNow();
    const second = cleanup.runNow();
    await vi.advanceTimersByTimeAsync(5000);
    expect(deleteExpired).toHaveBeenCalledTimes(1);
    release(7);
    expect(await first).toBe(7);
    expect(await second).toBe(7);
    await cleanup.stop();
  });

  it('logs a failed run and tries again at the next interval', async () => {
    const store = createFaultyStore(createMemoryStore());
    const error = vi.fn();
    const cleanup = scheduleCleanup(store, {
      intervalSeconds: 10,
      logger: { error, warn: vi.fn(), info: vi.fn(), debug: vi.fn() },
    });
    store.down = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(error).toHaveBeenCalledTimes(1);
    await expect(cleanup.runNow()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    store.down = false;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(error).toHaveBeenCalledTimes(1);
    expect(store.calls.deleteExpired).toBe(3);
    await cleanup.stop();
  });

  it('does not keep the process alive', () => {
    vi.useRealTimers();
    const unref = vi.spyOn(globalThis, 'setInterval');
    const cleanup = scheduleCleanup(createMemoryStore(), { intervalSeconds: 5 });
    const timer = unref.mock.results.at(-1)!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    void cleanup.stop();
    unref.mockRestore();
  });
});
