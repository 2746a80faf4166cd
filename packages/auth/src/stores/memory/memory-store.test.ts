import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from './memory-store.js';
import { describeStore, makeSessionRecord } from 'tessera-auth/testing';

describeStore('memory', {
  clock: 'injected',
  create: async ({ now }) => createMemoryStore({ now }),
});

describe('memory store', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('stays within maxEntries by dropping the oldest entries', async () => {
    const store = createMemoryStore({ maxEntries: 3 });
    const at = Date.now();
    const records = [0, 1, 2, 3].map((i) => makeSessionRecord('alice', at + i));
    for (const record of records) await store.createSession(record);
    expect(await store.getSession(records[0]!.id)).toBeNull();
    expect(await store.listUserSessions('alice')).toEqual(records.slice(1));
    await store.set('a', 1);
    expect(await store.getSession(records[1]!.id)).toBeNull();
    expect(await store.get('a')).toBe(1);
    await store.close();
  });

  it('hands out copies: mutating what was read changes nothing stored', async () => {
    const store = createMemoryStore();
    const record = makeSessionRecord('alice', Date.now(), { data: { role: 'user' } });
    await store.createSession(record);
    const read = await store.getSession(record.id);
    read!.data.role = 'admin';
    expect((await store.getSession(record.id))!.data.role).toBe('user');
    await store.close();
  });

  it('sweeps expired entries on its timer', async () => {
    vi.useFakeTimers();
    try {
      let clock = 1_000_000;
      const store = createMemoryStore({ now: () => clock, sweepIntervalSeconds: 10 });
      await store.set('short', 1, 1);
      await store.createSession(makeSessionRecord('alice', clock, { expiresAt: clock + 1000 }));
      clock += 2000;
      vi.advanceTimersByTime(10_000);
      expect(await store.deleteExpired()).toBe(0);
      await store.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('warns once when used in production', () => {
    vi.stubEnv('NODE_ENV', 'production');
    const warn = vi.fn();
    const logger = { warn, info: vi.fn(), debug: vi.fn(), error: vi.fn() };
    void createMemoryStore({ logger }).close();
    void createMemoryStore({ logger }).close();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toMatch(/production/);
  });

  it('refuses bad options with a message naming the option', () => {
    expect(() => createMemoryStore({ maxEntries: 0 })).toThrow('"maxEntries" must be a positive integer, got 0');
    expect(() => createMemoryStore({ sweepIntervalSeconds: 1.5 })).toThrow(/"sweepIntervalSeconds"/);
  });
});
