import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiError } from 'tessera-auth/http';
import { ROUTES } from '../openapi.js';
import { defineRoute, registerRoutes, type RouteContext } from './route.js';

// Routes without auth, CSRF or same-origin use none of the plugin's preHandlers: a context stub is enough.
const context = { tessera: {} } as unknown as RouteContext;

const echo = (seen: unknown[], refuse = false) =>
  defineRoute({
    id: 'refresh',
    method: 'POST',
    path: '/echo',
    summary: 'Echo.',
    auth: 'none',
    csrf: false,
    body: z.strictObject({ token: z.string().min(1) }),
    success: { status: 200, description: 'Echoed' },
    errors: [],
    async before() {
      return refuse ? apiError('not_found') : null;
    },
    async handle(_context, { reply, body }) {
      seen.push(body);
      return reply.send({ token: body.token.toUpperCase() });
    },
  });

describe('registerRoutes', () => {
  it('hands the handler the body validated by the spec, and answers 400 naming the field without calling it', async () => {
    const seen: unknown[] = [];
    const app = Fastify();
    registerRoutes(app, [echo(seen)], context);
    const good = await app.inject({ method: 'POST', url: '/echo', payload: { token: 'abc' } });
    expect(good.statusCode).toBe(200);
    expect(good.json()).toEqual({ token: 'ABC' });
    const missing = await app.inject({ method: 'POST', url: '/echo', payload: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ error: { code: 'invalid_request', message: '"token" is required.' } });
    const extra = await app.inject({ method: 'POST', url: '/echo', payload: { token: 'a', secret: 'hunter2' } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().error.message).toBe('Unknown field "secret".');
    expect(extra.body).not.toContain('hunter2');
    expect(seen).toEqual([{ token: 'abc' }]);
    await app.close();
  });

  it('answers a `before` refusal ahead of any 400 for the body', async () => {
    const seen: unknown[] = [];
    const app = Fastify();
    registerRoutes(app, [echo(seen, true)], context);
    const refused = await app.inject({ method: 'POST', url: '/echo', payload: {} });
    expect(refused.statusCode).toBe(404);
    expect(refused.json()).toMatchObject({ error: { code: 'not_found' } });
    expect(seen).toEqual([]);
    await app.close();
  });

  it('every route of the server pairs a unique id and METHOD path with a handler', () => {
    expect(new Set(ROUTES.map((route) => route.id)).size).toBe(ROUTES.length);
    expect(new Set(ROUTES.map((route) => `${route.method} ${route.path}`)).size).toBe(ROUTES.length);
    for (const route of ROUTES) expect(typeof route.handle).toBe('function');
  });
});
