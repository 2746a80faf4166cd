import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSessionManager, type SessionEvent, type SessionManager } from '../core/session/session-manager.js';
import type { Store } from '../core/store/types.js';
import { parseRefreshToken } from '../core/token/refresh-token.js';
import { createTokenService, type TokenEvent, type TokenService } from '../core/token/token-service.js';

/**
 * Makes a fresh store. Stores that take a clock follow `now`; Redis keeps its own, which is why the clock starts at the
 * real time and the scenarios never rely on a store's TTL firing.
 */
export type RefreshStoreFactory = (now: () => number) => Promise<Store>;

/**
 * The refresh-token scenarios, run against one kind of store: rotation,
 * concurrent use, the grace window, reuse detection and session limits.
 */
export function describeRefreshTokens(name: string, createStore: RefreshStoreFactory): void {
  describe(`refresh tokens on the ${name} store`, () => {
    let clock: number;
    let T0: number;
    let store: Store;
    let sessions: SessionManager;
    let tokens: TokenService;
    let events: (TokenEvent | SessionEvent)[];
    const now = (): number => clock;
    const advance = (ms: number): void => {
      clock += ms;
    };

    beforeEach(async () => {
      T0 = Date.now();
      clock = T0;
      events = [];
      store = await createStore(now);
      const onEvent = (event: TokenEvent | SessionEvent): void => {
        events.push(event);
      };
      sessions = createSessionManager(store, {
        now,
        idleTimeoutSeconds: 1800,
        absoluteTimeoutSeconds: 7200,
        renewalIntervalSeconds: 60,
        onEvent,
      });
      tokens = createTokenService({
        sessions,
        store,
        issuer: 'https://auth.example.test',
        audience: 'api',
        now,
        onEvent,
      });
    });
    afterEach(async () => {
      await store.close();
    });

    const login = async () => {
      const { session } = await sessions.createSession('user-1');
      return { session, pair: await tokens.issueTokens(session) };
    };
    const refresh = async (token: string): Promise<string> => {
      const result = await tokens.refreshTokens(token);
      if (!result.ok) throw new Error(`refresh failed: ${result.reason}`);
      return result.tokens.refreshToken;
    };
    const reuseEvents = () => events.filter((event) => event.type === 'refresh.reuse_detected');

    it('rotates on every use: a new refresh token and a new access token for the same session', async () => {
      const { session, pair } = await login();
      const result = await tokens.refreshTokens(pair.refreshToken);
      expect(result.tokens?.refreshToken).not.toBe(pair.refreshToken);
      expect(parseRefreshToken(result.tokens?.refreshToken)).not.toBeNull();
      expect(result.session?.id).toBe(session.id);
      const verified = await tokens.verifyAccessToken(result.tokens?.accessToken);
      expect(verified.claims?.sid).toBe(session.id);
      expect(await refresh(result.tokens!.refreshToken)).not.toBe(result.tokens?.refreshToken);
    });

    it('gives 50 concurrent uses of one token exactly one successor, the same for all, and revokes nothing', async () => {
      const { session, pair } = await login();
      const results = await Promise.all(Array.from({ length: 50 }, () => tokens.refreshTokens(pair.refreshToken)));
      const successors = new Set(results.map((result) => result.tokens?.refreshToken));
      expect(successors.size).toBe(1);
      expect([...successors][0]).toEqual(expect.any(String));
      expect(events.filter((event) => event.type === 'refresh.rotated')).toHaveLength(1);
      expect(reuseEvents()).toEqual([]);
      expect((await sessions.getSession(session.id)).ok).toBe(true);
      for (const result of results) expect((await tokens.verifyAccessToken(result.tokens?.accessToken)).ok).toBe(true);
      // The one successor works, and only it: the losers' successors were never handed out.
      expect(await refresh([...successors][0]!)).toEqual(expect.any(String));
    });

    it('answers a replay within the grace window with the same successor', async () => {
      const { pair } = await login();
      const first = await tokens.refreshTokens(pair.refreshToken);
      advance(9_000);
      const replay = await tokens.refreshTokens(pair.refreshToken);
      expect(replay.tokens?.refreshToken).toBe(first.tokens?.refreshToken);
      expect(reuseEvents()).toEqual([]);
    });

    it('anchors the grace window at the first rotation: replays do not extend it', async () => {
      const { session, pair } = await login();
      await refresh(pair.refreshToken);
      for (let i = 0; i < 3; i++) {
        advance(3_000);
        expect((await tokens.refreshTokens(pair.refreshToken)).ok).toBe(true);
      }
      advance(1_500);
      expect((await tokens.refreshTokens(pair.refreshToken)).reason).toBe('reused');
      expect((await sessions.getSession(session.id)).reason).toBe('revoked');
    });

    it('treats a replay after the grace window as reuse: the family is revoked and its tokens fail', async () => {
      const { session, pair } = await login();
      const successor = await tokens.refreshTokens(pair.refreshToken);
      advance(10_001);
      expect(await tokens.refreshTokens(pair.refreshToken)).toEqual({ ok: false, reason: 'reused' });
      expect(reuseEvents()).toEqual([
        { type: 'refresh.reuse_detected', kind: 'after_grace', sessionId: session.id, userId: 'user-1', at: clock },
      ]);
      expect(events).toContainEqual(
        expect.objectContaining({ type: 'session.revoked', sessionId: session.id, reason: 'refresh_reused' }),
      );
      expect((await tokens.verifyAccessToken(pair.accessToken)).reason).toBe('revoked');
      expect((await tokens.verifyAccessToken(successor.tokens?.accessToken)).reason).toBe('revoked');
      expect((await tokens.refreshTokens(successor.tokens?.refreshToken)).reason).toBe('revoked');
    });

    it('treats a replay of an older ancestor as reuse, even within its grace window', async () => {
      const { session, pair } = await login();
      const second = await refresh(pair.refreshToken);
      advance(1_000);
      const third = await refresh(second);
      advance(1_000);
      expect((await tokens.refreshTokens(pair.refreshToken)).reason).toBe('reused');
      expect(reuseEvents()).toEqual([expect.objectContaining({ kind: 'ancestor', sessionId: session.id })]);
      expect((await tokens.refreshTokens(third)).reason).toBe('revoked');
    });

    it('does not count a wrong secret as reuse: knowing an id must not let anyone revoke a session', async () => {
      const { session, pair } = await login();
      await refresh(pair.refreshToken);
      advance(60_000);
      const [id] = pair.refreshToken.split('.');
      const guessed = `${id}.${'A'.repeat(43)}`;
      expect((await tokens.refreshTokens(guessed)).reason).toBe('invalid');
      expect(reuseEvents()).toEqual([]);
      expect((await sessions.getSession(session.id)).ok).toBe(true);
    });

    it('dies with the session: revoked, deleted, idle or past its absolute limit', async () => {
      const revoked = await login();
      await sessions.revokeSession(revoked.session.id);
      expect((await tokens.refreshTokens(revoked.pair.refreshToken)).reason).toBe('revoked');

      const deleted = await login();
      await sessions.deleteSession(deleted.session.id);
      expect((await tokens.refreshTokens(deleted.pair.refreshToken)).reason).toBe('revoked');

      const idle = await login();
      advance(1_800_000);
      expect((await tokens.refreshTokens(idle.pair.refreshToken)).ok).toBe(false);
    });

    it('renews the idle timeout on each refresh, up to the absolute limit', async () => {
      const { pair } = await login();
      let token = pair.refreshToken;
      for (let i = 0; i < 5; i++) {
        advance(1_200_000);
        token = await refresh(token);
      }
      expect(clock - T0).toBe(6_000_000);
      advance(1_300_000);
      expect((await tokens.refreshTokens(token)).ok).toBe(false);
    });

    it('keeps nothing usable in the store: no secret, no successor in clear', async () => {
      const { pair } = await login();
      const successor = await refresh(pair.refreshToken);
      const [id, secret] = pair.refreshToken.split('.') as [string, string];
      const [nextId, nextSecret] = successor.split('.') as [string, string];
      const stored = JSON.stringify([
        await store.get(`token:rt:${id}`),
        await store.get(`token:rt-spent:${id}`),
        await store.get(`token:rt:${nextId}`),
      ]);
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(nextSecret);
      expect(stored).toContain(nextId);
    });

    /**
     * Verifies `token` in `loops` concurrent loops while `revoke` runs; each loop goes on until it has
     * started `after` verifications once the revocation has resolved. Returns the outcomes of those.
     */
    const verifyWhile = async (
      service: TokenService,
      token: string,
      revoke: () => Promise<unknown>,
      loops = 8,
      after = 5,
    ): Promise<string[]> => {
      let revoked = false;
      const outcomes: string[] = [];
      const loop = async (): Promise<void> => {
        // Bounded, so a cache that never lets go fails the test instead of spinning it forever.
        for (let started = 0, total = 0; started < after && total < 10_000; total++) {
          const startedAfter = revoked;
          const result = await service.verifyAccessToken(token);
          if (startedAfter) {
            started++;
            outcomes.push(result.ok ? 'accepted' : result.reason);
          }
          // A turn of the event loop, so the revocation progresses even where the store answers in microtasks.
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      const running = Promise.all(Array.from({ length: loops }, loop));
      await revoke();
      revoked = true;
      await running;
      return outcomes;
    };

    it('refuses a cached access token as soon as its session is revoked, under a burst of verifications', async () => {
      const { session, pair } = await login();
      // Verified once: the token sits in the verified-token cache from here on.
      expect((await tokens.verifyAccessToken(pair.accessToken)).ok).toBe(true);
      const outcomes = await verifyWhile(tokens, pair.accessToken, () => sessions.revokeSession(session.id));
      expect(outcomes).toHaveLength(40);
      expect(new Set(outcomes)).toEqual(new Set(['revoked']));
    });

    it('refuses a cached access token as soon as it is blocklisted, under a burst of verifications', async () => {
      const blocklisting = createTokenService({
        sessions,
        store,
        issuer: 'https://auth.example.test',
        audience: 'api',
        now,
        revocationCheck: 'blocklist',
      });
      const { pair } = await login();
      expect((await blocklisting.verifyAccessToken(pair.accessToken)).ok).toBe(true);
      const outcomes = await verifyWhile(blocklisting, pair.accessToken, () =>
        blocklisting.revokeAccessToken(pair.accessToken),
      );
      expect(outcomes).toHaveLength(40);
      expect(new Set(outcomes)).toEqual(new Set(['revoked']));
      expect((await tokens.verifyAccessToken(pair.accessToken)).ok).toBe(true);
    });

    it('introspects a live refresh token as active and a spent one as inactive', async () => {
      const { session, pair } = await login();
      expect(await tokens.introspect(pair.refreshToken)).toMatchObject({
        active: true,
        token_type: 'refresh_token',
        sub: 'user-1',
        sid: session.id,
      });
      await refresh(pair.refreshToken);
      expect(await tokens.introspect(pair.refreshToken)).toEqual({ active: false });
    });

    it('introspects every kind of token, the hinted kind first, and changes nothing in the store', async () => {
      const { session, token } = await sessions.createSession('user-1', { ip: '203.0.113.7', userAgent: 'A/1' });
      const pair = await tokens.issueTokens(session);
      const before = await store.getSession(session.id);
      // Past the renewal interval: a validation would renew now; introspection must not.
      advance(120_000);
      const asked = [
        [token, 'session_token'],
        [pair.accessToken, 'Bearer'],
        [pair.refreshToken, 'refresh_token'],
      ] as const;
      const answers = await Promise.all(
        asked.flatMap(([value]) =>
          [undefined, 'access_token', 'refresh_token', 'session_token', 'unknown_hint'].map((tokenTypeHint) =>
            tokens.introspect(value, tokenTypeHint === undefined ? {} : { tokenTypeHint }),
          ),
        ),
      );
      for (const [index, [, type]] of asked.entries()) {
        for (const answer of answers.slice(index * 5, index * 5 + 5)) {
          expect(answer).toMatchObject({ active: true, token_type: type, sub: 'user-1', sid: session.id });
          expect(JSON.stringify(answer)).not.toContain(token);
        }
      }
      expect(await store.getSession(session.id)).toEqual(before);
      expect(events.filter((event) => event.type === 'session.renewed')).toEqual([]);

      expect(await tokens.introspect(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)).toEqual({
        active: false,
      });
      await sessions.revokeSession(session.id);
      expect(await tokens.introspect(token, { tokenTypeHint: 'session_token' })).toEqual({ active: false });
    });
  });
}
