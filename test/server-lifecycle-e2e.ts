import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAdminKey } from '../packages/server/src/admin/admin-keys.js';
import { startTestServer, type CallResult, type TestServer } from './support/server-harness.js';

const PASSWORD = 'correct horse battery';

/**
 * The account lifecycle (disable, enable, delete, delete-my-account) and the admin API over HTTP, on the stores
 * `env` picks, with bursts racing a disable and an admin key's revocation. Each test signs up its own accounts
 * from its own client address (`X-Forwarded-For`, one trusted hop), so no budget leaks between tests.
 */
export function describeAccountLifecycle(name: string, env: () => Record<string, string> | null): void {
  describe(`account lifecycle and admin API on ${name}`, () => {
    let server: TestServer;
    let adminKey: string;
    let clients = 0;
    const ip = () => `10.77.${(clients >> 8) & 255}.${clients++ & 255}`;
    const email = () => `user-${randomUUID()}@example.com`;
    const as = (client: string) => ({ 'x-forwarded-for': client });

    const signup = async (address: string, transport: 'cookie' | 'token' = 'token', client = ip()) => {
      const result = await server.call('POST', '/auth/signup', {
        body: { email: address, password: PASSWORD, transport },
        headers: as(client),
      });
      expect(result.status).toBe(201);
      return result;
    };
    const login = (address: string, options: { password?: string; transport?: 'cookie' | 'token' } = {}) =>
      server.call('POST', '/auth/login', {
        body: { email: address, password: options.password ?? PASSWORD, transport: options.transport ?? 'token' },
        headers: as(ip()),
      });
    const refresh = (token: string) =>
      server.call('POST', '/auth/refresh', { body: { refresh_token: token }, headers: as(ip()) });
    const admin = (method: string, path: string, key = adminKey) => server.call(method, path, { bearer: key });
    const newAdminKey = async (options: { expiresAt?: number } = {}) => {
      const { key, keyHash } = generateAdminKey();
      const name = `test-${randomUUID().slice(0, 8)}`;
      const created = await server.runtime.adminKeys.createAdminKey({
        name,
        keyHash,
        createdAt: Date.now(),
        expiresAt: options.expiresAt ?? null,
      });
      expect(created).toBe(true);
      return { name, key };
    };
    const codeOf = (result: CallResult) => `${result.status} ${result.json?.error?.code ?? ''}`.trim();
    const userId = async (address: string): Promise<string> =>
      (await admin('GET', `/admin/users?email=${encodeURIComponent(address)}`)).json.user.id as string;

    beforeAll(async () => {
      const chosen = env();
      if (chosen === null) return;
      server = await startTestServer({
        TESSERA_TRUST_PROXY: '1',
        TESSERA_LOGIN_MAX_ATTEMPTS: '100',
        TESSERA_LOGIN_MAX_ATTEMPTS_PER_IP: '100',
        TESSERA_SIGNUP_MAX_PER_IP: '100',
        ...chosen,
      });
      adminKey = (await newAdminKey()).key;
    });
    afterAll(async () => {
      await server?.close();
    });

    it('a disabled account: 403 account_disabled for the right password and for refresh, 401 for a wrong one, its tokens and cookies dead; enabled again it signs in', async () => {
      const address = email();
      const pair = (await signup(address)).json;
      const cookie = (await login(address, { transport: 'cookie' })).setCookie!;
      const id = await userId(address);

      expect((await admin('POST', `/admin/users/${id}/disable`)).status).toBe(204);
      expect(codeOf(await login(address))).toBe('403 account_disabled');
      expect(codeOf(await login(address, { transport: 'cookie' }))).toBe('403 account_disabled');
      expect(codeOf(await login(address, { password: 'not the password' }))).toBe('401 invalid_credentials');
      expect(codeOf(await refresh(pair.refresh_token))).toBe('403 account_disabled');
      expect((await server.call('GET', '/auth/me', { bearer: pair.access_token })).status).toBe(401);
      expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(401);
      expect((await admin('GET', `/admin/users/${id}/sessions`)).json.sessions).toEqual([]);
      const shown = (await admin('GET', `/admin/users?email=${encodeURIComponent(address)}`)).json.user;
      expect(shown.disabledAt).toMatch(/^\d{4}-\d\d-\d\dT/);

      expect((await admin('POST', `/admin/users/${id}/enable`)).status).toBe(204);
      expect((await admin('GET', `/admin/users?email=${encodeURIComponent(address)}`)).json.user.disabledAt).toBeNull();
      const again = await login(address);
      expect(again.status).toBe(200);
      expect((await server.call('GET', '/auth/me', { bearer: again.json.access_token })).status).toBe(200);
      // What the disable revoked stays revoked.
      expect(codeOf(await refresh(pair.refresh_token))).toMatch(/^401 /);
      expect((await admin('POST', '/admin/users/no-such-user/disable')).status).toBe(404);
      expect((await admin('POST', '/admin/users/no-such-user/enable')).status).toBe(404);
    });

    it('admin API: only a live admin key gets in (401 unauthenticated / invalid_token otherwise), and a user cookie is never touched', async () => {
      const address = email();
      const pair = (await signup(address)).json;
      const cookie = (await login(address, { transport: 'cookie' })).setCookie!;
      const path = `/admin/users?email=${encodeURIComponent(address)}`;
      const expired = await newAdminKey({ expiresAt: Date.now() - 1000 });
      const revoked = await newAdminKey();
      expect(await server.runtime.adminKeys.deleteAdminKey(revoked.name)).toBe(true);

      const refusals: [string, CallResult][] = [
        ['401 unauthenticated', await server.call('GET', path)],
        ['401 unauthenticated', await server.call('GET', path, { cookie })],
        ['401 unauthenticated', await server.call('GET', path, { headers: { authorization: `Basic ${adminKey}` } })],
        ['401 invalid_token', await server.call('GET', path, { bearer: pair.access_token })],
        ['401 invalid_token', await server.call('GET', path, { bearer: pair.refresh_token })],
        ['401 invalid_token', await server.call('GET', path, { bearer: expired.key })],
        ['401 invalid_token', await server.call('GET', path, { bearer: revoked.key })],
        ['401 invalid_token', await server.call('GET', path, { bearer: `${adminKey.slice(0, -2)}xx` })],
        ['401 invalid_token', await server.call('DELETE', '/admin/sessions', { bearer: pair.access_token })],
      ];
      for (const [expected, result] of refusals) {
        expect(codeOf(result)).toBe(expected);
        expect(result.headers.get('www-authenticate')).toMatch(/^Bearer realm="tessera-admin"/);
        expect(result.headers.get('set-cookie')).toBeNull();
      }
      const found = await server.call('GET', path, { bearer: adminKey, cookie });
      expect(found.status).toBe(200);
      expect(found.json.user).toMatchObject({ email: address, disabledAt: null });
      expect(found.headers.get('set-cookie')).toBeNull();
      // A user's cookie on an admin request is neither used nor renewed: the session lives on untouched.
      expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(200);
      expect((await admin('GET', '/admin/users?email=nobody%40example.com')).status).toBe(404);
      expect(codeOf(await admin('GET', '/admin/users'))).toBe('400 invalid_request');
      expect(codeOf(await admin('GET', '/admin/users?email=not-an-email'))).toBe('400 invalid_request');
      // The refusals and the reads are audited by key name; no key, access token or cookie value reaches the log.
      const logs = server.logs.join('\n');
      expect(logs).toContain('"event":"admin.refused"');
      expect(logs).toMatch(/"event":"admin.user_looked_up","adminKey":"test-/);
      for (const secret of [adminKey, expired.key, revoked.key, pair.access_token, cookie.split('=')[1]!]) {
        expect(logs).not.toContain(secret);
      }
    });

    it('admin API: list a user’s sessions (without current), revoke one, revoke all of them with their token families', async () => {
      const address = email();
      const first = (await signup(address)).json;
      const second = (await login(address)).json;
      const third = (await login(address)).json;
      const id = await userId(address);

      const listed = await admin('GET', `/admin/users/${id}/sessions`);
      expect(listed.status).toBe(200);
      expect(listed.json.sessions).toHaveLength(3);
      for (const entry of listed.json.sessions) {
        expect(entry).not.toHaveProperty('current');
        expect(entry).toMatchObject({ id: expect.any(String), createdAt: expect.any(String) });
      }
      const me = await server.call('GET', '/auth/me', { bearer: first.access_token });
      const firstSession = me.json.session.id as string;
      expect((await admin('DELETE', `/admin/sessions/${firstSession}`)).status).toBe(204);
      expect((await admin('DELETE', `/admin/sessions/${firstSession}`)).status).toBe(404);
      expect((await admin('DELETE', '/admin/sessions/AAAAbm90LWEtcmVhbC1zZXNzaW9u')).status).toBe(404);
      expect((await server.call('GET', '/auth/me', { bearer: first.access_token })).status).toBe(401);
      expect((await server.call('GET', '/auth/me', { bearer: second.access_token })).status).toBe(200);

      expect((await admin('DELETE', `/admin/users/${id}/sessions`)).status).toBe(204);
      for (const pair of [second, third]) {
        expect((await server.call('GET', '/auth/me', { bearer: pair.access_token })).status).toBe(401);
        expect(codeOf(await refresh(pair.refresh_token))).toMatch(/^401 /);
      }
      expect((await admin('GET', `/admin/users/${id}/sessions`)).json.sessions).toEqual([]);
      expect((await admin('GET', '/admin/users/no-such-user/sessions')).status).toBe(404);
      expect((await admin('DELETE', '/admin/users/no-such-user/sessions')).status).toBe(404);
      // Not disabled: the user signs in again.
      expect((await login(address)).status).toBe(200);
      expect(server.logs.join('\n')).toMatch(/"event":"user.sessions_revoked".*"by":"admin_key","adminKey":"test-/);
    });

    it('admin API: deleting a user revokes everything, removes the account, and its email can sign up again', async () => {
      const address = email();
      const pair = (await signup(address)).json;
      const id = await userId(address);
      expect((await admin('DELETE', `/admin/users/${id}`)).status).toBe(204);
      expect((await admin('DELETE', `/admin/users/${id}`)).status).toBe(404);
      expect((await server.call('GET', '/auth/me', { bearer: pair.access_token })).status).toBe(401);
      expect(codeOf(await refresh(pair.refresh_token))).toMatch(/^401 /);
      expect(codeOf(await login(address))).toBe('401 invalid_credentials');
      expect((await admin('GET', `/admin/users?email=${encodeURIComponent(address)}`)).status).toBe(404);
      const again = (await signup(address)).json;
      expect(again.user.id).not.toBe(id);
      expect(server.logs.join('\n')).toMatch(/"event":"user.deleted".*"adminKey":"test-/);
    });

    it('DELETE /admin/sessions revokes every session of every user; signing in afterwards works', async () => {
      const addresses = [email(), email(), email()];
      const pairs = [];
      for (const address of addresses) {
        pairs.push((await signup(address)).json, (await login(address)).json);
      }
      const cookie = (await login(addresses[0]!, { transport: 'cookie' })).setCookie!;
      expect((await admin('DELETE', '/admin/sessions')).status).toBe(204);
      for (const pair of pairs) {
        expect((await server.call('GET', '/auth/me', { bearer: pair.access_token })).status).toBe(401);
        expect(codeOf(await refresh(pair.refresh_token))).toMatch(/^401 /);
      }
      expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(401);
      for (const address of addresses) {
        expect((await admin('GET', `/admin/users/${await userId(address)}/sessions`)).json.sessions).toEqual([]);
      }
      const after = await login(addresses[1]!);
      expect((await server.call('GET', '/auth/me', { bearer: after.json.access_token })).status).toBe(200);
      expect(server.logs.join('\n')).toMatch(/"event":"sessions.revoked_everywhere"/);
    });

    it('DELETE /auth/account: cookie needs CSRF, then 204 clearing the cookie; bearer too; the email can sign up again', async () => {
      const address = email();
      const signedUp = await signup(address, 'cookie');
      const cookie = signedUp.setCookie!;
      const csrf = signedUp.json.csrfToken as string;
      const other = (await login(address)).json;
      expect(codeOf(await server.call('DELETE', '/auth/account', { cookie }))).toBe('403 csrf_failed');
      expect(codeOf(await server.call('DELETE', '/auth/account'))).toBe('401 unauthenticated');
      const deleted = await server.call('DELETE', '/auth/account', { cookie, csrf });
      expect(deleted.status).toBe(204);
      expect(deleted.headers.getSetCookie().some((value) => /^__Host-tessera=;.*Max-Age=0/i.test(value))).toBe(true);
      expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(401);
      expect((await server.call('GET', '/auth/me', { bearer: other.access_token })).status).toBe(401);
      expect(codeOf(await login(address))).toBe('401 invalid_credentials');

      const bearerUser = (await signup(address)).json;
      const bearerDeleted = await server.call('DELETE', '/auth/account', { bearer: bearerUser.access_token });
      expect(bearerDeleted.status).toBe(204);
      expect((await server.call('GET', '/auth/me', { bearer: bearerUser.access_token })).status).toBe(401);
      expect((await admin('GET', `/admin/users?email=${encodeURIComponent(address)}`)).status).toBe(404);
      expect(server.logs.join('\n')).toMatch(/"event":"user.deleted".*"by":"user"/);
    });

    it('race: logins and refreshes racing a disable; once it resolves, none succeeds and every session made in the race is revoked', async () => {
      const address = email();
      const pairs = [(await signup(address)).json];
      for (let i = 0; i < 5; i++) pairs.push((await login(address)).json);
      const id = await userId(address);

      const racing = [
        ...Array.from({ length: 6 }, () => login(address)),
        ...pairs.map((pair) => refresh(pair.refresh_token)),
      ];
      let resolved = false;
      const disabled = admin('POST', `/admin/users/${id}/disable`).finally(() => {
        resolved = true;
      });
      // More logins keep starting until the disable has answered, so some finish at every point of it.
      for (let started = 0; !resolved && started < 40; started++) {
        racing.push(login(address));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const results = await Promise.all(racing);
      expect((await disabled).status).toBe(204);

      // Whatever won its race before the disable: every token pair it handed out is dead now.
      for (const result of results) {
        expect(['200', '401 invalid_credentials', '401 session_revoked', '403 account_disabled']).toContain(
          codeOf(result),
        );
        if (result.status !== 200) continue;
        expect((await server.call('GET', '/auth/me', { bearer: result.json.access_token })).status).toBe(401);
        expect(codeOf(await refresh(result.json.refresh_token))).toBe('403 account_disabled');
      }
      expect((await admin('GET', `/admin/users/${id}/sessions`)).json.sessions).toEqual([]);
      const after = await Promise.all([
        ...Array.from({ length: 4 }, () => login(address)),
        ...pairs.map((pair) => refresh(pair.refresh_token)),
      ]);
      expect(new Set(after.map(codeOf))).toEqual(new Set(['403 account_disabled']));
    });

    it('race: an admin key revoked while its requests are in flight; once the revoke resolves, every request with it is 401', async () => {
      const { name, key } = await newAdminKey();
      const address = email();
      await signup(address);
      const path = `/admin/users?email=${encodeURIComponent(address)}`;
      const inFlight = Array.from({ length: 30 }, () => admin('GET', path, key));
      const revoked = server.runtime.adminKeys.deleteAdminKey(name);
      const during = await Promise.all(inFlight);
      expect(await revoked).toBe(true);
      for (const result of during) expect(['200', '401 invalid_token']).toContain(codeOf(result));
      const after = await Promise.all(Array.from({ length: 30 }, () => admin('GET', path, key)));
      expect(new Set(after.map(codeOf))).toEqual(new Set(['401 invalid_token']));
      expect((await admin('GET', path)).status).toBe(200);
    });
  });
}
