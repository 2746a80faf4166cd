import { describe, expect, it, vi } from 'vitest';
import { isTesseraError } from '../errors/errors.js';
import type { JsonObject } from '../store/types.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createSessionManager, type SessionEvent, type SessionManagerOptions } from './session-manager.js';
import { parseSessionToken } from './session-token.js';
import { createFaultyStore } from 'tessera-auth/testing';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

function setup(options: SessionManagerOptions = {}) {
  let clock = Date.UTC(2026, 0, 1);
  const store = createFaultyStore(createMemoryStore({ now: () => clock }));
  const events: SessionEvent[] = [];
  const sessions = createSessionManager<{ role?: string; cart?: string[] }>(store, {
    now: () => clock,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return {
    store,
    sessions,
    events,
    advance: (ms: number) => {
      clock += ms;
    },
    now: () => clock,
  };
}

describe('createSession', () => {
  it('issues an <id>.<secret> token with a 256-bit secret and stores only its hash', async () => {
    const { sessions, store } = setup();
    const { token, session } = await sessions.createSession('alice', { ip: '203.0.113.9', userAgent: 'UA/1' });
    const parsed = parseSessionToken(token);
    expect(parsed).not.toBeNull();
    expect(Buffer.from(parsed!.secret, 'base64url')).toHaveLength(32);
    expect(session.id).toBe(parsed!.id);
    const record = await store.getSession(session.id);
    expect(JSON.stringify(record)).not.toContain(parsed!.secret);
    expect(record).toMatchObject({ userId: 'alice', ip: '203.0.113.9', userAgent: 'UA/1', revokedAt: null });
  });

  it('gives every session a fresh id and secret', async () => {
    const { sessions } = setup();
    const tokens = await Promise.all(Array.from({ length: 20 }, () => sessions.createSession('alice')));
    expect(new Set(tokens.map((t) => t.token)).size).toBe(20);
    expect(new Set(tokens.map((t) => t.session.id)).size).toBe(20);
  });

  it('uses the injected random source', async () => {
    const random = vi.fn((n: number) => new Uint8Array(n).fill(7));
    const { sessions } = setup({ random });
    const { token } = await sessions.createSession('alice');
    expect(random).toHaveBeenCalled();
    expect(parseSessionToken(token)!.secret).toBe(Buffer.alloc(32, 7).toString('base64url'));
  });

  it('refuses an empty user id', async () => {
    const { sessions } = setup();
    await expect(sessions.createSession('')).rejects.toThrow('"userId" must be a non-empty string');
  });
});

describe('validateSessionToken', () => {
  it('returns the session with its typed data', async () => {
    const { sessions } = setup();
    const { token } = await sessions.createSession('alice', { data: { role: 'admin' } });
    const result = await sessions.validateSessionToken(token);
    expect(result.session?.userId).toBe('alice');
    expect(result.session?.data.role).toBe('admin');
    expect(result.renewed).toBe(false);
  });

  it.each([
    ['empty', ''],
    ['not a string', 42],
    ['undefined', undefined],
    ['an object', { id: 'x' }],
    ['no dot', 'a'.repeat(70)],
    ['truncated', 'A'.repeat(26) + '.' + 'B'.repeat(42)],
    ['oversized', 'A'.repeat(26) + '.' + 'B'.repeat(10_000)],
    ['non-ASCII', 'Ä'.repeat(26) + '.' + 'B'.repeat(43)],
    ['two dots', 'A'.repeat(26) + '.' + 'B'.repeat(21) + '.' + 'C'.repeat(21)],
    ['padding', 'A'.repeat(26) + '.' + 'B'.repeat(42) + '='],
    ['SQL', "x' OR '1'='1"],
    ['whitespace', ' ' + 'A'.repeat(26) + '.' + 'B'.repeat(43)],
  ])('answers malformed for a token that is %s, without asking the store', async (_, token) => {
    const { sessions, store } = setup();
    expect(await sessions.validateSessionToken(token)).toEqual({ ok: false, reason: 'malformed' });
    expect(store.calls.getSession ?? 0).toBe(0);
  });

  it('answers not_found for a wrong secret exactly as for an unknown id', async () => {
    const { sessions } = setup();
    const { token } = await sessions.createSession('alice');
    const [id, secret] = token.split('.') as [string, string];
    const flipped = (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1);
    expect(await sessions.validateSessionToken(`${id}.${flipped}`)).toEqual({ ok: false, reason: 'not_found' });
    const unknownId = (id[0] === 'A' ? 'B' : 'A') + id.slice(1);
    expect((await sessions.validateSessionToken(`${unknownId}.${secret}`)).reason).toBe('not_found');
  });

  it('expires an idle session', async () => {
    const { sessions, advance, events } = setup({ idleTimeoutSeconds: 1800 });
    const { token } = await sessions.createSession('alice');
    advance(30 * MINUTE - 1);
    advance(1);
    expect((await sessions.validateSessionToken(token)).reason).toBe('expired');
    expect(events.map((e) => e.type)).toContain('session.expired');
  });

  it('slides the idle timeout on use, and tells the caller to re-issue the cookie', async () => {
    const { sessions, advance } = setup({ idleTimeoutSeconds: 1800 });
    const { token, session } = await sessions.createSession('alice');
    advance(25 * MINUTE);
    const renewed = await sessions.validateSessionToken(token, { ip: '198.51.100.4', userAgent: 'UA/2' });
    expect(renewed.renewed).toBe(true);
    expect(renewed.session!.expiresAt.getTime()).toBe(session.createdAt.getTime() + 55 * MINUTE);
    expect(renewed.session!.ip).toBe('198.51.100.4');
    advance(25 * MINUTE);
    expect((await sessions.validateSessionToken(token)).ok).toBe(true);
  });

  it('writes a renewal at most once per renewal interval', async () => {
    const { sessions, store, advance } = setup({ renewalIntervalSeconds: 60 });
    const { token } = await sessions.createSession('alice');
    for (let i = 0; i < 10; i++) {
      advance(5 * SECOND);
      await sessions.validateSessionToken(token);
    }
    expect(store.calls.updateSession ?? 0).toBe(0);
    advance(20 * SECOND);
    expect((await sessions.validateSessionToken(token)).renewed).toBe(true);
    expect((await sessions.validateSessionToken(token)).renewed).toBe(false);
    expect(store.calls.updateSession).toBe(1);
    expect(store.calls.getSession).toBe(12);
  });

  it('never renews past the absolute lifetime', async () => {
    const { sessions, advance } = setup({ idleTimeoutSeconds: 1800, absoluteTimeoutSeconds: 3600 });
    const { token, session } = await sessions.createSession('alice');
    for (let elapsed = 0; elapsed < 3600 - 1200; elapsed += 1200) {
      advance(20 * MINUTE);
      const result = await sessions.validateSessionToken(token);
      expect(result.ok).toBe(true);
      expect(result.session!.expiresAt.getTime()).toBeLessThanOrEqual(session.absoluteExpiresAt.getTime());
    }
    advance(20 * MINUTE);
    expect((await sessions.validateSessionToken(token)).reason).toBe('expired');
  });

  it('answers revoked for a session revoked meanwhile', async () => {
    const { sessions } = setup();
    const { token, session } = await sessions.createSession('alice');
    expect(await sessions.revokeSession(session.id)).toBe(true);
    expect((await sessions.validateSessionToken(token)).reason).toBe('revoked');
  });
});

describe('rotateSession', () => {
  it('moves the session to a fresh id and secret, keeping data, creation and absolute limit', async () => {
    const { sessions, advance, events } = setup();
    const { token, session } = await sessions.createSession('alice', { data: { cart: ['a'] } });
    advance(5 * MINUTE);
    const rotated = await sessions.rotateSession(session.id, { data: { cart: ['a'], role: 'admin' } });
    expect(rotated).not.toBeNull();
    expect(rotated!.session.id).not.toBe(session.id);
    expect(rotated!.session.createdAt).toEqual(session.createdAt);
    expect(rotated!.session.absoluteExpiresAt).toEqual(session.absoluteExpiresAt);
    expect(rotated!.session.data).toEqual({ cart: ['a'], role: 'admin' });
    expect((await sessions.validateSessionToken(token)).reason).toBe('not_found');
    expect((await sessions.validateSessionToken(rotated!.token)).session?.data.role).toBe('admin');
    expect(events.at(-1)).toMatchObject({ type: 'session.rotated', previousSessionId: session.id });
  });

  it('lets only one of many concurrent rotations win', async () => {
    const { sessions } = setup();
    const { session } = await sessions.createSession('alice');
    const results = await Promise.all(Array.from({ length: 20 }, () => sessions.rotateSession(session.id)));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });

  it('does not rotate a revoked or expired session', async () => {
    const { sessions, advance } = setup();
    const revoked = await sessions.createSession('alice');
    await sessions.revokeSession(revoked.session.id);
    expect(await sessions.rotateSession(revoked.session.id)).toBeNull();
    const expiring = await sessions.createSession('alice');
    advance(31 * MINUTE);
    expect(await sessions.rotateSession(expiring.session.id)).toBeNull();
  });
});

describe('revocation and listing', () => {
  it('lists a user’s sessions with the current one marked, and never the token', async () => {
    const { sessions, advance } = setup();
    const first = await sessions.createSession('alice', { ip: '192.0.2.1', userAgent: 'Phone' });
    // Oldest first by creation time; within one millisecond the order is by id.
    advance(1);
    const second = await sessions.createSession('alice', { ip: '192.0.2.2', userAgent: 'Laptop' });
    await sessions.createSession('bob');
    const list = await sessions.listUserSessions('alice', { currentSessionId: second.session.id });
    expect(list.map((s) => [s.id, s.ip, s.userAgent, s.current])).toEqual([
      [first.session.id, '192.0.2.1', 'Phone', false],
      [second.session.id, '192.0.2.2', 'Laptop', true],
    ]);
    expect(JSON.stringify(list)).not.toContain(first.token.split('.')[1]);
  });

  it('revokes all but the current session, and then all', async () => {
    const { sessions, events } = setup();
    const mine = await sessions.createSession('alice');
    const others = [await sessions.createSession('alice'), await sessions.createSession('alice')];
    const bob = await sessions.createSession('bob');
    const revoked = await sessions.revokeUserSessions('alice', { exceptSessionId: mine.session.id });
    expect(revoked.sort()).toEqual(others.map((o) => o.session.id).sort());
    for (const other of others) expect((await sessions.validateSessionToken(other.token)).reason).toBe('revoked');
    expect((await sessions.validateSessionToken(mine.token)).ok).toBe(true);
    expect((await sessions.validateSessionToken(bob.token)).ok).toBe(true);
    expect(events.filter((e) => e.type === 'session.revoked')).toHaveLength(2);
    await sessions.revokeUserSessions('alice', { reason: 'password_changed' });
    expect((await sessions.validateSessionToken(mine.token)).reason).toBe('revoked');
    expect(events.at(-1)).toMatchObject({ type: 'session.revoked', reason: 'password_changed' });
  });

  it('lets a user revoke only their own sessions', async () => {
    const { sessions } = setup();
    const bob = await sessions.createSession('bob');
    expect(await sessions.revokeUserSession('alice', bob.session.id)).toBe(false);
    expect((await sessions.validateSessionToken(bob.token)).ok).toBe(true);
    expect(await sessions.revokeUserSession('bob', bob.session.id)).toBe(true);
    expect(await sessions.revokeUserSession('bob', 'AAAAbm90LWEtcmVhbC1zZXNzaW9u')).toBe(false);
  });

  it('deletes a session for good at logout', async () => {
    const { sessions, events } = setup();
    const { token, session } = await sessions.createSession('alice');
    expect(await sessions.deleteSession(session.id)).toBe(true);
    expect(await sessions.deleteSession(session.id)).toBe(false);
    expect((await sessions.validateSessionToken(token)).reason).toBe('not_found');
    expect(events.map((e) => e.type)).toEqual(['session.created', 'session.deleted']);
  });

  it('evicts the oldest session beyond maxSessionsPerUser', async () => {
    const { sessions, events, advance } = setup({ maxSessionsPerUser: 2 });
    const first = await sessions.createSession('alice');
    advance(1);
    await sessions.createSession('alice');
    advance(1);
    await sessions.createSession('alice');
    expect((await sessions.validateSessionToken(first.token)).reason).toBe('revoked');
    expect(await sessions.listUserSessions('alice')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'session.revoked')).toEqual([
      expect.objectContaining({ sessionId: first.session.id, reason: 'evicted' }),
    ]);
  });

  it('updates session data', async () => {
    const { sessions } = setup();
    const { token, session } = await sessions.createSession('alice');
    expect(await sessions.updateSessionData(session.id, { cart: ['book'] })).toBe(true);
    expect((await sessions.validateSessionToken(token)).session?.data).toEqual({ cart: ['book'] });
    expect(await sessions.getSession(session.id)).toMatchObject({ session: { id: session.id } });
  });
});

describe('authentication time and per-session lifetimes', () => {
  it('records the sign-in as the authentication time, keeps it through renewal and rotation, and moves it on re-authentication', async () => {
    const { sessions, advance, now } = setup();
    const signedInAt = now();
    const { token, session } = await sessions.createSession('alice');
    expect(session.authenticatedAt).toEqual(new Date(signedInAt));
    advance(2 * MINUTE);
    expect((await sessions.validateSessionToken(token)).session?.authenticatedAt).toEqual(new Date(signedInAt));
    const rotated = await sessions.rotateSession(session.id);
    expect(rotated?.session.authenticatedAt).toEqual(new Date(signedInAt));
    advance(MINUTE);
    const stepped = await sessions.rotateSession(rotated!.session.id, { reauthenticated: true });
    expect(stepped?.session.authenticatedAt).toEqual(new Date(now()));
    expect(stepped?.session.createdAt).toEqual(new Date(signedInAt));
  });

  it('gives a session its own lifetimes, cut to the ceilings, and renews it with its own idle timeout', async () => {
    const { sessions, advance, now } = setup({
      idleTimeoutSeconds: 600,
      absoluteTimeoutSeconds: 3600,
      maxIdleTimeoutSeconds: 7200,
      maxAbsoluteTimeoutSeconds: 86_400,
    });
    const start = now();
    const long = await sessions.createSession('alice', { idleTimeoutSeconds: 7200, absoluteTimeoutSeconds: 999_999 });
    expect(long.session.idleExpiresAt.getTime()).toBe(start + 7200 * SECOND);
    expect(long.session.absoluteExpiresAt.getTime()).toBe(start + 86_400 * SECOND);
    const short = await sessions.createSession('alice', { absoluteTimeoutSeconds: 120 });
    expect(short.session.absoluteExpiresAt.getTime()).toBe(start + 120 * SECOND);
    const plain = await sessions.createSession('alice');
    // Past the default idle timeout: the default session is gone, the long one lives on and renews by its own.
    advance(15 * MINUTE);
    expect(await sessions.validateSessionToken(plain.token)).toMatchObject({ ok: false, reason: 'expired' });
    const renewed = await sessions.validateSessionToken(long.token);
    expect(renewed).toMatchObject({ ok: true, renewed: true });
    expect(renewed.session?.idleExpiresAt.getTime()).toBe(now() + 7200 * SECOND);
  });

  it('records a browser session, and refuses lifetimes that are not positive integers or ceilings below the defaults', async () => {
    const { sessions } = setup();
    expect((await sessions.createSession('alice', { browserSession: true })).session.browserSession).toBe(true);
    expect((await sessions.createSession('alice')).session.browserSession).toBe(false);
    await expect(sessions.createSession('alice', { idleTimeoutSeconds: 0 })).rejects.toThrow(/idleTimeoutSeconds/);
    await expect(sessions.createSession('alice', { idleTimeoutSeconds: 30 })).rejects.toThrow(/renewalIntervalSeconds/);
    expect(() => setup({ maxIdleTimeoutSeconds: 60 })).toThrow(/maxIdleTimeoutSeconds/);
  });
});

describe('merging session data', () => {
  it('merges top-level keys, removes a key set to null, ignores undefined and keeps replace available', async () => {
    const { sessions } = setup();
    const { token, session } = await sessions.createSession('alice', { data: { role: 'user', cart: ['a'] } });
    expect(await sessions.mergeSessionData(session.id, { cart: ['a', 'b'] })).toEqual({
      role: 'user',
      cart: ['a', 'b'],
    });
    expect(await sessions.mergeSessionData(session.id, { role: null, cart: undefined })).toEqual({ cart: ['a', 'b'] });
    expect((await sessions.validateSessionToken(token)).session?.data).toEqual({ cart: ['a', 'b'] });
    expect(await sessions.updateSessionData(session.id, { role: 'admin' })).toBe(true);
    expect((await sessions.getSession(session.id)).session?.data).toEqual({ role: 'admin' });
  });

  it('merges nothing into a revoked session or an unknown id, and refuses a partial that is not an object', async () => {
    const { sessions } = setup();
    const { session } = await sessions.createSession('alice', { data: { role: 'user' } });
    await expect(sessions.mergeSessionData(session.id, [] as never)).rejects.toThrow(/partial/);
    await sessions.revokeSession(session.id);
    expect(await sessions.mergeSessionData(session.id, { cart: ['x'] })).toBeNull();
    expect(await sessions.mergeSessionData('not-an-id', { cart: ['x'] })).toBeNull();
  });
});

describe('new-device mark', () => {
  it('marks a session created with newDevice for a day, through rotation; the list says newDevice until then', async () => {
    const { sessions, advance, now } = setup({ idleTimeoutSeconds: 3 * 86_400 });
    const marked = await sessions.createSession('alice', { newDevice: true });
    advance(1);
    await sessions.createSession('alice');
    expect(marked.session.newDeviceUntil).toEqual(new Date(now() - 1 + 24 * 60 * MINUTE));
    expect((await sessions.listUserSessions('alice')).map((entry) => entry.newDevice)).toEqual([true, false]);
    advance(23 * 60 * MINUTE);
    const rotated = await sessions.rotateSession(marked.session.id);
    expect(rotated?.session.newDeviceUntil).toEqual(marked.session.newDeviceUntil);
    expect(
      (await sessions.listUserSessions('alice')).find((entry) => entry.id === rotated?.session.id)?.newDevice,
    ).toBe(true);
    advance(60 * MINUTE);
    expect((await sessions.listUserSessions('alice')).map((entry) => entry.newDevice)).toEqual([false, false]);
  });
});

describe('sign-in facts and store round trips', () => {
  it('keeps the sign-in ip and user agent through renewal and rotation while the latest ones move', async () => {
    const { sessions, advance } = setup();
    const { token, session } = await sessions.createSession('alice', { ip: '192.0.2.1', userAgent: 'Phone/1' });
    expect(session).toMatchObject({ ip: '192.0.2.1', userAgent: 'Phone/1', signInIp: '192.0.2.1' });
    expect(session.signInUserAgent).toBe('Phone/1');
    advance(2 * MINUTE);
    const renewed = await sessions.validateSessionToken(token, { ip: '198.51.100.2', userAgent: 'Phone/2' });
    expect(renewed.session).toMatchObject({ ip: '198.51.100.2', userAgent: 'Phone/2', signInIp: '192.0.2.1' });
    expect(renewed.session?.signInUserAgent).toBe('Phone/1');
    const rotated = await sessions.rotateSession(session.id);
    expect(rotated?.session).toMatchObject({ ip: '198.51.100.2', signInIp: '192.0.2.1', signInUserAgent: 'Phone/1' });
    const [listed] = await sessions.listUserSessions('alice');
    expect(listed).toMatchObject({ ip: '198.51.100.2', userAgent: 'Phone/2', signInIp: '192.0.2.1' });
    expect(listed?.signInUserAgent).toBe('Phone/1');
  });

  it('revokes, deletes and renews in one store call each: a mutation returns the record it changed', async () => {
    const { sessions, store, advance } = setup();
    const renewing = await sessions.createSession('alice');
    const revoking = await sessions.createSession('alice');
    const deleting = await sessions.createSession('alice');
    advance(2 * MINUTE);
    const before = { ...store.calls };
    const delta = (method: string): number => (store.calls[method] ?? 0) - (before[method] ?? 0);
    expect((await sessions.validateSessionToken(renewing.token)).renewed).toBe(true);
    expect(await sessions.revokeSession(revoking.session.id)).toBe(true);
    expect(await sessions.deleteSession(deleting.session.id)).toBe(true);
    expect([delta('getSession'), delta('updateSession'), delta('revokeSession'), delta('deleteSession')]).toEqual([
      1, 1, 1, 1,
    ]);
  });
});

describe('events', () => {
  it('reports every state change, and survives a hook that throws', async () => {
    const warn = vi.fn();
    const store = createMemoryStore();
    const seen: string[] = [];
    const sessions = createSessionManager<JsonObject>(store, {
      onEvent: (event) => {
        seen.push(event.type);
        throw new Error('hook bug');
      },
      logger: { warn, info: vi.fn(), debug: vi.fn(), error: vi.fn() },
    });
    const { token, session } = await sessions.createSession('alice');
    expect((await sessions.validateSessionToken(token)).ok).toBe(true);
    const rotated = await sessions.rotateSession(session.id);
    await sessions.revokeSession(rotated!.session.id);
    expect(seen).toEqual(['session.created', 'session.rotated', 'session.revoked']);
    expect(warn).toHaveBeenCalledTimes(3);
    await store.close();
  });
});

describe('a store that is down', () => {
  it('fails closed: every operation throws the typed unavailable error, never a session or a negative', async () => {
    const { sessions, store } = setup();
    const { token, session } = await sessions.createSession('alice');
    store.down = true;
    const operations: [string, () => Promise<unknown>][] = [
      ['createSession', () => sessions.createSession('alice')],
      ['validateSessionToken', () => sessions.validateSessionToken(token)],
      ['getSession', () => sessions.getSession(session.id)],
      ['rotateSession', () => sessions.rotateSession(session.id)],
      ['updateSessionData', () => sessions.updateSessionData(session.id, {})],
      ['revokeSession', () => sessions.revokeSession(session.id)],
      ['revokeUserSession', () => sessions.revokeUserSession('alice', session.id)],
      ['revokeUserSessions', () => sessions.revokeUserSessions('alice')],
      ['deleteSession', () => sessions.deleteSession(session.id)],
      ['listUserSessions', () => sessions.listUserSessions('alice')],
      ['deleteExpiredSessions', () => sessions.deleteExpiredSessions()],
    ];
    for (const [name, run] of operations) {
      const error = await run().then(
        (value) => ({ resolved: value }),
        (caught: unknown) => caught,
      );
      expect(isTesseraError(error), name).toBe(true);
      expect((error as { code: string }).code, name).toBe('ERR_STORE_UNAVAILABLE');
      expect((error as Error).message, name).not.toContain(token);
      expect((error as Error).cause, name).toBeInstanceOf(Error);
    }
    store.down = false;
    expect((await sessions.validateSessionToken(token)).ok).toBe(true);
  });

  it('fails closed when the store goes down between the read and the renewal write', async () => {
    const { sessions, store, advance } = setup();
    const { token } = await sessions.createSession('alice');
    advance(2 * MINUTE);
    const update = store.updateSession;
    store.updateSession = async () => {
      throw new Error('write failed');
    };
    await expect(sessions.validateSessionToken(token)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    store.updateSession = update;
  });
});

describe('options', () => {
  const store = createMemoryStore();
  it.each([
    [{ idleTimeoutSeconds: 0 }, '"idleTimeoutSeconds" must be a positive integer, got 0'],
    [{ idleTimeoutSeconds: -5 }, '"idleTimeoutSeconds" must be a positive integer, got -5'],
    [{ absoluteTimeoutSeconds: 1.5 }, '"absoluteTimeoutSeconds" must be a positive integer, got 1.5'],
    [{ renewalIntervalSeconds: Number.NaN }, '"renewalIntervalSeconds" must be a positive integer, got NaN'],
    [{ maxSessionsPerUser: 0 }, '"maxSessionsPerUser" must be a positive integer, got 0'],
    [{ idleTimeoutSeconds: 100, absoluteTimeoutSeconds: 50 }, 'must not be greater than "absoluteTimeoutSeconds"'],
    [{ idleTimeoutSeconds: 60, renewalIntervalSeconds: 60 }, '"renewalIntervalSeconds" must be less than'],
    [{ now: 5 }, '"now" must be a function'],
  ])('refuses %j', (options, message) => {
    expect(() => createSessionManager(store, options as SessionManagerOptions)).toThrow(message);
  });
});
describe('untrusted request input', () => {
  it('stores at most 512 characters of a user agent, at creation and at renewal, never half a surrogate pair', async () => {
    const { sessions, store, advance } = setup({ renewalIntervalSeconds: 60 });
    const { token, session } = await sessions.createSession('alice', { userAgent: 'A'.repeat(16_000) });
    expect(session.userAgent).toBe('A'.repeat(512));
    expect((await store.getSession(session.id))?.userAgent).toBe('A'.repeat(512));
    advance(61 * SECOND);
    const emoji = 'B'.repeat(511) + '🦊'.repeat(10);
    const renewed = await sessions.validateSessionToken(token, { userAgent: emoji });
    expect(renewed.renewed).toBe(true);
    expect((await store.getSession(session.id))?.userAgent).toBe('B'.repeat(511));
    expect((await sessions.listUserSessions('alice'))[0]?.userAgent).toBe('B'.repeat(511));
    const short = await sessions.createSession('alice', { userAgent: 'UA/1 ' + '🦊'.repeat(300) });
    expect(short.session.userAgent).toHaveLength(511);
    const exact = await sessions.createSession('alice', { userAgent: 'C'.repeat(512) });
    expect(exact.session.userAgent).toBe('C'.repeat(512));
  });

  it('answers an id that cannot be a session id as "not found" without asking the store', async () => {
    const { sessions, store } = setup();
    const { session } = await sessions.createSession('alice');
    const junk = [
      '',
      '\u0000',
      session.id.slice(0, 25) + '\u0000',
      session.id + '\u0000',
      '\u0000' + session.id,
      session.id + 'x',
      session.id.slice(0, 25),
      'x'.repeat(4096),
      '../../etc/passwd',
      session.id.slice(0, 25) + '\u0085',
      session.id.slice(0, 25) + 'é',
    ];
    // Down: every store call would throw, so a plain negative answer proves none was made.
    store.down = true;
    const before = Object.values(store.calls).reduce((sum, count) => sum + count, 0);
    for (const id of junk) {
      expect(await sessions.revokeUserSession('alice', id), JSON.stringify(id)).toBe(false);
      expect(await sessions.revokeSession(id)).toBe(false);
      expect(await sessions.deleteSession(id)).toBe(false);
      expect(await sessions.getSession(id)).toEqual({ ok: false, reason: 'not_found' });
      expect(await sessions.touchSession(id)).toEqual({ ok: false, reason: 'not_found' });
      expect(await sessions.rotateSession(id)).toBeNull();
      expect(await sessions.updateSessionData(id, {})).toBe(false);
    }
    expect(Object.values(store.calls).reduce((sum, count) => sum + count, 0)).toBe(before);
    store.down = false;
    expect((await sessions.getSession(session.id)).session?.id).toBe(session.id);
  });
});

describe('touchSession', () => {
  const setup = () => {
    let clock = 1_700_000_000_000;
    const events: SessionEvent[] = [];
    const store = createMemoryStore({ now: () => clock });
    const sessions = createSessionManager(store, {
      idleTimeoutSeconds: 600,
      absoluteTimeoutSeconds: 3600,
      renewalIntervalSeconds: 60,
      now: () => clock,
      onEvent: (event) => events.push(event),
    });
    return { sessions, store, events, advance: (ms: number) => (clock += ms) };
  };

  it('renews the idle timeout like validateSessionToken, at most once per renewal interval', async () => {
    const { sessions, events, advance } = setup();
    const { session } = await sessions.createSession('alice');
    advance(30_000);
    const early = await sessions.touchSession(session.id);
    expect(early.renewed).toBe(false);
    expect(early.session?.idleExpiresAt).toEqual(session.idleExpiresAt);
    advance(60_000);
    const late = await sessions.touchSession(session.id, { ip: '198.51.100.7' });
    expect(late.renewed).toBe(true);
    expect(late.session?.idleExpiresAt.getTime()).toBe(session.createdAt.getTime() + 90_000 + 600_000);
    expect(late.session?.ip).toBe('198.51.100.7');
    expect(events.filter((event) => event.type === 'session.renewed')).toHaveLength(1);
  });

  it('keeps a session alive past its first idle limit when touched', async () => {
    const { sessions, advance } = setup();
    const { session } = await sessions.createSession('alice');
    for (let i = 0; i < 3; i++) {
      advance(500_000);
      expect((await sessions.touchSession(session.id)).ok).toBe(true);
    }
  });

  it('answers why for a missing, revoked or expired session', async () => {
    const { sessions, advance } = setup();
    expect(await sessions.touchSession('AAAAbm90LWEtcmVhbC1zZXNzaW9u')).toEqual({ ok: false, reason: 'not_found' });
    const revoked = await sessions.createSession('alice');
    await sessions.revokeSession(revoked.session.id);
    expect((await sessions.touchSession(revoked.session.id)).reason).toBe('revoked');
    const idle = await sessions.createSession('bob');
    advance(601_000);
    expect((await sessions.touchSession(idle.session.id)).reason).toBe('expired');
  });
});
