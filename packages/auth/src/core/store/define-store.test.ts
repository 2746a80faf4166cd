import { describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { makeSessionRecord } from 'tessera-auth/testing';
import { defineStore, guardStore, type StoreBackend } from './define-store.js';

const quietLogger = () => ({ warn: vi.fn(), info: vi.fn(), debug: vi.fn(), error: vi.fn() });

/** A backend whose reads hand back whatever candidate the test sets, and whose `get` fails like a driver. */
function backend(candidate: unknown): StoreBackend {
  return {
    name: 'fake',
    createSession: async () => undefined,
    getSession: async () => candidate,
    updateSession: async () => candidate,
    mergeSessionData: async () => candidate,
    rotateSession: async () => true,
    revokeSession: async () => candidate,
    deleteSession: async () => candidate,
    revokeUserSessions: async () => [candidate],
    listUserSessions: async () => [candidate, candidate],
    get: async () => {
      throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    },
    set: async () => undefined,
    setIfAbsent: async () => true,
    getAndDelete: async () => null,
    delete: async () => false,
    compareAndSet: async () => false,
    increment: async () => ({ value: 1, expiresAt: 0 }),
    deleteExpired: async () => 0,
    close: async () => undefined,
  };
}

describe('defineStore', () => {
  it('hands out records that pass the codec check, and reads a corrupt one as absent, logged by fingerprint', async () => {
    const record = makeSessionRecord('alice', Date.now());
    expect(await defineStore(backend(record)).getSession(record.id)).toEqual(record);
    const logger = quietLogger();
    const store = defineStore(backend({ ...record, data: 'not an object' }), { logger });
    expect(await store.getSession(record.id)).toBeNull();
    expect(await store.revokeSession(record.id, 1)).toBeNull();
    expect(await store.listUserSessions('alice')).toEqual([]);
    expect(await store.revokeUserSessions('alice', 1)).toEqual([]);
    expect(logger.warn).toHaveBeenCalledTimes(5);
    expect(JSON.stringify(logger.warn.mock.calls)).not.toContain(record.id);
  });

  it('turns a driver failure into StoreUnavailableError naming the backend and the operation', async () => {
    const error = await defineStore(backend(null))
      .get('k')
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: 'The "fake" store failed during get' });
    expect((error as Error).cause).toMatchObject({ code: 'ECONNRESET' });
  });

  it('returns the stored record from create and rotate, and refuses an incomplete one', async () => {
    const record = makeSessionRecord('alice', Date.now());
    const store = defineStore(backend(null));
    expect(await store.createSession(record)).toBe(record);
    expect(await store.rotateSession(record.id, record)).toBe(record);
    await expect(store.createSession({ ...record, secretHash: 7 } as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
    });
  });

  it('waits for calls in flight on close, then refuses every call with the typed error', async () => {
    const store = createMemoryStore();
    const record = makeSessionRecord('alice', Date.now());
    const pending = store.createSession(record);
    await store.close();
    await expect(pending).resolves.toEqual(record);
    for (const call of [() => store.getSession(record.id), () => store.get('k'), () => store.deleteExpired()]) {
      await expect(call()).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
        message: 'The "memory" store is closed',
      });
    }
    await expect(store.close()).resolves.toBeUndefined();
  });
});

describe('guardStore', () => {
  it('leaves a defined store as it is and wraps any other, so its failures fail closed', async () => {
    const defined = createMemoryStore();
    expect(guardStore(defined)).toBe(defined);
    const handWritten = { name: 'hand', get: async () => Promise.reject(new Error('down')) };
    await expect(guardStore(handWritten).get()).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      message: 'The "hand" store failed during get',
    });
    await defined.close();
  });
});
