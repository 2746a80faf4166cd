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
});
