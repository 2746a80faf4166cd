import { describe, expect, it, vi } from 'vitest';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import {
  createInvalidationChannel,
  type InvalidationConnectionEvents,
  type SessionInvalidation,
  type SessionInvalidationListener,
} from '../store/invalidation.js';
import type { SessionRecord, Store } from '../store/types.js';
import { createSessionManager, type SessionManagerOptions } from './session-manager.js';
import { parseSessionToken } from './session-token.js';

const SECOND = 1000;

/** A channel the test drives by hand: healthy or not, and messages delivered on demand. */
function fakeChannel() {
  const listeners = new Set<SessionInvalidationListener>();
  let healthy = true;
  const channel: SessionInvalidation = {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    healthy: () => healthy,
  };
  return {
    channel,
    invalidate: (...ids: string[]) => listeners.forEach((listener) => listener.invalidate(ids)),
    invalidateAll: () => listeners.forEach((listener) => listener.invalidateAll()),
    down: () => {
      healthy = false;
      listeners.forEach((listener) => listener.down());
    },
    up: () => {
      healthy = true;
      listeners.forEach((listener) => listener.up());
    },
  };
}

/** A memory store offering a hand-driven channel ("another instance" writes to `backend` directly), reads counted. */
function setup(options: SessionManagerOptions = {}) {
  let clock = Date.UTC(2026, 0, 1);
  const backend = createMemoryStore({ now: () => clock });
  const fake = fakeChannel();
  let hold: Promise<void> | null = null;
  const reads = vi.fn(async (id: string): Promise<SessionRecord | null> => {
    const record = await backend.getSession(id);
    if (hold !== null) await hold;
    return record;
  });
  const writes = vi.fn((id: string, patch: Parameters<Store['updateSession']>[1]) => backend.updateSession(id, patch));
  const store: Store = Object.assign(Object.create(backend) as Store, {
    getSession: reads,
    updateSession: writes,
    invalidation: () => fake.channel,
  });
  const sessions = createSessionManager(store, { now: () => clock, ...options });
  return {
    backend,
    fake,
    reads,
    writes,
    sessions,
    advance: (ms: number) => {
      clock += ms;
    },
    /** Makes the next reads wait until the returned function is called. */
    holdReads: () => {
      let release = (): void => undefined;
      hold = new Promise<void>((resolve) => {
        release = () => {
          hold = null;
          resolve();
        };
      });
      return release;
    },
  };
}

