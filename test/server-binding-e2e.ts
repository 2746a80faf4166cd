import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type CallResult, type TestServer } from './support/server-harness.js';

const PASSWORD = 'correct horse battery';
const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';

/**
 * Session binding and new devices over HTTP, under `TESSERA_SESSION_BINDING=strict` and `warn`: a cookie
 * copied to another browser, a client that moves network, the audit lines both leave, the sessions list's
 * sign-in and latest facts and its new-device mark. The server trusts one proxy hop, so a test picks its
 * client IP with `X-Forwarded-For`. `env` picks the stores.
 */
export function describeServerBinding(name: string, env: () => Record<string, string> | null): void {
  for (const binding of ['strict', 'warn'] as const) {
    describe(`session binding "${binding}" on ${name}`, () => {
      let server: TestServer;
      let clients = randomBytes(3).readUIntBE(0, 3) & 0x7fffff;
      const ip = () => {
        const n = clients++;
        return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      };
      const client = (address: string, userAgent: string) => ({ 'x-forwarded-for': address, 'user-agent': userAgent });
      const email = () => `user-${randomUUID()}@example.com`;
      const auditLines = (event: string, sessionId?: string) =>
        server.logs
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .filter((line) => line.event === event)
          .filter((line) => sessionId === undefined || line.session_fp === fingerprintOf(sessionId));
      /** The audit fingerprint of a session id, read from the `session.created` line the session left. */
      const fingerprints = new Map<string, string>();
      const fingerprintOf = (sessionId: string) => fingerprints.get(sessionId);
      const remember = (result: CallResult): CallResult => {
        const id = result.json?.session?.id;
        if (typeof id === 'string') {
          const created = server.logs
            .map((line) => JSON.parse(line) as Record<string, unknown>)
            .filter((line) => line.event === 'session.created');
          fingerprints.set(id, String(created.at(-1)?.session_fp));
        }
        return result;
      };
      const signup = async (headers: Record<string, string>) =>
        remember(await server.call('POST', '/auth/signup', { body: { email: email(), password: PASSWORD }, headers }));
      const me = (cookie: string, headers: Record<string, string>) =>
        server.call('GET', '/auth/me', { cookie, headers });

      beforeAll(async () => {
        const chosen = env();
        if (chosen === null) return;
        server = await startTestServer({ TESSERA_TRUST_PROXY: '1', TESSERA_SESSION_BINDING: binding, ...chosen });
      });
      afterAll(async () => {
        await server?.close();
      });

      it(`${binding === 'strict' ? 'refuses' : 'serves'} a cookie copied to another browser family, and audits it`, async () => {
        const home = ip();
        const owner = await signup(client(home, CHROME));
        const cookie = owner.setCookie!;
        const sessionId = owner.json.session.id as string;
        const stolen = await me(cookie, client(ip(), FIREFOX));
        const changed = auditLines('session.user_agent_changed', sessionId);
        expect(changed).toMatchObject([
          { previousDevice: 'Chrome 120 on Windows', device: 'Firefox 121 on Linux', otherClient: true },
        ]);
        // The full user agents only as fingerprints.
        expect(changed[0]).toHaveProperty('userAgent_fp');
        expect(JSON.stringify(changed)).not.toContain('Gecko/20100101');
        if (binding === 'strict') {
          expect([stolen.status, stolen.json.error.code]).toEqual([401, 'session_revoked']);
          expect(auditLines('session.revoked', sessionId)).toMatchObject([{ reason: 'binding_mismatch' }]);
          const back = await me(cookie, client(home, CHROME));
          expect([back.status, back.json.error.code]).toEqual([401, 'session_revoked']);
        } else {
          expect(stolen.status).toBe(200);
          expect(auditLines('session.revoked', sessionId)).toEqual([]);
          // Reported once: the new user agent is the session's latest from now on.
          expect((await me(cookie, client(ip(), FIREFOX))).status).toBe(200);
          expect(auditLines('session.user_agent_changed', sessionId)).toHaveLength(1);
        }
      });

      it('serves a client that moved network, reports it once, and lists sign-in and latest facts apart', async () => {
        const home = '10.200.1.7';
        const owner = await signup(client(home, CHROME));
        const cookie = owner.setCookie!;
        const sessionId = owner.json.session.id as string;
        for (let i = 0; i < 2; i++) expect((await me(cookie, client('192.0.2.44', CHROME))).status).toBe(200);
        expect(auditLines('session.ip_changed', sessionId)).toMatchObject([
          { previousIp: home, ip: '192.0.2.44', previousIpPrefix: '10.200.1.0/24', ipPrefix: '192.0.2.0/24' },
        ]);
        const list = await server.call('GET', '/auth/sessions', { cookie, headers: client('192.0.2.44', CHROME) });
        expect(list.json.sessions).toEqual([
          expect.objectContaining({
            id: sessionId,
            ip: '192.0.2.44',
            userAgent: CHROME,
            signInIp: home,
            signInUserAgent: CHROME,
            current: true,
          }),
        ]);
      });

      it('marks a sign-up and a login without the device cookie as a new device, and not a login with it', async () => {
        const address = email();
        const first = remember(
          await server.call('POST', '/auth/signup', {
            body: { email: address, password: PASSWORD },
            headers: client(ip(), CHROME),
          }),
        );
        const device = first.headers
          .getSetCookie()
          .find((value) => value.startsWith('__Host-tessera-device='))!
          .split(';')[0]!;
        const login = (cookie?: string) =>
          server.call('POST', '/auth/login', {
            body: { email: address, password: PASSWORD },
            headers: client(ip(), CHROME),
            ...(cookie === undefined ? {} : { cookie }),
          });
        const known = remember(await login(device));
        const unknown = remember(await login());
        expect([known.status, unknown.status]).toEqual([200, 200]);
        const list = await server.call('GET', '/auth/sessions', {
          cookie: first.setCookie!,
          headers: client(ip(), CHROME),
        });
        const marks = Object.fromEntries(
          (list.json.sessions as { id: string; newDevice: boolean }[]).map((entry) => [entry.id, entry.newDevice]),
        );
        expect(marks).toEqual({
          [first.json.session.id]: true,
          [known.json.session.id]: false,
          [unknown.json.session.id]: true,
        });
        const reported = [first, known, unknown].map(
          (result) => auditLines('login.new_device', result.json.session.id as string).length,
        );
        expect(reported).toEqual([1, 0, 1]);
        expect(auditLines('login.new_device', unknown.json.session.id as string)).toMatchObject([
          { device: 'Chrome 120 on Windows' },
        ]);
      });

      if (binding === 'strict') {
        it('races 20 requests with a copied cookie against 20 of its owner: no copied one is served', async () => {
          const home = ip();
          const owner = await signup(client(home, CHROME));
          const cookie = owner.setCookie!;
          const thief = ip();
          const [stolen, own] = await Promise.all([
            Promise.all(Array.from({ length: 20 }, () => me(cookie, client(thief, FIREFOX)))),
            Promise.all(Array.from({ length: 20 }, () => me(cookie, client(home, CHROME)))),
          ]);
          expect(stolen.map((result) => `${result.status} ${result.json.error?.code}`)).toEqual(
            Array.from({ length: 20 }, () => '401 session_revoked'),
          );
          for (const result of own) expect([200, 401]).toContain(result.status);
          expect(auditLines('session.revoked', owner.json.session.id as string)).toHaveLength(1);
          expect((await me(cookie, client(home, CHROME))).status).toBe(401);
        });
      }
    });
  }
}
