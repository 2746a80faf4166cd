/**
 * One bench server, in its own process (the bench pins it to a core):
 *   tsx --conditions=tessera-source bench/serve.ts <stack id>
 * with BENCH_REDIS_URL (and BENCH_POSTGRES_URL for the PostgreSQL rows) set.
 * Serves `GET /me` on a free loopback port, then tells the bench (IPC message, or one JSON line on
 * stdout when run by hand) `{"port": …, "headers": {…}}`, the headers that authenticate a request,
 * and answers `{type: "stats"}` with the requests it received, the store calls it made and the CPU time it used so far.
 * SIGTERM closes it with `process.exit(0)`, so `node --cpu-prof` writes its profile.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import { serve as serveHono } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { RedisStore } from 'connect-redis';
import express from 'express';
import expressSession from 'express-session';
import { createSigner, createVerifier } from 'fast-jwt';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createClient } from 'redis';
import {
  createLeasedRequestLimit,
  createSessionManager,
  createTokenService,
  type SessionManager,
  type Store,
  type SigningAlgorithm,
} from 'tessera-auth';
import { createTesseraExpress } from 'tessera-auth/express';
import { tesseraFastify } from 'tessera-auth/fastify';
import { createTesseraHono, type TesseraEnv } from 'tessera-auth/hono';
import { apiErrorBody, createHttpAuth, headerReader, type HttpAuth } from 'tessera-auth/http';
import { connectPostgres, createPostgresStore, migratePostgres } from 'tessera-auth/stores/postgres';
import { connectRedis, createRedisStore } from 'tessera-auth/stores/redis';
import { stackById, type StackInfo } from './stacks.js';

const SECRET = 'bench-secret-bench-secret-bench-secret-0123456789';
const USER = 'user-bench';
const ISSUER = 'http://127.0.0.1';
const AUDIENCE = 'bench';
const me = { userId: USER };

/** What the bench sends with every request, and what closes the server. */
interface Served {
  server: Server;
  headers: Record<string, string>;
  close: () => Promise<void>;
}

/**
 * Round trips this process made to its store: writes to the Redis connection (one per command, one per batch
 * of pipelined commands) or PostgreSQL queries. Counted for Tessera's clients only (ioredis, pg); `null` for
 * stacks whose client is not counted.
 */
let sent: number | null = null;

/** Counts every call of `object[method]` in {@link sent}. */
function countCalls<T extends object, K extends keyof T>(object: T, method: K): void {
  const original = object[method] as (...args: unknown[]) => unknown;
  sent = 0;
  object[method] = function (this: unknown, ...args: unknown[]) {
    sent = (sent ?? 0) + 1;
    return original.apply(this, args);
  } as T[K];
}

/**
 * The sessions of a Tessera cookie stack, for the revocation-latency phase: another instance of the same
 * stack (same store, same key prefix) opens and revokes sessions while this one serves them.
 */
let sessionControl: { open(): Promise<{ id: string; cookie: string }>; revoke(id: string): Promise<void> } | null =
  null;

/** Sessions (and an optional per-session budget) on the stack's store, keys prefixed by the stack id. */
async function tesseraOn(stack: StackInfo, withRequestLimit = false) {
  const closers: (() => Promise<unknown>)[] = [];
  let store: Store;
  let requestLimit;
  if (stack.store === 'postgres') {
    const pool = connectPostgres(requiredEnv('BENCH_POSTGRES_URL'));
    const tablePrefix = `bench_${stack.id.replace(/-/g, '_')}_`;
    await migratePostgres(pool, { tablePrefix });
    store = createPostgresStore(pool, { tablePrefix });
    countCalls(pool, 'query');
    closers.push(() => pool.end());
  } else {
    const autoPipelining = process.env.BENCH_REDIS_AUTOPIPELINING;
    const client = await connectRedis(
      requiredEnv('BENCH_REDIS_URL'),
      autoPipelining === undefined ? {} : { enableAutoPipelining: autoPipelining === '1' },
    );
    // Writes to the connection: one per command, or one per batch when commands are pipelined.
    countCalls(client.stream, 'write');
    store = createRedisStore(client, { prefix: `bench:${stack.id}:` });
    if (withRequestLimit) {
      // A budget the bench never exhausts, leased as an app would lease it: the cost of spending it is measured.
      requestLimit = createLeasedRequestLimit({
        store,
        points: 1_000_000_000,
        durationSeconds: 3600,
      });
    }
    closers.push(() => client.quit());
  }
  const sessions = createSessionManager(store);
  const auth = createHttpAuth({
    sessions,
    csrfSecrets: [SECRET],
    ...(requestLimit === undefined ? {} : { sessionRequestLimit: requestLimit }),
  });
  const { token } = await sessions.createSession(USER);
  sessionControl = {
    async open() {
      const opened = await sessions.createSession(USER);
      return { id: opened.session.id, cookie: `${auth.cookie.name}=${opened.token}` };
    },
    async revoke(id) {
      if (!(await sessions.revokeSession(id))) throw new Error('revokeSession found no session');
    },
  };
  return {
    store,
    sessions,
    auth,
    cookie: `${auth.cookie.name}=${token}`,
    close: async () => {
      await store.close();
      for (const close of closers) await close();
    },
  };
}

