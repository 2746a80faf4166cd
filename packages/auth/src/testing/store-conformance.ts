import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionRecord, Store } from '../core/store/types.js';
import { compareSessionAge, createCappedSession } from '../core/session/session-cap.js';
import { createLeasedRequestLimit } from '../core/rate-limit/leased-limit.js';
import { createSessionManager, type SessionEvent } from '../core/session/session-manager.js';
import type { SessionBinding } from '../core/session/client-facts.js';
import { createTokenService } from '../core/token/token-service.js';
import { makeSessionRecord } from './session-records.js';

/** How a conformance run makes stores of one kind. */
export interface StoreFactory {
  /**
   * A store over the shared backend. Stores made with different prefixes must
   * not see each other's data; `now` is the clock for stores that take one.
   */
  create(options: { prefix: string; now: () => number }): Promise<Store>;
  /**
   * Whether expiry follows the injected clock (memory, SQL) or the backend's
   * own (Redis TTLs). Expiry tests of the latter wait in real time, briefly.
   */
  clock: 'injected' | 'backend';
  /** Called once after the suite: stop servers, remove files. */
  teardown?: () => Promise<void>;
}

const CHROME_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const CHROME_NEXT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The store conformance suite: every store must pass every case here. Cases
 * that matter for security (atomic get-and-delete, rotation, caps) race 50
 * concurrent callers and demand exactly one winner.
 */
