import { describe, expect, it } from 'vitest';
import { createLoginThrottle, memoryRateLimiters } from '../core/rate-limit/rate-limit.js';
import { createRequestLimit } from '../core/rate-limit/rate-limit.js';
import { createSessionManager } from '../core/session/session-manager.js';
import { createMemoryStore } from '../stores/memory/memory-store.js';
import { createFaultyStore } from '../../test/support/failing-store.js';
import { createTokenService } from '../core/token/token-service.js';
import { createHttpAuth, type HttpAuthEvent, type RequestFacts } from './http-auth.js';

const ORIGIN = 'https://auth.example.com';
const secret = 'c'.repeat(32);

function setup() {
  const store = createFaultyStore(createMemoryStore());
  const sessions = createSessionManager(store);
  const events: HttpAuthEvent[] = [];
  const auth = createHttpAuth({
    sessions,
    csrfSecrets: [secret],
    loginThrottle: createLoginThrottle({ limiters: memoryRateLimiters, keySecret: secret, maxAttemptsPerAccount: 2 }),
    sessionRequestLimit: createRequestLimit({ limiters: memoryRateLimiters, points: 3, durationSeconds: 60 }),
    onEvent: (event) => events.push(event),
  });
  return { store, sessions, auth, events };
}

function request(method: string, headers: Record<string, string> = {}, url = '/'): RequestFacts {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, url, headers: (name) => lower[name], ip: '192.0.2.10', origin: ORIGIN };
}

async function signedIn(auth: ReturnType<typeof setup>['auth']) {
  const anonymous = await auth.authenticate(request('POST'));
  if (!anonymous.ok) throw new Error('unexpected');
  const login = await auth.login(request('POST', { 'user-agent': 'UA/1' }), anonymous.value, {
    account: 'alice@example.com',
    verify: async () => 'user-alice',
  });
  if (!login.ok || login.value.transport !== 'cookie') throw new Error('login failed');
  const cookie = login.value.setCookies[0]!.split(';')[0]!;
  return { cookie, csrfToken: login.value.csrfToken, session: login.value.session };
}

describe('authenticate', () => {
  it('refuses any credential in the URL with 400 invalid_request', async () => {
    const { auth } = setup();
    for (const url of ['/auth/me?access_token=x', '/?token=abc', '/?foo=1&Session=2', '/?_csrf=abc']) {
      const result = await auth.authenticate(request('GET', {}, url));
      expect(result.ok ? null : result.error.code, url).toBe('invalid_request');
    }
    expect((await auth.authenticate(request('GET', {}, '/auth/me?page=2'))).ok).toBe(true);
  });

  it('refuses a password in the URL too, on any route (sign-in included)', async () => {
    const { auth } = setup();
    for (const url of ['/auth/login?email=a@b.c&password=hunter2', '/auth/signup?Password=x', '/?new_password=x']) {
      const result = await auth.authenticate(request('POST', {}, url));
      expect(result.ok ? null : result.error.code, url).toBe('invalid_request');
    }
  });

  it('authenticates a session cookie', async () => {
    const { auth } = setup();
    const { cookie, session } = await signedIn(auth);
    const result = await auth.authenticate(request('GET', { cookie: `other=1; ${cookie}` }));
    expect(result.ok && result.value.session?.id).toBe(session.id);
    expect(result.ok && result.value.transport).toBe('cookie');
  });

  it('clears a garbage cookie or one that names no session, and treats the request as anonymous', async () => {
    const { auth } = setup();
    for (const value of ['garbage%%', 'A'.repeat(26) + '.' + 'B'.repeat(43)]) {
      const result = await auth.authenticate(request('GET', { cookie: `__Host-tessera=${value}` }));
      expect(result.ok && result.value.session).toBeNull();
      expect(result.ok && result.value.setCookies[0]).toMatch(/^__Host-tessera=; .*Max-Age=0/);
    }
  });

  it('says why a session ended: revoked', async () => {
    const { auth, sessions } = setup();
    const { cookie, session } = await signedIn(auth);
    await sessions.revokeSession(session.id);
    const result = await auth.authenticate(request('GET', { cookie }));
    expect(result.ok && auth.requireAuth(result.value)?.code).toBe('session_revoked');
  });

  it('answers a malformed or unsupported bearer header with invalid_token and a challenge', async () => {
    const { auth } = setup();
    for (const header of ['Bearer', 'Bearer a b', 'Bearer <script>', 'bearer abc.def.ghi']) {
      const result = await auth.authenticate(request('GET', { authorization: header }));
      const error = result.ok ? auth.requireAuth(result.value) : result.error;
      expect(error?.code, header).toBe('invalid_token');
      expect(error?.headers['WWW-Authenticate']).toBe('Bearer error="invalid_token"');
    }
  });

  it('answers 503 when the store is down, never anonymous', async () => {
    const { auth, store } = setup();
    const { cookie } = await signedIn(auth);
    store.down = true;
    const result = await auth.authenticate(request('GET', { cookie }));
    expect(result.ok ? null : result.error).toMatchObject({ status: 503, code: 'unavailable' });
  });
});