describe('near cache', () => {
  it('answers a validated session from memory, still checking the secret and the clock', async () => {
    const { sessions, reads } = setup();
    const { token, session } = await sessions.createSession('alice');
    expect((await sessions.validateSessionToken(token)).ok).toBe(true);
    expect((await sessions.validateSessionToken(token)).ok).toBe(true);
    expect((await sessions.getSession(session.id)).ok).toBe(true);
    expect(reads).not.toHaveBeenCalled();

    const { id } = parseSessionToken(token)!;
    const forged = `${id}.${'A'.repeat(43)}`;
    expect(await sessions.validateSessionToken(forged)).toEqual({ ok: false, reason: 'not_found' });
    expect(reads).not.toHaveBeenCalled();
  });

  it('drops a session named by the channel, and every session on a message it cannot read', async () => {
    const { sessions, backend, fake, reads } = setup();
    const first = await sessions.createSession('alice');
    const second = await sessions.createSession('bob');
    await backend.revokeSession(first.session.id, Date.now());
    await backend.revokeSession(second.session.id, Date.now());
    // Another instance revoked both: until the message arrives the copies are served.
    expect((await sessions.validateSessionToken(first.token)).ok).toBe(true);
    fake.invalidate(first.session.id);
    expect(await sessions.validateSessionToken(first.token)).toEqual({ ok: false, reason: 'revoked' });
    expect(reads).toHaveBeenCalledTimes(1);
    expect((await sessions.validateSessionToken(second.token)).ok).toBe(true);
    fake.invalidateAll();
    expect(await sessions.validateSessionToken(second.token)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('fails closed: bypassed and emptied while the channel is down, empty again after it is back', async () => {
    const { sessions, backend, fake, reads } = setup();
    const { token, session } = await sessions.createSession('alice');
    fake.down();
    for (let i = 1; i <= 3; i++) {
      expect((await sessions.validateSessionToken(token)).ok).toBe(true);
      expect(reads).toHaveBeenCalledTimes(i);
    }
    // Revoked while the channel was down (its message lost): refused at once, and after the channel is back.
    await backend.revokeSession(session.id, Date.now());
    expect(await sessions.validateSessionToken(token)).toEqual({ ok: false, reason: 'revoked' });
    fake.up();
    expect(await sessions.validateSessionToken(token)).toEqual({ ok: false, reason: 'revoked' });

    const other = await sessions.createSession('bob');
    expect((await sessions.validateSessionToken(other.token)).ok).toBe(true);
    reads.mockClear();
    expect((await sessions.validateSessionToken(other.token)).ok).toBe(true);
    expect(reads).not.toHaveBeenCalled();
    // A cached session whose revocation message was lost while down is not served after the channel is back.
    await backend.revokeSession(other.session.id, Date.now());
    fake.down();
    fake.up();
    expect(await sessions.validateSessionToken(other.token)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('never caches a read that an invalidation overtook', async () => {
    const { sessions, backend, fake, reads, holdReads } = setup();
    const { token, session } = await sessions.createSession('alice');
    fake.invalidate(session.id);
    const release = holdReads();
    const validation = sessions.validateSessionToken(token);
    await vi.waitFor(() => expect(reads).toHaveBeenCalledTimes(1));
    // The read saw the session live; then another instance revoked it and said so before the read came back.
    await backend.revokeSession(session.id, Date.now());
    fake.invalidate(session.id);
    release();
    expect((await validation).ok).toBe(true);
    expect(await sessions.validateSessionToken(token)).toEqual({ ok: false, reason: 'revoked' });
  });

  it('keeps at most nearCacheSize sessions, dropping the least recently used', async () => {
    const { sessions, reads } = setup({ nearCacheSize: 2 });
    const [a, b, c] = [
      await sessions.createSession('a'),
      await sessions.createSession('b'),
      await sessions.createSession('c'),
    ];
    // c and b are cached (created last); using b then adding a evicts c.
    await sessions.validateSessionToken(b.token);
    await sessions.validateSessionToken(a.token);
    expect(reads).toHaveBeenCalledTimes(1);
    await sessions.validateSessionToken(b.token);
    expect(reads).toHaveBeenCalledTimes(1);
    await sessions.validateSessionToken(c.token);
    expect(reads).toHaveBeenCalledTimes(2);
    expect(reads).toHaveBeenLastCalledWith(c.session.id);
  });

  it('reads a session again once its copy is nearCacheMaxAgeSeconds old', async () => {
    const { sessions, reads, advance } = setup({ nearCacheMaxAgeSeconds: 3, renewalIntervalSeconds: 60 });
    const { token } = await sessions.createSession('alice');
    advance(2 * SECOND);
    await sessions.validateSessionToken(token);
    expect(reads).not.toHaveBeenCalled();
    advance(SECOND);
    await sessions.validateSessionToken(token);
    expect(reads).toHaveBeenCalledTimes(1);
    await sessions.validateSessionToken(token);
    expect(reads).toHaveBeenCalledTimes(1);
  });

  it('reads again a copy past its idle limit instead of refusing it: another instance may have renewed it', async () => {
    const { sessions, backend, reads, advance } = setup({
      idleTimeoutSeconds: 120,
      renewalIntervalSeconds: 60,
      nearCacheMaxAgeSeconds: 3600,
    });
    const { token, session } = await sessions.createSession('alice');
    advance(100 * SECOND);
    await backend.updateSession(session.id, {
      lastSeenAt: session.createdAt.getTime() + 100 * SECOND,
      idleExpiresAt: session.createdAt.getTime() + 220 * SECOND,
      expiresAt: session.createdAt.getTime() + 1000 * SECOND,
    });
    advance(30 * SECOND);
    const result = await sessions.validateSessionToken(token);
    expect(result.ok).toBe(true);
    expect(reads).toHaveBeenCalledTimes(1);
  });

  it('writes a renewal once per interval and caches what it wrote', async () => {
    const { sessions, reads, writes, advance } = setup({ renewalIntervalSeconds: 60, nearCacheMaxAgeSeconds: 3600 });
    const { token } = await sessions.createSession('alice');
    advance(61 * SECOND);
    expect(await sessions.validateSessionToken(token)).toMatchObject({ ok: true, renewed: true });
    expect(await sessions.validateSessionToken(token)).toMatchObject({ ok: true, renewed: false });
    expect(writes).toHaveBeenCalledTimes(1);
    expect(reads).not.toHaveBeenCalled();
  });

  it('racing: a burst of validations past the renewal interval writes one renewal', async () => {
    const { sessions, writes, advance } = setup({ renewalIntervalSeconds: 60, nearCacheMaxAgeSeconds: 3600 });
    const { token } = await sessions.createSession('alice');
    advance(61 * SECOND);
    const results = await Promise.all(Array.from({ length: 20 }, () => sessions.validateSessionToken(token)));
    expect(results.every((result) => result.ok)).toBe(true);
    expect(writes).toHaveBeenCalledTimes(1);
    expect(await sessions.validateSessionToken(token)).toMatchObject({ ok: true, renewed: false });
    expect(writes).toHaveBeenCalledTimes(1);
  });

  it('drops at once what this instance revokes, deletes, rotates or updates, without waiting for the echo', async () => {
    const { sessions, reads } = setup();
    const revoked = await sessions.createSession('alice');
    const deleted = await sessions.createSession('alice');
    const rotated = await sessions.createSession('bob');
    const updated = await sessions.createSession('carol');
    const userWide = await sessions.createSession('dave');
    for (const { token } of [revoked, deleted, rotated, updated, userWide]) await sessions.validateSessionToken(token);
    await sessions.revokeSession(revoked.session.id);
    await sessions.deleteSession(deleted.session.id);
    await sessions.rotateSession(rotated.session.id);
    await sessions.updateSessionData(updated.session.id, { role: 'admin' });
    await sessions.revokeUserSessions('dave');
    expect(await sessions.validateSessionToken(revoked.token)).toEqual({ ok: false, reason: 'revoked' });
    expect(await sessions.validateSessionToken(deleted.token)).toEqual({ ok: false, reason: 'not_found' });
    expect(await sessions.validateSessionToken(rotated.token)).toEqual({ ok: false, reason: 'not_found' });
    expect(await sessions.getSession(updated.session.id)).toMatchObject({
      ok: true,
      session: { data: { role: 'admin' } },
    });
    expect(await sessions.validateSessionToken(userWide.token)).toEqual({ ok: false, reason: 'revoked' });
    expect(reads.mock.calls.length).toBeGreaterThanOrEqual(5);
  });

  it('racing: once a revocation here resolved, no validation running alongside it succeeds afterwards', async () => {
    const { sessions } = setup();
    const { token, session } = await sessions.createSession('alice');
    let revokedAt: number | null = null;
    const late: boolean[] = [];
    const loop = (async () => {
      // Until the revocation has resolved and 50 validations more (bounded: a bug cannot hang it).
      for (let i = 0; i < 100_000 && late.length < 50; i++) {
        const result = await sessions.validateSessionToken(token);
        if (revokedAt !== null) late.push(result.ok);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await sessions.revokeSession(session.id);
    revokedAt = Date.now();
    await loop;
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((ok) => !ok)).toBe(true);
  });

  it('is off with nearCache: false, and with a store that has no channel', async () => {
    const off = setup({ nearCache: false });
    const first = await off.sessions.createSession('alice');
    await off.sessions.validateSessionToken(first.token);
    await off.sessions.validateSessionToken(first.token);
    expect(off.reads).toHaveBeenCalledTimes(2);

    const memory = createMemoryStore();
    const reads = vi.spyOn(memory, 'getSession');
    const sessions = createSessionManager(memory);
    const second = await sessions.createSession('bob');
    await sessions.validateSessionToken(second.token);
    await sessions.validateSessionToken(second.token);
    expect(reads).toHaveBeenCalledTimes(2);
  });

  it('checks its options', () => {
    const store = createMemoryStore();
    expect(() => createSessionManager(store, { nearCacheSize: 0 })).toThrow(/nearCacheSize/);
    expect(() => createSessionManager(store, { nearCacheMaxAgeSeconds: 1.5 })).toThrow(/nearCacheMaxAgeSeconds/);
    expect(() => createSessionManager(store, { nearCache: 'yes' as unknown as boolean })).toThrow(/nearCache/);
  });
});

describe('createInvalidationChannel', () => {
  /** A backend whose connections the test opens, fails and inspects. */
  function fakeBackend() {
    const connections: { events: InvalidationConnectionEvents; closed: boolean }[] = [];
    let refuse = false;
    const connect = vi.fn(async (events: InvalidationConnectionEvents) => {
      if (refuse) throw new Error('refused');
      const connection = { events, closed: false };
      connections.push(connection);
      return {
        close: async () => {
          connection.closed = true;
        },
      };
    });
    return {
      connect,
      connections,
      refuse: (value: boolean) => {
        refuse = value;
      },
    };
  }
  const recorder = () => {
    const seen: string[] = [];
    const listener: SessionInvalidationListener = {
      invalidate: (ids) => seen.push(`invalidate ${ids.join(',')}`),
      invalidateAll: () => seen.push('all'),
      up: () => seen.push('up'),
      down: () => seen.push('down'),
    };
    return { seen, listener };
  };

  it('connects on the first subscriber, delivers ids, reconnects after a loss and stops at close', async () => {
    const backend = fakeBackend();
    const channel = createInvalidationChannel(backend.connect, { name: 'fake', reconnectDelay: () => 1 });
    expect(backend.connect).not.toHaveBeenCalled();
    expect(channel.healthy()).toBe(false);
    const { seen, listener } = recorder();
    channel.subscribe(listener);
    await vi.waitFor(() => expect(channel.healthy()).toBe(true));
    backend.connections[0]!.events.message('abc def');
    backend.connections[0]!.events.message('not an id!');
    expect(seen).toEqual(['up', 'invalidate abc,def', 'all']);

    backend.refuse(true);
    backend.connections[0]!.events.lost(new Error('gone'));
    expect(channel.healthy()).toBe(false);
    expect(backend.connections[0]!.closed).toBe(true);
    // A late message of the lost connection is not delivered.
    backend.connections[0]!.events.message('late');
    await vi.waitFor(() => expect(backend.connect.mock.calls.length).toBeGreaterThan(2));
    expect(channel.healthy()).toBe(false);
    backend.refuse(false);
    await vi.waitFor(() => expect(channel.healthy()).toBe(true));
    expect(seen).toEqual(['up', 'invalidate abc,def', 'all', 'down', 'up']);

    await channel.close();
    expect(channel.healthy()).toBe(false);
    expect(backend.connections.at(-1)!.closed).toBe(true);
    expect(seen.at(-1)).toBe('down');
    const calls = backend.connect.mock.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backend.connect).toHaveBeenCalledTimes(calls);
  });
});
