import { describe, expect, it } from 'vitest';
import { isTesseraError, StoreUnavailableError } from '../errors/errors.js';
import { createSessionManager } from '../session/session-manager.js';
import type { Store } from '../store/types.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createTokenService, type TokenEvent, type TokenServiceOptions } from './token-service.js';

const T0 = 1_700_000_000_000;

async function setup(options: Partial<TokenServiceOptions> = {}) {
  let clock = T0;
  const now = (): number => clock;
  const store = createMemoryStore({ now });
  const sessions = createSessionManager(store, { now });
  const events: TokenEvent[] = [];
  const tokens = createTokenService({
    sessions,
    store,
    issuer: 'https://auth.example.test',
    audience: 'api',
    now,
    onEvent: (event) => events.push(event),
    ...options,
  });
  const { session } = await sessions.createSession('user-1');
  const pair = await tokens.issueTokens(session);
  return { store, sessions, tokens, session, pair, events, advance: (ms: number) => (clock += ms) };
}

describe('createTokenService options', () => {
  const base = () => {
    const store = createMemoryStore();
    return { sessions: createSessionManager(store), store, issuer: 'https://auth.example.test', audience: 'api' };
  };

  it('refuses bad options at construction, naming the option and the rule', () => {
    const cases: [Partial<TokenServiceOptions> & Record<string, unknown>, string][] = [
      [{ issuer: '' }, '"issuer" must be a non-empty string'],
      [{ audience: undefined }, '"audience" must be a non-empty string'],
      [{ audience: [] }, '"audience" must be a string or a list of 1 to 16 strings'],
      [{ audience: ['api', ''] }, '"audience" must be a non-empty string'],
      [{ algorithm: 'none' as never }, '"algorithm" must be one of "EdDSA", "ES256", "RS256", "HS256", got a string'],
      [{ algorithm: 'HS256' }, '"secrets" must be a non-empty list of secrets when "algorithm" is "HS256"'],
      [{ leewaySeconds: 300 }, '"leewaySeconds" must be an integer from 0 to 30, got 300'],
      [{ accessTokenTtlSeconds: 0 }, '"accessTokenTtlSeconds" must be an integer from 1 to 86400'],
      [{ refreshGraceSeconds: -1 }, '"refreshGraceSeconds" must be an integer from 0 to 60'],
      [{ revocationCheck: 'maybe' as never }, '"revocationCheck" must be one of "session", "blocklist", "none"'],
      [{ maxTokenLength: 100 }, '"maxTokenLength" must be an integer from 512 to 16384'],
      [{ now: 5 as never }, '"now" must be a function, got 5'],
      [{ sessions: {} as never }, '"sessions" must be a session manager'],
    ];
    for (const [override, message] of cases) {
      let caught: unknown;
      try {
        createTokenService({ ...base(), ...override });
      } catch (error) {
        caught = error;
      }
      expect(isTesseraError(caught) && caught.code).toBe('ERR_INVALID_OPTION');
      expect((caught as Error).message).toContain(message);
    }
  });
});

describe('issuer and audiences', () => {
  const claimsOf = (token: string) =>
    JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;

  it('several audiences: the token names them all; a service accepting any one of them verifies it', async () => {
    const { tokens, pair, store, sessions } = await setup({ audience: ['https://api.example.test', 'orders'] });
    expect(claimsOf(pair.accessToken).aud).toEqual(['https://api.example.test', 'orders']);
    expect((await tokens.verifyAccessToken(pair.accessToken)).ok).toBe(true);
    const ordersOnly = createTokenService({
      sessions,
      store,
      issuer: 'https://auth.example.test',
      audience: 'orders',
      now: () => T0,
    });
    expect((await ordersOnly.verifyAccessToken(pair.accessToken)).ok).toBe(true);
    const elsewhere = createTokenService({
      sessions,
      store,
      issuer: 'https://auth.example.test',
      audience: 'billing',
      now: () => T0,
    });
    expect((await elsewhere.verifyAccessToken(pair.accessToken)).reason).toBe('invalid');
  });

  it('an issuer given as a function is asked when signing and verifying', async () => {
    let origin = 'http://127.0.0.1:4100';
    const { tokens, pair } = await setup({ issuer: () => origin, audience: () => [origin] });
    expect(claimsOf(pair.accessToken)).toMatchObject({ iss: 'http://127.0.0.1:4100', aud: 'http://127.0.0.1:4100' });
    expect((await tokens.verifyAccessToken(pair.accessToken)).ok).toBe(true);
    origin = 'http://127.0.0.1:4200';
    expect((await tokens.introspect(pair.refreshToken)).active).toBe(true);
    expect((await tokens.introspect(pair.refreshToken)) as { iss?: string }).toMatchObject({ iss: origin });
  });
});

