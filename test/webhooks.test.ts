import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTesseraServer, type TesseraServer } from '../packages/server/src/app.js';
import { loadServerConfig } from '../packages/server/src/config.js';
import { createServerLogger } from '../packages/server/src/logging.js';
import { openServerRuntime, type ServerRuntime } from '../packages/server/src/runtime.js';
import type { WebhookDeliveryTiming } from '../packages/server/src/webhooks/delivery.js';
import { generateWebhookSecret } from '../packages/server/src/webhooks/signing.js';
import { createPostgresDatabase, parseJSONOutput, runCLI } from './support/cli-harness.js';

const postgresUrl = inject('postgresUrl');
const PASSWORD = 'correct horse battery staple';
/** Short retries, so an outage of a moment is bridged in a moment. */
const FAST: Partial<WebhookDeliveryTiming> = {
  pollIntervalMs: 50,
  firstRetryDelayMs: 50,
  maxRetryDelayMs: 200,
  attemptTimeoutMs: 5_000,
};

interface Payload {
  type: string;
  timestamp: string;
  data: { userId: string; sessionId?: string; [key: string]: unknown };
}

/** One request the receiver got. */
interface Received {
  id: string;
  timestamp: number;
  body: string;
  /** The signature checked out under one of the receiver's secrets. */
  verified: boolean;
  payload: Payload;
}

/**
 * Checks a delivery the way a receiver does, from the Standard Webhooks specification alone (no code of the
 * server's): HMAC-SHA256 under the bytes after `whsec_` of `id.timestamp.body`, in any `v1,` entry of the header.
 */
