/**
 * Requests per second of an authenticated GET (cookie session, memory store,
 * session → requireAuth) beside a bare route of the same framework, per adapter,
 * and the same for the peer most Express apps use (express-session, MemoryStore):
 *   npx tsx bench/adapters.ts [seconds per case, default 5] [connections, default 32]
 * Each server runs in its own child process so the load generator does not
 * share its event loop; 127.0.0.1 only, keep-alive node:http agent.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, get, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import express from 'express';
import expressSession from 'express-session';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createTesseraExpress } from 'tessera-auth/express';
import { tesseraFastify } from 'tessera-auth/fastify';
import { createTesseraHono, type TesseraEnv } from 'tessera-auth/hono';
import { createSessionManager } from 'tessera-auth';
import { createHttpAuth } from 'tessera-auth/http';
import { createMemoryStore } from 'tessera-auth/stores/memory';

const FRAMEWORKS = ['express 4', 'express 5', 'fastify', 'hono', 'express-session (peer)'] as const;
type Framework = (typeof FRAMEWORKS)[number];

/** Child mode: serve `/bare` and `/me` on a free port and print `<port> <cookie>`. */
async function serveOne(framework: Framework): Promise<void> {
  const sessions = createSessionManager(createMemoryStore());
  const auth = createHttpAuth({ sessions, csrfSecrets: ['bench-secret-bench-secret-bench-secret'] });
  const { token } = await sessions.createSession('user-bench');
  const me = { userId: 'user-bench' };
  let port: number;
  if (framework === 'fastify') {
    const app = Fastify();
    await app.register(async (bare) => bare.get('/bare', async () => me));
    await app.register(async (authed) => {
      await authed.register(tesseraFastify, { auth });
      authed.get('/me', { preHandler: authed.tessera.requireAuth }, async (request) => ({
        userId: request.tessera.session?.userId,
      }));
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  } else if (framework === 'express-session (peer)') {
    const app = express();
    // Mounted on the session routes only, as Tessera's middleware is, so /bare is plain Express 5.
    const session = expressSession({
      secret: 'bench-secret-bench-secret-bench-secret',
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
    });
    app.get('/bare', (_req, res) => void res.json(me));
    app.post('/login', session, (req, res) => {
      (req.session as unknown as { userId: string }).userId = 'user-bench';
      res.json(me);
    });
    app.get('/me', session, (req, res) => {
      const userId = (req.session as unknown as { userId?: string }).userId;
      if (userId === undefined) res.status(401).end();
      else res.json({ userId });
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
    const login = await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST' });
    console.log(`${port} ${login.headers.getSetCookie()[0]!.split(';')[0]!}`);
    return;
  } else if (framework === 'hono') {
    const tessera = createTesseraHono(auth, { clientIP: () => '127.0.0.1' });
    const app = new Hono<TesseraEnv>();
    app.get('/bare', (c) => c.json(me));
    app.get('/me', tessera.session, tessera.requireAuth, (c) => c.json({ userId: c.get('tessera').session?.userId }));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  } else {
    const factory =
      framework === 'express 4' ? (createRequire(import.meta.url)('express4') as typeof express) : express;
    const tessera = createTesseraExpress(auth);
    const app = factory();
    app.get('/bare', (_req, res) => void res.json(me));
    app.get('/me', tessera.session, tessera.requireAuth, (req, res) => {
      res.json({ userId: req.tessera?.session?.userId });
    });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  }
  console.log(`${port} __Host-tessera=${token}`);
}

async function load(port: number, path: string, cookie: string, seconds: number, connections: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const request = () =>
    new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path, agent, headers: { cookie } }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      }).on('error', reject);
    });
  const run = async (deadline: number) => {
    let ok = 0;
    let failed = 0;
    const loop = async () => {
      while (performance.now() < deadline) {
        if ((await request()) === 200) ok++;
        else failed++;
      }
    };
    await Promise.all(Array.from({ length: connections }, loop));
    return { ok, failed };
  };
  await run(performance.now() + 1000);
  const start = performance.now();
  const { ok, failed } = await run(start + seconds * 1000);
  agent.destroy();
  if (failed > 0) throw new Error(`${path}: ${failed} responses were not 200`);
  return ok / ((performance.now() - start) / 1000);
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const connections = Number(process.argv[3] ?? 32);
  console.log(`node ${process.version}, ${seconds} s per case, ${connections} keep-alive connections`);
  console.log(`${'framework'.padEnd(24)} ${'bare req/s'.padStart(11)} ${'session req/s'.padStart(14)}  session/bare`);
  const sessionRates = new Map<Framework, number>();
  for (const framework of FRAMEWORKS) {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'serve', framework], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      const [port, cookie] = line.toString().trim().split(' ') as [string, string];
      const bare = await load(Number(port), '/bare', '', seconds, connections);
      const authed = await load(Number(port), '/me', cookie, seconds, connections);
      sessionRates.set(framework, authed);
      const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
      console.log(
        `${framework.padEnd(24)} ${fmt(bare).padStart(11)} ${fmt(authed).padStart(14)}  ${(authed / bare).toFixed(2)}`,
      );
    } finally {
      child.kill();
    }
  }
  const peer = sessionRates.get('express-session (peer)') ?? 0;
  const ours = sessionRates.get('express 5') ?? 0;
  console.log(`tessera on express 5 vs express-session, authenticated GET: ${(ours / peer).toFixed(2)}×`);
}

if (process.argv[2] === 'serve') await serveOne(process.argv[3] as Framework);
else await main();