describe('revocation', () => {
  it('session check: a deleted or revoked session makes its access tokens fail', async () => {
    const { tokens, sessions, session, pair } = await setup();
    await sessions.revokeSession(session.id);
    expect((await tokens.verifyAccessToken(pair.accessToken)).reason).toBe('revoked');
    const other = await setup();
    await other.sessions.deleteSession(other.session.id);
    expect((await other.tokens.verifyAccessToken(other.pair.accessToken)).reason).toBe('revoked');
    const all = await setup();
    await all.sessions.revokeUserSessions('user-1');
    expect((await all.tokens.verifyAccessToken(all.pair.accessToken)).reason).toBe('revoked');
  });

  it('blocklist check: revokeAccessToken refuses that token only, and the entry lives until exp plus leeway', async () => {
    const { tokens, session, pair, store, advance, events } = await setup({ revocationCheck: 'blocklist' });
    const sibling = await tokens.issueTokens(session);
    expect(await tokens.revokeAccessToken(pair.accessToken)).toBe(true);
    expect(events).toContainEqual(expect.objectContaining({ type: 'access_token.revoked', sessionId: session.id }));
    expect((await tokens.verifyAccessToken(pair.accessToken)).reason).toBe('revoked');
    expect((await tokens.verifyAccessToken(sibling.accessToken)).ok).toBe(true);
    const jti = (await tokens.verifyAccessToken(sibling.accessToken)).claims!.jti;
    const revokedJti = JSON.parse(Buffer.from(pair.accessToken.split('.')[1]!, 'base64url').toString()).jti as string;
    expect(jti).not.toBe(revokedJti);
    advance((900 + 5) * 1000 - 1);
    expect(await store.get(`token:at-revoked:${revokedJti}`)).not.toBeNull();
    advance(1);
    expect(await store.get(`token:at-revoked:${revokedJti}`)).toBeNull();
    expect(await tokens.revokeAccessToken('not-a-token')).toBe(false);
  });

  it('logout blocklists the token and deletes the session, so every mode refuses it', async () => {
    for (const revocationCheck of ['session', 'blocklist'] as const) {
      const { tokens, sessions, session, pair } = await setup({ revocationCheck });
      expect(await tokens.logout(pair.accessToken)).toBe(true);
      expect((await tokens.verifyAccessToken(pair.accessToken)).reason).toBe('revoked');
      expect((await sessions.getSession(session.id)).ok).toBe(false);
      expect((await tokens.refreshTokens(pair.refreshToken)).reason).toBe('revoked');
    }
  });

  it('fails closed: a store that cannot answer throws StoreUnavailableError, never "valid"', async () => {
    const { tokens, pair, store } = await setup();
    const broken: Store = {
      ...store,
      getSession: async () => {
        throw new Error('connection refused');
      },
      get: async () => {
        throw new Error('connection refused');
      },
    };
    const sessions = createSessionManager(broken);
    const onBroken = createTokenService({
      sessions,
      store: broken,
      issuer: 'https://auth.example.test',
      audience: 'api',
    });
    await expect(onBroken.verifyAccessToken(pair.accessToken)).rejects.toBeInstanceOf(StoreUnavailableError);
    const verifying = createTokenService({ sessions, store: broken, issuer: 'x', audience: 'api' });
    await expect(verifying.refreshTokens(pair.refreshToken)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect((await tokens.verifyAccessToken(pair.accessToken)).ok).toBe(true);
  });

  it('ignores an event hook that throws', async () => {
    const { pair, tokens } = await setup({
      onEvent: () => {
        throw new Error('hook bug');
      },
    });
    expect((await tokens.refreshTokens(pair.refreshToken)).ok).toBe(true);
  });
});

describe('findRefreshTokenUser', () => {
  it('names the user of an authentic refresh token, spent or revoked too, and nobody for a forged one', async () => {
    const { tokens, sessions, session, pair } = await setup();
    expect(await tokens.findRefreshTokenUser(pair.refreshToken)).toBe('user-1');
    const rotated = await tokens.refreshTokens(pair.refreshToken);
    expect(rotated.ok).toBe(true);
    expect(await tokens.findRefreshTokenUser(pair.refreshToken)).toBe('user-1');
    await sessions.revokeUserSessions(session.userId);
    expect(await tokens.findRefreshTokenUser(rotated.tokens!.refreshToken)).toBe('user-1');
    const [id, secret] = pair.refreshToken.split('.') as [string, string];
    const forged = `${id}.${secret.startsWith('A') ? 'B' : 'A'}${secret.slice(1)}`;
    expect(await tokens.findRefreshTokenUser(forged)).toBeNull();
    expect(await tokens.findRefreshTokenUser('garbage')).toBeNull();
    expect(await tokens.findRefreshTokenUser(pair.accessToken)).toBeNull();
  });
});

describe('introspection', () => {
  it('describes an active access token in the RFC 7662 shape', async () => {
    const { tokens, session, pair } = await setup({ clientId: 'mobile-app' });
    expect(await tokens.introspect(pair.accessToken)).toEqual({
      active: true,
      token_type: 'Bearer',
      sub: 'user-1',
      sid: session.id,
      exp: T0 / 1000 + 900,
      iat: T0 / 1000,
      iss: 'https://auth.example.test',
      aud: 'api',
      jti: expect.any(String),
      client_id: 'mobile-app',
    });
  });

  it('says only active: false for revoked, blocklisted, expired or garbage tokens', async () => {
    const { tokens, pair, advance } = await setup({ revocationCheck: 'none' });
    await tokens.revokeAccessToken(pair.accessToken);
    expect(await tokens.introspect(pair.accessToken)).toEqual({ active: false });
    const other = await setup();
    await other.sessions.revokeSession(other.session.id);
    expect(await other.tokens.introspect(other.pair.accessToken)).toEqual({ active: false });
    const fresh = await tokens.issueTokens((await setup()).session);
    advance(3_600_000);
    expect(await tokens.introspect(fresh.accessToken)).toEqual({ active: false });
    for (const garbage of [undefined, '', 'x.y.z', 'a'.repeat(66)]) {
      expect(await tokens.introspect(garbage)).toEqual({ active: false });
    }
  });
});

describe('keyStore', () => {
  it('keeps the signing keys in their own store: services sharing it verify each other’s tokens', async () => {
    const keyStore = createMemoryStore();
    const make = () => {
      const store = createMemoryStore();
      const sessions = createSessionManager(store);
      const tokens = createTokenService({
        sessions,
        store,
        keyStore,
        issuer: 'https://auth.example.test',
        audience: 'api',
        revocationCheck: 'none',
      });
      return { store, sessions, tokens };
    };
    const first = make();
    const second = make();
    const { session } = await first.sessions.createSession('user-1');
    const pair = await first.tokens.issueTokens(session);
    expect((await second.tokens.verifyAccessToken(pair.accessToken)).claims?.sub).toBe('user-1');
    expect(await second.tokens.jwks()).toEqual(await first.tokens.jwks());
    const alone = createTokenService({
      sessions: first.sessions,
      store: createMemoryStore(),
      issuer: 'https://auth.example.test',
      audience: 'api',
      revocationCheck: 'none',
    });
    expect((await alone.verifyAccessToken(pair.accessToken)).reason).toBe('invalid');
  });
});