export function describeStore(name: string, factory: StoreFactory): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store;
    let prefix: string;
    let clock = Date.now();
    const opened: Store[] = [];
    const now = (): number => clock;
    const getFactory = (): StoreFactory => factory;
    const open = async (storePrefix: string): Promise<Store> => {
      const made = await getFactory().create({ prefix: storePrefix, now });
      opened.push(made);
      return made;
    };
    /** Moves time forward: the injected clock, or real time for backend clocks (kept short). */
    const advance = async (ms: number): Promise<void> => {
      clock += ms;
      if (getFactory().clock === 'backend') await sleep(ms);
    };
    const user = (): string => `user-${randomBytes(6).toString('hex')}`;

    beforeEach(async () => {
      clock = Date.now();
      prefix = `t${randomBytes(4).toString('hex')}_`;
      store = await open(prefix);
    });
    afterEach(async () => {
      for (const made of opened.splice(0)) await made.close();
    });
    afterAll(async () => {
      await factory.teardown?.();
    });

    it('answers null for what is absent', async () => {
      expect(await store.getSession('AAAAbm90LWEtcmVhbC1zZXNzaW9u')).toBeNull();
      expect(await store.get('missing')).toBeNull();
      expect(await store.getAndDelete('missing')).toBeNull();
      expect(await store.listUserSessions(user())).toEqual([]);
      expect(await store.revokeUserSessions(user(), clock)).toEqual([]);
    });

    it('round-trips a session record through the backend unchanged', async () => {
      const record = makeSessionRecord(user(), clock, {
        ip: '2001:db8::1',
        userAgent: 'Agent/1.0 (ünïcödé; "quoted"; \\ backslash)',
        data: { role: 'admin', nested: { list: [1, 2.5, 'three', null, true] }, emoji: '🔐', empty: {} },
        newDeviceUntil: clock + 86_400_000,
      });
      expect(await store.createSession(record)).toEqual(record);
      expect(await store.getSession(record.id)).toEqual(record);
    });

    it('round-trips JSON values and replaces on set', async () => {
      const value = { kid: 'k1', list: [1, 'two', { three: null }], unicode: 'ñ✓' };
      await store.set('doc', value);
      expect(await store.get('doc')).toEqual(value);
      await store.set('doc', 'replaced');
      expect(await store.get('doc')).toBe('replaced');
      await store.set('number', 42);
      expect(await store.get('number')).toBe(42);
    });

    it('expires sessions at expiresAt and values after their TTL', async () => {
      const record = makeSessionRecord(user(), clock, { expiresAt: clock + 1000, idleExpiresAt: clock + 1000 });
      await store.createSession(record);
      await store.set('short', 'lived', 1);
      await store.set('forever', 'kept');
      expect(await store.getSession(record.id)).not.toBeNull();
      expect(await store.get('short')).toBe('lived');
      await advance(1200);
      expect(await store.getSession(record.id)).toBeNull();
      expect(await store.get('short')).toBeNull();
      expect(await store.get('forever')).toBe('kept');
      expect(await store.listUserSessions(record.userId)).toEqual([]);
    });

    it('touches a session: a patch moves its expiry and changes only the patched fields', async () => {
      const record = makeSessionRecord(user(), clock, { expiresAt: clock + 1000, idleExpiresAt: clock + 1000 });
      await store.createSession(record);
      const patch = {
        lastSeenAt: clock + 500,
        idleExpiresAt: clock + 5000,
        expiresAt: clock + 5000,
        ip: '198.51.100.1',
        data: { step: 2 },
      };
      expect(await store.updateSession(record.id, patch)).toEqual({ ...record, ...patch });
      await advance(1200);
      expect(await store.getSession(record.id)).toEqual({ ...record, ...patch });
      expect(await store.updateSession('AAAAbm9uZS1zdWNoLXNlc3Npb24', patch)).toBeNull();
    });

    it('deletes idempotently', async () => {
      const record = makeSessionRecord(user(), clock);
      await store.createSession(record);
      expect(await store.deleteSession(record.id)).toEqual(record);
      expect(await store.deleteSession(record.id)).toBeNull();
      expect(await store.getSession(record.id)).toBeNull();
      expect(await store.listUserSessions(record.userId)).toEqual([]);
      await store.set('k', 1);
      expect(await store.delete('k')).toBe(true);
      expect(await store.delete('k')).toBe(false);
      expect(await store.get('k')).toBeNull();
    });

    it('getAndDelete has exactly one winner among 50 concurrent callers', async () => {
      await store.set('once', { grant: 'x' }, 60);
      const results = await Promise.all(Array.from({ length: 50 }, () => store.getAndDelete('once')));
      expect(results.filter((result) => result !== null)).toEqual([{ grant: 'x' }]);
      expect(await store.get('once')).toBeNull();
    });

    it('setIfAbsent has exactly one winner among 50 concurrent callers', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.setIfAbsent('lock', i, 60)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.get('lock')).toBe(results.indexOf(true));
    });

    it('setIfAbsent succeeds again once the value has expired', async () => {
      expect(await store.setIfAbsent('lease', 'a', 1)).toBe(true);
      expect(await store.setIfAbsent('lease', 'b', 1)).toBe(false);
      await advance(1200);
      expect(await store.setIfAbsent('lease', 'c', 1)).toBe(true);
      expect(await store.get('lease')).toBe('c');
    });

    it('rotateSession has exactly one winner among 50 concurrent rotations', async () => {
      const userId = user();
      const old = makeSessionRecord(userId, clock, { data: { kept: true } });
      await store.createSession(old);
      const successors = Array.from({ length: 50 }, () => makeSessionRecord(userId, clock, { data: { kept: true } }));
      const results = await Promise.all(successors.map((next) => store.rotateSession(old.id, next)));
      const winners = results.filter((result) => result !== null);
      expect(winners).toHaveLength(1);
      const winner = successors[results.findIndex((result) => result !== null)]!;
      expect(winners[0]).toEqual(winner);
      expect(await store.getSession(old.id)).toBeNull();
      expect(await store.getSession(winner.id)).toEqual(winner);
      expect((await store.listUserSessions(userId)).map((record) => record.id)).toEqual([winner.id]);
    });

    it('does not rotate or update a revoked session', async () => {
      const record = makeSessionRecord(user(), clock);
      await store.createSession(record);
      expect(await store.revokeSession(record.id, clock + 1)).toEqual({ ...record, revokedAt: clock + 1 });
      expect(await store.revokeSession(record.id, clock + 2)).toBeNull();
      expect(await store.getSession(record.id)).toEqual({ ...record, revokedAt: clock + 1 });
      expect(await store.updateSession(record.id, { lastSeenAt: clock + 5 })).toBeNull();
      expect(await store.rotateSession(record.id, makeSessionRecord(record.userId, clock))).toBeNull();
      expect(await store.listUserSessions(record.userId)).toEqual([]);
    });

    it('lists a user’s live sessions oldest first, and only theirs', async () => {
      const alice = user();
      const bob = user();
      const first = makeSessionRecord(alice, clock);
      const second = makeSessionRecord(alice, clock + 10);
      const expired = makeSessionRecord(alice, clock - 100_000, { expiresAt: clock - 1 });
      const revoked = makeSessionRecord(alice, clock + 20);
      const bobs = makeSessionRecord(bob, clock + 5);
      for (const record of [second, expired, bobs, first, revoked]) await store.createSession(record);
      await store.revokeSession(revoked.id, clock + 30);
      expect(await store.listUserSessions(alice)).toEqual([first, second]);
      expect(await store.listUserSessions(bob)).toEqual([bobs]);
    });

    it('revokes all of a user’s sessions, or all but one, and no one else’s', async () => {
      const alice = user();
      const bob = user();
      const records = [0, 1, 2].map((i) => makeSessionRecord(alice, clock + i));
      const bobs = makeSessionRecord(bob, clock);
      for (const record of [...records, bobs]) await store.createSession(record);
      const kept = records[1]!;
      const revoked = await store.revokeUserSessions(alice, clock + 50, { exceptId: kept.id });
      expect(revoked.sort(compareSessionAge)).toEqual(
        [records[0]!, records[2]!].map((record) => ({ ...record, revokedAt: clock + 50 })),
      );
      expect(await store.listUserSessions(alice)).toEqual([kept]);
      expect((await store.getSession(records[0]!.id))?.revokedAt).toBe(clock + 50);
      expect(await store.listUserSessions(bob)).toEqual([bobs]);
      expect(await store.revokeUserSessions(alice, clock + 60)).toEqual([{ ...kept, revokedAt: clock + 60 }]);
      expect(await store.listUserSessions(alice)).toEqual([]);
    });

    it('caps concurrent sessions per user by revoking the oldest (the engine’s eviction on this store)', async () => {
      const alice = user();
      const records = [0, 1, 2].map((i) => makeSessionRecord(alice, clock + i));
      expect(await createCappedSession(store, records[0]!, 2)).toEqual([]);
      expect(await createCappedSession(store, records[1]!, 2)).toEqual([]);
      expect(await createCappedSession(store, records[2]!, 2)).toEqual([
        { ...records[0]!, revokedAt: records[2]!.createdAt },
      ]);
      expect(await store.listUserSessions(alice)).toEqual([records[1], records[2]]);
      expect((await store.getSession(records[0]!.id))?.revokedAt).toBe(records[2]!.createdAt);
    });

    it('breaks an eviction tie by id: of sessions created in the same millisecond the smallest id goes', async () => {
      const alice = user();
      const records = [0, 1, 2].map(() => makeSessionRecord(alice, clock)).sort(compareSessionAge);
      for (const record of records) await createCappedSession(store, record, 2);
      expect((await store.listUserSessions(alice)).sort(compareSessionAge)).toEqual(records.slice(1));
    });

    it.each([30, 50])('keeps exactly the cap under %i concurrent logins', async (logins) => {
      const alice = user();
      const records = Array.from({ length: logins }, (_, i) => makeSessionRecord(alice, clock + i));
      const evicted = await Promise.all(records.map((record) => createCappedSession(store, record, 3)));
      const live = await store.listUserSessions(alice);
      expect(live.map((record) => record.id)).toEqual(records.slice(-3).map((record) => record.id));
      const evictedIds = evicted.flat().map((record) => record.id);
      expect(evictedIds).toHaveLength(logins - 3);
      expect(new Set(evictedIds).size).toBe(logins - 3);
    });

    it('keeps the sign-in ip and user agent apart from the latest ones through update and rotation', async () => {
      const alice = user();
      const record = makeSessionRecord(alice, clock, { signInIp: '192.0.2.1', signInUserAgent: 'First/1.0' });
      await store.createSession(record);
      const updated = await store.updateSession(record.id, { ip: '192.0.2.99', userAgent: 'Later/2.0' });
      expect(updated).toMatchObject({ ip: '192.0.2.99', userAgent: 'Later/2.0', signInIp: '192.0.2.1' });
      const next = { ...makeSessionRecord(alice, clock), signInIp: '192.0.2.1', signInUserAgent: 'First/1.0' };
      expect(await store.rotateSession(record.id, next)).toEqual(next);
      expect(await store.getSession(next.id)).toEqual(next);
      const unknown = makeSessionRecord(alice, clock, { signInIp: null, signInUserAgent: null });
      await store.createSession(unknown);
      expect(await store.getSession(unknown.id)).toEqual(unknown);
    });

    it('keeps a session’s authentication time, own idle timeout and cookie lifetime through renewal and rotation; a re-authentication moves the time', async () => {
      const signedInAt = clock;
      const sessions = createSessionManager(store, {
        now,
        renewalIntervalSeconds: 1,
        maxIdleTimeoutSeconds: 7200,
        maxAbsoluteTimeoutSeconds: 30 * 86_400,
      });
      const alice = user();
      const created = await sessions.createSession(alice, { idleTimeoutSeconds: 7200, browserSession: true });
      expect(created.session).toMatchObject({ authenticatedAt: new Date(signedInAt), browserSession: true });
      expect(created.session.idleExpiresAt.getTime()).toBe(signedInAt + 7_200_000);
      // The injected clock moves alone: a backend's own TTLs only grow by it.
      clock += 5000;
      const renewed = await sessions.validateSessionToken(created.token);
      expect(renewed).toMatchObject({ ok: true, renewed: true });
      // Renewal uses the session's own idle timeout, not the engine's default (1800 s).
      expect(renewed.session?.idleExpiresAt.getTime()).toBe(clock + 7_200_000);
      expect(renewed.session).toMatchObject({ authenticatedAt: new Date(signedInAt), browserSession: true });
      const rotated = await sessions.rotateSession(created.session.id);
      expect(rotated?.session).toMatchObject({ authenticatedAt: new Date(signedInAt), browserSession: true });
      clock += 1000;
      const stepped = await sessions.rotateSession(rotated!.session.id, { reauthenticated: true });
      expect(stepped?.session).toMatchObject({ authenticatedAt: new Date(clock), browserSession: true });
      expect(await store.getSession(stepped!.session.id)).toMatchObject({
        authenticatedAt: clock,
        idleTimeoutMs: 7_200_000,
        cookieLifetime: 'browser',
      });
      const plain = await sessions.createSession(alice);
      expect(await store.getSession(plain.session.id)).toMatchObject({ idleTimeoutMs: null, cookieLifetime: null });
    });

    it('merges top-level data keys: a key replaces its value whole, null removes it, JSON types are kept', async () => {
      const record = makeSessionRecord(user(), clock, {
        data: { keep: 'me', nested: { a: 1, b: 2 }, gone: true, list: [1, 2] },
      });
      await store.createSession(record);
      const partial = {
        nested: { c: null, d: [] },
        gone: null,
        flag: false,
        on: true,
        big: 9_007_199_254_740_991,
        real: 2.5,
        empty: [],
        text: 'ünï "q"',
        nothing: {},
        'odd "key".$': 'x',
      };
      const expected = {
        keep: 'me',
        list: [1, 2],
        nested: { c: null, d: [] },
        flag: false,
        on: true,
        big: 9_007_199_254_740_991,
        real: 2.5,
        empty: [],
        text: 'ünï "q"',
        nothing: {},
        'odd "key".$': 'x',
      };
      const merged = await store.mergeSessionData(record.id, partial);
      expect(merged).toEqual({ ...record, data: expected });
      expect((await store.getSession(record.id))?.data).toEqual(expected);
      expect((await store.mergeSessionData(record.id, { keep: null, list: null }))?.data).not.toHaveProperty('keep');
    });

    it('keeps every key of 40 concurrent merges of different keys into one session', async () => {
      const record = makeSessionRecord(user(), clock, { data: { before: 1 } });
      await store.createSession(record);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => store.mergeSessionData(record.id, { [`key${i}`]: i })),
      );
      expect(results.every((result) => result !== null)).toBe(true);
      const expected = Object.fromEntries([['before', 1], ...Array.from({ length: 40 }, (_, i) => [`key${i}`, i])]);
      expect((await store.getSession(record.id))?.data).toEqual(expected);
    });

    it('merges nothing into a revoked, expired or absent session', async () => {
      const revoked = makeSessionRecord(user(), clock, { data: { kept: 1 } });
      const expired = makeSessionRecord(user(), clock - 100_000, { expiresAt: clock - 1, data: { kept: 1 } });
      await store.createSession(revoked);
      await store.createSession(expired);
      await store.revokeSession(revoked.id, clock + 1);
      expect(await store.mergeSessionData(revoked.id, { added: 2 })).toBeNull();
      expect(await store.mergeSessionData(expired.id, { added: 2 })).toBeNull();
      expect(await store.mergeSessionData('AAAAbm9uZS1zdWNoLXNlc3Npb24', { added: 2 })).toBeNull();
      expect(await store.getSession(revoked.id)).toEqual({ ...revoked, revokedAt: clock + 1 });
    });

    it('revoking races merges: a merge either lands before the revocation or changes nothing', async () => {
      const record = makeSessionRecord(user(), clock, { data: {} });
      await store.createSession(record);
      const merges = Array.from({ length: 30 }, (_, i) => store.mergeSessionData(record.id, { [`k${i}`]: i }));
      const revocation = store.revokeSession(record.id, clock + 1);
      const results = await Promise.all(merges);
      await revocation;
      const stored = await store.getSession(record.id);
      expect(stored?.revokedAt).toBe(clock + 1);
      const landed = results.filter((result) => result !== null).length;
      expect(Object.keys(stored?.data ?? {})).toHaveLength(landed);
    });

    it('refuses an incomplete record instead of storing it', async () => {
      const { signInIp: _dropped, ...incomplete } = makeSessionRecord(user(), clock);
      await expect(store.createSession(incomplete as SessionRecord)).rejects.toMatchObject({
        code: 'ERR_INVALID_OPTION',
      });
      expect(await store.getSession(incomplete.id)).toBeNull();
    });

    it('isolates stores with different prefixes on one backend', async () => {
      const other = await open(`${prefix}other_`);
      const alice = user();
      const record = makeSessionRecord(alice, clock);
      await store.createSession(record);
      await store.set('shared-name', 'mine');
      expect(await other.getSession(record.id)).toBeNull();
      expect(await other.get('shared-name')).toBeNull();
      expect(await other.listUserSessions(alice)).toEqual([]);
      expect(await other.revokeUserSessions(alice, clock)).toEqual([]);
      expect(await other.deleteSession(record.id)).toBeNull();
      expect(await other.delete('shared-name')).toBe(false);
      expect(await store.getSession(record.id)).toEqual(record);
      expect(await store.get('shared-name')).toBe('mine');
    });

    it('deleteExpired removes only what has expired and counts it', async () => {
      const alice = user();
      const live = makeSessionRecord(alice, clock, { expiresAt: clock + 60_000 });
      const dying = [1, 2, 3].map((i) =>
        makeSessionRecord(alice, clock + i, { expiresAt: clock + 1000, idleExpiresAt: clock + 1000 }),
      );
      for (const record of [live, ...dying]) await store.createSession(record);
      await store.set('dying-1', 1, 1);
      await store.set('dying-2', 2, 1);
      await store.set('kept', 3, 60);
      await advance(1200);
      const removed = await store.deleteExpired();
      // Redis expires keys by itself: what it removes is the three index entries the dead sessions left behind.
      expect(removed).toBe(getFactory().clock === 'injected' ? 5 : 3);
      expect(await store.deleteExpired()).toBe(0);
      expect(await store.listUserSessions(alice)).toEqual([live]);
      expect(await store.get('kept')).toBe(3);
    });

    it('counts live sessions when it can: not revoked, not idle, not past the absolute limit', async () => {
      if (store.countLiveSessions === undefined) {
        // Only Redis may leave counting out (it would have to scan every key).
        expect(store.name).toBe('redis');
        return;
      }
      const alice = user();
      const live = [0, 1].map((i) => makeSessionRecord(alice, clock + i));
      const revoked = makeSessionRecord(alice, clock);
      const idle = makeSessionRecord(alice, clock, { idleExpiresAt: clock - 1 });
      const absolute = makeSessionRecord(user(), clock, { absoluteExpiresAt: clock - 1 });
      for (const record of [...live, revoked, idle, absolute]) await store.createSession(record);
      await store.revokeSession(revoked.id, clock);
      expect(await store.countLiveSessions()).toBe(2);
    });

    it('rejects a bad TTL instead of keeping a value forever', async () => {
      await expect(store.set('k', 1, 0)).rejects.toThrow(/ttlSeconds/);
      await expect(store.set('k', 1, -5)).rejects.toThrow(/ttlSeconds/);
      await expect(store.setIfAbsent('k', 1, Number.NaN)).rejects.toThrow(/ttlSeconds/);
      expect(await store.get('k')).toBeNull();
    });

    describe('session binding on this store', () => {
      const events: SessionEvent[] = [];
      const manager = (binding: SessionBinding) =>
        createSessionManager(store, { binding, onEvent: (event) => events.push(event) });
      const start = async (binding: SessionBinding) => {
        const sessions = manager(binding);
        const { token } = await sessions.createSession(user(), { ip: '203.0.113.7', userAgent: CHROME_WINDOWS });
        events.length = 0;
        return { sessions, token };
      };
      const ofType = (type: SessionEvent['type']) => events.filter((event) => event.type === type);

      it('strict: a cookie used by another browser family is refused and the session revoked (binding_mismatch)', async () => {
        const { sessions, token } = await start('strict');
        const stolen = await sessions.validateSessionToken(token, { ip: '198.51.100.9', userAgent: FIREFOX_LINUX });
        expect(stolen).toMatchObject({ ok: false, reason: 'revoked' });
        expect(ofType('session.revoked')).toMatchObject([{ reason: 'binding_mismatch' }]);
        expect(ofType('session.user_agent_changed')).toMatchObject([
          { previousDevice: 'Chrome 120 on Windows', device: 'Firefox 121 on Linux', otherClient: true },
        ]);
        const owner = await sessions.validateSessionToken(token, { ip: '203.0.113.7', userAgent: CHROME_WINDOWS });
        expect(owner).toMatchObject({ ok: false, reason: 'revoked' });
      });

      it('warn: the other browser is served, reported once, and recorded as the latest user agent', async () => {
        const { sessions, token } = await start('warn');
        for (let i = 0; i < 3; i += 1) {
          const served = await sessions.validateSessionToken(token, { ip: '203.0.113.7', userAgent: FIREFOX_LINUX });
          expect(served.ok).toBe(true);
          expect(served.session?.userAgent).toBe(FIREFOX_LINUX);
          expect(served.session?.signInUserAgent).toBe(CHROME_WINDOWS);
        }
        expect(ofType('session.user_agent_changed')).toMatchObject([
          { previousUserAgent: CHROME_WINDOWS, userAgent: FIREFOX_LINUX, otherClient: true },
        ]);
        expect(ofType('session.revoked')).toEqual([]);
      });

      it('strict: an IP change alone and a browser upgrade are served, each reported once', async () => {
        const { sessions, token } = await start('strict');
        for (let i = 0; i < 2; i += 1) {
          const moved = await sessions.validateSessionToken(token, {
            ip: '2001:db8:5:1::7',
            userAgent: CHROME_WINDOWS,
          });
          expect(moved.ok).toBe(true);
        }
        const upgraded = await sessions.validateSessionToken(token, { ip: '2001:db8:5:1::7', userAgent: CHROME_NEXT });
        expect(upgraded.ok).toBe(true);
        expect(ofType('session.ip_changed')).toMatchObject([
          {
            previousIp: '203.0.113.7',
            ip: '2001:db8:5:1::7',
            previousIpPrefix: '203.0.113.0/24',
            ipPrefix: '2001:db8:5::/48',
          },
        ]);
        expect(ofType('session.user_agent_changed')).toMatchObject([
          { device: 'Chrome 121 on Windows', otherClient: false },
        ]);
        expect((await store.listUserSessions(upgraded.session!.userId))[0]).toMatchObject({
          ip: '2001:db8:5:1::7',
          userAgent: CHROME_NEXT,
          signInIp: '203.0.113.7',
          signInUserAgent: CHROME_WINDOWS,
        });
      });

      it('off: no event, and a changed client is recorded only at the next renewal', async () => {
        const { sessions, token } = await start('off');
        const served = await sessions.validateSessionToken(token, { ip: '198.51.100.9', userAgent: FIREFOX_LINUX });
        expect(served).toMatchObject({ ok: true, renewed: false });
        expect(served.session?.userAgent).toBe(CHROME_WINDOWS);
        expect(events.filter((event) => event.type !== 'session.renewed')).toEqual([]);
      });

      it('strict, racing: of 20 requests with the copied cookie beside 20 of its owner, none copied is served', async () => {
        const { sessions, token } = await start('strict');
        const use = (userAgent: string) => sessions.validateSessionToken(token, { ip: '203.0.113.7', userAgent });
        const stolen = Array.from({ length: 20 }, () => use(FIREFOX_LINUX));
        const owner = Array.from({ length: 20 }, () => use(CHROME_WINDOWS));
        const [stolenResults, ownerResults] = await Promise.all([Promise.all(stolen), Promise.all(owner)]);
        expect(stolenResults.every((result) => !result.ok && result.reason === 'revoked')).toBe(true);
        expect(ownerResults.every((result) => result.ok || result.reason === 'revoked')).toBe(true);
        expect(ofType('session.revoked')).toHaveLength(1);
        expect((await use(CHROME_WINDOWS)).ok).toBe(false);
      });
    });

    describeKeyValuePrimitives(getFactory);
  });
}

