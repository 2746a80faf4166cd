import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLoginThrottle, createRequestLimit } from '../packages/auth/src/core/rate-limit/rate-limit.js';
import { createSessionManager, type SessionEvent } from '../packages/auth/src/core/session/session-manager.js';
import type { Store } from '../packages/auth/src/core/store/types.js';
import { createTokenService } from '../packages/auth/src/core/token/token-service.js';
import {
  createHttpAuth,
  type HttpAuth,
  type HttpAuthEvent,
  type TokenResponse,
} from '../packages/auth/src/http/http-auth.js';
import { createMemoryStore } from '../packages/auth/src/stores/memory/memory-store.js';
import { createSQLiteStore } from '../packages/auth/src/stores/sqlite/index.js';
import { type FaultyStore, createFaultyStore } from 'tessera-auth/testing';

/**
 * The one account of every test app. Checked in plain JS: password hashing is
 * the server's business, not the adapters'.
 */
export const TEST_USER = { id: 'user-alice', email: 'alice@example.com', password: 'correct horse battery staple' };

/** The user id for the test account's credentials, `null` for anything else. */
export function checkTestUser(email: unknown, password: unknown): string | null {
  return email === TEST_USER.email && password === TEST_USER.password ? TEST_USER.id : null;
}

/** What a test app is built from. */
export interface TestAppDeps {
  auth: HttpAuth;
  /** Changed only by a successful /transfer, so "nothing changed" can be asserted. */
  counter: { value: number };
}