describe('verifyCSRF', () => {
  it('lets safe methods through and demands the session’s token on the others', async () => {
    const { auth, events } = setup();
    const { cookie, csrfToken } = await signedIn(auth);
    const other = await signedIn(auth);
    const state = async (method: string, headers: Record<string, string>) => {
      const facts = request(method, { cookie, ...headers });
      const result = await auth.authenticate(facts);
      if (!result.ok) throw new Error('unexpected');
      return auth.verifyCSRF(facts, result.value)?.code ?? 'ok';
    };
    expect(await state('GET', {})).toBe('ok');
    expect(await state('POST', { 'x-csrf-token': csrfToken, origin: ORIGIN })).toBe('ok');
    expect(await state('DELETE', { 'x-csrf-token': csrfToken })).toBe('ok');
    expect(await state('POST', {})).toBe('csrf_failed');
    expect(await state('POST', { 'x-csrf-token': 'wrong' })).toBe('csrf_failed');
    expect(await state('POST', { 'x-csrf-token': other.csrfToken })).toBe('csrf_failed');
    expect(await state('POST', { 'x-csrf-token': csrfToken, 'sec-fetch-site': 'cross-site' })).toBe('csrf_failed');
    expect(await state('POST', { 'x-csrf-token': csrfToken, origin: 'null' })).toBe('csrf_failed');
    expect(await state('POST', { 'x-csrf-token': csrfToken, origin: 'https://evil.example' })).toBe('csrf_failed');
    expect(await state('GET', { 'x-http-method-override': 'DELETE' })).toBe('csrf_failed');
    expect(events.filter((e) => e.type === 'csrf.rejected').map((e) => e.type === 'csrf.rejected' && e.reason)).toEqual(
      ['missing_token', 'bad_token', 'bad_token', 'cross_site', 'origin_null', 'origin_not_allowed', 'missing_token'],
    );
  });

  it('accepts the token from a _csrf form field', async () => {
    const { auth } = setup();
    const { cookie, csrfToken } = await signedIn(auth);
    const facts = { ...request('POST', { cookie }), csrfField: csrfToken };
    const result = await auth.authenticate(facts);
    expect(result.ok && auth.verifyCSRF(facts, result.value)).toBeNull();
  });
});

