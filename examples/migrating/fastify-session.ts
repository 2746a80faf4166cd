/**
 * Moving a Fastify app from @fastify/session to Tessera, with both registered during the switch: a request
 * that still carries the old cookie (and no Tessera session) gets a Tessera session for the same user, and its
 * old session is destroyed. docs/migrating.md walks through it.
 */
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createLoginThrottle, createSessionManager, type Store } from 'tessera-auth';
import { tesseraFastify } from 'tessera-auth/fastify';
import { createHttpAuth, headerReader, type HttpAuth } from 'tessera-auth/http';

// What the old code kept in request.session. Only `userId` matters to the bridge.
declare module 'fastify' {
  interface Session {
    userId?: string;
  }
}

/**
 * A root preHandler: it runs after @fastify/session and Tessera (both load the request in onRequest) and before
 * the route's own preHandlers. On a GET or HEAD from the app's own pages that has an old session and no Tessera
 * one, it starts a Tessera session for the old `userId`, then destroys the old session and clears its cookie.
 */
export function bridgeFastifySession(auth: HttpAuth, oldCookieName = 'sessionId') {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const userId = request.session.get('userId');
    if (request.tessera.session !== null || userId === undefined) return undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
    const facts = {
      method: request.method,
      url: request.url,
      headers: headerReader(request.headers),
      ip: request.ip,
      origin: `${request.protocol}://${request.host}`,
    };
    if (auth.verifyRequestSource(facts) !== null) return undefined;
    if ((await reply.tesseraStartSession(userId)) === null) return reply; // answered, e.g. 503
    await request.session.destroy();
    reply.clearCookie(oldCookieName, { path: '/' });
    return undefined;
  };
}

export interface MigratingFastifyOptions {
  /** The secret @fastify/session signs its cookie with (≥ 32 characters): still needed to read old cookies. */
  oldSecret: string;
  /** The store @fastify/session already uses (e.g. connect-redis's RedisStore). */
  oldStore: fastifySession.SessionStore;
  store: Store;
  secret: string;
  checkPassword: (email: string, password: string) => Promise<string | null>;
}

export async function createMigratingFastify(options: MigratingFastifyOptions): Promise<FastifyInstance> {
  const { oldSecret, oldStore, store, secret, checkPassword } = options;
  const auth = createHttpAuth({
    sessions: createSessionManager(store, { idleTimeoutSeconds: 1800 }),
    csrfSecrets: [secret],
    loginThrottle: createLoginThrottle({ store, keySecret: secret }),
  });

  const app = Fastify();
  // The old plugins stay until the old sessions have expired; with saveUninitialized off they create none.
  await app.register(fastifyCookie);
  await app.register(fastifySession, { secret: oldSecret, store: oldStore, saveUninitialized: false });
  await app.register(tesseraFastify, { auth });
  app.setErrorHandler(app.tessera.errorHandler);
  app.addHook('preHandler', bridgeFastifySession(auth));

  app.post('/login', async (request, reply) => {
    const { email, password } = (request.body ?? {}) as { email?: unknown; password?: unknown };
    if (typeof email !== 'string' || typeof password !== 'string') return reply.code(400).send();
    const result = await reply.tesseraLogin({ account: email, verify: () => checkPassword(email, password) });
    if (result?.transport !== 'cookie') return reply;
    return { userId: result.session.userId, csrfToken: result.csrfToken };
  });
  app.get('/me', { preHandler: app.tessera.requireAuth }, async (request) => ({
    userId: request.tessera.session?.userId,
  }));
  app.post('/logout', { preHandler: [app.tessera.csrf, app.tessera.requireAuth] }, async (_request, reply) =>
    (await reply.tesseraLogout()) ? reply.code(204).send() : reply,
  );
  return app;
}
