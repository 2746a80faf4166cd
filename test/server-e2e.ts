import { randomUUID } from 'node:crypto';
import { allowInsecureRequests, ClientSecretBasic, Configuration, tokenIntrospection } from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newClientSecret } from '../packages/server/src/clients/client-store.js';
import { ROUTES, buildOpenAPIDocument } from '../packages/server/src/openapi.js';
import { PAGE_ROUTES } from '../packages/server/src/pages/pages-plugin.js';
import { startTestServer, type CallResult, type TestServer } from './support/server-harness.js';

const PASSWORD = 'correct horse battery';
const ORIGIN_HEADER = (server: TestServer) => ({ origin: server.url });
const METRICS_TOKEN = 'metrics-token-0123456789-abcdefghijklmnop';

/**
 * The server end to end over loopback HTTP: every endpoint of API.md through
 * both transports, and the error paths. `env` picks the stores.
 */
export function describeServer(name: string, env: () => Record<string, string> | null): void {
  describe(`server on ${name}`, () => {
    let server: TestServer;
    /** Every credential the run saw, to prove none reached a log line. */
    const secrets = new Set<string>();
    const sessionIds = new Set<string>();
    const remember = (result: CallResult): CallResult => {
      if (result.setCookie !== null) secrets.add(result.setCookie.split('=')[1]!);
      // The device cookie too: a signed device id is no one's business in a log.
      for (const value of result.headers.getSetCookie()) {
        const content = value.split(';')[0]!.split('=')[1];
        if (content !== undefined && content !== '') secrets.add(content);
      }
      for (const key of ['csrfToken', 'access_token', 'refresh_token']) {
        const value = result.json?.[key];
        if (typeof value === 'string' && value !== '') secrets.add(value);
      }
      // Session ids are not credentials, but they name a session: logs carry fingerprints only.
      const sessionId = result.json?.session?.id;
      if (typeof sessionId === 'string') sessionIds.add(sessionId);
      return result;
    };
    const email = () => `user-${randomUUID()}@example.com`;

    const signup = async (address = email(), transport?: 'token') =>
      remember(await server.call('POST', '/auth/signup', { body: { email: address, password: PASSWORD, transport } }));
    const login = async (address: string, password = PASSWORD, transport?: 'token', headers?: Record<string, string>) =>
      remember(await server.call('POST', '/auth/login', { body: { email: address, password, transport }, headers }));

    beforeAll(async () => {
      const chosen = env();
      if (chosen === null) return;
      server = await startTestServer({
        TESSERA_LOGIN_MAX_ATTEMPTS: '3',
        TESSERA_INTROSPECT_SECRET: 'introspection+secret/0123456789:abc%20defghijk',
        TESSERA_METRICS_TOKEN: METRICS_TOKEN,
        ...chosen,
      });
    });
    afterAll(async () => {
      await server?.close();
    });

    it('serves health, readiness, JWKS (public keys only), metrics and an OpenAPI document in sync with the routes', async () => {
      expect((await server.call('GET', '/healthz')).json).toEqual({ status: 'ok' });
      expect((await server.call('GET', '/readyz')).status).toBe(200);
      const jwks = await server.call('GET', '/.well-known/jwks.json');
      expect(jwks.json.keys.length).toBeGreaterThan(0);
      for (const key of jwks.json.keys) {
        expect(key).toHaveProperty('kid');
        expect(key).not.toHaveProperty('d');
      }
      const openapi = await server.call('GET', '/openapi.json');
      expect(openapi.json.openapi).toBe('3.1.0');
      expect(openapi.json).toEqual(buildOpenAPIDocument());
      // Every route is a documented JSON endpoint, or one of the pages for people (HTML and its assets, not in OpenAPI).
      const documented = ROUTES.map((route) => `${route.method} ${route.path}`);
      expect([...server.server.routes].sort()).toEqual([...documented, ...PAGE_ROUTES].sort());
      for (const route of ROUTES) {
        const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
        expect(openapi.json.paths[path]?.[route.method.toLowerCase()], `${route.method} ${path}`).toBeDefined();
      }
      const metrics = await server.call('GET', '/metrics', { bearer: METRICS_TOKEN });
      expect(metrics.text).toContain('tessera_http_request_duration_seconds_bucket');
    });

    it('cookie transport: sign up, see yourself, list and revoke devices, change password, log out', async () => {
      const address = email();
      const first = await signup(address);
      expect(first.status).toBe(201);
      expect(first.json.user.email).toBe(address);
      const [sessionCookie, deviceCookie] = first.headers.getSetCookie();
      expect(sessionCookie).toMatch(/^__Host-tessera=.+; HttpOnly; Secure; SameSite=Lax$/);
      expect(deviceCookie).toMatch(
        /^__Host-tessera-device=[\w.-]+; Expires=.+; Max-Age=31536000; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
      );
      expect(first.headers.get('cache-control')).toBe('no-store');
      const cookie = first.setCookie!;
      const csrf = first.json.csrfToken as string;

      const me = await server.call('GET', '/auth/me', { cookie });
      expect(me.status).toBe(200);
      expect(me.json.session.id).toBe(first.json.session.id);
      expect(JSON.stringify(me.json)).not.toContain(cookie.split('=')[1]);
      expect(remember(await server.call('GET', '/auth/csrf', { cookie })).json.csrfToken).toMatch(/^[\w-]{86}$/);

      const second = await login(address, PASSWORD, undefined, { 'user-agent': 'SecondDevice/1.0' });
      expect(second.status).toBe(200);
      const third = await login(address);
      const list = await server.call('GET', '/auth/sessions', { cookie });
      expect(list.json.sessions).toHaveLength(3);
      expect(list.json.sessions.filter((s: { current: boolean }) => s.current)).toHaveLength(1);
      expect(list.json.sessions.map((s: { userAgent: string }) => s.userAgent)).toContain('SecondDevice/1.0');

      expect((await server.call('DELETE', `/auth/sessions/${second.json.session.id}`, { cookie })).status).toBe(403);
      const revoke = await server.call('DELETE', `/auth/sessions/${second.json.session.id}`, { cookie, csrf });
      expect(revoke.status).toBe(204);
      const revoked = await server.call('GET', '/auth/me', { cookie: second.setCookie! });
      expect(revoked.status).toBe(401);
      expect(revoked.json.error.code).toBe('session_revoked');
      expect(
        (await server.call('DELETE', '/auth/sessions/AAAAbm90LWEtcmVhbC1zZXNzaW9u', { cookie, csrf })).status,
      ).toBe(404);

      const wrong = await server.call('POST', '/auth/password', {
        cookie,
        csrf,
        body: { currentPassword: 'not it at all', newPassword: 'a brand new secret' },
      });
      expect([wrong.status, wrong.json.error.code]).toEqual([401, 'invalid_credentials']);
      const weak = await server.call('POST', '/auth/password', {
        cookie,
        csrf,
        body: { currentPassword: PASSWORD, newPassword: 'short' },
      });
      expect(weak.status).toBe(400);
      const changed = remember(
        await server.call('POST', '/auth/password', {
          cookie,
          csrf,
          body: { currentPassword: PASSWORD, newPassword: 'a brand new secret' },
        }),
      );
      expect(changed.status).toBe(204);
      expect(changed.setCookie).not.toBeNull();
      expect((await server.call('GET', '/auth/me', { cookie: third.setCookie! })).json.error.code).toBe(
        'session_revoked',
      );
      expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(401);
      const rotated = changed.setCookie!;
      expect((await server.call('GET', '/auth/me', { cookie: rotated })).status).toBe(200);
      expect((await login(address)).status).toBe(401);

      const freshCsrf = remember(await server.call('GET', '/auth/csrf', { cookie: rotated })).json.csrfToken;
      expect((await server.call('POST', '/auth/logout', { cookie: rotated, csrf })).json.error.code).toBe(
        'csrf_failed',
      );
      const out = await server.call('POST', '/auth/logout', { cookie: rotated, csrf: freshCsrf });
      expect(out.status).toBe(204);
      expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
      // The device stays known after logout: it is not a sign-in, it is "this browser has signed in here before".
      expect(out.headers.getSetCookie().filter((value) => value.startsWith('__Host-tessera-device='))).toEqual([]);
      expect((await server.call('GET', '/auth/me', { cookie: rotated })).status).toBe(401);
      const again = await server.call('POST', '/auth/logout', { cookie: rotated });
      expect(again.status).toBe(204);
      expect(again.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    });

    it('signs every other device out with DELETE /auth/sessions', async () => {
      const address = email();
      const mine = await signup(address);
      const other = await login(address);
      const result = await server.call('DELETE', '/auth/sessions', {
        cookie: mine.setCookie!,
        csrf: mine.json.csrfToken,
      });
      expect(result.status).toBe(204);
      expect((await server.call('GET', '/auth/me', { cookie: other.setCookie! })).status).toBe(401);
      expect((await server.call('GET', '/auth/me', { cookie: mine.setCookie! })).status).toBe(200);
    });

    it('token transport: pair at login, bearer without CSRF, refresh rotation, reuse, logout', async () => {
      const address = email();
      await signup(address, 'token');
      const pair = await login(address, PASSWORD, 'token');
      expect(pair.status).toBe(200);
      expect(pair.json).toMatchObject({ token_type: 'Bearer', expires_in: 900, user: { email: address } });
      expect(pair.setCookie).toBeNull();
      const me = await server.call('GET', '/auth/me', { bearer: pair.json.access_token });
      expect(me.json.user.email).toBe(address);
      expect((await server.call('GET', '/auth/sessions', { bearer: pair.json.access_token })).status).toBe(200);

      const next = remember(
        await server.call('POST', '/auth/refresh', { body: { refresh_token: pair.json.refresh_token } }),
      );
      expect(next.status).toBe(200);
      expect(next.json.refresh_token).not.toBe(pair.json.refresh_token);
      const replay = await server.call('POST', '/auth/refresh', { body: { refresh_token: pair.json.refresh_token } });
      expect(replay.json.refresh_token).toBe(next.json.refresh_token);
      expect((await server.call('POST', '/auth/refresh', { body: {} })).json.error.code).toBe('invalid_request');

      server.advance(11_000);
      const reused = await server.call('POST', '/auth/refresh', { body: { refresh_token: pair.json.refresh_token } });
      expect(reused.status).toBe(401);
      expect(reused.json.error.code).toBe('refresh_reused');
      const after = await server.call('GET', '/auth/me', { bearer: next.json.access_token });
      expect(after.status).toBe(401);
      expect(after.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');

      const again = await login(address, PASSWORD, 'token');
      const out = await server.call('POST', '/auth/logout', { bearer: again.json.access_token });
      expect(out.status).toBe(204);
      expect((await server.call('GET', '/auth/me', { bearer: again.json.access_token })).status).toBe(401);
    });

    it('GET /auth/me: expiresAt is the absolute end, idleExpiresAt the end if unused; remember: false gives a browser-session cookie and a shorter life', async () => {
      const address = email();
      const account = await signup(address);
      const me = (await server.call('GET', '/auth/me', { cookie: account.setCookie! })).json.session;
      const at = (field: string) => Date.parse(me[field]);
      expect(at('expiresAt') - at('createdAt')).toBe(server.config.absoluteTimeoutSeconds * 1000);
      expect(at('idleExpiresAt') - at('lastSeenAt')).toBe(server.config.idleTimeoutSeconds * 1000);
      expect(account.json.session.expiresAt).toBe(me.expiresAt);

      const browser = remember(
        await server.call('POST', '/auth/login', { body: { email: address, password: PASSWORD, remember: false } }),
      );
      expect(browser.status).toBe(200);
      const sessionCookie = browser.headers.getSetCookie().find((value) => value.startsWith('__Host-tessera='));
      expect(sessionCookie).toMatch(/^__Host-tessera=[\w.-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
      const short = browser.json.session;
      expect(Date.parse(short.expiresAt) - Date.parse(short.createdAt)).toBe(43_200_000);
      const kept = (await login(address)).headers.getSetCookie().find((value) => value.startsWith('__Host-tessera='));
      expect(kept).toMatch(/; Max-Age=\d+;/);
    });

    it('step-up: sensitive actions (revoking sessions, deleting the account) need a recent sign-in; POST /auth/reauthenticate proves it again and moves the session to a new id', async () => {
      const address = email();
      const mine = await signup(address);
      const other = await login(address);
      const phone = await login(address, PASSWORD, 'token');
      server.advance((server.config.reauthMaxAgeSeconds + 1) * 1000);
      const csrf = mine.json.csrfToken as string;
      for (const [method, path] of [
        ['DELETE', '/auth/sessions'],
        ['DELETE', `/auth/sessions/${other.json.session.id}`],
        ['DELETE', '/auth/account'],
      ] as const) {
        const refused = await server.call(method, path, { cookie: mine.setCookie!, csrf });
        expect(refused.status, path).toBe(403);
        expect(refused.json.error).toEqual({
          code: 'reauth_required',
          message: expect.any(String),
          maxAgeSeconds: server.config.reauthMaxAgeSeconds,
        });
      }
      const reauth = (password: string, options: Parameters<TestServer['call']>[2]) =>
        server.call('POST', '/auth/reauthenticate', { ...options, body: { password } });
      const wrong = await reauth('not the password', { cookie: mine.setCookie!, csrf });
      expect([wrong.status, wrong.json.error.code]).toEqual([401, 'invalid_credentials']);
      expect((await reauth(PASSWORD, { cookie: mine.setCookie! })).json.error.code).toBe('csrf_failed');
      const proved = remember(await reauth(PASSWORD, { cookie: mine.setCookie!, csrf }));
      expect(proved.status).toBe(200);
      expect(Object.keys(proved.json)).toEqual(['csrfToken']);
      expect(proved.setCookie).not.toBe(mine.setCookie);
      expect((await server.call('GET', '/auth/me', { cookie: mine.setCookie! })).status).toBe(401);
      const fresh = { cookie: proved.setCookie!, csrf: proved.json.csrfToken as string };
      expect((await server.call('DELETE', `/auth/sessions/${other.json.session.id}`, fresh)).status).toBe(204);
      expect((await server.call('GET', '/auth/me', { cookie: other.setCookie! })).status).toBe(401);

      // Over bearer: a new pair with the new auth_time; the old pair stops working.
      const bearer = phone.json.access_token as string;
      expect((await server.call('DELETE', '/auth/sessions', { bearer })).json.error.code).toBe('reauth_required');
      const pair = remember(await reauth(PASSWORD, { bearer }));
      expect(pair.status).toBe(200);
      expect(pair.json).toMatchObject({ token_type: 'Bearer', expires_in: 900 });
      const claims = JSON.parse(Buffer.from(pair.json.access_token.split('.')[1], 'base64url').toString());
      expect(claims.auth_time).toBeGreaterThan(
        JSON.parse(Buffer.from(bearer.split('.')[1]!, 'base64url').toString()).auth_time,
      );
      expect((await server.call('GET', '/auth/me', { bearer })).status).toBe(401);
      const spent = await server.call('POST', '/auth/refresh', { body: { refresh_token: phone.json.refresh_token } });
      expect(spent.status).toBe(401);
      expect((await server.call('DELETE', '/auth/sessions', { bearer: pair.json.access_token })).status).toBe(204);
      expect((await server.call('GET', '/auth/me', fresh)).status).toBe(401);
    });

    it('theft: a stolen cookie or access token cannot sign the owner out elsewhere once the sign-in is old, nor change the password without it', async () => {
      const address = email();
      const laptop = await signup(address);
      const phone = await login(address, PASSWORD, 'token');
      // What a thief holds: the laptop's cookie (and a CSRF token fetched with it), the phone's access token.
      const stolenCookie = laptop.setCookie!;
      const stolenCsrf = (await server.call('GET', '/auth/csrf', { cookie: stolenCookie })).json.csrfToken as string;
      const stolenBearer = phone.json.access_token as string;
      server.advance((server.config.reauthMaxAgeSeconds + 1) * 1000);
      const asThief = [{ cookie: stolenCookie, csrf: stolenCsrf }, { bearer: stolenBearer }];
      for (const credentials of asThief) {
        const everywhere = await server.call('DELETE', '/auth/sessions', credentials);
        expect([everywhere.status, everywhere.json.error.code]).toEqual([403, 'reauth_required']);
        const one = await server.call('DELETE', `/auth/sessions/${laptop.json.session.id}`, credentials);
        expect([one.status, one.json.error.code]).toEqual([403, 'reauth_required']);
        const password = await server.call('POST', '/auth/password', {
          ...credentials,
          body: { currentPassword: 'a good guess maybe', newPassword: 'the thief owns it now' },
        });
        expect([password.status, password.json.error.code]).toEqual([401, 'invalid_credentials']);
      }
      // Guessing at the step-up spends the same login budget (3 here, 2 spent above): a burst gets one more guess.
      const guesses = await Promise.all(
        ['guess one', 'guess two', 'guess three', 'guess four'].map((password) =>
          server.call('POST', '/auth/reauthenticate', { cookie: stolenCookie, csrf: stolenCsrf, body: { password } }),
        ),
      );
      expect(guesses.map((guess) => guess.status).sort()).toEqual([401, 429, 429, 429]);
      // Nothing changed: the owner is still signed in everywhere, with the same password.
      expect((await server.call('GET', '/auth/sessions', { bearer: stolenBearer })).json.sessions).toHaveLength(2);
    });

    it('POST /auth/password over bearer answers 200 with a new pair; the old pair stops working', async () => {
      const address = email();
      const phone = await signup(address, 'token');
      const changed = remember(
        await server.call('POST', '/auth/password', {
          bearer: phone.json.access_token,
          body: { currentPassword: PASSWORD, newPassword: 'another long secret' },
        }),
      );
      expect(changed.status).toBe(200);
      expect(changed.json).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) });
      expect((await server.call('GET', '/auth/me', { bearer: phone.json.access_token })).status).toBe(401);
      const old = await server.call('POST', '/auth/refresh', { body: { refresh_token: phone.json.refresh_token } });
      expect(old.status).toBe(401);
      expect((await server.call('GET', '/auth/me', { bearer: changed.json.access_token })).status).toBe(200);
      expect(
        (await server.call('POST', '/auth/refresh', { body: { refresh_token: changed.json.refresh_token } })).status,
      ).toBe(200);
    });

    it('token sessions live by the token lifetimes: still refreshable long after a cookie session went idle', async () => {
      const address = email();
      await signup(address);
      const cookie = await login(address);
      const token = await login(address, PASSWORD, 'token');
      server.advance((server.config.idleTimeoutSeconds + 60) * 1000);
      expect((await server.call('GET', '/auth/me', { cookie: cookie.setCookie! })).json.error.code).toBe(
        'session_expired',
      );
      const refreshed = remember(
        await server.call('POST', '/auth/refresh', { body: { refresh_token: token.json.refresh_token } }),
      );
      expect(refreshed.status).toBe(200);
      const me = (await server.call('GET', '/auth/me', { bearer: refreshed.json.access_token })).json.session;
      expect(Date.parse(me.expiresAt) - Date.parse(me.createdAt)).toBe(
        server.config.tokenAbsoluteTimeoutSeconds * 1000,
      );
      expect(Date.parse(me.idleExpiresAt) - Date.parse(me.lastSeenAt)).toBe(
        server.config.tokenIdleTimeoutSeconds * 1000,
      );
    });

    it('introspection with openid-client as a registered client: every kind of token, hints, no side effects', async () => {
      const name = `orders.api-${randomUUID().slice(0, 8)}`;
      const { secret, secretHash } = newClientSecret();
      expect(await server.runtime.clients.createClient({ name, secretHash, createdAt: Date.now() })).toBe(true);
      const client = new Configuration(
        { issuer: server.url, introspection_endpoint: `${server.url}/auth/introspect` },
        name,
        {},
        ClientSecretBasic(secret),
      );
      allowInsecureRequests(client);

      const address = email();
      const pair = await signup(address, 'token');
      const browser = await login(address);
      const sessionToken = browser.setCookie!.split('=')[1]!;
      const userId = pair.json.user.id as string;
      const sessionIdOf = async (token: string) =>
        (await server.call('GET', '/auth/me', { bearer: token })).json.session.id as string;
      const tokenSession = await sessionIdOf(pair.json.access_token);
      const cases = [
        [pair.json.access_token, 'Bearer', tokenSession],
        [pair.json.refresh_token, 'refresh_token', tokenSession],
        [sessionToken, 'session_token', browser.json.session.id],
      ] as const;
      const before = await Promise.all(cases.map(([, , sid]) => server.sessions.getSession(sid)));
      // Past the renewal interval: a request with these tokens would renew their sessions now.
      server.advance(120_000);
      for (const [token, type, sid] of cases) {
        for (const hint of [undefined, 'access_token', 'refresh_token', 'session_token', 'no_such_hint']) {
          const answer = await tokenIntrospection(client, token, hint === undefined ? {} : { token_type_hint: hint });
          expect(answer).toMatchObject({ active: true, sub: userId, sid, token_type: type, exp: expect.any(Number) });
          expect(JSON.stringify(answer)).not.toContain(token);
        }
      }
      // A burst changes nothing either: no renewal, no lastSeenAt moved, no IP recorded.
      await Promise.all(Array.from({ length: 30 }, (_, index) => tokenIntrospection(client, cases[index % 3]![0])));
      const after = await Promise.all(cases.map(([, , sid]) => server.sessions.getSession(sid)));
      expect(after).toEqual(before);

      expect(await tokenIntrospection(client, 'not-a-token')).toEqual({ active: false });
      await server.call('POST', '/auth/logout', { bearer: pair.json.access_token });
      expect((await tokenIntrospection(client, pair.json.access_token)).active).toBe(false);
      expect((await tokenIntrospection(client, pair.json.refresh_token)).active).toBe(false);

      // Revoked: its secret stops working at once.
      expect(await server.runtime.clients.deleteClient(name)).toBe(true);
      await expect(tokenIntrospection(client, sessionToken)).rejects.toThrow();
    });

    it('introspection takes a form or JSON body, HTTP Basic with form-encoded credentials, and refuses wrong secrets', async () => {
      const address = email();
      const pair = await signup(address, 'token');
      const configured = server.config.introspectSecret!;
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
      const basic = (id: string, secret: string) => ({
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      });
      const form = (headers: Record<string, string>, body: string) =>
        server.call('POST', '/auth/introspect', {
          rawBody: body,
          contentType: 'application/x-www-form-urlencoded',
          headers,
        });
      const token = encodeURIComponent(pair.json.access_token);
      const viaForm = await form(basic('default', configured), `token=${token}&token_type_hint=access_token`);
      expect(viaForm.status).toBe(200);
      expect(viaForm.json).toMatchObject({ active: true, sub: pair.json.user.id, token_type: 'Bearer' });
      const viaJSON = await server.call('POST', '/auth/introspect', {
        body: { token: pair.json.access_token },
        headers: basic('default', configured),
      });
      expect(viaJSON.json).toMatchObject({ active: true, sub: pair.json.user.id });
      // Clients that never form-encoded the secret keep working.
      const raw = { authorization: `Basic ${Buffer.from(`svc:${configured}`).toString('base64')}` };
      expect((await form(raw, `token=${token}`)).json.active).toBe(true);

      for (const headers of [
        {},
        basic('default', 'wrong'),
        basic('no-such-client', 'wrong'),
        { authorization: 'Basic !!' },
      ]) {
        const refused = await form(headers, `token=${token}`);
        expect(refused.status).toBe(401);
        expect(refused.json.error.code).toBe('unauthenticated');
        expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="tessera-introspect"/);
      }
      const twice = await form(basic('default', configured), `token=${token}&token=${token}`);
      expect(twice.status).toBe(400);
      expect((await form(basic('default', configured), 'token=%zz')).status).toBe(400);
      expect((await form(basic('default', configured), '')).json.error.code).toBe('invalid_request');
    });

    it('answers bad input with API.md codes and changes nothing', async () => {
      const address = email();
      expect((await signup(address)).status).toBe(201);
      const cases: [string, Parameters<TestServer['call']>[2], number, string][] = [
        ['duplicate email', { body: { email: address.toUpperCase(), password: PASSWORD } }, 409, 'conflict'],
        ['weak password', { body: { email: email(), password: 'password' } }, 400, 'invalid_request'],
        ['bad email', { body: { email: 'not-an-email', password: PASSWORD } }, 400, 'invalid_request'],
        ['missing field', { body: { email: email() } }, 400, 'invalid_request'],
        ['unknown field', { body: { email: email(), password: PASSWORD, admin: true } }, 400, 'invalid_request'],
        ['wrong type', { body: { email: 42, password: PASSWORD } }, 400, 'invalid_request'],
        ['malformed JSON', { rawBody: '{"email": "x@y.z", ' }, 400, 'invalid_request'],
        [
          'not JSON',
          { rawBody: 'email=x', contentType: 'application/x-www-form-urlencoded' },
          415,
          'unsupported_media_type',
        ],
        ['text/plain', { rawBody: '{}', contentType: 'text/plain' }, 415, 'unsupported_media_type'],
        ['oversized', { body: { email: email(), password: 'x'.repeat(40_000) } }, 413, 'payload_too_large'],
        [
          'cross-site',
          { body: { email: email(), password: PASSWORD }, headers: { 'sec-fetch-site': 'cross-site' } },
          403,
          'csrf_failed',
        ],
        [
          'Origin null',
          { body: { email: email(), password: PASSWORD }, headers: { origin: 'null' } },
          403,
          'csrf_failed',
        ],
      ];
      for (const [label, options, status, code] of cases) {
        const result = await server.call('POST', '/auth/signup', options);
        expect([result.status, result.json?.error?.code], label).toEqual([status, code]);
        expect(result.text, label).not.toContain(PASSWORD);
      }
      expect((await server.call('GET', '/auth/me?access_token=abc')).json.error.code).toBe('invalid_request');
      const garbage = await server.call('GET', '/auth/me', { cookie: '__Host-tessera=%00garbage' });
      expect(garbage.status).toBe(401);
      expect(garbage.headers.get('set-cookie')).toMatch(/Max-Age=0/);
      const forged = await server.call('GET', '/auth/me', { bearer: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' });
      expect(forged.json.error.code).toBe('invalid_token');
      expect((await server.call('GET', '/nowhere')).json.error.code).toBe('not_found');
      const huge = await fetch(`${server.url}/healthz`, { headers: { 'x-big': 'x'.repeat(20_000) } });
      expect(huge.status).toBe(431);
      expect((await server.call('GET', '/healthz')).status).toBe(200);
    });

    it('refuses a cross-site login and a cookie request without the CSRF token', async () => {
      const address = email();
      const account = await signup(address);
      const crossSite = await login(address, PASSWORD, undefined, { 'sec-fetch-site': 'cross-site' });
      expect(crossSite.json.error.code).toBe('csrf_failed');
      expect(crossSite.setCookie).toBeNull();
      const noToken = await server.call('DELETE', '/auth/sessions', {
        cookie: account.setCookie!,
        headers: ORIGIN_HEADER(server),
      });
      expect(noToken.json.error.code).toBe('csrf_failed');
    });

    it('throttles failed logins per account with 429 and Retry-After, answering unknown emails like wrong passwords', async () => {
      const address = email();
      await signup(address);
      const unknown = await login(email(), 'whatever it is');
      const wrong = await login(address, 'whatever it is');
      expect(unknown.json).toEqual(wrong.json);
      expect(wrong.json.error.code).toBe('invalid_credentials');
      await login(address, 'still wrong');
      await login(address, 'wrong again');
      const throttled = await login(address, PASSWORD);
      expect(throttled.status).toBe(429);
      expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    });

    it('fails closed with 503 when the session store is down, and recovers', async () => {
      const account = await signup();
      server.sessions.down = true;
      try {
        const me = await server.call('GET', '/auth/me', { cookie: account.setCookie! });
        expect([me.status, me.json.error.code]).toEqual([503, 'unavailable']);
        expect((await server.call('GET', '/readyz')).status).toBe(503);
        expect((await login(account.json.user.email)).status).toBe(503);
      } finally {
        server.sessions.down = false;
      }
      expect((await server.call('GET', '/auth/me', { cookie: account.setCookie! })).status).toBe(200);
    });

    it('counts logins, refreshes, reuse and revocations in the metrics', async () => {
      const text = (await server.call('GET', '/metrics', { bearer: METRICS_TOKEN })).text;
      expect(text).toMatch(/tessera_logins_total\{outcome="success"\} [1-9]/);
      expect(text).toMatch(/tessera_logins_total\{outcome="invalid_credentials"\} [1-9]/);
      expect(text).toMatch(/tessera_refresh_reuse_detected_total [1-9]/);
      expect(text).toMatch(/tessera_sessions_revoked_total\{reason="password_changed"\} [1-9]/);
      expect(text).toMatch(/tessera_store_errors_total\{route="\/auth\/me"\} [1-9]/);
      if (server.config.sessionStore.kind === 'database') expect(text).toMatch(/tessera_active_sessions [1-9]/);
    });

    // Last, after every scenario above has run through this server.
    it('never writes a credential to the log: no cookie, CSRF token, access or refresh token, password, query or session id', () => {
      const log = server.logs.join('\n');
      expect(log).toContain('"event":"session.created"');
      expect(secrets.size).toBeGreaterThan(20);
      for (const secret of [...secrets, PASSWORD]) expect(log).not.toContain(secret);
      expect(log).not.toContain('access_token=');
      // DELETE /auth/sessions/<id> ran above: its request line names the route pattern, not the id.
      expect(sessionIds.size).toBeGreaterThan(5);
      for (const id of sessionIds) expect(log).not.toContain(id);
      expect(log).toContain('"route":"/auth/sessions/:id"');
    });
  });
}