describe('login and logout', () => {
  it('never reuses the session the client came with (fixation)', async () => {
    const { auth } = setup();
    const first = await signedIn(auth);
    const before = await auth.authenticate(request('POST', { cookie: first.cookie }));
    if (!before.ok) throw new Error('unexpected');
    const again = await auth.login(request('POST', { cookie: first.cookie }), before.value, {
      account: 'alice@example.com',
      verify: async () => 'user-alice',
    });
    expect(again.ok && again.value.session.id).not.toBe(first.session.id);
    const old = await auth.authenticate(request('GET', { cookie: first.cookie }));
    expect(old.ok && old.value.session).toBeNull();
  });

  it('hands back who the rest of the request is: the new cookie session after login, nobody after logout', async () => {
    const { auth } = setup();
    const first = await signedIn(auth);
    const before = await auth.authenticate(request('POST', { cookie: first.cookie }));
    if (!before.ok) throw new Error('unexpected');
    const login = await auth.login(request('POST', { cookie: first.cookie }), before.value, {
      account: 'alice@example.com',
      verify: async () => 'user-alice',
    });
    if (!login.ok) throw new Error('login failed');
    expect(login.value.state).toMatchObject({ transport: 'cookie', session: { id: login.value.session.id } });
    expect(auth.csrfToken(login.value.state)).toEqual(expect.any(String));
    const out = await auth.logout(login.value.state);
    expect(out.ok && out.value.state).toMatchObject({ transport: null, session: null, failure: null });
    expect(out.ok && auth.csrfToken(out.value.state)).toBeNull();
  });

  it('throttles failed logins with 429 and Retry-After, and answers bad credentials with 401', async () => {
    const { auth } = setup();
    const anonymous = await auth.authenticate(request('POST'));
    if (!anonymous.ok) throw new Error('unexpected');
    const attempt = { account: 'bob@example.com', verify: async () => null };
    const codes = [];
    for (let i = 0; i < 3; i++) {
      const result = await auth.login(request('POST'), anonymous.value, attempt);
      codes.push(result.ok ? 'ok' : result.error.code);
      if (!result.ok && result.error.code === 'rate_limited') {
        expect(Number(result.error.headers['Retry-After'])).toBeGreaterThan(0);
      }
    }
    expect(codes).toEqual(['invalid_credentials', 'invalid_credentials', 'rate_limited']);
  });

  it('logs out for good and clears the cookie', async () => {
    const { auth } = setup();
    const { cookie } = await signedIn(auth);
    const state = await auth.authenticate(request('POST', { cookie }));
    if (!state.ok) throw new Error('unexpected');
    const out = await auth.logout(state.value);
    expect(out.ok && out.value.setCookies[0]).toMatch(/Max-Age=0/);
    const after = await auth.authenticate(request('GET', { cookie }));
    expect(after.ok && after.value.session).toBeNull();
  });

  it('limits requests per session when configured', async () => {
    const { auth } = setup();
    const { cookie } = await signedIn(auth);
    const facts = request('GET', { cookie });
    const state = await auth.authenticate(facts);
    if (!state.ok) throw new Error('unexpected');
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push((await auth.limitRequest(facts, state.value))?.code ?? 'ok');
    expect(codes).toEqual(['ok', 'ok', 'ok', 'rate_limited']);
  });

  it('checks the request source of a login (login CSRF)', () => {
    const { auth } = setup();
    expect(auth.verifyRequestSource(request('POST', { 'sec-fetch-site': 'cross-site' }))?.code).toBe('csrf_failed');
    expect(auth.verifyRequestSource(request('POST', { origin: ORIGIN }))).toBeNull();
  });

  it('compares Origin with the configured own origin, never with the one the Host header made', async () => {
    const own = 'https://auth.example.com';
    const rebinding = 'http://evil.example:3000';
    for (const ownOrigin of [own, () => own]) {
      const auth = createHttpAuth({
        sessions: createSessionManager(createMemoryStore()),
        csrfSecrets: [secret],
        ownOrigin,
      });
      // A DNS-rebinding page: its Host and Origin agree with each other, not with the server.
      const forged: RequestFacts = { ...request('POST', { origin: rebinding }), origin: rebinding };
      expect(auth.verifyRequestSource(forged)?.code).toBe('csrf_failed');
      expect(
        auth.verifyRequestSource({ ...forged, headers: (name) => (name === 'origin' ? own : undefined) }),
      ).toBeNull();
    }
  });
});