function verifies(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const content = `${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`;
  const expected = createHmac('sha256', key).update(content).digest();
  return String(headers['webhook-signature'] ?? '')
    .split(' ')
    .some((entry) => {
      const given = Buffer.from(entry.slice('v1,'.length), 'base64');
      return entry.startsWith('v1,') && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

/** A real HTTP receiver on loopback, which can be stopped and started again on the same port. */
class Receiver {
  readonly messages: Received[] = [];
  /** The status it answers with. */
  status = 204;
  /** Milliseconds it takes to answer. */
  delayMs = 0;
  /** How many verified `login.new_device` events it took (answered 204 at once, not kept in `messages`). */
  newDevices = 0;
  port = 0;
  private server: Server | null = null;

  constructor(readonly secrets: string[]) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hooks`;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        // Every sign-in here is from a new device (token transport has no device cookie): those events are taken
        // and set aside, so the tests follow the revocations. `verifies` is still asked of them.
        if ((JSON.parse(body) as Payload).type === 'login.new_device') {
          this.newDevices += this.secrets.some((secret) => verifies(secret, request.headers, body)) ? 1 : 0;
          response.writeHead(204).end();
          return;
        }
        this.messages.push({
          id: String(request.headers['webhook-id']),
          timestamp: Number(request.headers['webhook-timestamp']),
          body,
          verified:
            request.method === 'POST' &&
            request.headers['content-type'] === 'application/json' &&
            this.secrets.some((secret) => verifies(secret, request.headers, body)),
          payload: JSON.parse(body) as Payload,
        });
        setTimeout(() => response.writeHead(this.status).end(), this.delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops at once: open connections are cut. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Each message once (a retry of one already received is at-least-once delivery), in order of first arrival. */
  distinct(): Received[] {
    const seen = new Set<string>();
    return this.messages.filter((message) => !seen.has(message.id) && seen.add(message.id));
  }
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A server instance in this process, listening on loopback, with its logs captured. */
interface Instance {
  server: TesseraServer;
  runtime: ServerRuntime;
  logs: string[];
  send(
    method: string,
    path: string,
    body?: unknown,
    bearer?: string,
  ): Promise<{ status: number; json: Record<string, string> }>;
  post(path: string, body?: unknown): Promise<{ status: number; json: Record<string, string> }>;
  close(): Promise<void>;
}

async function startInstance(env: Record<string, string>, timing = FAST): Promise<Instance> {
  const loaded = loadServerConfig({
    PORT: '0',
    TESSERA_LOGIN_MAX_ATTEMPTS: '1000',
    TESSERA_LOGIN_MAX_ATTEMPTS_PER_IP: '1000',
    TESSERA_SIGNUP_MAX_PER_IP: '1000',
    ...env,
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const logs: string[] = [];
  const logger = createServerLogger(
    'debug',
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    }),
  );
  const runtime = await openServerRuntime(loaded.config, logger);
  const server = await createTesseraServer({ config: loaded.config, runtime, logger, webhookTiming: timing });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  return {
    server,
    runtime,
    logs,
    post: (path, body) => send('POST', path, body),
    send,
    async close() {
      await server.app.close();
      await runtime.close();
    },
  };
  async function send(method: string, path: string, body?: unknown, bearer?: string) {
    const response = await fetch(base + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? {} : (JSON.parse(text) as Record<string, string>) };
  }
}

/** A signed-up user (token transport): the email, and the first session's access token. */
interface User {
  email: string;
  bearer: string;
}

async function signUp(instance: Instance): Promise<User> {
  const email = `user-${randomUUID()}@example.com`;
  const result = await instance.post('/auth/signup', { email, password: PASSWORD, transport: 'token' });
  expect(result.status).toBe(201);
  return { email, bearer: result.json.access_token as string };
}

/**
 * Signs in on another device, which the first session then signs out (`DELETE /auth/sessions/:id`): one
 * `session.revoked`. Returns the revoked session's public id and the tokens it had.
 */
async function signInAndRevoke(instance: Instance, user: User): Promise<{ sessionId: string; tokens: string[] }> {
  const pair = await instance.post('/auth/login', { email: user.email, password: PASSWORD, transport: 'token' });
  expect(pair.status).toBe(200);
  const access = pair.json.access_token as string;
  const claims = JSON.parse(Buffer.from(access.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sid: string };
  expect((await instance.send('DELETE', `/auth/sessions/${claims.sid}`, undefined, user.bearer)).status).toBe(204);
  return { sessionId: claims.sid, tokens: [access, pair.json.refresh_token as string] };
}

const pendingRows = async (instance: Instance): Promise<number> =>
  (await instance.runtime.webhooks.countPending()).reduce((sum, row) => sum + row.pending, 0);

const logged = (instance: Instance, event: string): boolean =>
  instance.logs.some((line) => line.includes(`"event":"${event}"`));

type Backend = { database: string; drop(): Promise<void> };

function describeWebhooks(name: string, open: (() => Promise<Backend>) | null): void {
  if (open === null) return;
  describe(`signed webhooks from the outbox on ${name}`, () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });
    const setUp = async (secrets: string[]): Promise<{ backend: Backend; receiver: Receiver }> => {
      const backend = await open();
      const receiver = new Receiver(secrets);
      cleanups.push(
        () => backend.drop(),
        () => receiver.stop(),
      );
      await receiver.start();
      return { backend, receiver };
    };

    it('delivers every event signed and in order, through a receiver stopped and restarted on its port', async () => {
      const secret = generateWebhookSecret();
      const { backend, receiver } = await setUp([secret]);
      const env = { TESSERA_DATABASE: backend.database, TESSERA_WEBHOOK_URLS: receiver.url };
      const instance = await startInstance({ ...env, TESSERA_WEBHOOK_SECRET: secret });
      cleanups.push(() => instance.close());
      const email = await signUp(instance);
      const sessions: { sessionId: string; tokens: string[] }[] = [];
      for (let i = 0; i < 3; i++) sessions.push(await signInAndRevoke(instance, email));
      await waitFor('the first three', () => receiver.distinct().length === 3);
      await waitFor('the outbox to empty', async () => (await pendingRows(instance)) === 0);

      await receiver.stop();
      for (let i = 0; i < 4; i++) sessions.push(await signInAndRevoke(instance, email));
      await waitFor('an attempt to fail', () => logged(instance, 'webhook.failed'));
      // The four revocations, and the four sign-ins from a new device before them.
      expect(await pendingRows(instance)).toBe(8);
      await receiver.start();
      await waitFor('all seven', () => receiver.distinct().length === 7);
      expect(receiver.newDevices).toBeGreaterThanOrEqual(8);
      await waitFor('the outbox to empty', async () => (await pendingRows(instance)) === 0);

      const received = receiver.distinct();
      expect(received.map((message) => message.payload.data.sessionId)).toEqual(sessions.map((s) => s.sessionId));
      expect(receiver.messages.every((message) => message.verified)).toBe(true);
      const userId = received[0]?.payload.data.userId;
      for (const message of received) {
        expect(message.id).toMatch(/^msg_[\w-]{24}$/);
        expect(Math.abs(message.timestamp - Date.now() / 1000)).toBeLessThan(120);
        expect(message.payload).toEqual({
          type: 'session.revoked',
          timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          data: { userId, sessionId: expect.any(String), reason: 'revoked' },
        });
      }
      const everyToken = sessions.flatMap((session) => session.tokens);
      expect(receiver.messages.filter((message) => everyToken.some((token) => message.body.includes(token)))).toEqual(
        [],
      );
      expect(
        await instance.server.metrics.registry.getSingleMetricAsString('tessera_webhook_deliveries_total'),
      ).toMatch(/tessera_webhook_deliveries_total\{outcome="delivered"\} (\d+)/);
    });

    it('delivers the rows pending when the server stopped once it starts again', async () => {
      const secret = generateWebhookSecret();
      const { backend, receiver } = await setUp([secret]);
      await receiver.stop();
      const env = {
        TESSERA_DATABASE: backend.database,
        TESSERA_WEBHOOK_URLS: receiver.url,
        TESSERA_WEBHOOK_SECRET: secret,
      };
      const first = await startInstance(env);
      const email = await signUp(first);
      const sessionIds: string[] = [];
      for (let i = 0; i < 3; i++) sessionIds.push((await signInAndRevoke(first, email)).sessionId);
      await waitFor('an attempt to fail', () => logged(first, 'webhook.failed'));
      await first.close();

      await receiver.start();
      const second = await startInstance(env);
      cleanups.push(() => second.close());
      await waitFor('the three events', () => receiver.distinct().length === 3);
      expect(receiver.distinct().map((message) => message.payload.data.sessionId)).toEqual(sessionIds);
      expect(receiver.messages.every((message) => message.verified)).toBe(true);
      await waitFor('the outbox to empty', async () => (await pendingRows(second)) === 0);
    });

    it('sends one user.sessions_revoked for signing out everywhere else, besides each session.revoked', async () => {
      const secret = generateWebhookSecret();
      const { backend, receiver } = await setUp([secret]);
      const instance = await startInstance({
        TESSERA_DATABASE: backend.database,
        TESSERA_WEBHOOK_URLS: receiver.url,
        TESSERA_WEBHOOK_SECRET: secret,
      });
      cleanups.push(() => instance.close());
      const user = await signUp(instance);
      const sidOf = (token: string): string =>
        (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sid: string }).sid;
      const others: string[] = [];
      for (let i = 0; i < 2; i++) {
        const pair = await instance.post('/auth/login', { email: user.email, password: PASSWORD, transport: 'token' });
        others.push(sidOf(pair.json.access_token as string));
      }
      expect((await instance.send('DELETE', '/auth/sessions', undefined, user.bearer)).status).toBe(204);
      await waitFor('three events', () => receiver.distinct().length === 3);
      const payloads = receiver.distinct().map((message) => message.payload);
      const userId = payloads[0]?.data.userId;
      expect(
        payloads
          .slice(0, 2)
          .map((payload) => [payload.type, payload.data.reason])
          .sort(),
      ).toEqual([
        ['session.revoked', 'user_revoked_all'],
        ['session.revoked', 'user_revoked_all'],
      ]);
      expect(payloads[2]).toMatchObject({
        type: 'user.sessions_revoked',
        data: { userId, keptSessionId: sidOf(user.bearer), sessionIds: expect.arrayContaining(others) },
      });
      expect(payloads[2]?.data.sessionIds).toHaveLength(2);
      expect(receiver.messages.every((message) => message.verified)).toBe(true);
    });

    it('gives an event up after the last attempt, with a log line, and goes on with the next', async () => {
      const secret = generateWebhookSecret();
      const { backend, receiver } = await setUp([secret]);
      receiver.status = 500;
      const instance = await startInstance(
        { TESSERA_DATABASE: backend.database, TESSERA_WEBHOOK_URLS: receiver.url, TESSERA_WEBHOOK_SECRET: secret },
        { ...FAST, maxAttempts: 3 },
      );
      cleanups.push(() => instance.close());
      const email = await signUp(instance);
      await signInAndRevoke(instance, email);
      await waitFor('the event to be given up', () => logged(instance, 'webhook.abandoned'));
      expect(receiver.messages).toHaveLength(3);
      expect(new Set(receiver.messages.map((message) => message.id)).size).toBe(1);
      expect(receiver.messages.every((message) => message.verified)).toBe(true);
      expect(instance.logs.find((line) => line.includes('"event":"webhook.abandoned"'))).toMatch(/"attempts":3/);
      const metrics = await instance.server.metrics.registry.getSingleMetricAsString(
        'tessera_webhook_deliveries_total',
      );
      expect(metrics).toMatch(/outcome="abandoned"\} 1\b/);
      expect(metrics).toMatch(/outcome="failed"\} 2\b/);

      receiver.status = 200;
      const next = await signInAndRevoke(instance, email);
      await waitFor('the next event', () => receiver.messages.length === 4);
      expect(receiver.messages[3]?.payload.data.sessionId).toBe(next.sessionId);
      await waitFor('the outbox to empty', async () => (await pendingRows(instance)) === 0);
    });
  });
}

describeWebhooks('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-webhooks-'));
  return {
    database: `sqlite:${join(dir, 'tessera.db')}`,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
describeWebhooks(
  'PostgreSQL',
  postgresUrl === null
    ? null
    : async () => {
        const database = await createPostgresDatabase(postgresUrl);
        return { database: database.url, drop: () => database.drop() };
      },
);

describe.runIf(postgresUrl !== null)('webhooks from two server instances on one PostgreSQL', () => {
  it('deliver each event exactly once while both workers race for the outbox', async () => {
    const database = await createPostgresDatabase(postgresUrl as string);
    const secret = generateWebhookSecret();
    const receiver = new Receiver([secret]);
    // A receiver slow to answer keeps each row in flight long enough for the other worker to reach it.
    receiver.delayMs = 20;
    await receiver.start();
    const env = { TESSERA_DATABASE: database.url, TESSERA_WEBHOOK_URLS: receiver.url, TESSERA_WEBHOOK_SECRET: secret };
    const instances = [await startInstance(env), await startInstance(env)];
    try {
      const users = await Promise.all(instances.map((instance) => signUp(instance)));
      const rounds = 5;
      const revoked: string[] = [];
      for (let round = 0; round < rounds; round++) {
        // Both instances record an event at once, and both workers wake for it.
        const pair = await Promise.all(
          instances.map((instance, index) => signInAndRevoke(instance, users[index] as User)),
        );
        revoked.push(...pair.map((result) => result.sessionId));
      }
      await waitFor('every event', () => receiver.distinct().length === revoked.length);
      await waitFor('both outboxes to empty', async () => (await pendingRows(instances[0] as Instance)) === 0);
      // Several more polls of both workers: nothing is sent twice.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(receiver.messages).toHaveLength(revoked.length);
      expect(receiver.messages.map((message) => message.payload.data.sessionId).sort()).toEqual([...revoked].sort());
      expect(receiver.messages.every((message) => message.verified)).toBe(true);
    } finally {
      for (const instance of instances) await instance.close();
      await receiver.stop();
      await database.drop();
    }
  });
});

describe('tessera webhooks add|list|remove', () => {
  it('adds an endpoint with its own secret, stored encrypted, that signs its deliveries, across a rekey', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-webhooks-cli-'));
    const path = join(dir, 'tessera.db');
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    const env = { TESSERA_DATABASE: `sqlite:${path}`, TESSERA_SECRETS_KEY: oldKey };
    const receiver = new Receiver([]);
    await receiver.start();
    try {
      const added = await runCLI(['webhooks', 'add', receiver.url, '--json'], { cwd: dir, env });
      expect(added.code).toBe(0);
      const { url, secret } = parseJSONOutput<{ url: string; secret: string }>(added);
      expect(url).toBe(receiver.url);
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      receiver.secrets.push(secret);
      const db = new BetterSqlite3(path, { readonly: true });
      const stored = db.prepare<[], { secret: string }>('SELECT secret FROM tessera_webhook_endpoints').get();
      db.close();
      expect(stored?.secret).toContain('tessera.sealed.v1');
      expect(stored?.secret).not.toContain(secret.slice('whsec_'.length, 20));

      const wrong = await runCLI(['webhooks', 'add', 'ftp://hooks.example.com'], { cwd: dir, env });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/must be http:\/\/ or https:\/\/ URLs/);

      const rekeyed = await runCLI(['secrets', 'rekey'], {
        cwd: dir,
        env: { ...env, TESSERA_NEW_SECRETS_KEY: newKey },
      });
      expect(rekeyed.code).toBe(0);
      const instance = await startInstance({ ...env, TESSERA_SECRETS_KEY: newKey });
      try {
        const user = await signUp(instance);
        const { sessionId } = await signInAndRevoke(instance, user);
        await waitFor('the event', () => receiver.messages.length === 1);
        expect(receiver.messages[0]?.verified).toBe(true);
        expect(receiver.messages[0]?.payload.data.sessionId).toBe(sessionId);
        // A command's revocations reach webhooks too: written by the CLI, delivered by the running server.
        const byCLI = await runCLI(['sessions', 'revoke', '--user', user.email], {
          cwd: dir,
          env: { ...env, TESSERA_SECRETS_KEY: newKey },
        });
        expect(byCLI.code).toBe(0);
        await waitFor("the command's events", () => receiver.messages.length === 3);
        expect(receiver.messages.slice(1).map((message) => message.payload)).toEqual([
          expect.objectContaining({
            type: 'session.revoked',
            data: expect.objectContaining({ reason: 'user_revoked_all' }),
          }),
          expect.objectContaining({
            type: 'user.sessions_revoked',
            data: { userId: receiver.messages[0]?.payload.data.userId, sessionIds: [expect.any(String)] },
          }),
        ]);
        expect(receiver.messages.every((message) => message.verified)).toBe(true);
        await waitFor('the outbox to empty', async () => (await pendingRows(instance)) === 0);
      } finally {
        await instance.close();
      }

      const newEnv = { ...env, TESSERA_SECRETS_KEY: newKey };
      const listed = await runCLI(['webhooks', 'list', '--json'], { cwd: dir, env: newEnv });
      expect(parseJSONOutput<{ endpoints: unknown[] }>(listed).endpoints).toEqual([
        { url: receiver.url, source: 'database', createdAt: expect.any(String), pending: 0 },
      ]);
      const removed = await runCLI(['webhooks', 'remove', receiver.url], { cwd: dir, env: newEnv });
      expect(removed.code).toBe(0);
      expect(removed.stdout).toMatch(/Removed .*; 0 pending events dropped/);
      const after = new BetterSqlite3(path, { readonly: true });
      expect(after.prepare('SELECT COUNT(*) AS n FROM tessera_webhook_endpoints').get()).toEqual({ n: 0 });
      after.close();
    } finally {
      await receiver.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
