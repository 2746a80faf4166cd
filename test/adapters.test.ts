import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { createTesseraExpress, sendApiError as sendExpressError } from '../packages/auth/src/adapters/express/index.js';
import { sendApiError as sendFastifyError, tesseraFastify } from '../packages/auth/src/adapters/fastify/index.js';
import {
  createTesseraHono,
  sendApiError as sendHonoError,
  type TesseraEnv,
} from '../packages/auth/src/adapters/hono/index.js';
import type { JsonObject } from '../packages/auth/src/core/store/types.js';
import { apiError } from '../packages/auth/src/http/api-error.js';
import type { ReauthenticateResult } from '../packages/auth/src/http/http-auth.js';
import {
  RECENT_AUTH_SECONDS,
  TEST_USER,
  checkTestUser,
  describeAdapters,
  type RunningApp,
  type StartTestApp,
} from './adapter-behaviour.js';

// The npm alias has no types of its own; its API is Express 5's as far as these apps use it.
const express4 = createRequire(import.meta.url)('express4') as typeof express;

interface LoginBody {
  email: string;
  password: string;
  transport?: 'cookie' | 'token';
  remember?: boolean;
}

/** The login body's fields, or `null` when they are not there. */
function loginBody(body: unknown): LoginBody | null {
  if (typeof body !== 'object' || body === null) return null;
  const { email, password, transport, remember } = body as Record<string, unknown>;
  if (typeof email !== 'string' || typeof password !== 'string') return null;
  if (transport !== undefined && transport !== 'cookie' && transport !== 'token') return null;
  if (remember !== undefined && typeof remember !== 'boolean') return null;
  return {
    email,
    password,
    ...(transport === undefined ? {} : { transport }),
    ...(remember === undefined ? {} : { remember }),
  };
}

/** The password check of /reauth: the test account's password, under the login throttle. */
const reauthCheck = (body: unknown) => {
  const password = (body as { password?: unknown } | null | undefined)?.password;
  return { account: TEST_USER.email, verify: async () => checkTestUser(TEST_USER.email, password) };
};

/** What /reauth answers: the pair (token) or the new session id and CSRF token (cookie). */
const reauthAnswer = (result: ReauthenticateResult<JsonObject>) =>
  result.transport === 'token' ? result.tokens : { sessionId: result.session.id, csrfToken: result.csrfToken };

const RECENT = { maxAgeSeconds: RECENT_AUTH_SECONDS };

const badLogin = () => apiError('invalid_request', 'Send {email, password} as JSON.');

/** The password check of /verify, under the login throttle. */
const credentialsCheck = (body: LoginBody) => ({
  account: body.email,
  verify: async () => checkTestUser(body.email, body.password),
});

/** What /login and /signup answer for a cookie session. */
const sessionAnswer = (result: { session: { userId: string; id: string }; csrfToken: string }) => ({
  userId: result.session.userId,
  sessionId: result.session.id,
  csrfToken: result.csrfToken,
});

