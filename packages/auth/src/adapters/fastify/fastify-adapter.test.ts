import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createSessionManager, type SessionManager } from '../../core/session/session-manager.js';
import { createHttpAuth } from '../../http/http-auth.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { tesseraFastify } from './fastify-adapter.js';

const secret = 'f'.repeat(32);
const someToken = `${'A'.repeat(26)}.${'B'.repeat(43)}`;

async function setup(sessions: SessionManager = createSessionManager(createMemoryStore())) {
  const app = Fastify();
  await app.register(tesseraFastify, { auth: createHttpAuth({ sessions, csrfSecrets: [secret] }) });
  return app;
}

describe('tesseraFastify', () => {
  it('refuses to register without an HTTP layer', async () => {
    const app = Fastify();
    await expect(app.register(tesseraFastify, { auth: {} as never }).ready()).rejects.toThrow(/"auth" must be/);
  });

  it('decorates the instance, requests and replies, outside its own encapsulation', async () => {
    const app = await setup();
    let seen: unknown = 'unset';
    app.get('/', async (request) => {
      seen = request.tessera;
      return { hasLogin: typeof app.tessera.requireAuth };
    });
    const response = await app.inject({ url: '/' });
    expect(response.json()).toEqual({ hasLogin: 'function' });
    expect(seen).toMatchObject({ transport: null, session: null, failure: null });
    expect(app.hasReplyDecorator('tesseraLogin') && app.hasReplyDecorator('tesseraLogout')).toBe(true);
  });

  it('reports a preHandler used outside the plugin’s context as a bug, not as anonymous', async () => {
    const app = Fastify();
    const errors: unknown[] = [];
    app.setErrorHandler((error, _request, reply) => {
      errors.push(error);
      return reply.code(500).send();
    });
    let requireAuth: ((...args: never[]) => unknown) | undefined;
    await app.register(async (scoped) => {
      await scoped.register(tesseraFastify, {
        auth: createHttpAuth({ sessions: createSessionManager(createMemoryStore()), csrfSecrets: [secret] }),
      });
      requireAuth = scoped.tessera.requireAuth;
    });
    await app.register(async (outside) => {
      outside.get('/', { preHandler: requireAuth as never }, async () => 'in');
    });
    const response = await app.inject({ url: '/' });
    expect(response.statusCode).toBe(500);
    expect(String(errors[0])).toMatch(/not registered for this route/);
  });

  it('lets an exception that is not a store outage become a 500, never a 200 or 503', async () => {
    const real = createSessionManager(createMemoryStore());
    const app = await setup({
      ...real,
      validateSessionToken: async () => {
        throw new TypeError('a bug');
      },
    });
    app.get('/', async () => 'in');
    const response = await app.inject({ url: '/', headers: { cookie: `__Host-tessera=${someToken}` } });
    expect(response.statusCode).toBe(500);
  });

  it('answers Fastify’s body errors in the API shape and rethrows others', async () => {
    const app = await setup();
    app.setErrorHandler(app.tessera.errorHandler);
    app.post('/', { bodyLimit: 10 }, async () => {
      throw new Error('not a body error');
    });
    const post = (payload: string) =>
      app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, payload });
    const tooLarge = await post(JSON.stringify({ a: 'x'.repeat(50) }));
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    const other = await post('{}');
    expect(other.statusCode).toBe(500);
    expect(other.json()).not.toHaveProperty('error.code', 'invalid_request');
  });

  it('starts a session for a user just signed up, without the login throttle, refusing another site', async () => {
    const sessions = createSessionManager(createMemoryStore());
    const app = Fastify();
    // A throttle that refuses every login: a new account's first session must not go through it.
    const loginThrottle = { attempt: async () => ({ allowed: false as const, retryAfterSeconds: 60 }) };
    await app.register(tesseraFastify, { auth: createHttpAuth({ sessions, csrfSecrets: [secret], loginThrottle }) });
    app.post('/signup', async (_request, reply) => {
      const started = await reply.tesseraStartSession('new-user');
      if (started?.transport !== 'cookie') return reply;
      return { csrfToken: started.csrfToken, userId: started.session.userId };
    });
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        app.inject({ method: 'POST', url: '/signup', headers: { 'user-agent': 'X'.repeat(2000) } }),
      ),
    );
    for (const answer of answers) {
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toMatchObject({ userId: 'new-user', csrfToken: expect.any(String) });
      expect(answer.headers['set-cookie']).toMatch(/^__Host-tessera=/);
    }
    const listed = await sessions.listUserSessions('new-user');
    expect(listed).toHaveLength(5);
    expect(listed[0]?.userAgent).toHaveLength(512);
    const crossSite = await app.inject({ method: 'POST', url: '/signup', headers: { 'sec-fetch-site': 'cross-site' } });
    expect([crossSite.statusCode, crossSite.json().error.code]).toEqual([403, 'csrf_failed']);
    expect(await sessions.listUserSessions('new-user')).toHaveLength(5);
  });
});
