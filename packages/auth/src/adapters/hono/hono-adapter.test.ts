import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createSessionManager, type SessionManager } from '../../core/session/session-manager.js';
import { createHttpAuth } from '../../http/http-auth.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createTesseraHono, type TesseraEnv } from './hono-adapter.js';

const secret = 'h'.repeat(32);
const someToken = `${'A'.repeat(26)}.${'B'.repeat(43)}`;

function setup(sessions: SessionManager = createSessionManager(createMemoryStore())) {
  const auth = createHttpAuth({ sessions, csrfSecrets: [secret] });
  return createTesseraHono(auth, { clientIP: (c) => c.req.header('x-test-ip') });
}

describe('createTesseraHono', () => {
  it('demands a clientIP function, so login throttling never lumps every client together', () => {
    const auth = createHttpAuth({ sessions: createSessionManager(createMemoryStore()), csrfSecrets: [secret] });
    expect(() => createTesseraHono(auth, {} as never)).toThrow(/"clientIP" must be a function/);
  });

  it('runs on Web APIs alone (app.request, no server) and keeps the app’s own cookies', async () => {
    const tessera = setup();
    const app = new Hono<TesseraEnv>();
    app.use(tessera.session);
    app.get('/', (c) => {
      c.header('Set-Cookie', 'theme=dark', { append: true });
      return c.json({ session: c.get('tessera').session });
    });
    const response = await app.request('/', { headers: { cookie: '__Host-tessera=garbage%%' } });
    expect(await response.json()).toEqual({ session: null });
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^__Host-tessera=;.*Max-Age=0/),
      'theme=dark',
    ]);
  });

  it('lets an exception that is not a store outage reach onError, never answering 200 or 503', async () => {
    const real = createSessionManager(createMemoryStore());
    const tessera = setup({
      ...real,
      validateSessionToken: async () => {
        throw new TypeError('a bug');
      },
    });
    const errors: unknown[] = [];
    const app = new Hono<TesseraEnv>();
    app.onError((error, c) => {
      errors.push(error);
      return c.text('bug', 500);
    });
    app.use(tessera.session);
    app.get('/', (c) => c.text('in'));
    const response = await app.request('/', { headers: { cookie: `__Host-tessera=${someToken}` } });
    expect(response.status).toBe(500);
    expect(errors).toEqual([expect.any(TypeError)]);
  });

  it('reports a middleware mounted without `session` as a bug', async () => {
    const tessera = setup();
    const errors: unknown[] = [];
    const app = new Hono<TesseraEnv>();
    app.onError((error, c) => {
      errors.push(error);
      return c.text('bug', 500);
    });
    app.get('/', tessera.requireAuth, (c) => c.text('in'));
    expect((await app.request('/')).status).toBe(500);
    expect(String(errors[0])).toMatch(/"session" middleware must run before "requireAuth"/);
  });
});