describe('bearer transport', () => {
  async function bearerSetup() {
    let clock = Date.now();
    const store = createFaultyStore(createMemoryStore({ now: () => clock }));
    const sessions = createSessionManager(store, { now: () => clock });
    const tokens = createTokenService({
      sessions,
      store,
      issuer: ORIGIN,
      audience: ORIGIN,
      refreshGraceSeconds: 10,
      now: () => clock,
    });
    const auth = createHttpAuth({ sessions, tokens, csrfSecrets: [secret] });
    const anonymous = await auth.authenticate(request('POST'));
    if (!anonymous.ok) throw new Error('unexpected');
    const login = await auth.login(request('POST'), anonymous.value, {
      account: 'alice@example.com',
      verify: async () => 'user-alice',
      transport: 'token',
    });
    if (!login.ok || login.value.transport !== 'token') throw new Error('login failed');
    return {
      auth,
      store,
      tokens: login.value.tokens,
      loginState: login.value.state,
      advance: (ms: number) => (clock += ms),
    };
  }

  it('logs in with a token pair, authenticates with one store round trip, and needs no CSRF', async () => {
    const { auth, store, tokens, loginState } = await bearerSetup();
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
    expect(loginState).toMatchObject({ transport: null, session: null });
    const before = store.calls.getSession ?? 0;
    const facts = request('POST', { authorization: `Bearer ${tokens.access_token}` });
    const state = await auth.authenticate(facts);
    expect(state.ok && state.value.transport).toBe('bearer');
    expect(state.ok && state.value.session?.userId).toBe('user-alice');
    expect((store.calls.getSession ?? 0) - before).toBe(1);
    expect(state.ok && auth.verifyCSRF(facts, state.value)).toBeNull();
  });

  it('answers an expired access token with token_expired', async () => {
    const { auth, tokens, advance } = await bearerSetup();
    advance(16 * 60 * 1000);
    const state = await auth.authenticate(request('GET', { authorization: `Bearer ${tokens.access_token}` }));
    expect(state.ok && auth.requireAuth(state.value)?.code).toBe('token_expired');
  });

  it('refreshes, detects reuse, and refuses a missing refresh token with 400', async () => {
    const { auth, tokens, advance } = await bearerSetup();
    const next = await auth.refresh(request('POST'), tokens.refresh_token);
    expect(next.ok && next.value.refresh_token).not.toBe(tokens.refresh_token);
    expect((await auth.refresh(request('POST'), undefined)).ok ? null : 'refused').toBe('refused');
    const missing = await auth.refresh(request('POST'), '');
    expect(missing.ok ? null : missing.error.status).toBe(400);
    advance(11_000);
    const reused = await auth.refresh(request('POST'), tokens.refresh_token);
    expect(reused.ok ? null : reused.error.code).toBe('refresh_reused');
    const after = await auth.authenticate(request('GET', { authorization: `Bearer ${tokens.access_token}` }));
    expect(after.ok && auth.requireAuth(after.value)?.code).toBe('invalid_token');
  });

  it('refuses a logout with an invalid bearer (401 invalid_token, challenge) even beside a valid cookie', async () => {
    const { auth } = await bearerSetup();
    const { cookie, session } = await signedIn(auth);
    for (const authorization of ['Bearer not-a-token', 'Bearer', 'bearer eyJhbGciOiJub25lIn0.e30.']) {
      const state = await auth.authenticate(request('POST', { authorization, cookie }));
      if (!state.ok) throw new Error('unexpected');
      const out = await auth.logout(state.value);
      expect(out.ok ? 'ok' : [out.error.code, out.error.headers['WWW-Authenticate']], authorization).toEqual([
        'invalid_token',
        'Bearer error="invalid_token"',
      ]);
    }
    const still = await auth.authenticate(request('GET', { cookie }));
    expect(still.ok && still.value.session?.id).toBe(session.id);
  });

  it('logs out: the access token stops working and the session is gone', async () => {
    const { auth, tokens } = await bearerSetup();
    const facts = request('POST', { authorization: `Bearer ${tokens.access_token}` });
    const state = await auth.authenticate(facts);
    if (!state.ok) throw new Error('unexpected');
    const out = await auth.logout(state.value);
    expect(out.ok && out.value.setCookies).toEqual([]);
    const after = await auth.authenticate(facts);
    expect(after.ok && after.value.session).toBeNull();
    expect((await auth.refresh(request('POST'), tokens.refresh_token)).ok).toBe(false);
  });
});
