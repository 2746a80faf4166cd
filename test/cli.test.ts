import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Store } from '../packages/auth/src/core/store/types.js';
import { connectPostgres, createPostgresStore } from '../packages/auth/src/stores/postgres/postgres-store.js';
import { createSQLiteStore } from '../packages/auth/src/stores/sqlite/sqlite-store.js';
import { makeSessionRecord } from 'tessera-auth/testing';
import {
  canRunInTerminal,
  createPostgresDatabase,
  parseJSONOutput,
  runCLI,
  runCLIInTerminal,
  runLimited,
  serveCLI,
  type CLIResult,
  type ServedCLI,
} from './support/cli-harness.js';

const redisURL = inject('redisURL');
const postgresUrl = inject('postgresUrl');

/** Where a suite's data lives, and a way to reach its database store directly. */
interface Backend {
  env: Record<string, string>;
  /** The database store with its clock two hours back, so whatever it writes with a TTL is already expired. */
  openPastDatabaseStore(): Promise<{ store: Store; close(): Promise<void> }>;
  /** The name `cleanup` reports for the database store. */
  databaseStoreName: string;
  destroy(): Promise<void>;
}

const TWO_HOURS = 2 * 3600_000;
const past = (): number => Date.now() - TWO_HOURS;
const PASSWORD = 'correct horse battery staple';

interface SessionJSON {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  ip: string | null;
  userAgent: string | null;
}

interface KeyJSON {
  kid: string;
  alg: string;
  status: 'current' | 'previous';
  createdAt: string;
  expiresAt: string | null;
}

const kidOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid: string }).kid;

