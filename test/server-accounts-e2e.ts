import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type CallResult, type TestServer } from './support/server-harness.js';

const PASSWORD = 'correct horse battery';
const SIGNUP_MAX_PER_IP = 20;
const MAX_SESSIONS = 5;
// Above the session burst below: the login throttle charges in-flight attempts too.
const LOGIN_MAX_ATTEMPTS = 25;
const METRICS_TOKEN = 'metrics-token-0123456789-abcdefghijklmnop';

/**
 * Sign-up, credentials and session limits over HTTP, raced with `Promise.all`
 * bursts: the sign-up budgets, the sign-up hash queue, the roll-back of a
 * sign-up whose session cannot start, the session cap, and junk in emails and
 * ids. The server trusts one proxy hop, so each test is its own client IP
 * (`X-Forwarded-For`) and budgets do not leak between tests. `env` picks the stores.
 */
export function describeAccountDefenses(name: string, env: () => Record<string, string> | null): void {
  describe(`sign-up and credential defenses on ${name}`, () => {
    let server: TestServer;
    const email = () => `user-${randomUUID()}@example.com`;
    // A fresh client address per call (10.0.0.0/8 from a random start), so no two calls share an IP's budget by chance.
    let clients = randomBytes(3).readUIntBE(0, 3) & 0x7fffff;
    const ip = () => {
      const n = clients++;
      return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    };
    const strongPassword = () => `${randomBytes(9).toString('base64url')} ${randomUUID().slice(0, 8)}`;
    const from = (address: string) => ({ 'x-forwarded-for': address });

    const signup = (address: string, options: { client?: string; password?: string; transport?: 'token' } = {}) =>
      server.call('POST', '/auth/signup', {
        body: { email: address, password: options.password ?? PASSWORD, transport: options.transport },
        headers: from(options.client ?? ip()),
      });
    const login = (address: string, options: { client?: string; password?: string; userAgent?: string } = {}) =>
      server.call('POST', '/auth/login', {
        body: { email: address, password: options.password ?? PASSWORD },
        headers: {
          ...from(options.client ?? ip()),
          ...(options.userAgent === undefined ? {} : { 'user-agent': options.userAgent }),
        },
      });
    const codes = (results: CallResult[]) => {
      const counts: Record<string, number> = {};
      for (const result of results) {
        const key = `${result.status} ${result.json?.error?.code ?? ''}`.trim();
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    };
    const storeErrors = async (route: string): Promise<number> => {
      const text = (await server.call('GET', '/metrics', { bearer: METRICS_TOKEN })).text;
      const escaped = route.replace(/[/.*+?^${}()|[\]\\]/g, '\\$&');
      return Number(new RegExp(`tessera_store_errors_total\\{route="${escaped}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };

    beforeAll(async () => {
      const chosen = env();
      if (chosen === null) return;
      server = await startTestServer({
        TESSERA_TRUST_PROXY: '1',
        TESSERA_SIGNUP_MAX_PER_IP: String(SIGNUP_MAX_PER_IP),
        TESSERA_LOGIN_MAX_ATTEMPTS: String(LOGIN_MAX_ATTEMPTS),
        TESSERA_LOGIN_MAX_ATTEMPTS_PER_IP: String(LOGIN_MAX_ATTEMPTS),
        TESSERA_METRICS_TOKEN: METRICS_TOKEN,
        TESSERA_MAX_SESSIONS_PER_USER: String(MAX_SESSIONS),
        ...chosen,
      });
    });
    afterAll(async () => {
      await server?.close();
    });

    it('80 parallel sign-ups for a taken email: at most 5 are evaluated, the rest get 429 with Retry-After', async () => {
      const address = email();
      expect((await signup(address)).status).toBe(201);
      // Every attempt from its own IP, so only the email's budget (5 an hour, the first spent above) stands in the way.
      const burst = await Promise.all(Array.from({ length: 80 }, () => signup(address.toUpperCase())));
      expect(codes(burst)).toEqual({ '409 conflict': 4, '429 rate_limited': 76 });
      for (const result of burst.filter((r) => r.status === 429)) {
        expect(Number(result.headers.get('retry-after'))).toBeGreaterThan(0);
      }
      // The sign-up budget is the sign-up's own: the account still signs in.
      expect((await login(address)).status).toBe(200);
    });

    it('a burst of sign-ups from one IP spends its hourly budget, whatever the outcome; logins from it still work', async () => {
      const client = ip();
      const existing = email();
      expect((await signup(existing)).status).toBe(201);
      // Weak passwords: refused (400) after the IP's budget is charged, so the burst costs no hashing.
      const burst = await Promise.all(
        Array.from({ length: SIGNUP_MAX_PER_IP + 15 }, () => signup(email(), { client, password: 'password1' })),
      );
      expect(codes(burst)).toEqual({ '400 invalid_request': SIGNUP_MAX_PER_IP, '429 rate_limited': 15 });
      const strong = await signup(email(), { client });
      expect([strong.status, strong.json.error.code]).toEqual([429, 'rate_limited']);
      expect(Number(strong.headers.get('retry-after'))).toBeGreaterThan(0);
      expect((await signup(email())).status).toBe(201);
      expect((await login(existing, { client })).status).toBe(200);
    });

    it('a client blocked for logins is not blocked from signing up, nor an account blocked for logins from its 409', async () => {
      const client = ip();
      // One at a time: this is about the budgets being separate, not about the login throttle's own races.
      for (let i = 0; i < LOGIN_MAX_ATTEMPTS; i++) await login(email(), { client, password: 'not the password' });
      expect((await login(email(), { client })).status).toBe(429);
      expect((await signup(email(), { client })).status).toBe(201);

      const address = email();
      await signup(address);
      for (let i = 0; i < LOGIN_MAX_ATTEMPTS; i++) await login(address, { password: 'not the password' });
      expect((await login(address)).status).toBe(429);
      expect((await signup(address)).status).toBe(409);
    });

    it('a sign-up flood fills the hash queue: 503 overloaded with Retry-After (not a store error), and a login meanwhile succeeds', async () => {
      const existing = email();
      expect((await signup(existing)).status).toBe(201);
      const storeErrorsBefore = await storeErrors('/auth/signup');
      const flood = Array.from({ length: 60 }, () => {
        const address = email();
        return signup(address, { password: strongPassword() }).then((result) => ({ address, result }));
      });
      const duringFlood = login(existing);
      const results = await Promise.all(flood);
      expect((await duringFlood).status).toBe(200);

      const answers = codes(results.map(({ result }) => result));
      expect(Object.keys(answers).sort(), JSON.stringify(answers)).toEqual(['201', '503 overloaded']);
      expect(answers['503 overloaded']).toBeGreaterThan(0);
      const refused = results.filter(({ result }) => result.status === 503);
      for (const { result } of refused) expect(Number(result.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await storeErrors('/auth/signup')).toBe(storeErrorsBefore);
      // Refused before anything was stored: those emails have no account, and can sign up now.
      const [first] = refused;
      expect((await login(first!.address)).status).toBe(401);
      expect((await signup(first!.address)).status).toBe(201);
    });

    it('a sign-up whose session cannot start leaves no account behind, so the retry succeeds', async () => {
      for (const transport of [undefined, 'token'] as const) {
        const address = email();
        const client = ip();
        server.sessions.down = true;
        let failed: CallResult;
        try {
          failed = await signup(address, { client, transport });
        } finally {
          server.sessions.down = false;
        }
        expect([failed.status, failed.json.error.code]).toEqual([503, 'unavailable']);
        expect(failed.setCookie).toBeNull();
        expect((await login(address, { client })).status).toBe(401);
        const retry = await signup(address, { client, transport });
        expect(retry.status).toBe(201);
        expect(retry.json.user.email).toBe(address);
      }
      expect(await storeErrors('/auth/signup')).toBeGreaterThan(0);
    });

    it(`a burst of parallel logins beyond the cap leaves exactly ${MAX_SESSIONS} live sessions`, async () => {
      const address = email();
      const client = ip();
      const first = await signup(address, { client });
      const burst = await Promise.all(Array.from({ length: 20 }, () => login(address, { client })));
      expect(codes(burst)).toEqual({ '200': 20 });
      const cookies = [first, ...burst].map((result) => result.setCookie!);
      const me = await Promise.all(cookies.map((cookie) => server.call('GET', '/auth/me', { cookie })));
      const live = cookies.filter((_cookie, index) => me[index]!.status === 200);
      expect(live).toHaveLength(MAX_SESSIONS);
      expect(codes(me.filter((result) => result.status !== 200))).toEqual({
        '401 session_revoked': 21 - MAX_SESSIONS,
      });
      const list = await server.call('GET', '/auth/sessions', { cookie: live[0]! });
      expect(list.json.sessions).toHaveLength(MAX_SESSIONS);
    });

    it('keeps at most 512 characters of a User-Agent', async () => {
      const address = email();
      await signup(address);
      const userAgent = `Agent/${'x'.repeat(12_000)}`;
      const result = await login(address, { userAgent });
      expect(result.status).toBe(200);
      const list = await server.call('GET', '/auth/sessions', { cookie: result.setCookie! });
      const mine = list.json.sessions.find((session: { current: boolean }) => session.current);
      // The sign-in's user agent; `userAgent` is the latest, the listing request's own.
      expect(mine.signInUserAgent).toBe(userAgent.slice(0, 512));
    });

    it('refuses guessable passwords at sign-up and password change alike, saying why, the email included', async () => {
      const address = `zorbulax.${randomUUID().slice(0, 8)}@example.com`;
      const weak = [
        'qwerty12',
        'password2',
        'iloveyou1',
        'Password1!',
        '123123123',
        'football1',
        'aaaaaaaa',
        'abcdefgh',
      ];
      for (const password of [...weak, 'Zorbulax1']) {
        const refused = await signup(address, { password });
        expect([refused.status, refused.json.error.code], password).toEqual([400, 'invalid_request']);
        expect(refused.json.error.message).toMatch(/^"password": This password is too easy to guess\. \S/);
      }
      // Nine refusals, and the email's budget (5) is intact: a weak password costs it nothing.
      const mine = await signup(address);
      expect(mine.status).toBe(201);
      for (const newPassword of ['qwerty12', 'Zorbulax1']) {
        const change = await server.call('POST', '/auth/password', {
          cookie: mine.setCookie!,
          csrf: mine.json.csrfToken,
          body: { currentPassword: PASSWORD, newPassword },
        });
        expect([change.status, change.json.error.code], newPassword).toEqual([400, 'invalid_request']);
        expect(change.json.error.message).toMatch(/^"newPassword": This password is too easy to guess\./);
      }
      expect((await login(address)).status).toBe(200);
    });

    it('refuses control characters in an email with 400 at sign-up and login, storing nothing', async () => {
      const address = email();
      await signup(address);
      const junk = [
        `a\u0000b@example.com`,
        `${address}\u0000`,
        `\u0000${address}`,
        `ada\u0007@example.com`,
        `ada@exa\u007fmple.com`,
        `ada\u0085@example.com`,
        `ada@example.com\u009b`,
        `ada\u001b[31m@example.com`,
      ];
      const before = await storeErrors('/auth/signup');
      for (const value of junk) {
        for (const path of ['/auth/signup', '/auth/login']) {
          const result = await server.call('POST', path, {
            body: { email: value, password: PASSWORD },
            headers: from(ip()),
          });
          expect([result.status, result.json.error.code], `${path} ${JSON.stringify(value)}`).toEqual([
            400,
            'invalid_request',
          ]);
          expect(result.json.error.message).toContain('"email"');
        }
      }
      expect(await storeErrors('/auth/signup')).toBe(before);
      expect(await storeErrors('/auth/login')).toBe(0);
      expect((await login(address)).status).toBe(200);
    });

    it('answers an id that cannot be a session id with 404 before any store call, and junk tokens without a store error', async () => {
      const mine = await signup(email());
      const cookie = mine.setCookie!;
      const csrf = mine.json.csrfToken as string;
      // Rate-limit counters live in the session store too: their increments are not lookups, so they do not count.
      const storeCalls = () =>
        Object.entries(server.sessions.calls)
          .filter(([method]) => method !== 'increment')
          .reduce((sum, [, count]) => sum + count, 0);
      const spent = async (run: () => Promise<CallResult>): Promise<[CallResult, number]> => {
        const before = storeCalls();
        const result = await run();
        return [result, storeCalls() - before];
      };
      // What authenticating the request itself costs, to subtract. The first request after sign-up may write the
      // client's latest address and user agent once (session binding): it goes first, outside the measure.
      await server.call('GET', '/auth/me', { cookie });
      const [, baseline] = await spent(() => server.call('GET', '/auth/me', { cookie }));
      const [unknown, unknownCalls] = await spent(() =>
        server.call('DELETE', `/auth/sessions/${'A'.repeat(26)}`, { cookie, csrf }),
      );
      expect(unknown.status).toBe(404);
      expect(unknownCalls).toBeGreaterThan(baseline);

      const id = mine.json.session.id as string;
      const junk = [
        '%00',
        `${id.slice(0, 25)}%00`,
        `${id}%00`,
        `%00${id}`,
        `${id.slice(0, 25)}%C2%85`,
        `${id.slice(0, 24)}%C3%A9`,
        'x'.repeat(90),
        '..%2F..%2Fetc%2Fpasswd',
        `${id}'%20OR%20'1'='1`,
      ];
      for (const value of junk) {
        const [result, calls] = await spent(() => server.call('DELETE', `/auth/sessions/${value}`, { cookie, csrf }));
        expect([result.status, result.json?.error?.code], value).toEqual([404, 'not_found']);
        expect(calls, value).toBe(baseline);
      }
      for (const token of ['\u0000', `abc\u0000def`, `${'A'.repeat(40)}\u0000${'A'.repeat(40)}`]) {
        const [result, calls] = await spent(() =>
          server.call('POST', '/auth/refresh', { body: { refresh_token: token } }),
        );
        expect([result.status, calls], JSON.stringify(token)).toEqual([401, 0]);
      }
      expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(200);
      expect(await storeErrors('/auth/sessions/:id')).toBe(0);
      expect(await storeErrors('/auth/refresh')).toBe(0);
    });
  });
}