async function listen(server: Server): Promise<Server> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

const closeServer = (server: Server) => () =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

async function fastifyStack(stack: StackInfo): Promise<Served> {
  const app = Fastify();
  let headers: Record<string, string> = {};
  let closeStore = async () => undefined as unknown;
  if (stack.id === 'fastify-bare') {
    app.get('/me', async () => me);
  } else if (stack.id === 'fastify-session') {
    const redis = createClient({ url: requiredEnv('BENCH_REDIS_URL') });
    await redis.connect();
    closeStore = () => redis.quit();
    await app.register(fastifyCookie);
    // Its defaults but empty sessions: `rolling` (true) saves the session on every request, which keeps
    // the expiry sliding as Tessera's idle timeout does (Tessera coalesces those writes).
    await app.register(fastifySession, {
      secret: SECRET,
      store: new RedisStore({ client: redis, prefix: `bench:${stack.id}:` }),
      saveUninitialized: false,
      cookie: { secure: false, httpOnly: true, sameSite: 'lax' },
    });
    app.post('/login', async (request) => {
      request.session.set('userId' as never, USER as never);
      return me;
    });
    app.get('/me', async (request, reply) => {
      const userId = request.session.get('userId' as never) as string | undefined;
      if (userId === undefined) return reply.code(401).send();
      return { userId };
    });
  } else {
    const tessera = await tesseraOn(stack, stack.id === 'fastify-full');
    closeStore = tessera.close;
    headers = { cookie: tessera.cookie };
    await app.register(tesseraFastify, { auth: tessera.auth });
    const guards =
      stack.id === 'fastify-full'
        ? [app.tessera.csrf, app.tessera.rateLimit, app.tessera.requireAuth]
        : [app.tessera.requireAuth];
    app.get('/me', { preHandler: guards }, async (request) => ({ userId: request.tessera.session?.userId }));
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  if (stack.id === 'fastify-session') headers = { cookie: await loginCookie(app.server) };
  return {
    server: app.server,
    headers,
    close: async () => {
      await app.close();
      await closeStore();
    },
  };
}

async function honoStack(stack: StackInfo): Promise<Served> {
  const app = new Hono<TesseraEnv>();
  let headers: Record<string, string> = {};
  let closeStore = async () => undefined as unknown;
  if (stack.id === 'hono-bare') {
    app.get('/me', (c) => c.json(me));
  } else {
    const tessera = await tesseraOn(stack);
    closeStore = tessera.close;
    headers = { cookie: tessera.cookie };
    const middleware = createTesseraHono(tessera.auth, { clientIP: (c) => getConnInfo(c).remote.address });
    app.get('/me', middleware.session, middleware.requireAuth, (c) =>
      c.json({ userId: c.get('tessera').session?.userId }),
    );
  }
  const server = serveHono({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await once(server, 'listening');
  return {
    server,
    headers,
    close: async () => {
      await closeServer(server)();
      await closeStore();
    },
  };
}

async function expressStack(stack: StackInfo): Promise<Served> {
  const app = express();
  let headers: Record<string, string> = {};
  let closeStore = async () => undefined as unknown;
  if (stack.id === 'express-bare') {
    app.get('/me', (_req, res) => void res.json(me));
  } else if (stack.id === 'express-session') {
    const redis = createClient({ url: requiredEnv('BENCH_REDIS_URL') });
    await redis.connect();
    closeStore = () => redis.quit();
    // express-session's documented production setup: no resave, no empty sessions.
    const session = expressSession({
      secret: SECRET,
      store: new RedisStore({ client: redis, prefix: `bench:${stack.id}:` }),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
    });
    app.post('/login', session, (req, res) => {
      (req.session as unknown as { userId: string }).userId = USER;
      res.json(me);
    });
    app.get('/me', session, (req, res) => {
      const userId = (req.session as unknown as { userId?: string }).userId;
      if (userId === undefined) res.status(401).end();
      else res.json({ userId });
    });
  } else {
    const tessera = await tesseraOn(stack);
    closeStore = tessera.close;
    headers = { cookie: tessera.cookie };
    const middleware = createTesseraExpress(tessera.auth);
    app.get('/me', middleware.session, middleware.requireAuth, (req, res) => {
      res.json({ userId: req.tessera?.session?.userId });
    });
  }
  const server = await listen(createServer(app));
  if (stack.id === 'express-session') headers = { cookie: await loginCookie(server) };
  return {
    server,
    headers,
    close: async () => {
      await closeServer(server)();
      await closeStore();
    },
  };
}

const json = (res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void => {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...extra });
  res.end(JSON.stringify(body));
};

async function httpStack(stack: StackInfo): Promise<Served> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void;
  let headers: Record<string, string> = {};
  let closeStore = async () => undefined as unknown;
  if (stack.id === 'http-bare') {
    handler = (_req, res) => json(res, 200, me);
  } else if (stack.id === 'http-fastjwt-hs256') {
    // fast-jwt as most APIs use it: a verifier made once, no verified-token cache (its default).
    const verify = createVerifier({ key: SECRET, algorithms: ['HS256'], allowedIss: ISSUER, allowedAud: AUDIENCE });
    const token = createSigner({ key: SECRET, algorithm: 'HS256', iss: ISSUER, aud: AUDIENCE, expiresIn: 86_400_000 })({
      sub: USER,
    });
    headers = { authorization: `Bearer ${token}` };
    handler = (req, res) => {
      const header = req.headers.authorization;
      try {
        if (header === undefined || !header.startsWith('Bearer ')) throw new Error('no token');
        const claims = verify(header.slice(7)) as { sub: string };
        json(res, 200, { userId: claims.sub });
      } catch {
        json(res, 401, { error: { code: 'unauthenticated', message: 'Authentication required.' } });
      }
    };
  } else {
    const tessera = await tesseraOn(stack);
    closeStore = tessera.close;
    const algorithm: SigningAlgorithm = stack.id === 'http-hs256-session' ? 'HS256' : 'EdDSA';
    const tokens = createTokenService({
      sessions: tessera.sessions as SessionManager,
      store: tessera.store,
      issuer: ISSUER,
      audience: AUDIENCE,
      algorithm,
      ...(algorithm === 'HS256' ? { secrets: [SECRET] } : {}),
      revocationCheck: stack.id === 'http-eddsa-local' ? 'none' : 'session',
      accessTokenTtlSeconds: 86_400,
    });
    const auth: HttpAuth = createHttpAuth({ sessions: tessera.sessions, tokens, csrfSecrets: [SECRET] });
    const { session } = await tessera.sessions.createSession(USER);
    const { accessToken } = await tokens.issueTokens(session);
    headers = { authorization: `Bearer ${accessToken}` };
    if (stack.id === 'http-eddsa-local') {
      // The HTTP layer always loads the bearer's session (it refuses a token whose session is gone), so
      // "no store check" is the token service alone: signature and claims, as a resource server would.
      handler = (req, res) => {
        const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
        tokens.verifyAccessToken(token).then(
          (verified) =>
            verified.ok
              ? json(res, 200, { userId: verified.claims.sub })
              : json(res, 401, { error: { code: 'unauthenticated', message: 'Authentication required.' } }),
          () => json(res, 500, { error: { code: 'internal_error', message: 'Internal error.' } }),
        );
      };
    } else {
      handler = bearerHandler(auth);
    }
  }
  const server = await listen(createServer(handler));
  return {
    server,
    headers,
    close: async () => {
      await closeServer(server)();
      await closeStore();
    },
  };
}

/** Bearer requests through the HTTP layer: `authenticate`, then `requireAuth`, errors in the API shape. */
function bearerHandler(auth: HttpAuth): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const facts = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: headerReader(req.headers),
      ip: req.socket.remoteAddress ?? null,
      origin: `http://${req.headers.host ?? ''}`,
    };
    auth.authenticate(facts).then(
      (result) => {
        const refusal = result.ok ? auth.requireAuth(result.value) : result.error;
        if (refusal !== null) json(res, refusal.status, apiErrorBody(refusal), refusal.headers);
        else json(res, 200, { userId: result.ok ? result.value.session?.userId : null });
      },
      () => json(res, 500, { error: { code: 'internal_error', message: 'Internal error.' } }),
    );
  };
}