/** A test app listening on 127.0.0.1. */
export interface RunningApp {
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts one test app on a free port. Every adapter's app has the same routes:
 * - `POST /login` JSON `{email, password, transport?}` → 200 `{userId, sessionId, csrfToken}`
 *   (cookie) or the token pair (token); 400 `invalid_request` when a field is not a string.
 * - `POST /logout` (CSRF, requireAuth) → 204
 * - `GET /me` (rate limit, requireAuth) → 200 `{userId, sessionId}`
 * - `POST /transfer` (CSRF, rate limit, requireAuth) → 200 `{count}` after `counter.value++`; also routed
 *   for GET, as in an app that honours method override.
 * - `GET /csrf` (requireAuth) → 200 `{csrfToken}`
 * - `POST /refresh` JSON `{refresh_token}` → 200 with the new pair
 * - `POST /signup` → `startSession` for the test user (cookie, with `account`) → 200 `{userId, sessionId, csrfToken}`
 * - `POST /verify` JSON `{email, password}` → `verifyCredentials` → 200 `{userId, newDevice}`
 * - `POST /reauth` JSON `{password}` (CSRF) → `reauthenticate` → 200 `{sessionId, csrfToken}` (cookie) or the pair
 * - `POST /sensitive` (CSRF, `requireRecentAuth({ maxAgeSeconds: RECENT_AUTH_SECONDS })`) → 200 `{count}` after
 *   `counter.value++`
 * `POST /login` also takes `remember` (a boolean).
 *
 * No route calls `auth.verifyRequestSource`: sign-in flows refuse another site inside the HTTP layer.
 */
export type StartTestApp = (deps: TestAppDeps) => Promise<RunningApp>;

const SECRET = 'adapter-suite-secret-of-32-bytes!!';
const MAX_LOGIN_FAILURES = 3;
const SESSION_REQUESTS = 10;
const RENEWAL_SECONDS = 60;
const ACCESS_TOKEN_SECONDS = 900;
const REFRESH_GRACE_SECONDS = 10;
/** The step-up window of every test app's `POST /sensitive`. */
export const RECENT_AUTH_SECONDS = 600;

interface StoreKit {
  store: Store;
  /** The rate-limit counters: the same backend, on the real clock (tests move the sessions' clock). */
  counters: Store;
  close(): void;
}

const STORES: Record<string, (now: () => number) => StoreKit> = {
  memory: (now) => ({ store: createMemoryStore({ now }), counters: createMemoryStore(), close: () => undefined }),
  sqlite: (now) => {
    const db = new BetterSqlite3(':memory:');
    return {
      store: createSQLiteStore(db, { now }),
      counters: createSQLiteStore(db, { tablePrefix: 'counters_' }),
      close: () => db.close(),
    };
  },
};

interface CallOptions {
  method?: string;
  cookie?: string;
  csrfToken?: string;
  /** Sent as JSON unless a string. */
  body?: unknown;
  headers?: Record<string, string>;
}

/** The `name=value` part of a Set-Cookie value. */
const cookiePair = (setCookie: string): string => setCookie.split(';')[0]!;

/**
 * Runs the same HTTP scenarios, over real HTTP, against every adapter and
 * against both embedded stores (memory and SQLite).
 */
export function describeAdapters(adapters: Record<string, StartTestApp>): void {
  for (const [storeName, makeStore] of Object.entries(STORES)) {
    for (const [adapterName, start] of Object.entries(adapters)) {
      describe(`${adapterName} on the ${storeName} store`, () => scenarios(start, makeStore));
    }
  }
}

function scenarios(start: StartTestApp, makeStore: (now: () => number) => StoreKit): void {
  let app: RunningApp;
  let kit: StoreKit;
  let store: FaultyStore;
  let counter: { value: number };
  let clock: number;
  let events: HttpAuthEvent[];
  let sessionEvents: SessionEvent[];
  /** Calls of the HTTP layer's public request-source check (which lets everything through here). */
  let sourceChecks: number;

  beforeEach(async () => {
    clock = Date.now();
    const now = (): number => clock;
    kit = makeStore(now);
    store = createFaultyStore(kit.store);
    counter = { value: 0 };
    events = [];
    sessionEvents = [];
    sourceChecks = 0;
    const sessions = createSessionManager(store, {
      now,
      renewalIntervalSeconds: RENEWAL_SECONDS,
      binding: 'strict',
      onEvent: (event) => sessionEvents.push(event),
    });
    const real = createHttpAuth({
      now,
      onEvent: (event) => events.push(event),
      sessions,
      tokens: createTokenService({
        sessions,
        store,
        issuer: 'https://tessera.test',
        audience: 'https://tessera.test',
        accessTokenTtlSeconds: ACCESS_TOKEN_SECONDS,
        refreshGraceSeconds: REFRESH_GRACE_SECONDS,
        now,
      }),
      csrfSecrets: [SECRET],
      loginThrottle: createLoginThrottle({
        store: kit.counters,
        keySecret: SECRET,
        maxAttemptsPerAccount: MAX_LOGIN_FAILURES,
      }),
      sessionRequestLimit: createRequestLimit({
        store: kit.counters,
        points: SESSION_REQUESTS,
        durationSeconds: 60,
      }),
    });
    // An adapter that leaned on this check would let another site sign in: only the flows' own check may refuse it.
    const verifyRequestSource = (): null => (sourceChecks++, null);
    const auth: HttpAuth = Object.freeze({ ...real, verifyRequestSource });
    app = await start({ auth, counter });
  });

  afterEach(async () => {
    await app.close();
    await kit.store.close();
    kit.close();
  });

  /** Like a same-origin browser request: Origin and Sec-Fetch-Site set, cookie and CSRF token only when given. */
  const call = (path: string, options: CallOptions = {}): Promise<Response> => {
    const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
    const headers: Record<string, string> = {};
    if (method !== 'GET') {
      headers['origin'] = app.url;
      headers['sec-fetch-site'] = 'same-origin';
    }
    if (options.cookie !== undefined) headers['cookie'] = options.cookie;
    if (options.csrfToken !== undefined) headers['x-csrf-token'] = options.csrfToken;
    let body: string | undefined;
    if (typeof options.body === 'string') body = options.body;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    return fetch(`${app.url}${path}`, {
      method,
      redirect: 'manual',
      headers: { ...headers, ...options.headers },
      ...(body === undefined ? {} : { body }),
    });
  };

  const errorCode = async (response: Response): Promise<string> => {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    expect(typeof body.error?.message).toBe('string');
    return body.error?.code ?? '(no error code)';
  };

  const credentials = { email: TEST_USER.email, password: TEST_USER.password };

  const login = async (options: CallOptions = {}) => {
    const response = await call('/login', { body: credentials, ...options });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { userId: string; sessionId: string; csrfToken: string };
    const setCookie = response.headers.getSetCookie().find((value) => value.startsWith('__Host-tessera='));
    expect(setCookie).toBeDefined();
    return { ...body, setCookie: setCookie!, cookie: cookiePair(setCookie!) };
  };

  const transfer = (cookie: string, csrfToken?: string, headers: Record<string, string> = {}) =>
    call('/transfer', { method: 'POST', cookie, headers, ...(csrfToken === undefined ? {} : { csrfToken }) });

  describe('login', () => {
    it('sets a fresh __Host-tessera cookie with safe attributes and returns a CSRF token', async () => {
      const { setCookie, cookie, csrfToken, userId } = await login();
      expect(userId).toBe(TEST_USER.id);
      expect(csrfToken).toMatch(/^[A-Za-z0-9_-]{40,}$/);
      const attributes = setCookie.split(';').map((part) => part.trim().toLowerCase());
      expect(attributes).toEqual(expect.arrayContaining(['httponly', 'secure', 'samesite=lax', 'path=/']));
      expect(attributes.some((part) => part.startsWith('domain'))).toBe(false);
      const me = await call('/me', { cookie });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ userId: TEST_USER.id });
    });

    it('answers wrong credentials with 401 invalid_credentials and no cookie', async () => {
      const response = await call('/login', { body: { ...credentials, password: 'wrong' } });
      expect(response.status).toBe(401);
      expect(await errorCode(response)).toBe('invalid_credentials');
      expect(response.headers.getSetCookie()).toEqual([]);
    });

    it('never keeps the session the client came with (fixation): new id, old one dead', async () => {
      const before = await login();
      const after = await login({ cookie: before.cookie });
      expect(after.cookie).not.toBe(before.cookie);
      expect(after.sessionId).not.toBe(before.sessionId);
      expect((await call('/me', { cookie: before.cookie })).status).toBe(401);
      const me = await call('/me', { cookie: after.cookie });
      expect(await me.json()).toMatchObject({ sessionId: after.sessionId });
    });

    it.each([
      ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
      ['a foreign Origin', { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
      ['Origin: null', { origin: 'null', 'sec-fetch-site': 'cross-site' }],
    ])('refuses a cross-site login (%s) with 403 csrf_failed and no cookie', async (_name, headers) => {
      const response = await call('/login', { body: credentials, headers });
      expect(response.status).toBe(403);
      expect(await errorCode(response)).toBe('csrf_failed');
      expect(response.headers.getSetCookie()).toEqual([]);
    });

    it('throttles failed logins (429 with Retry-After); a success resets the account', async () => {
      const attempt = (password: string) => call('/login', { body: { ...credentials, password } });
      const statuses: number[] = [];
      for (const password of ['x', 'x', TEST_USER.password, 'x', 'x', TEST_USER.password, 'x', 'x', 'x']) {
        statuses.push((await attempt(password)).status);
      }
      expect(statuses).toEqual([401, 401, 200, 401, 401, 200, 401, 401, 401]);
      const refused = await attempt(TEST_USER.password);
      expect(refused.status).toBe(429);
      expect(await errorCode(refused)).toBe('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    });

    it('passes the device cookie through: a client that signed in before gets through a lockout, and keeps it at logout', async () => {
      const first = await call('/login', { body: credentials });
      const device = first.headers.getSetCookie().find((value) => value.startsWith('__Host-tessera-device='));
      expect(device).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
      const session = cookiePair(first.headers.getSetCookie().find((value) => value.startsWith('__Host-tessera='))!);
      const { csrfToken } = (await first.json()) as { csrfToken: string };
      const out = await call('/logout', { method: 'POST', cookie: session, csrfToken });
      expect(out.headers.getSetCookie().some((value) => value.startsWith('__Host-tessera-device='))).toBe(false);
      for (let i = 0; i < MAX_LOGIN_FAILURES; i++) await call('/login', { body: { ...credentials, password: 'x' } });
      expect((await call('/login', { body: credentials })).status).toBe(429);
      const known = await call('/login', { body: credentials, cookie: cookiePair(device!) });
      expect(known.status).toBe(200);
    });

    it('answers a malformed JSON body with 400 invalid_request and keeps serving', async () => {
      const response = await call('/login', { body: '{"email": ', headers: { 'content-type': 'application/json' } });
      expect(response.status).toBe(400);
      expect(await errorCode(response)).toBe('invalid_request');
      await login();
    });

    it('answers a body without the fields with 400 invalid_request', async () => {
      const response = await call('/login', { body: { email: TEST_USER.email } });
      expect(response.status).toBe(400);
      expect(await errorCode(response)).toBe('invalid_request');
    });
  });

  describe('session binding (strict) and new devices', () => {
    const CHROME =
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
    const CHROME_NEXT = CHROME.replace('Chrome/120', 'Chrome/121');
    const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
    const as = (userAgent: string) => ({ 'user-agent': userAgent });

    it('refuses a cookie copied to another browser family with 401 session_revoked, for its owner too from then on', async () => {
      const { cookie } = await login({ headers: as(CHROME) });
      const stolen = await call('/me', { cookie, headers: as(FIREFOX) });
      expect(stolen.status).toBe(401);
      expect(await errorCode(stolen)).toBe('session_revoked');
      expect(sessionEvents.filter((event) => event.type === 'session.revoked')).toMatchObject([
        { reason: 'binding_mismatch' },
      ]);
      expect((await call('/me', { cookie, headers: as(CHROME) })).status).toBe(401);
    });

    it('serves a browser upgrade and reports it once', async () => {
      const { cookie } = await login({ headers: as(CHROME) });
      for (let i = 0; i < 2; i++) expect((await call('/me', { cookie, headers: as(CHROME_NEXT) })).status).toBe(200);
      expect(sessionEvents.filter((event) => event.type === 'session.user_agent_changed')).toMatchObject([
        { previousDevice: 'Chrome 120 on Windows', device: 'Chrome 121 on Windows', otherClient: false },
      ]);
    });

    it('reports a sign-in without the device cookie as login.new_device, and not one with it', async () => {
      const first = await call('/login', { body: credentials, headers: as(CHROME) });
      const device = first.headers.getSetCookie().find((value) => value.startsWith('__Host-tessera-device='))!;
      const { sessionId } = (await first.json()) as { sessionId: string };
      expect(events.filter((event) => event.type === 'login.new_device')).toEqual([
        {
          type: 'login.new_device',
          userId: TEST_USER.id,
          sessionId,
          ip: expect.any(String),
          device: 'Chrome 120 on Windows',
        },
      ]);
      expect((await call('/login', { body: credentials, cookie: cookiePair(device) })).status).toBe(200);
      expect(events.filter((event) => event.type === 'login.new_device')).toHaveLength(1);
    });
  });

  describe('sign-in from another site', () => {
    const foreign: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'https://evil.example' },
      { origin: 'null' },
    ];

    it('refuses a burst of logins, sign-ups and password checks with 403 csrf_failed, the adapter never calling the check', async () => {
      const answers = await Promise.all(
        foreign.flatMap((headers) =>
          ['/login', '/signup', '/verify', '/login'].map((path) => call(path, { body: credentials, headers })),
        ),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(403);
        expect(await errorCode(answer)).toBe('csrf_failed');
        expect(answer.headers.getSetCookie()).toEqual([]);
      }
      expect(sourceChecks).toBe(0);
      expect(events.filter((event) => event.type === 'csrf.rejected')).toHaveLength(answers.length);
      expect(events.some((event) => event.type !== 'csrf.rejected')).toBe(false);
      // Nothing was charged to the login throttle: the account signs in at once.
      await login();
    });
  });

  describe('startSession (sign-up)', () => {
    it('starts a burst of fresh sessions with the device cookie, outside the login throttle', async () => {
      for (let i = 0; i < MAX_LOGIN_FAILURES; i++) await call('/login', { body: { ...credentials, password: 'x' } });
      expect((await call('/login', { body: credentials })).status).toBe(429);
      const answers = await Promise.all(Array.from({ length: 4 }, () => call('/signup', { body: {} })));
      const ids = new Set<string>();
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        const body = (await answer.json()) as { userId: string; sessionId: string };
        expect(body.userId).toBe(TEST_USER.id);
        ids.add(body.sessionId);
        const cookies = answer.headers.getSetCookie();
        expect(cookies.some((value) => value.startsWith('__Host-tessera-device='))).toBe(true);
        const session = cookiePair(cookies.find((value) => value.startsWith('__Host-tessera='))!);
        expect(await (await call('/me', { cookie: session })).json()).toMatchObject({ sessionId: body.sessionId });
      }
      expect(ids.size).toBe(answers.length);
    });

    it('ends the session the client came with (fixation)', async () => {
      const before = await login();
      const signedUp = await call('/signup', { body: {}, cookie: before.cookie });
      expect(signedUp.status).toBe(200);
      expect((await call('/me', { cookie: before.cookie })).status).toBe(401);
    });
  });

  describe('verifyCredentials (password re-check)', () => {
    const verify = (password: string, cookie?: string) =>
      call('/verify', { body: { ...credentials, password }, ...(cookie === undefined ? {} : { cookie }) });

    it('spends the login budget: of a burst of wrong passwords only the budget is checked, the rest and the right one after get 429', async () => {
      const statuses = await Promise.all(
        Array.from({ length: 3 * MAX_LOGIN_FAILURES }, async () => (await verify('x')).status),
      );
      expect(statuses.filter((status) => status === 401)).toHaveLength(MAX_LOGIN_FAILURES);
      expect(statuses.filter((status) => status === 429)).toHaveLength(2 * MAX_LOGIN_FAILURES);
      const refused = await verify(TEST_USER.password);
      expect(refused.status).toBe(429);
      expect(await errorCode(refused)).toBe('rate_limited');
      expect((await call('/login', { body: credentials })).status).toBe(429);
    });

    it('answers the right password with the user; only a known device gets its cookie refreshed', async () => {
      const unknown = await verify(TEST_USER.password);
      expect(unknown.status).toBe(200);
      expect(await unknown.json()).toEqual({ userId: TEST_USER.id, newDevice: true });
      expect(unknown.headers.getSetCookie()).toEqual([]);
      const first = await call('/login', { body: credentials });
      const device = cookiePair(
        first.headers.getSetCookie().find((value) => value.startsWith('__Host-tessera-device='))!,
      );
      const known = await verify(TEST_USER.password, device);
      expect(await known.json()).toEqual({ userId: TEST_USER.id, newDevice: false });
      expect(known.headers.getSetCookie()).toEqual([expect.stringMatching(/^__Host-tessera-device=/)]);
      const wrong = await verify('x');
      expect(wrong.status).toBe(401);
      expect(await errorCode(wrong)).toBe('invalid_credentials');
    });
  });

  describe('authentication', () => {
    it('answers a request without credentials with 401 unauthenticated and sets no cookie', async () => {
      const response = await call('/me');
      expect(response.status).toBe(401);
      expect(await errorCode(response)).toBe('unauthenticated');
      expect(response.headers.getSetCookie()).toEqual([]);
    });

    it('answers a garbage cookie with 401 and clears it', async () => {
      const response = await call('/me', { cookie: '__Host-tessera=garbage%%' });
      expect(response.status).toBe(401);
      expect(response.headers.getSetCookie()).toEqual([expect.stringMatching(/^__Host-tessera=;.*Max-Age=0/)]);
    });

    it('refuses a token in the URL with 400 invalid_request, even with a valid cookie', async () => {
      const { cookie } = await login();
      for (const path of ['/me?access_token=abc', '/me?session=abc', '/me?_csrf=abc']) {
        const response = await call(path, { cookie });
        expect(response.status, path).toBe(400);
        expect(await errorCode(response)).toBe('invalid_request');
      }
    });

    it('re-issues the cookie once the renewal interval has passed, and not before', async () => {
      const { cookie } = await login();
      const early = await call('/me', { cookie });
      expect(early.headers.getSetCookie()).toEqual([]);
      const expiresBefore = Date.parse(/Expires=([^;]+)/.exec((await login()).setCookie)![1]!);
      clock += (RENEWAL_SECONDS + 1) * 1000;
      const renewed = await call('/me', { cookie });
      expect(renewed.status).toBe(200);
      const [setCookie] = renewed.headers.getSetCookie();
      expect(cookiePair(setCookie!)).toBe(cookie);
      expect(Date.parse(/Expires=([^;]+)/.exec(setCookie!)![1]!)).toBeGreaterThan(expiresBefore);
    });

    it('answers 503 unavailable when the store is down, never 200 and never anonymous', async () => {
      const { cookie, csrfToken } = await login();
      store.down = true;
      const me = await call('/me', { cookie });
      expect(me.status).toBe(503);
      expect(await errorCode(me)).toBe('unavailable');
      expect(Number(me.headers.get('retry-after'))).toBeGreaterThan(0);
      const moved = await transfer(cookie, csrfToken);
      expect(moved.status).toBe(503);
      const signIn = await call('/login', { body: credentials });
      expect(signIn.status).toBe(503);
      expect(await errorCode(signIn)).toBe('unavailable');
      expect(counter.value).toBe(0);
      store.down = false;
      expect((await call('/me', { cookie })).status).toBe(200);
    });
  });

  describe('CSRF', () => {
    it('lets a same-origin request with the session’s token through', async () => {
      const { cookie, csrfToken } = await login();
      const response = await transfer(cookie, csrfToken);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ count: 1 });
      expect(counter.value).toBe(1);
    });

    it('accepts the token from GET /csrf and from a _csrf form field', async () => {
      const { cookie } = await login();
      const { csrfToken } = (await (await call('/csrf', { cookie })).json()) as { csrfToken: string };
      expect((await transfer(cookie, csrfToken)).status).toBe(200);
      const form = await call('/transfer', {
        cookie,
        body: new URLSearchParams({ _csrf: csrfToken, amount: '1' }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(form.status).toBe(200);
      expect(counter.value).toBe(2);
    });

    type Forgery = (session: { cookie: string; csrfToken: string }, other: { csrfToken: string }) => Promise<Response>;
    const forgeries: [string, Forgery][] = [
      ['no token', ({ cookie }) => transfer(cookie)],
      ['a wrong token', ({ cookie }) => transfer(cookie, 'A'.repeat(86))],
      ['another session’s token', ({ cookie }, other) => transfer(cookie, other.csrfToken)],
      [
        'Sec-Fetch-Site: cross-site',
        ({ cookie, csrfToken }) => transfer(cookie, csrfToken, { 'sec-fetch-site': 'cross-site' }),
      ],
      ['Origin: null', ({ cookie, csrfToken }) => transfer(cookie, csrfToken, { origin: 'null' })],
      ['a foreign Origin', ({ cookie, csrfToken }) => transfer(cookie, csrfToken, { origin: 'https://evil.example' })],
      [
        'a GET with a method override',
        ({ cookie }) => call('/transfer', { method: 'GET', cookie, headers: { 'x-http-method-override': 'POST' } }),
      ],
    ];
    it.each(forgeries)('refuses %s with 403 csrf_failed and changes nothing', async (_name, forge) => {
      const session = await login();
      const other = await login();
      const response = await forge(session, other);
      expect(response.status).toBe(403);
      expect(await errorCode(response)).toBe('csrf_failed');
      expect(counter.value).toBe(0);
    });
  });

  describe('rate limit per session', () => {
    it(`allows ${SESSION_REQUESTS} requests, then answers 429 with Retry-After; other sessions go on`, async () => {
      const { cookie } = await login();
      for (let i = 0; i < SESSION_REQUESTS; i++) expect((await call('/me', { cookie })).status).toBe(200);
      const refused = await call('/me', { cookie });
      expect(refused.status).toBe(429);
      expect(await errorCode(refused)).toBe('rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await call('/me', { cookie: (await login()).cookie })).status).toBe(200);
    });
  });

  describe('bearer tokens', () => {
    const tokenLogin = async (): Promise<TokenResponse> => {
      const response = await call('/login', { body: { ...credentials, transport: 'token' } });
      expect(response.status).toBe(200);
      expect(response.headers.getSetCookie()).toEqual([]);
      return (await response.json()) as TokenResponse;
    };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    it('logs in with transport "token" and gets a pair, no cookie', async () => {
      const pair = await tokenLogin();
      expect(pair).toMatchObject({ token_type: 'Bearer', expires_in: ACCESS_TOKEN_SECONDS });
      expect(typeof pair.access_token).toBe('string');
      expect(typeof pair.refresh_token).toBe('string');
    });

    it('authenticates /me with Authorization: Bearer, and needs no CSRF token on /transfer', async () => {
      const { access_token } = await tokenLogin();
      const me = await call('/me', { headers: bearer(access_token) });
      expect(me.status).toBe(200);
      expect(await me.json()).toMatchObject({ userId: TEST_USER.id });
      const moved = await call('/transfer', { method: 'POST', headers: bearer(access_token) });
      expect(moved.status).toBe(200);
      expect(counter.value).toBe(1);
    });

    it.each([
      ['a garbage token', 'invalid_token', () => Promise.resolve('not.a.jwt')],
      ['a malformed header', 'invalid_token', () => Promise.resolve('two words')],
      [
        'an expired token',
        'token_expired',
        async () => {
          const { access_token } = await tokenLogin();
          clock += (ACCESS_TOKEN_SECONDS + 60) * 1000;
          return access_token;
        },
      ],
    ])('answers %s with 401 %s and a Bearer challenge', async (_name, code, token) => {
      const response = await call('/me', { headers: bearer(await token()) });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(await errorCode(response)).toBe(code);
    });

    it('refreshes to a new pair; a spent refresh token replayed later revokes the session', async () => {
      const first = await tokenLogin();
      const refreshed = await call('/refresh', { body: { refresh_token: first.refresh_token } });
      expect(refreshed.status).toBe(200);
      const second = (await refreshed.json()) as TokenResponse;
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect((await call('/me', { headers: bearer(second.access_token) })).status).toBe(200);
      clock += (REFRESH_GRACE_SECONDS + 1) * 1000;
      const reused = await call('/refresh', { body: { refresh_token: first.refresh_token } });
      expect(reused.status).toBe(401);
      expect(await errorCode(reused)).toBe('refresh_reused');
      expect((await call('/me', { headers: bearer(second.access_token) })).status).toBe(401);
      const missing = await call('/refresh', { body: {} });
      expect(missing.status).toBe(400);
      expect(await errorCode(missing)).toBe('invalid_request');
    });

    it('logs out: the access token stops working at once', async () => {
      const { access_token } = await tokenLogin();
      const out = await call('/logout', { method: 'POST', headers: bearer(access_token) });
      expect(out.status).toBe(204);
      expect(out.headers.getSetCookie()).toEqual([]);
      const me = await call('/me', { headers: bearer(access_token) });
      expect(me.status).toBe(401);
      expect(me.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    });
  });

  describe('remember me', () => {
    it('gives "remember: false" a browser-session cookie (no Expires, no Max-Age), also when renewed', async () => {
      const { setCookie, cookie } = await login({ body: { ...credentials, remember: false } });
      expect(setCookie).not.toMatch(/expires=|max-age=/i);
      expect(setCookie).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      clock += (RENEWAL_SECONDS + 1) * 1000;
      const renewed = await call('/me', { cookie });
      expect(renewed.status).toBe(200);
      const [again] = renewed.headers.getSetCookie();
      expect(cookiePair(again!)).toBe(cookie);
      expect(again).not.toMatch(/expires=|max-age=/i);
      expect((await login()).setCookie).toMatch(/; Max-Age=\d+;/);
    });
  });

  describe('step-up re-authentication', () => {
    const stale = (): void => {
      clock += (RECENT_AUTH_SECONDS + 1) * 1000;
    };
    const sensitive = (options: CallOptions) => call('/sensitive', { method: 'POST', ...options });
    const reauth = (password: string, options: CallOptions = {}) => call('/reauth', { ...options, body: { password } });

    it('lets a fresh sign-in through, then asks for the password (403 reauth_required with maxAgeSeconds); the password moves the session to a new id', async () => {
      const { cookie, csrfToken } = await login();
      expect((await sensitive({ cookie, csrfToken })).status).toBe(200);
      stale();
      const refused = await sensitive({ cookie, csrfToken });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toEqual({
        error: { code: 'reauth_required', message: expect.any(String), maxAgeSeconds: RECENT_AUTH_SECONDS },
      });
      expect(counter.value).toBe(1);
      const wrong = await reauth('wrong', { cookie, csrfToken });
      expect(wrong.status).toBe(401);
      expect(await errorCode(wrong)).toBe('invalid_credentials');
      expect((await sensitive({ cookie, csrfToken })).status).toBe(403);
      const proved = await reauth(TEST_USER.password, { cookie, csrfToken });
      expect(proved.status).toBe(200);
      const body = (await proved.json()) as { sessionId: string; csrfToken: string };
      const setCookie = proved.headers.getSetCookie().find((value) => value.startsWith('__Host-tessera='));
      const fresh = cookiePair(setCookie!);
      expect(fresh).not.toBe(cookie);
      expect(body.csrfToken).not.toBe(csrfToken);
      // The old id is gone (fixation), and the old CSRF token does not fit the new one.
      expect((await call('/me', { cookie })).status).toBe(401);
      expect((await sensitive({ cookie: fresh, csrfToken })).status).toBe(403);
      expect((await sensitive({ cookie: fresh, csrfToken: body.csrfToken })).status).toBe(200);
      expect(await (await call('/me', { cookie: fresh })).json()).toMatchObject({ sessionId: body.sessionId });
      expect(counter.value).toBe(2);
      expect(events).toContainEqual(expect.objectContaining({ type: 'reauthenticated', sessionId: body.sessionId }));
    });

    it('needs a session and the CSRF token, and refuses another site', async () => {
      const none = await reauth(TEST_USER.password);
      expect(none.status).toBe(401);
      expect(await errorCode(none)).toBe('unauthenticated');
      const { cookie, csrfToken } = await login();
      expect((await reauth(TEST_USER.password, { cookie })).status).toBe(403);
      const foreign = await reauth(TEST_USER.password, {
        cookie,
        csrfToken,
        headers: { origin: 'https://evil.example' },
      });
      expect(foreign.status).toBe(403);
      expect(await errorCode(foreign)).toBe('csrf_failed');
      const anonymous = await sensitive({});
      expect(anonymous.status).toBe(401);
    });

    it('over bearer: a new pair carrying the new auth_time, and the old pair stops working', async () => {
      const response = await call('/login', { body: { ...credentials, transport: 'token' } });
      const first = (await response.json()) as TokenResponse;
      const bearer = { authorization: `Bearer ${first.access_token}` };
      stale();
      expect(await errorCode(await sensitive({ headers: bearer }))).toBe('reauth_required');
      const proved = await reauth(TEST_USER.password, { headers: bearer });
      expect(proved.status).toBe(200);
      expect(proved.headers.getSetCookie()).toEqual([]);
      const second = (await proved.json()) as TokenResponse;
      const claims = JSON.parse(Buffer.from(second.access_token.split('.')[1]!, 'base64url').toString()) as {
        auth_time: number;
      };
      expect(claims.auth_time).toBe(Math.floor(clock / 1000));
      expect((await call('/me', { headers: bearer })).status).toBe(401);
      expect((await call('/refresh', { body: { refresh_token: first.refresh_token } })).status).toBe(401);
      expect((await sensitive({ headers: { authorization: `Bearer ${second.access_token}` } })).status).toBe(200);
      expect((await call('/refresh', { body: { refresh_token: second.refresh_token } })).status).toBe(200);
    });

    it('spends the login budget: a burst of wrong passwords gets no more checks than a login would', async () => {
      const { cookie, csrfToken } = await login();
      const statuses = await Promise.all(
        Array.from({ length: 3 * MAX_LOGIN_FAILURES }, async () => (await reauth('x', { cookie, csrfToken })).status),
      );
      expect(statuses.filter((status) => status === 401)).toHaveLength(MAX_LOGIN_FAILURES);
      expect(statuses.filter((status) => status === 429)).toHaveLength(2 * MAX_LOGIN_FAILURES);
      const refused = await reauth(TEST_USER.password, { cookie, csrfToken });
      expect(refused.status).toBe(429);
      expect((await call('/login', { body: credentials })).status).toBe(429);
      expect((await call('/me', { cookie })).status).toBe(200);
    });
  });

  describe('logout', () => {
    it('destroys the session for good and clears the cookie', async () => {
      const { cookie, csrfToken } = await login();
      const out = await call('/logout', { method: 'POST', cookie, csrfToken });
      expect(out.status).toBe(204);
      expect(out.headers.getSetCookie()).toEqual([expect.stringMatching(/^__Host-tessera=;.*Max-Age=0/)]);
      const me = await call('/me', { cookie });
      expect(me.status).toBe(401);
      expect((await transfer(cookie, csrfToken)).status).toBe(401);
      expect(counter.value).toBe(0);
    });

    it('is itself CSRF-protected', async () => {
      const { cookie } = await login();
      expect((await call('/logout', { method: 'POST', cookie })).status).toBe(403);
      expect((await call('/me', { cookie })).status).toBe(200);
    });
  });
}
