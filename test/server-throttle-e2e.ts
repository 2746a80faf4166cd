import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callFrom, loopbackAddress, type CallFromResult } from './support/call-from.js';
import { startTestServer, type TestServer } from './support/server-harness.js';

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new secret phrase';
const MAX_ATTEMPTS = 10;

const cookieNamed = (result: CallFromResult, name: string): string | undefined =>
  result.setCookies.find((cookie) => cookie.startsWith(`${name}=`));

const tally = (results: CallFromResult[]): Record<number, number> => {
  const counts: Record<number, number> = {};
  for (const result of results) counts[result.status] = (counts[result.status] ?? 0) + 1;
  return counts;
};

/**
 * The server's password checks under load and under races: the login
 * throttle (per account, per known device, per IP) against parallel bursts,
 * logins racing a password change, and what the audit log says. Every client
 * gets its own loopback address so no test spends another's IP budget.
 */
export function describeServerThrottle(name: string, env: () => Record<string, string> | null): void {
  describe(`server password checks on ${name}`, () => {
    let server: TestServer;
    const email = () => `throttle-${randomUUID()}@example.com`;
    const call = (ip: string, method: string, path: string, options?: Parameters<typeof callFrom>[4]) =>
      callFrom(server.url, ip, method, path, options);
    const login = (
      ip: string,
      address: string,
      password: string,
      extra: Record<string, unknown> = {},
      cookie?: string,
    ) =>
      call(ip, 'POST', '/auth/login', {
        body: { email: address, password, ...extra },
        ...(cookie === undefined ? {} : { headers: { cookie } }),
      });

    beforeAll(async () => {
      const chosen = env();
      if (chosen === null) return;
      server = await startTestServer({ TESSERA_LOGIN_MAX_ATTEMPTS: String(MAX_ATTEMPTS), ...chosen });
    });
    afterAll(async () => {
      await server?.close();
    });

    it('evaluates at most the account budget of 150 parallel wrong logins; the right password after gets 429', async () => {
      const ip = loopbackAddress();
      const address = email();
      expect((await call(ip, 'POST', '/auth/signup', { body: { email: address, password: PASSWORD } })).status).toBe(
        201,
      );
      const burst = await Promise.all(Array.from({ length: 150 }, () => login(ip, address, 'a wrong guess')));
      const { 401: evaluated = 0, 429: refused = 0 } = tally(burst);
      // At most the budget; fewer is possible when the IP budget also binds (a refused attempt holds an IP point
      // for a moment before giving it back).
      expect(evaluated).toBeGreaterThan(0);
      expect(evaluated).toBeLessThanOrEqual(MAX_ATTEMPTS);
      expect(evaluated + refused).toBe(150);
      expect(Number(burst.find((result) => result.status === 429)!.headers['retry-after'])).toBeGreaterThan(800);
      const right = await login(loopbackAddress(), address, PASSWORD);
      expect([right.status, right.json.error.code]).toEqual([429, 'rate_limited']);
      expect(Number(right.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('evaluates at most the IP budget (100) of 150 parallel logins to different accounts from one address', async () => {
      const ip = loopbackAddress();
      const burst = await Promise.all(Array.from({ length: 150 }, () => login(ip, email(), 'a wrong guess')));
      expect(tally(burst)).toEqual({ 401: 100, 429: 50 });
    });

    it('throttles the current password of POST /auth/password like a login, against a parallel burst', async () => {
      const ip = loopbackAddress();
      const owner = await call(ip, 'POST', '/auth/signup', { body: { email: email(), password: PASSWORD } });
      const headers = {
        cookie: cookieNamed(owner, '__Host-tessera')!,
        'x-csrf-token': owner.json.csrfToken as string,
      };
      const burst = await Promise.all(
        Array.from({ length: 40 }, () =>
          call(ip, 'POST', '/auth/password', {
            body: { currentPassword: 'not the password', newPassword: NEW_PASSWORD },
            headers,
          }),
        ),
      );
      expect(tally(burst)).toEqual({ 401: MAX_ATTEMPTS, 429: 40 - MAX_ATTEMPTS });
      expect(burst.find((result) => result.status === 401)!.json.error.code).toBe('invalid_credentials');
    });

    it('keeps no session or token pair from the old password once a racing password change has answered', async () => {
      let signedIn = 0;
      for (let trial = 0; trial < 5; trial++) {
        const address = email();
        const ownerIP = loopbackAddress();
        const owner = await call(ownerIP, 'POST', '/auth/signup', { body: { email: address, password: PASSWORD } });
        // A stream of logins with the (soon old) password, both transports, each from its own address.
        const logins = Array.from({ length: 16 }, (_, i) => {
          const transport = i % 2 === 0 ? 'cookie' : 'token';
          return new Promise((resolve) => setTimeout(resolve, i * 8)).then(async () => ({
            transport,
            result: await login(loopbackAddress(), address, PASSWORD, { transport }),
          }));
        });
        await new Promise((resolve) => setTimeout(resolve, 40));
        // From the owner's browser, device cookie and all: logins in flight hold the account's budget, not its own.
        const change = await call(ownerIP, 'POST', '/auth/password', {
          body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
          headers: {
            cookie: `${cookieNamed(owner, '__Host-tessera')!}; ${cookieNamed(owner, '__Host-tessera-device')!}`,
            'x-csrf-token': owner.json.csrfToken as string,
          },
        });
        expect(change.status).toBe(204);
        for (const { transport, result } of await Promise.all(logins)) {
          if (result.status !== 200) continue;
          signedIn++;
          if (transport === 'cookie') {
            const cookie = cookieNamed(result, '__Host-tessera')!;
            expect((await server.call('GET', '/auth/me', { cookie })).status, `trial ${trial}`).toBe(401);
          } else {
            const bearer = result.json.access_token as string;
            expect((await server.call('GET', '/auth/me', { bearer })).status, `trial ${trial}`).toBe(401);
            const refreshed = await server.call('POST', '/auth/refresh', {
              body: { refresh_token: result.json.refresh_token },
            });
            expect(refreshed.status, `trial ${trial}`).toBe(401);
          }
        }
      }
      // The race was run, not skipped: some logins did sign in with the old password before the change.
      expect(signedIn).toBeGreaterThan(0);
    });

    it('lets a browser that signed in before through a lockout from elsewhere; unknown clients get 429', async () => {
      const address = email();
      const home = loopbackAddress();
      const first = await call(home, 'POST', '/auth/signup', { body: { email: address, password: PASSWORD } });
      const device = cookieNamed(first, '__Host-tessera-device')!;
      expect(device).toBeDefined();
      const session = cookieNamed(first, '__Host-tessera')!;

      const elsewhere = await Promise.all(Array.from({ length: 20 }, () => login(loopbackAddress(), address, 'guess')));
      expect(tally(elsewhere)).toEqual({ 401: MAX_ATTEMPTS, 429: 20 - MAX_ATTEMPTS });
      expect((await login(loopbackAddress(), address, PASSWORD)).status).toBe(429);
      // The owner's browser, signed out: its device cookie survived logout and keeps its own budget.
      const out = await call(home, 'POST', '/auth/logout', {
        headers: { cookie: `${session}; ${device}`, 'x-csrf-token': first.json.csrfToken as string },
      });
      expect(out.status).toBe(204);
      expect(cookieNamed(out, '__Host-tessera-device')).toBeUndefined();
      const back = await login(home, address, PASSWORD, {}, device);
      expect(back.status).toBe(200);
      // …and may change the password during the lockout.
      const change = await call(home, 'POST', '/auth/password', {
        body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
        headers: {
          cookie: `${cookieNamed(back, '__Host-tessera')!}; ${device}`,
          'x-csrf-token': back.json.csrfToken as string,
        },
      });
      expect(change.status).toBe(204);
      // Its own burst is limited like anyone's.
      const burst = await Promise.all(Array.from({ length: 20 }, () => login(home, address, 'guess', {}, device)));
      expect(tally(burst)).toEqual({ 401: MAX_ATTEMPTS, 429: 20 - MAX_ATTEMPTS });
    });

    // Last: reads the log of everything above.
    it('logs login.failed with a keyed fingerprint of the account, never the email, and password.changed', async () => {
      const address = email();
      const ip = loopbackAddress();
      const owner = await call(ip, 'POST', '/auth/signup', { body: { email: address, password: PASSWORD } });
      expect((await login(ip, address, 'a wrong guess')).status).toBe(401);
      await call(ip, 'POST', '/auth/password', {
        body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
        headers: { cookie: cookieNamed(owner, '__Host-tessera')!, 'x-csrf-token': owner.json.csrfToken as string },
      });
      const events = server.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
      const failed = events.filter((line) => line.event === 'login.failed');
      expect(failed.length).toBeGreaterThan(0);
      for (const line of failed) expect(line.account_fp).toMatch(/^[\w-]{12}$/);
      expect(failed.filter((line) => line.ip === ip)).toHaveLength(1);
      const changed = events.filter((line) => line.event === 'password.changed' && line.userId === owner.json.user.id);
      expect(changed).toHaveLength(1);
      expect(changed[0]!.session_fp).toMatch(/^[\w-]{12}$/);
      expect(JSON.stringify(changed[0])).not.toContain(owner.json.session.id);
      expect(server.logs.join('\n')).not.toContain('@example.com');
    });
  });
}