/** Signs in once through the peer's own `/login` route and returns its session cookie (`name=value`). */
async function loginCookie(server: Server): Promise<string> {
  const { port } = server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST' });
  const cookie = response.headers.getSetCookie()[0]?.split(';')[0];
  if (response.status !== 200 || cookie === undefined) throw new Error(`login failed: ${response.status}`);
  return cookie;
}

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
}

/**
 * Opens a session, or revokes one and reports when the revocation started (`process.hrtime`, CLOCK_MONOTONIC:
 * one clock for every process of the machine), for the bench's revocation-latency phase.
 */
async function answerSessionControl(type: 'session.open' | 'session.revoke', id: string): Promise<void> {
  try {
    if (sessionControl === null) throw new Error('not a Tessera cookie stack');
    if (type === 'session.open') {
      process.send?.({ type, ...(await sessionControl.open()) });
    } else {
      const startedAt = process.hrtime.bigint().toString();
      await sessionControl.revoke(id);
      process.send?.({ type, startedAt, finishedAt: process.hrtime.bigint().toString() });
    }
  } catch (error) {
    process.send?.({ type, error: String(error) });
  }
}

async function main(): Promise<void> {
  const stack = stackById(process.argv[2] ?? '');
  const framework = stack.id.split('-')[0];
  const served =
    framework === 'fastify'
      ? await fastifyStack(stack)
      : framework === 'hono'
        ? await honoStack(stack)
        : framework === 'express'
          ? await expressStack(stack)
          : await httpStack(stack);
  const { port } = served.server.address() as AddressInfo;
  // Requests this server answered, the denominator of store calls per request (wrk does not count
  // the requests still in flight when it stops; the server ran them all the same).
  let requests = 0;
  served.server.prependListener('request', () => void requests++);
  let closing = false;
  process.on('SIGTERM', () => {
    if (closing) return;
    closing = true;
    served.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
  const ready = { port, headers: served.headers };
  if (process.send === undefined) {
    process.stdout.write(`${JSON.stringify(ready)}\n`);
    return;
  }
  // Asked for its counter before and after each round; the bench divides by the requests wrk made.
  process.on('message', (message: { type?: string; id?: string }) => {
    if (message.type === 'session.open' || message.type === 'session.revoke') {
      void answerSessionControl(message.type, message.id ?? '');
      return;
    }
    if (message.type === 'memory') {
      // Collected twice (weak references, then what they held), with --expose-gc: what stays is what is kept.
      const collect = (globalThis as { gc?: () => void }).gc;
      if (collect === undefined) process.send?.({ type: 'memory', error: 'run with --expose-gc' });
      else {
        collect();
        collect();
        process.send?.({ type: 'memory', heapUsed: process.memoryUsage().heapUsed });
      }
      return;
    }
    if (message.type !== 'stats') return;
    const cpu = process.cpuUsage();
    process.send?.({ type: 'stats', sent, requests, cpuMicros: cpu.user + cpu.system });
  });
  process.send({ type: 'ready', ...ready });
}

await main();
