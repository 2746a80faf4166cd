import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLoginThrottle, type LoginThrottle } from '../core/rate-limit/rate-limit.js';
import { createRequestLimit } from '../core/rate-limit/rate-limit.js';
import { createLeasedRequestLimit } from '../core/rate-limit/leased-limit.js';
import { createSessionManager } from '../core/session/session-manager.js';
import { createMemoryStore } from '../stores/memory/memory-store.js';
import { createTokenService } from '../core/token/token-service.js';
import { createHttpAuth, type HttpAuth, type HttpAuthEvent, type HttpResult, type RequestFacts } from './http-auth.js';
import { apiError } from './api-error.js';
import { createFaultyStore } from 'tessera-auth/testing';

const ORIGIN = 'https://auth.example.com';
const secret = 'c'.repeat(32);

function setup() {
  const store = createFaultyStore(createMemoryStore());
  const sessions = createSessionManager(store);
  const events: HttpAuthEvent[] = [];
  const auth = createHttpAuth({
    sessions,
    csrfSecrets: [secret],
    loginThrottle: createLoginThrottle({ store: createMemoryStore(), keySecret: secret, maxAttemptsPerAccount: 2 }),
    sessionRequestLimit: createRequestLimit({ store: createMemoryStore(), points: 3, durationSeconds: 60 }),
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

  it('starts a leased budget beside the session read; CSRF on a safe method and a held lease cost no store call', async () => {
    const store = createFaultyStore(createMemoryStore());
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const order: string[] = [];
    const sessions = createSessionManager({
      ...store,
      getSession: async (id: string) => {
        order.push('getSession');
        await gate;
        return store.getSession(id);
      },
    });
    const limit = createLeasedRequestLimit({ store, points: 100, durationSeconds: 60 });
    const auth = createHttpAuth({ sessions, csrfSecrets: [secret], sessionRequestLimit: limit });
    const { token } = await sessions.createSession('user-alice');
    const facts = request('GET', { cookie: `${auth.cookie.name}=${token}` });
    const pending = auth.authenticate(facts);
    await new Promise((resolve) => setImmediate(resolve));
    // Both are on their way before the session read has answered.
    expect(order).toEqual(['getSession']);
    expect(store.calls.increment).toBe(1);
    release();
    const state = await pending;
    if (!state.ok) throw new Error('unexpected');
    const before = { ...store.calls };
    expect(auth.verifyCSRF(facts, state.value)).toBeNull();
    expect(await auth.limitRequest(facts, state.value)).toBeNull();
    expect(auth.requireAuth(state.value)).toBeNull();
    expect(store.calls).toEqual(before);
  });

  it('never touches the per-session budget for a malformed or missing credential', async () => {
    const store = createFaultyStore(createMemoryStore());
    const sessions = createSessionManager(store);
    const limit = createLeasedRequestLimit({ store, points: 100, durationSeconds: 60 });
    const auth = createHttpAuth({ sessions, csrfSecrets: [secret], sessionRequestLimit: limit });
    const requests = [
      request('GET', { cookie: '__Host-tessera=garbage' }),
      request('GET', { cookie: `__Host-tessera=${'A'.repeat(26)}.${'B'.repeat(42)}` }),
      request('GET', { authorization: 'Bearer not a token' }),
      request('GET'),
    ];
    for (const facts of requests) {
      const state = await auth.authenticate(facts);
      if (!state.ok) throw new Error('unexpected');
      expect(await auth.limitRequest(facts, state.value)).toBeNull();
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.calls.increment ?? 0).toBe(0);
  });

  it('checks the request source of a login (login CSRF)', () => {
    const { auth } = setup();
    expect(auth.verifyRequestSource(request('POST', { 'sec-fetch-site': 'cross-site' }))?.code).toBe('csrf_failed');
    expect(auth.verifyRequestSource(request('POST', { origin: ORIGIN }))).toBeNull();
  });

  it('refuses a burst of sign-ins from another site itself: login, startSession and verifyCredentials never check the password or start a session', async () => {
    const { auth, sessions, events } = setup();
    const anonymous = await auth.authenticate(request('POST'));
    if (!anonymous.ok) throw new Error('unexpected');
    let verified = 0;
    const attempt = { account: 'alice@example.com', verify: async () => (verified++, 'user-alice') };
    const foreign = [
      { 'sec-fetch-site': 'cross-site' } as Record<string, string>,
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'same-site' },
    ].map((headers) => request('POST', headers));
    const answers = await Promise.all(
      foreign.flatMap((facts) => [
        auth.login(facts, anonymous.value, attempt),
        auth.login(facts, anonymous.value, { ...attempt, transport: 'token' }),
        auth.startSession(facts, anonymous.value, 'user-alice', { account: 'alice@example.com' }),
        auth.verifyCredentials(facts, attempt),
      ]),
    );
    for (const answer of answers) expect(answer.ok ? 'ok' : answer.error.code).toBe('csrf_failed');
    expect(verified).toBe(0);
    expect(await sessions.listUserSessions('user-alice')).toEqual([]);
    expect(events.filter((event) => event.type === 'csrf.rejected')).toHaveLength(answers.length);
    expect(events.some((event) => event.type === 'login.failed' || event.type === 'rate_limit.exceeded')).toBe(false);
    // The throttle was not charged: a same-site login right after goes through.
    const same = await auth.login(request('POST', { origin: ORIGIN }), anonymous.value, attempt);
    expect(same.ok).toBe(true);
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

describe('login throttle, device cookies and confirm', () => {
  const from = (ip: string, headers: Record<string, string> = {}): RequestFacts => ({
    ...request('POST', headers),
    ip,
  });
  const nobody = async (auth: HttpAuth) => {
    const state = await auth.authenticate(request('POST'));
    if (!state.ok) throw new Error('unexpected');
    return state.value;
  };
  const codesOf = (results: HttpResult<unknown>[]): Record<string, number> => {
    const codes: Record<string, number> = {};
    for (const result of results) {
      const code = result.ok ? 'ok' : result.error.code;
      codes[code] = (codes[code] ?? 0) + 1;
    }
    return codes;
  };
  const slowVerify = (userId: string | null, calls: { count: number }) => async () => {
    calls.count++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    return userId;
  };

  it('is throttled by default: a burst of 30 wrong passwords has 10 evaluated, the rest 429', async () => {
    const auth = createHttpAuth({ sessions: createSessionManager(createMemoryStore()), csrfSecrets: [secret] });
    const state = await nobody(auth);
    const calls = { count: 0 };
    const burst = await Promise.all(
      Array.from({ length: 30 }, () =>
        auth.login(from('192.0.2.1'), state, { account: 'alice', verify: slowVerify(null, calls) }),
      ),
    );
    expect(codesOf(burst)).toEqual({ invalid_credentials: 10, rate_limited: 20 });
    expect(calls.count).toBe(10);
  });

  it('evaluates every attempt only when told to with loginThrottle: false', async () => {
    const auth = createHttpAuth({
      sessions: createSessionManager(createMemoryStore()),
      csrfSecrets: [secret],
      loginThrottle: false,
    });
    const state = await nobody(auth);
    const burst = await Promise.all(
      Array.from({ length: 30 }, () =>
        auth.login(from('192.0.2.1'), state, { account: 'a', verify: async () => null }),
      ),
    );
    expect(codesOf(burst)).toEqual({ invalid_credentials: 30 });
    expect(() =>
      createHttpAuth({
        sessions: createSessionManager(createMemoryStore()),
        csrfSecrets: [secret],
        loginThrottle: {} as LoginThrottle,
      }),
    ).toThrow('"loginThrottle" must be a login throttle (createLoginThrottle) or false');
  });

  it('warns once when NODE_ENV=production and the counters live in process memory', () => {
    const previous = process.env.NODE_ENV;
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (_: object, message?: string) => warnings.push(message!),
    };
    const sessions = createSessionManager(createMemoryStore());
    try {
      process.env.NODE_ENV = 'production';
      for (let i = 0; i < 3; i++) createHttpAuth({ sessions, csrfSecrets: [secret], logger });
      createHttpAuth({
        sessions,
        csrfSecrets: [secret],
        loginThrottle: createLoginThrottle({ store: createMemoryStore(), keySecret: secret }),
        logger,
      });
    } finally {
      process.env.NODE_ENV = previous;
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('shared backend');
  });

  it('charges before verify: of 50 parallel wrong logins 2 are evaluated, and the right password after gets 429', async () => {
    const { auth, events } = setup();
    const state = await nobody(auth);
    const calls = { count: 0 };
    const burst = await Promise.all(
      Array.from({ length: 50 }, () =>
        auth.login(from('192.0.2.1'), state, { account: 'carol', verify: slowVerify(null, calls) }),
      ),
    );
    expect(codesOf(burst)).toEqual({ invalid_credentials: 2, rate_limited: 48 });
    expect(calls.count).toBe(2);
    const right = await auth.login(from('192.0.2.2'), state, { account: 'carol', verify: async () => 'user-carol' });
    expect(right.ok ? null : right.error.code).toBe('rate_limited');
    expect(right.ok ? null : Number(right.error.headers['Retry-After'])).toBeGreaterThan(800);
    // The audit event names the account tried, for the sink to fingerprint; never the password.
    expect(events).toContainEqual({ type: 'login.failed', account: 'carol', ip: '192.0.2.1' });
  });

  it('gives a known device its own budget: it signs in through a lockout, unknown clients get 429, its burst is limited', async () => {
    const { auth, events } = setup();
    const state = await nobody(auth);
    const first = await auth.login(from('192.0.2.1'), state, { account: 'dave', verify: async () => 'user-dave' });
    if (!first.ok) throw new Error('login failed');
    expect(first.value.newDevice).toBe(true);
    const deviceCookie = first.value.setCookies.find((value) => value.startsWith('__Host-tessera-device='))!;
    expect(deviceCookie).toMatch(/; HttpOnly; Secure; SameSite=Strict$/);
    const device = { cookie: deviceCookie.split(';')[0]! };

    // Failures from elsewhere lock the account for every unknown client, the right password included.
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        auth.login(from(`203.0.113.${i}`), state, { account: 'dave', verify: async () => null }),
      ),
    );
    const stranger = await auth.login(from('198.51.100.1'), state, {
      account: 'dave',
      verify: async () => 'user-dave',
    });
    expect(stranger.ok ? null : stranger.error.code).toBe('rate_limited');

    const known = await auth.login(from('192.0.2.1', device), state, {
      account: 'dave',
      verify: async () => 'user-dave',
    });
    expect(known.ok && known.value.newDevice).toBe(false);
    expect(events.filter((event) => event.type === 'login.succeeded').map((event) => event.newDevice)).toEqual([
      true,
      false,
    ]);
    // The cookie is bound to its account: for another account the client is unknown.
    const elsewhere = await auth.login(from('192.0.2.1', device), state, { account: 'erin', verify: async () => 'e' });
    expect(elsewhere.ok && elsewhere.value.newDevice).toBe(true);

    const calls = { count: 0 };
    const burst = await Promise.all(
      Array.from({ length: 20 }, () =>
        auth.login(from('192.0.2.1', device), state, { account: 'dave', verify: slowVerify(null, calls) }),
      ),
    );
    expect(codesOf(burst)).toEqual({ invalid_credentials: 2, rate_limited: 18 });
    expect(calls.count).toBe(2);
  });

  it('deletes the new session and answers 401 when confirm says no, on both transports', async () => {
    const store = createMemoryStore();
    const sessions = createSessionManager(store);
    const tokens = createTokenService({ sessions, store, issuer: ORIGIN, audience: ORIGIN });
    const events: HttpAuthEvent[] = [];
    const auth = createHttpAuth({ sessions, tokens, csrfSecrets: [secret], onEvent: (event) => events.push(event) });
    const state = await nobody(auth);
    for (const transport of ['cookie', 'token'] as const) {
      let confirmed: string | null = null;
      const result = await auth.login(from('192.0.2.1'), state, {
        account: 'frank',
        verify: async () => 'user-frank',
        transport,
        confirm: async (session) => {
          confirmed = session.id;
          return false;
        },
      });
      expect(result.ok ? null : [result.error.status, result.error.code]).toEqual([401, 'invalid_credentials']);
      expect(confirmed).not.toBeNull();
      expect((await sessions.getSession(confirmed!)).ok).toBe(false);
    }
    expect(await sessions.listUserSessions('user-frank')).toEqual([]);
    expect(events.some((event) => event.type === 'login.succeeded')).toBe(false);
  });

  it('answers the error confirm returns (an account disabled) and deletes the new session, without a failed-login event', async () => {
    const store = createMemoryStore();
    const sessions = createSessionManager(store);
    const tokens = createTokenService({ sessions, store, issuer: ORIGIN, audience: ORIGIN });
    const events: HttpAuthEvent[] = [];
    const auth = createHttpAuth({ sessions, tokens, csrfSecrets: [secret], onEvent: (event) => events.push(event) });
    const state = await nobody(auth);
    for (const transport of ['cookie', 'token'] as const) {
      const result = await auth.login(from('192.0.2.1'), state, {
        account: 'grace',
        verify: async () => 'user-grace',
        transport,
        confirm: async () => apiError('account_disabled'),
      });
      expect(result.ok ? null : [result.error.status, result.error.code]).toEqual([403, 'account_disabled']);
    }
    expect(await sessions.listUserSessions('user-grace')).toEqual([]);
    expect(events.map((event) => event.type)).toEqual([]);
  });

  it('leaves no usable session from an old password, whichever side of a password change its confirm lands', async () => {
    const store = createMemoryStore();
    const sessions = createSessionManager(store);
    const tokens = createTokenService({ sessions, store, issuer: ORIGIN, audience: ORIGIN });
    const auth = createHttpAuth({ sessions, tokens, csrfSecrets: [secret] });
    const state = await nobody(auth);
    let hash = 'argon2-old';
    const changePassword = async (): Promise<void> => {
      hash = `argon2-new-${randomUUID()}`;
      await sessions.revokeUserSessions('user-gina', { reason: 'password_changed' });
    };
    for (const transport of ['cookie', 'token'] as const) {
      for (const changeWhile of ['verifying', 'confirming'] as const) {
        hash = 'argon2-old';
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        let seen = '';
        const login = auth.login(from('192.0.2.1'), state, {
          account: 'gina',
          transport,
          verify: async () => {
            seen = hash;
            if (changeWhile === 'verifying') await gate;
            return 'user-gina';
          },
          confirm: async () => {
            if (changeWhile === 'confirming') await gate;
            return hash === seen;
          },
        });
        await new Promise((resolve) => setTimeout(resolve, 5));
        // The change writes the hash, then revokes: the order the server keeps.
        if (changeWhile === 'confirming') {
          const before = hash;
          await changePassword();
          release();
          // confirm ran after the change here, so it must refuse; but had it read first, the revocation ends the session.
          expect(before).not.toBe(hash);
        } else {
          await changePassword();
          release();
        }
        const result = await login;
        expect(result.ok, `${transport} while ${changeWhile}`).toBe(false);
        expect(await sessions.listUserSessions('user-gina'), `${transport} while ${changeWhile}`).toEqual([]);
      }
    }
  });

  it('checks a password for a password change under the same budget, without a session', async () => {
    const { auth } = setup();
    const state = await nobody(auth);
    const signedInOnce = await auth.login(from('192.0.2.1'), state, { account: 'hal', verify: async () => 'user-hal' });
    if (!signedInOnce.ok) throw new Error('login failed');
    const device = { cookie: signedInOnce.value.setCookies[1]!.split(';')[0]! };
    const wrong = await auth.verifyCredentials(from('203.0.113.1'), { account: 'hal', verify: async () => null });
    expect(wrong.ok ? null : [wrong.error.status, wrong.error.code]).toEqual([401, 'invalid_credentials']);
    await auth.verifyCredentials(from('203.0.113.1'), { account: 'hal', verify: async () => null });
    const locked = await auth.verifyCredentials(from('203.0.113.1'), {
      account: 'hal',
      verify: async () => 'user-hal',
    });
    expect(locked.ok ? null : locked.error.code).toBe('rate_limited');
    // The owner's own browser keeps its budget, and its device cookie is refreshed.
    const mine = await auth.verifyCredentials(from('192.0.2.1', device), {
      account: 'hal',
      verify: async () => 'user-hal',
    });
    expect(mine.ok && mine.value).toMatchObject({ userId: 'user-hal', newDevice: false });
    expect(mine.ok && mine.value.setCookies[0]).toMatch(/^__Host-tessera-device=/);
  });
});

describe('step-up', () => {
  it('refuses a missing or bad maxAgeSeconds as misuse, and lets a sign-in exactly at the limit through', async () => {
    let clock = Date.UTC(2026, 0, 1);
    const sessions = createSessionManager(createMemoryStore({ now: () => clock }), { now: () => clock });
    const auth = createHttpAuth({ sessions, csrfSecrets: [secret], loginThrottle: false, now: () => clock });
    const { cookie } = await signedIn(auth);
    const state = await auth.authenticate(request('GET', { cookie }));
    if (!state.ok) throw new Error('unexpected');
    for (const maxAgeSeconds of [0, -1, 1.5, undefined]) {
      expect(() => auth.requireRecentAuth(state.value, { maxAgeSeconds } as { maxAgeSeconds: number })).toThrow(
        /maxAgeSeconds/,
      );
    }
    clock += 60_000;
    expect(auth.requireRecentAuth(state.value, { maxAgeSeconds: 60 })).toBeNull();
    expect(auth.requireRecentAuth(state.value, { maxAgeSeconds: 59 })).toMatchObject({
      status: 403,
      code: 'reauth_required',
      maxAgeSeconds: 59,
    });
  });

  it('refuses a password that belongs to another account: the session is not moved', async () => {
    const { auth, sessions } = setup();
    const { cookie, csrfToken, session } = await signedIn(auth);
    const state = await auth.authenticate(request('POST', { cookie }));
    if (!state.ok) throw new Error('unexpected');
    const headers = { cookie, 'x-csrf-token': csrfToken, origin: ORIGIN };
    const result = await auth.reauthenticate(request('POST', headers), state.value, {
      account: 'mallory@example.com',
      verify: async () => 'user-mallory',
    });
    expect(result.ok ? null : result.error.code).toBe('invalid_credentials');
    expect((await sessions.getSession(session.id)).ok).toBe(true);
  });
});