/**
 * The atomic key-value primitives the core builds on (the key ring's
 * compare-and-set, rate-limit counters): races of concurrent callers on the
 * real backend, and the fixed window of `increment`.
 */
function describeKeyValuePrimitives(getFactory: () => StoreFactory): void {
  describe('key-value primitives', () => {
    let store: Store;
    let clock = Date.now();
    const opened: Store[] = [];
    const now = (): number => clock;
    const open = async (prefix: string): Promise<Store> => {
      const made = await getFactory().create({ prefix, now });
      opened.push(made);
      return made;
    };
    const advance = async (ms: number): Promise<void> => {
      clock += ms;
      if (getFactory().clock === 'backend') await sleep(ms);
    };

    beforeEach(async () => {
      clock = Date.now();
      store = await open(`kv${randomBytes(4).toString('hex')}_`);
    });
    afterEach(async () => {
      for (const made of opened.splice(0)) await made.close();
    });

    it('compareAndSet: null expects absence, a value expects that value, and a miss changes nothing', async () => {
      expect(await store.compareAndSet('doc', null, { v: 1 })).toBe(true);
      expect(await store.compareAndSet('doc', null, { v: 99 })).toBe(false);
      expect(await store.compareAndSet('doc', { v: 2 }, { v: 99 })).toBe(false);
      expect(await store.get('doc')).toEqual({ v: 1 });
      const read = await store.get('doc');
      expect(await store.compareAndSet('doc', read, { v: 2, list: ['ñ', null] })).toBe(true);
      expect(await store.get('doc')).toEqual({ v: 2, list: ['ñ', null] });
      expect(await store.compareAndSet('doc', read, { v: 3 })).toBe(false);
      expect(await store.get('doc')).toEqual({ v: 2, list: ['ñ', null] });
    });

    it('compareAndSet: an expired value counts as absent, and the TTL applies to the new value', async () => {
      expect(await store.compareAndSet('lease', null, 'a', 1)).toBe(true);
      await advance(1200);
      expect(await store.compareAndSet('lease', 'a', 'stale')).toBe(false);
      expect(await store.compareAndSet('lease', null, 'b')).toBe(true);
      await advance(1200);
      expect(await store.get('lease')).toBe('b');
    });

    it('compareAndSet has exactly one winner among 50 concurrent callers expecting absence', async () => {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.compareAndSet('first', null, i)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.get('first')).toBe(results.indexOf(true));
    });

    it('compareAndSet has exactly one winner among 50 concurrent callers expecting the same value', async () => {
      const document = { version: 1, keys: ['k1'] };
      await store.set('ring', document);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.compareAndSet('ring', document, { version: 2, keys: [`k${i}`] })),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await store.get('ring')).toEqual({ version: 2, keys: [`k${results.indexOf(true)}`] });
    });

    it('increment: 200 concurrent increments are all counted, each seeing a distinct value', async () => {
      const results = await Promise.all(Array.from({ length: 200 }, () => store.increment('hits', 1, 60)));
      expect(results.map((result) => result.value).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      expect(new Set(results.map((result) => result.expiresAt)).size).toBe(1);
      expect(await store.get('hits')).toBe(200);
      const parallelRefunds = await Promise.all(Array.from({ length: 50 }, () => store.increment('hits', -1, 60)));
      expect(Math.min(...parallelRefunds.map((result) => result.value))).toBe(150);
      expect(await store.get('hits')).toBe(150);
    });

    it('increment: a fixed window from the first increment, which later increments do not extend', async () => {
      const start = Date.now();
      const first = await store.increment('window', 1, 1);
      const expected = getFactory().clock === 'injected' ? clock + 1000 : null;
      if (expected !== null) expect(first.expiresAt).toBe(expected);
      else {
        expect(first.expiresAt).toBeGreaterThan(start + 500);
        expect(first.expiresAt).toBeLessThan(Date.now() + 1500);
      }
      await advance(600);
      const second = await store.increment('window', 5, 1);
      expect(second).toEqual({ value: 6, expiresAt: first.expiresAt });
      await advance(600);
      const third = await store.increment('window', 1, 1);
      expect(third.value).toBe(1);
      expect(third.expiresAt).toBeGreaterThan(first.expiresAt);
      await advance(1200);
      expect(await store.get('window')).toBeNull();
    });

    it('increment rejects a non-integer step and a missing or bad TTL', async () => {
      await expect(store.increment('c', 1.5, 60)).rejects.toThrow(/"by"/);
      await expect(store.increment('c', 1, 0)).rejects.toThrow(/ttlSeconds/);
      await expect(store.increment('c', 1, undefined as unknown as number)).rejects.toThrow(/ttlSeconds/);
      await expect(store.compareAndSet('c', null, 1, -1)).rejects.toThrow(/ttlSeconds/);
      expect(await store.get('c')).toBeNull();
    });

    it('the signing-key ring on this store: of 5 instances rotating at once, no rotation is lost', async () => {
      const instance = () =>
        createTokenService({ sessions: createSessionManager(store), store, issuer: 'conformance', audience: 'api' });
      const [original] = await instance().listKeys();
      const rotated = await Promise.all(Array.from({ length: 5 }, () => instance().rotateKeys()));
      const kids = (await instance().listKeys()).map((key) => key.kid);
      expect(kids.sort()).toEqual([original!.kid, ...rotated.map((rotation) => rotation.kid)].sort());
    });

    it('leased request limit: racing bursts from 4 instances never admit more than the budget', async () => {
      const points = 37;
      const instances = Array.from({ length: 4 }, () =>
        createLeasedRequestLimit({ store, points, durationSeconds: 60, chunk: 5, name: 'leased' }),
      );
      const burst = await Promise.all(
        Array.from({ length: 200 }, (_, i) => instances[i % instances.length]!.consume('session-1')),
      );
      const admitted = burst.filter((verdict) => verdict.allowed).length;
      // Each instance may strand at most chunk - 1 points of its last lease; never more than the budget in all.
      expect(admitted).toBeLessThanOrEqual(points);
      expect(admitted).toBeGreaterThanOrEqual(points - instances.length * 4);
      const later = await Promise.all(instances.map((instance) => instance.consume('session-1')));
      expect(later.filter((verdict) => verdict.allowed)).toHaveLength(0);
      expect(await store.get('rl:leased:session-1')).toBeLessThanOrEqual(points);
    });

    it('leased request limit: one instance admits exactly the budget, in a burst and one by one', async () => {
      const limit = createLeasedRequestLimit({ store, points: 23, durationSeconds: 60, name: 'leased' });
      const burst = await Promise.all(Array.from({ length: 60 }, () => limit.consume('burst')));
      expect(burst.filter((verdict) => verdict.allowed)).toHaveLength(23);
      let admitted = 0;
      for (let i = 0; i < 40; i++) if ((await limit.consume('sequential')).allowed) admitted++;
      expect(admitted).toBe(23);
    });

    it('keeps counters and compared values apart between prefixes', async () => {
      const other = await open(`kv${randomBytes(4).toString('hex')}_`);
      await store.increment('shared', 3, 60);
      expect((await other.increment('shared', 1, 60)).value).toBe(1);
      expect(await other.compareAndSet('doc', null, 'theirs')).toBe(true);
      expect(await store.compareAndSet('doc', null, 'mine')).toBe(true);
      expect(await store.get('doc')).toBe('mine');
    });
  });
}