async function listen(server: Server): Promise<RunningApp> {
  if (!server.listening) await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

const startExpress =
  (framework: typeof express): StartTestApp =>
  async ({ auth, counter }) => {
    const tessera = createTesseraExpress(auth);
    const app = framework();
    app.use(tessera.session, framework.json(), framework.urlencoded({ extended: false }));
    app.post('/login', async (req, res, next) => {
      try {
        const body = loginBody(req.body);
        if (body === null) return sendExpressError(res, badLogin());
        const result = await tessera.login(req, res, {
          account: body.email,
          verify: async () => checkTestUser(body.email, body.password),
          ...(body.transport === undefined ? {} : { transport: body.transport }),
          ...(body.remember === undefined ? {} : { remember: body.remember }),
        });
        if (result === null) return;
        if (result.transport === 'token') return void res.json(result.tokens);
        res.json({ userId: result.session.userId, sessionId: result.session.id, csrfToken: result.csrfToken });
      } catch (error) {
        next(error);
      }
    });
    app.post('/signup', async (req, res, next) => {
      try {
        const result = await tessera.startSession(req, res, TEST_USER.id, { account: TEST_USER.email });
        if (result?.transport === 'cookie') res.json(sessionAnswer(result));
      } catch (error) {
        next(error);
      }
    });
    app.post('/verify', async (req, res, next) => {
      try {
        const body = loginBody(req.body);
        if (body === null) return sendExpressError(res, badLogin());
        const verified = await tessera.verifyCredentials(req, res, credentialsCheck(body));
        if (verified !== null) res.json({ userId: verified.userId, newDevice: verified.newDevice });
      } catch (error) {
        next(error);
      }
    });
    app.post('/reauth', tessera.csrf, async (req, res, next) => {
      try {
        const result = await tessera.reauthenticate(req, res, reauthCheck(req.body));
        if (result !== null) res.json(reauthAnswer(result));
      } catch (error) {
        next(error);
      }
    });
    app.post('/sensitive', tessera.csrf, tessera.requireRecentAuth(RECENT), (_req, res) => {
      res.json({ count: ++counter.value });
    });
    app.post('/logout', tessera.csrf, tessera.requireAuth, async (req, res, next) => {
      try {
        if (await tessera.logout(req, res)) res.status(204).end();
      } catch (error) {
        next(error);
      }
    });
    app.get('/me', tessera.rateLimit, tessera.requireAuth, (req, res) => {
      res.json({ userId: req.tessera?.session?.userId, sessionId: req.tessera?.session?.id });
    });
    app
      .route('/transfer')
      .all(tessera.csrf, tessera.rateLimit, tessera.requireAuth)
      .get((_req, res) => void res.json({ count: ++counter.value }))
      .post((_req, res) => void res.json({ count: ++counter.value }));
    app.get('/csrf', tessera.requireAuth, (req, res) => void res.json({ csrfToken: tessera.csrfToken(req) }));
    app.post('/refresh', async (req, res, next) => {
      try {
        const pair = await tessera.refresh(
          req,
          res,
          (req.body as { refresh_token?: unknown } | undefined)?.refresh_token,
        );
        if (pair !== null) res.json(pair);
      } catch (error) {
        next(error);
      }
    });
    app.use(tessera.errors);
    return listen(app.listen(0, '127.0.0.1'));
  };

const startFastify: StartTestApp = async ({ auth, counter }) => {
  const app = Fastify();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  await app.register(tesseraFastify, { auth });
  app.setErrorHandler(app.tessera.errorHandler);
  const { csrf, rateLimit, requireAuth } = app.tessera;
  app.post('/login', async (request, reply) => {
    const body = loginBody(request.body);
    if (body === null) return sendFastifyError(reply, badLogin());
    const result = await reply.tesseraLogin({
      account: body.email,
      verify: async () => checkTestUser(body.email, body.password),
      ...(body.transport === undefined ? {} : { transport: body.transport }),
      ...(body.remember === undefined ? {} : { remember: body.remember }),
    });
    if (result === null) return reply;
    if (result.transport === 'token') return result.tokens;
    return { userId: result.session.userId, sessionId: result.session.id, csrfToken: result.csrfToken };
  });
  app.post('/signup', async (_request, reply) => {
    const result = await reply.tesseraStartSession(TEST_USER.id, { account: TEST_USER.email });
    return result?.transport === 'cookie' ? sessionAnswer(result) : reply;
  });
  app.post('/verify', async (request, reply) => {
    const body = loginBody(request.body);
    if (body === null) return sendFastifyError(reply, badLogin());
    const verified = await reply.tesseraVerifyCredentials(credentialsCheck(body));
    return verified === null ? reply : { userId: verified.userId, newDevice: verified.newDevice };
  });
  app.post('/reauth', { preHandler: csrf }, async (request, reply) => {
    const result = await reply.tesseraReauthenticate(reauthCheck(request.body));
    return result === null ? reply : reauthAnswer(result);
  });
  app.post('/sensitive', { preHandler: [csrf, app.tessera.requireRecentAuth(RECENT)] }, async () => ({
    count: ++counter.value,
  }));
  app.post('/logout', { preHandler: [csrf, requireAuth] }, async (_request, reply) => {
    if (await reply.tesseraLogout()) return reply.code(204).send();
    return reply;
  });
  app.get('/me', { preHandler: [rateLimit, requireAuth] }, async (request) => ({
    userId: request.tessera.session?.userId,
    sessionId: request.tessera.session?.id,
  }));
  app.route({
    method: ['GET', 'POST'],
    url: '/transfer',
    preHandler: [csrf, rateLimit, requireAuth],
    handler: async () => ({ count: ++counter.value }),
  });
  app.get('/csrf', { preHandler: requireAuth }, async (request) => ({ csrfToken: app.tessera.csrfToken(request) }));
  app.post('/refresh', async (request, reply) => {
    const pair = await reply.tesseraRefresh((request.body as { refresh_token?: unknown } | null)?.refresh_token);
    return pair ?? reply;
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
};

const startHono: StartTestApp = async ({ auth, counter }) => {
  const tessera = createTesseraHono(auth, { clientIP: (c) => getConnInfo(c).remote.address });
  const app = new Hono<TesseraEnv>();
  app.use(tessera.session);
  app.post('/login', async (c) => {
    const body = loginBody(await c.req.json<unknown>().catch(() => undefined));
    if (body === null) return sendHonoError(c, badLogin());
    const result = await tessera.login(c, {
      account: body.email,
      verify: async () => checkTestUser(body.email, body.password),
      ...(body.transport === undefined ? {} : { transport: body.transport }),
      ...(body.remember === undefined ? {} : { remember: body.remember }),
    });
    if (result.transport === 'token') return c.json(result.tokens);
    return c.json({ userId: result.session.userId, sessionId: result.session.id, csrfToken: result.csrfToken });
  });
  app.post('/signup', async (c) => {
    const result = await tessera.startSession(c, TEST_USER.id, { account: TEST_USER.email });
    return result.transport === 'cookie' ? c.json(sessionAnswer(result)) : c.body(null, 500);
  });
  app.post('/verify', async (c) => {
    const body = loginBody(await c.req.json<unknown>().catch(() => undefined));
    if (body === null) return sendHonoError(c, badLogin());
    const verified = await tessera.verifyCredentials(c, credentialsCheck(body));
    return c.json({ userId: verified.userId, newDevice: verified.newDevice });
  });
  app.post('/reauth', tessera.csrf, async (c) => {
    const body = await c.req.json<unknown>().catch(() => null);
    return c.json(reauthAnswer(await tessera.reauthenticate(c, reauthCheck(body))));
  });
  app.post('/sensitive', tessera.csrf, tessera.requireRecentAuth(RECENT), (c) => c.json({ count: ++counter.value }));
  app.post('/logout', tessera.csrf, tessera.requireAuth, async (c) => {
    await tessera.logout(c);
    return c.body(null, 204);
  });
  app.get('/me', tessera.rateLimit, tessera.requireAuth, (c) =>
    c.json({ userId: c.get('tessera').session?.userId, sessionId: c.get('tessera').session?.id }),
  );
  app.on(['GET', 'POST'], '/transfer', tessera.csrf, tessera.rateLimit, tessera.requireAuth, (c) =>
    c.json({ count: ++counter.value }),
  );
  app.get('/csrf', tessera.requireAuth, (c) => c.json({ csrfToken: tessera.csrfToken(c) }));
  app.post('/refresh', async (c) => {
    const body = await c.req.json<{ refresh_token?: unknown } | null>().catch(() => null);
    return c.json(await tessera.refresh(c, body?.refresh_token));
  });
  return listen(serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server);
};

describeAdapters({
  'express 4': startExpress(express4),
  'express 5': startExpress(express),
  fastify: startFastify,
  'hono (node-server)': startHono,
});