function describeCLI(name: string, open: (() => Promise<Backend>) | null): void {
  describe.skipIf(open === null)(`tessera CLI on ${name}`, () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
    let backend: Backend;
    let server: ServedCLI | undefined;
    const email = `ada-${Date.now()}@example.com`;
    const tessera = (args: string[], input?: string): Promise<CLIResult> =>
      runCLI(args, { cwd, env: backend.env, ...(input === undefined ? {} : { input }) });
    const signIn = async (userAgent: string) => {
      const response = await fetch(`${server?.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': userAgent },
        body: JSON.stringify({ email, password: PASSWORD, transport: 'token' }),
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { access_token: string }).access_token;
    };
    const me = async (accessToken: string) => {
      const response = await fetch(`${server?.url}/auth/me`, { headers: { authorization: `Bearer ${accessToken}` } });
      return { status: response.status, body: (await response.json()) as { session?: { id: string } } };
    };
    let accessToken: string;
    let sessionId: string;

    beforeAll(async () => {
      backend = await (open as () => Promise<Backend>)();
    });
    afterAll(async () => {
      expect(await server?.stop()).toBe(0);
      await backend?.destroy();
      rmSync(cwd, { recursive: true, force: true });
    });

    it('migrate applies each schema once and says which versions it applied', async () => {
      const first = await tessera(['migrate', '--json']);
      expect(first.code).toBe(0);
      expect(parseJSONOutput<{ migrations: unknown }>(first).migrations).toEqual([
        // Every version of the database store's schema (the first was all there was in the first release).
        { schema: 'sessions', applied: name === 'SQLite' ? [1, 2, 3, 4, 5] : [1, 2, 3, 4] },
        { schema: 'accounts', applied: [1, 2, 3] },
        { schema: 'webhooks', applied: [1] },
        { schema: 'clients', applied: [1] },
      ]);
      const again = await tessera(['migrate']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(
        /^SCHEMA +APPLIED\nsessions +none \(up to date\)\naccounts +none \(up to date\)\nwebhooks +none \(up to date\)\nclients +none \(up to date\)\n$/,
      );
      expect(again.stderr).toContain('already up to date');
    });

    it('user create reads the password from stdin and refuses a taken email or a weak password', async () => {
      const created = await tessera(['user', 'create', email.toUpperCase(), '--json'], `${PASSWORD}\n`);
      expect(created.code).toBe(0);
      expect(parseJSONOutput<{ email: string }>(created)).toMatchObject({ email, id: expect.any(String) });
      expect(created.stdout).not.toContain(PASSWORD);

      const [taken, weak, fromEmail, none] = await Promise.all([
        tessera(['user', 'create', email], `${PASSWORD}\n`),
        tessera(['user', 'create', `weak-${email}`], 'password\n'),
        tessera(['user', 'create', 'zorbulax.quintrel@example.com'], 'Zorbulax1\n'),
        tessera(['user', 'create', `none-${email}`]),
      ]);
      expect(taken).toMatchObject({ code: 1, stdout: '' });
      expect(taken.stderr).toContain(`An account with the email ${email} already exists.`);
      expect(weak).toMatchObject({ code: 1, stdout: '' });
      expect(weak.stderr).toContain(
        'Password refused: This password is too easy to guess. This is a heavily used password.',
      );
      // The server's policy, the email included.
      expect(fromEmail).toMatchObject({ code: 1, stdout: '' });
      expect(fromEmail.stderr).toContain('There should not be any personal or page related data.');
      expect(none).toMatchObject({ code: 1, stdout: '' });
      expect(none.stderr).toContain('No password on stdin');
    });

    it('the account signs in over HTTP with the password it was created with', async () => {
      server = await serveCLI({ cwd, env: backend.env });
      accessToken = await signIn('Tessera-CLI-Test/1.0');
      const answer = await me(accessToken);
      expect(answer.status).toBe(200);
      sessionId = answer.body.session?.id as string;
      expect(sessionId).toMatch(/^[A-Za-z0-9_-]{26}$/);
    });

    it("sessions list shows the user's session as a table and as JSON, never a token", async () => {
      const [table, json] = await Promise.all([
        tessera(['sessions', 'list', '--user', email]),
        tessera(['sessions', 'list', '--user', email, '--json']),
      ]);
      expect(table.code).toBe(0);
      const [header, row, ...rest] = table.stdout.trimEnd().split('\n');
      expect(header).toMatch(/^ID +CREATED +LAST SEEN +IP +USER AGENT$/);
      expect(row).toMatch(
        new RegExp(
          `^${sessionId} +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ .* 127\\.0\\.0\\.1 +Tessera-CLI-Test/1\\.0$`,
        ),
      );
      expect(rest).toEqual([]);

      expect(json.code).toBe(0);
      const listed = parseJSONOutput<{ user: { email: string }; sessions: SessionJSON[] }>(json);
      expect(listed.user.email).toBe(email);
      expect(listed.sessions).toEqual([
        {
          id: sessionId,
          createdAt: expect.any(String),
          lastSeenAt: expect.any(String),
          expiresAt: expect.any(String),
          ip: '127.0.0.1',
          userAgent: 'Tessera-CLI-Test/1.0',
        },
      ]);
      expect(Date.parse(listed.sessions[0]?.createdAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
      for (const output of [table, json]) {
        expect(output.stdout + output.stderr).not.toContain(accessToken);
        expect(output.stdout + output.stderr).not.toMatch(/[A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]{43}/);
      }
    });

    it('keys rotate makes a new current key while a token signed with the previous one keeps working', async () => {
      const oldKid = kidOf(accessToken);
      const rotated = await tessera(['keys', 'rotate', '--json']);
      expect(rotated.code).toBe(0);
      const { kid } = parseJSONOutput<{ kid: string }>(rotated);
      expect(kid).not.toBe(oldKid);
      expect((await me(accessToken)).status).toBe(200);

      const [table, json] = await Promise.all([tessera(['keys', 'list']), tessera(['keys', 'list', '--json'])]);
      expect(json.code).toBe(0);
      const { keys } = parseJSONOutput<{ keys: KeyJSON[] }>(json);
      expect(keys.map(({ kid: id, alg, status }) => ({ kid: id, alg, status }))).toEqual([
        { kid, alg: 'EdDSA', status: 'current' },
        { kid: oldKid, alg: 'EdDSA', status: 'previous' },
      ]);
      expect(Date.parse(keys[1]?.expiresAt ?? '')).toBeGreaterThan(Date.now() + 900_000);
      expect(JSON.stringify(keys)).not.toMatch(/"(d|x|k)"/);
      expect(table.code).toBe(0);
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^KID +ALGORITHM +STATUS +CREATED +VERIFIES UNTIL$/);
      expect(lines[1]).toMatch(new RegExp(`^${kid} +EdDSA +current `));
      expect(lines[2]).toMatch(new RegExp(`^${oldKid} +EdDSA +previous `));
    });

    it(
      'clients create prints a secret once that introspects on the running server; list shows no secret; revoke ends it',
      { timeout: 120_000 },
      async () => {
        const created = await tessera(['clients', 'create', 'orders-api', '--json']);
        expect(created.code).toBe(0);
        const { secret } = parseJSONOutput<{ secret: string }>(created);
        expect(secret).toMatch(/^[\w-]{43}$/);
        const introspect = async (clientSecret: string) =>
          fetch(`${server?.url}/auth/introspect`, {
            method: 'POST',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              authorization: `Basic ${Buffer.from(`orders-api:${clientSecret}`).toString('base64')}`,
            },
            body: new URLSearchParams({ token: accessToken }).toString(),
          });
        const answer = await introspect(secret);
        expect(answer.status).toBe(200);
        expect(await answer.json()).toMatchObject({ active: true, token_type: 'Bearer' });
        expect((await introspect(`${secret.slice(0, -1)}x`)).status).toBe(401);

        const [taken, table, json] = await Promise.all([
          tessera(['clients', 'create', 'orders-api']),
          tessera(['clients', 'list']),
          tessera(['clients', 'list', '--json']),
        ]);
        expect(taken.code).toBe(1);
        expect(taken.stderr).toContain('already exists');
        expect(table.stdout).toMatch(/^NAME +CREATED\norders-api +\d{4}-/);
        expect(parseJSONOutput<{ clients: { name: string }[] }>(json).clients.map((c) => c.name)).toEqual([
          'orders-api',
        ]);
        expect(table.stdout + json.stdout).not.toContain(secret);

        const revoked = await tessera(['clients', 'revoke', 'orders-api']);
        expect(revoked.code).toBe(0);
        // No client left and no TESSERA_INTROSPECT_SECRET: the endpoint is off again.
        expect((await introspect(secret)).status).toBe(404);
      },
    );

    it('cleanup removes only expired rows: the live session survives', async () => {
      const { store, close } = await backend.openPastDatabaseStore();
      try {
        await store.createSession(makeSessionRecord('expired-user', past()));
        await store.set('cli-test:expired', 1, 60);
        await store.set('cli-test:live', 1);
      } finally {
        await close();
      }
      const swept = await tessera(['cleanup', '--json']);
      expect(swept.code).toBe(0);
      const result = parseJSONOutput<{ removed: number; stores: { store: string; removed: number }[] }>(swept);
      expect(result.stores.find((entry) => entry.store === backend.databaseStoreName)?.removed).toBe(2);
      expect(result.removed).toBe(result.stores.reduce((sum, entry) => sum + entry.removed, 0));
      expect(swept.stderr).toContain(`Sweeping ${backend.databaseStoreName}`);

      expect((await me(accessToken)).status).toBe(200);
      const listed = parseJSONOutput<{ sessions: SessionJSON[] }>(
        await tessera(['sessions', 'list', '--user', email, '--json']),
      );
      expect(listed.sessions.map((session) => session.id)).toEqual([sessionId]);
      const again = await tessera(['cleanup']);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(new RegExp(`^STORE +REMOVED\\n${backend.databaseStoreName} +0\\n`));
    });

    it('sessions revoke <id> ends the session: the next HTTP request gets 401', async () => {
      const revoked = await tessera(['sessions', 'revoke', sessionId]);
      expect(revoked).toMatchObject({ code: 0, stdout: `Revoked session ${sessionId}.\n` });
      expect((await me(accessToken)).status).toBe(401);
      const again = await tessera(['sessions', 'revoke', sessionId]);
      expect(again).toMatchObject({ code: 1, stdout: '' });
      expect(again.stderr).toContain(`No live session with the id ${sessionId}.`);
    });

    it("sessions revoke --user ends every one of the user's sessions", async () => {
      const tokens = [await signIn('Device-A/1.0'), await signIn('Device-B/1.0')];
      for (const token of tokens) expect((await me(token)).status).toBe(200);
      const revoked = await tessera(['sessions', 'revoke', '--user', email, '--json']);
      expect(revoked.code).toBe(0);
      expect(parseJSONOutput<{ revoked: string[] }>(revoked).revoked).toHaveLength(2);
      for (const token of tokens) expect((await me(token)).status).toBe(401);
      const listed = await tessera(['sessions', 'list', '--user', email]);
      expect(listed).toMatchObject({ code: 0, stdout: `${email} has no live sessions.\n` });
    });

    it('secrets rotate makes a new root secret while a CSRF token from before keeps working', async () => {
      const login = await fetch(`${server?.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password: PASSWORD }),
      });
      expect(login.status).toBe(200);
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
      const { csrfToken } = (await login.json()) as { csrfToken: string };
      const revokeOthers = async () =>
        (
          await fetch(`${server?.url}/auth/sessions`, {
            method: 'DELETE',
            headers: { cookie, 'x-csrf-token': csrfToken },
          })
        ).status;
      expect(await revokeOthers()).toBe(204);

      const [json, table] = [await tessera(['secrets', 'rotate', '--json']), await tessera(['secrets', 'rotate'])];
      expect(json.code).toBe(0);
      const rotation = parseJSONOutput<{ rotatedAt: string; previousVerifiesUntil: string }>(json);
      expect(Date.parse(rotation.previousVerifiesUntil) - Date.parse(rotation.rotatedAt)).toBe(86_400_000);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(
        /^New root secret\. CSRF tokens signed before keep working until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\.\n$/,
      );
      expect(table.stderr).toContain('Running servers adopt it within 60 seconds; rate limits are not reset.');
      expect(await revokeOthers()).toBe(204);
    });

    it(
      'user disable, enable and delete: the account refused (403), let in again, then gone with its sessions',
      { timeout: 120_000 },
      async () => {
        const token = await signIn('Device-C/1.0');
        const disabled = await tessera(['user', 'disable', email.toUpperCase()]);
        expect(disabled).toMatchObject({ code: 0, stdout: `Disabled ${email}.\n` });
        expect((await me(token)).status).toBe(401);
        const login = () =>
          fetch(`${server?.url}/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ email, password: PASSWORD, transport: 'token' }),
          });
        const refused = await login();
        expect([refused.status, ((await refused.json()) as { error: { code: string } }).error.code]).toEqual([
          403,
          'account_disabled',
        ]);
        expect(await tessera(['user', 'enable', email])).toMatchObject({ code: 0, stdout: `Enabled ${email}.\n` });
        const again = await signIn('Device-D/1.0');
        expect((await me(again)).status).toBe(200);

        const deleted = await tessera(['user', 'delete', email, '--json']);
        expect(deleted.code).toBe(0);
        expect(parseJSONOutput<{ email: string; action: string }>(deleted)).toMatchObject({ email, action: 'delete' });
        expect((await me(again)).status).toBe(401);
        expect((await login()).status).toBe(401);
        const missing = await tessera(['user', 'disable', email]);
        expect(missing).toMatchObject({ code: 1, stdout: '' });
        expect(missing.stderr).toContain(`No account with the email ${email}.`);
        // The email is free again.
        expect((await tessera(['user', 'create', email], `${PASSWORD}\n`)).code).toBe(0);
      },
    );

    it(
      'admin-keys create prints the key once (--json: only name and key), list never shows it, revoke stops it',
      { timeout: 120_000 },
      async () => {
        const created = await tessera(['admin-keys', 'create', 'backoffice', '--json']);
        expect(created.code).toBe(0);
        const { name, key, ...rest } = parseJSONOutput<{ name: string; key: string }>(created);
        expect([name, rest]).toEqual(['backoffice', {}]);
        expect(key).toMatch(/^tessera_admin_[\w-]{43}$/);
        const expiring = await tessera(['admin-keys', 'create', 'ci', '--expires-in', '3600']);
        expect(expiring.code).toBe(0);
        expect(expiring.stdout).toMatch(/^tessera_admin_[\w-]{43}\n$/);
        expect(expiring.stderr).toContain('It is shown only now');
        expect((await tessera(['admin-keys', 'create', 'backoffice'])).stderr).toContain(
          'An admin key named backoffice already exists.',
        );

        const lookup = () =>
          fetch(`${server?.url}/admin/users?email=${encodeURIComponent(email)}`, {
            headers: { authorization: `Bearer ${key}` },
          });
        expect((await lookup()).status).toBe(200);

        const table = await tessera(['admin-keys', 'list']);
        expect(table.code).toBe(0);
        expect(table.stdout).toMatch(/^NAME +CREATED +EXPIRES\nbackoffice +\S+ \S+ +never\nci +\S+ \S+ +\d{4}-/);
        const listed = await tessera(['admin-keys', 'list', '--json']);
        expect(parseJSONOutput<{ keys: { name: string }[] }>(listed).keys.map((entry) => entry.name)).toEqual([
          'backoffice',
          'ci',
        ]);
        for (const output of [table.stdout, listed.stdout, created.stderr]) expect(output).not.toContain(key);

        expect(await tessera(['admin-keys', 'revoke', 'backoffice'])).toMatchObject({
          code: 0,
          stdout: 'Revoked admin key backoffice.\n',
        });
        expect((await lookup()).status).toBe(401);
        expect((await tessera(['admin-keys', 'revoke', 'backoffice'])).code).toBe(1);
      },
    );
  });
}

describeCLI('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-db-'));
  const file = join(dir, 't.db');
  return {
    env: { TESSERA_DATABASE: `sqlite:${file}` },
    databaseStoreName: 'sqlite',
    openPastDatabaseStore: async () => {
      const store = createSQLiteStore(file, { now: past });
      return { store, close: () => store.close() };
    },
    destroy: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describeCLI(
  'PostgreSQL + Redis',
  postgresUrl === null || redisURL === null
    ? null
    : async () => {
        const database = await createPostgresDatabase(postgresUrl);
        return {
          env: { TESSERA_DATABASE: database.url, TESSERA_SESSION_STORE: redisURL },
          databaseStoreName: 'postgres',
          openPastDatabaseStore: async () => {
            const pool = connectPostgres(database.url);
            const store = createPostgresStore(pool, { now: past });
            return {
              store,
              close: async () => {
                await store.close();
                await pool.end();
              },
            };
          },
          destroy: () => database.drop(),
        };
      },
);

describe('tessera CLI usage and configuration', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tessera-cli-usage-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));
  const tessera = (args: string[], env: Record<string, string> = {}) => runCLI(args, { cwd, env });

  it('answers --help for every command', { timeout: 120_000 }, async () => {
    const commands = [
      [],
      ['serve'],
      ['migrate'],
      ['cleanup'],
      ['sessions'],
      ['sessions', 'list'],
      ['sessions', 'revoke'],
      ['keys'],
      ['keys', 'list'],
      ['keys', 'rotate'],
      ['user'],
      ['user', 'create'],
      ['clients'],
      ['clients', 'create'],
      ['clients', 'list'],
      ['clients', 'revoke'],
      ['secrets'],
      ['secrets', 'rotate'],
      ['secrets', 'rekey'],
      ['webhooks'],
      ['webhooks', 'add'],
      ['webhooks', 'list'],
      ['webhooks', 'remove'],
      ['admin-keys', 'create'],
    ];
    const results = await runLimited(commands.map((command) => () => tessera([...command, '--help'])));
    results.forEach((result, index) => {
      const command = commands[index] ?? [];
      expect(result.code, command.join(' ')).toBe(0);
      expect(result.stdout, command.join(' ')).toContain(`Usage: tessera ${command.join(' ')}`.trimEnd());
    });
    const helpOf = (...command: string[]) =>
      results[commands.findIndex((entry) => entry.join(' ') === command.join(' '))]?.stdout;
    expect(helpOf()).toMatch(/migrate[\s\S]*cleanup[\s\S]*sessions[\s\S]*keys[\s\S]*user/);
    expect(helpOf()).toContain('2 usage error');
    expect(helpOf('sessions', 'list')).toContain('--json');
    expect(helpOf('user', 'create')).toContain('tessera user create ada@example.com');
    expect(helpOf('clients', 'create')).toContain('curl -u "orders-api:$SECRET"');
    expect(helpOf('secrets', 'rekey')).toContain('TESSERA_NEW_SECRETS_KEY_FILE');
    expect(helpOf('webhooks')).toMatch(/session\.revoked,[\s\S]*login\.new_device/);
    expect(helpOf('webhooks', 'add')).toMatch(/printed\s+once/);
    expect(helpOf('admin-keys', 'create')).toContain('--expires-at <date>');
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });

  it('exits 2 on usage errors, before touching the database', { timeout: 120_000 }, async () => {
    const cases: [string[], string][] = [
      [['sessions', 'list'], "required option '--user <email>' not specified"],
      [['sessions', 'list', '--user', 'not-an-email'], '"not-an-email" is not a valid email address'],
      [['sessions', 'revoke'], 'give a session id, or --user <email>'],
      [['sessions', 'revoke', 'abcdefghijklmnopqrstuvwxyz', '--user', 'a@b.co'], 'not both'],
      [['sessions', 'revoke', 'short'], '"short" is not a session id'],
      [['sessions'], 'Usage: tessera sessions'],
      [['keys', 'rotate', '--bogus'], "unknown option '--bogus'"],
      [['user', 'create'], "missing required argument 'email'"],
      [['migrate', 'extra'], 'too many arguments'],
      [['clients', 'create', 'default'], 'TESSERA_INTROSPECT_SECRET client'],
      [['clients', 'revoke', 'no spaces'], 'cannot name a client'],
      [['admin-keys', 'create', 'bad name!'], '"bad name!" is not a valid key name'],
      [['admin-keys', 'create', 'ops', '--expires-in', '1.5'], '--expires-in must be a positive whole number'],
    ];
    const results = await runLimited(
      cases.map(
        ([args]) =>
          () =>
            tessera(args),
      ),
    );
    results.forEach((result, index) => {
      const [args, message] = cases[index] as [string[], string];
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.stdout, args.join(' ')).toBe('');
    });
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });

  it('exits 1 on a bad configuration, naming the variable, for every command', { timeout: 120_000 }, async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [['migrate'], { TESSERA_DATABASE: 'mysql://db/tessera' }, 'TESSERA_DATABASE must be sqlite:<path>'],
      [['cleanup', '--json'], { TESSERA_SESSION_STORE: 'memcached://x' }, 'TESSERA_SESSION_STORE must be'],
      [['sessions', 'list', '--user', 'a@b.co'], { TESSERA_IDLE_TIMEOUT: '5' }, 'TESSERA_IDLE_TIMEOUT must be'],
      [['sessions', 'revoke', '--user', 'a@b.co'], { PORT: 'eighty' }, 'PORT must be a whole number'],
      [['keys', 'list'], { LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be debug, info, warn or error'],
      [['keys', 'rotate'], { HOST: '0.0.0.0' }, 'TESSERA_TRUST_PROXY'],
      [['user', 'create', 'a@b.co'], { TESSERA_ACCESS_TOKEN_TTL: 'soon' }, 'TESSERA_ACCESS_TOKEN_TTL must be'],
    ];
    const results = await runLimited(
      cases.map(
        ([args, env]) =>
          () =>
            tessera(args, env),
      ),
    );
    results.forEach((result, index) => {
      const [args, , message] = cases[index] as (typeof cases)[number];
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr, args.join(' ')).toContain('Invalid configuration:');
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.stdout, args.join(' ')).toBe('');
    });
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  });

  it('exits 1 with the reason when the database cannot be reached, without showing its password', async () => {
    const result = await tessera(['keys', 'list', '--json'], {
      TESSERA_DATABASE: 'postgres://tessera:hunter2-secret@127.0.0.1:1/tessera',
    });
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toContain('Tessera could not open its database: Could not connect to PostgreSQL');
    expect(result.stderr).not.toContain('hunter2');
  });

  it.skipIf(!canRunInTerminal)('user create asks for the password twice on a terminal, without echo', async () => {
    const env = { TESSERA_DATABASE: `sqlite:${join(cwd, 'terminal.db')}` };
    const secret = 'typed on a terminal';
    const prompts = (first: string, second: string) => [
      { prompt: 'Password: ', answer: first },
      { prompt: 'Repeat the password: ', answer: second },
    ];
    const created = await runCLIInTerminal(
      ['user', 'create', 'tty@example.com'],
      { cwd, env },
      prompts(secret, secret),
    );
    expect(created.code).toBe(0);
    expect(created.screen).toMatch(/EMAIL +CREATED\r?\n\S+ +tty@example\.com /);
    expect(created.screen).not.toContain(secret);
    const mismatch = await runCLIInTerminal(
      ['user', 'create', 'tty2@example.com'],
      { cwd, env },
      prompts(secret, 'something else'),
    );
    expect(mismatch.code).toBe(1);
    expect(mismatch.screen).toContain('The passwords do not match.');
    expect(mismatch.screen).not.toContain(secret);
  });

  it('refuses session commands when sessions live in the server process (memory:)', async () => {
    for (const args of [
      ['sessions', 'list', '--user', 'a@b.co'],
      ['user', 'disable', 'a@b.co'],
    ]) {
      const result = await tessera(args, {
        TESSERA_DATABASE: `sqlite:${join(cwd, 'memory.db')}`,
        TESSERA_SESSION_STORE: 'memory:',
      });
      expect(result).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr).toContain('TESSERA_SESSION_STORE=memory: keeps sessions inside the server process');
    }
  });
});

describe('tessera data files and TESSERA_SECRETS_KEY (SQLite)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tessera-cli-data-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));
  const data = join(cwd, 'data');
  const file = join(data, 'tessera.db');
  const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);
  const tessera = (args: string[], env: Record<string, string> = {}, input?: string) =>
    runCLI(args, { cwd, env, umask: '000', ...(input === undefined ? {} : { input }) });
  const email = 'kek@example.com';
  const signIn = async (url: string) => {
    const response = await fetch(`${url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD, transport: 'token' }),
    });
    expect(response.status).toBe(200);
    const { access_token: token } = (await response.json()) as { access_token: string };
    return (await fetch(`${url}/auth/me`, { headers: { authorization: `Bearer ${token}` } })).status;
  };
  const keyFile = (name: string): { path: string; text: string } => {
    const text = randomBytes(32).toString('base64');
    writeFileSync(join(cwd, name), `${text}\n`, { mode: 0o600 });
    return { path: join(cwd, name), text };
  };

  it(
    'creates ./data 0700 and every database file 0600 even under umask 000, and warns once without a key',
    { timeout: 180_000 },
    async () => {
      expect((await tessera(['user', 'create', email], {}, `${PASSWORD}\n`)).code).toBe(0);
      expect(mode(data)).toBe('700');
      expect(mode(file)).toBe('600');
      const server = await serveCLI({ cwd, umask: '000' });
      try {
        expect(await signIn(server.url)).toBe(200);
        for (const path of [file, `${file}-wal`, `${file}-shm`]) expect([path, mode(path)]).toEqual([path, '600']);
        expect(server.output().split('TESSERA_SECRETS_KEY is not set').length - 1).toBe(1);
      } finally {
        expect(await server.stop()).toBe(0);
      }
    },
  );

  it('tightens an existing data directory and database file', { timeout: 180_000 }, async () => {
    chmodSync(data, 0o755);
    chmodSync(file, 0o644);
    expect((await tessera(['migrate'])).code).toBe(0);
    expect([mode(data), mode(file)]).toEqual(['700', '600']);
  });

  it(
    'with a key, the file holds no private key or root secret in plain text; rekey moves them to a new key',
    { timeout: 180_000 },
    async () => {
      const db = new BetterSqlite3(file, { readonly: true });
      const rows = db
        .prepare<[], { value: string }>(
          "SELECT value FROM tessera_values WHERE key IN ('server:secrets', 'token:keyring')",
        )
        .all()
        .map(
          (row) => JSON.parse(row.value) as { roots?: { secret: string }[]; keys?: { privateJwk: { d: string } }[] },
        );
      db.close();
      const secrets = rows.flatMap((row) => [
        ...(row.roots ?? []).map((root) => root.secret),
        ...(row.keys ?? []).map((key) => key.privateJwk.d),
      ]);
      expect(secrets).toHaveLength(2);
      const kidBefore = parseJSONOutput<{ keys: KeyJSON[] }>(await tessera(['keys', 'list', '--json'])).keys[0]?.kid;

      const first = keyFile('first.key');
      const listed = await tessera(['keys', 'list', '--json'], { TESSERA_SECRETS_KEY_FILE: first.path });
      expect(parseJSONOutput<{ keys: KeyJSON[] }>(listed).keys[0]?.kid).toBe(kidBefore);
      const bytes = readFileSync(file);
      for (const secret of secrets) expect(bytes.includes(secret)).toBe(false);

      const server = await serveCLI({ cwd, env: { TESSERA_SECRETS_KEY_FILE: first.path } });
      try {
        expect(await signIn(server.url)).toBe(200);
        expect(server.output()).not.toContain('TESSERA_SECRETS_KEY is not set');
      } finally {
        expect(await server.stop()).toBe(0);
      }

      const withFirst = { TESSERA_SECRETS_KEY: first.text };
      const weak = `${'x'.repeat(43)}=`;
      const refusals = await runLimited([
        () => tessera(['keys', 'list']),
        () => tessera(['keys', 'list'], { TESSERA_SECRETS_KEY: weak }),
        () => tessera(['secrets', 'rekey'], withFirst),
        () => tessera(['secrets', 'rekey'], { ...withFirst, TESSERA_NEW_SECRETS_KEY: weak }),
        () => tessera(['secrets', 'rekey'], { ...withFirst, TESSERA_NEW_SECRETS_KEY: first.text }),
      ]);
      for (const refused of refusals) expect(refused).toMatchObject({ code: 1, stdout: '' });
      expect(refusals[0]?.stderr).toContain('are encrypted (key id');
      expect(refusals[0]?.stderr).toContain('set TESSERA_SECRETS_KEY (or TESSERA_SECRETS_KEY_FILE)');
      expect(refusals[1]?.stderr).toContain('TESSERA_SECRETS_KEY is too weak');
      expect(refusals[2]?.stderr).toContain('Give the new key in TESSERA_NEW_SECRETS_KEY');
      expect(refusals[3]?.stderr).toContain('TESSERA_NEW_SECRETS_KEY is too weak');
      expect(refusals[3]?.stderr).toContain('openssl rand -base64 32');
      expect(refusals[4]?.stderr).toContain('The new key is the current one');
      for (const refused of refusals) expect(refused.stderr).not.toContain(weak);

      const second = keyFile('second.key');
      const rekeyed = await tessera(['secrets', 'rekey'], { ...withFirst, TESSERA_NEW_SECRETS_KEY_FILE: second.path });
      expect(rekeyed.code).toBe(0);
      expect(rekeyed.stdout).toMatch(/^Re-encrypted 2 documents under key id [A-Za-z0-9_-]{11}\.\n$/);
      expect(rekeyed.stderr).toContain('Restart every server with TESSERA_SECRETS_KEY set to the new key');
      const [old, fresh] = await runLimited([
        () => tessera(['keys', 'list'], withFirst),
        () => tessera(['keys', 'list', '--json'], { TESSERA_SECRETS_KEY_FILE: second.path }),
      ]);
      expect(old).toMatchObject({ code: 1, stdout: '' });
      expect(old?.stderr).toContain('were encrypted with another key');
      expect(parseJSONOutput<{ keys: KeyJSON[] }>(fresh as CLIResult).keys[0]?.kid).toBe(kidBefore);
      expect(readFileSync(file).includes(first.text)).toBe(false);
    },
  );
});
