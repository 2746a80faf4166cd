import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createSessionManager, type SessionManager } from '../../core/session/session-manager.js';
import { createHttpAuth } from '../../http/http-auth.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createTesseraExpress } from './express-adapter.js';

const secret = 'e'.repeat(32);
const servers: Server[] = [];

afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

async function serve(app: express.Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function setup(sessions: SessionManager = createSessionManager(createMemoryStore())) {
  const tessera = createTesseraExpress(createHttpAuth({ sessions, csrfSecrets: [secret] }));
  const errors: unknown[] = [];
  const recordErrors: ErrorRequestHandler = (error, _req, res, _next) => {
    errors.push(error);
    res.status(500).json({ bug: true });
  };
  return { tessera, errors, recordErrors };
}

describe('createTesseraExpress', () => {
  it('refuses something that is not an HTTP layer', () => {
    expect(() => createTesseraExpress({} as never)).toThrow(/"auth" must be an HTTP layer/);
  });

  it('passes an exception that is not a store outage to next(err), never answering 200 or 503', async () => {
    const real = createSessionManager(createMemoryStore());
    const broken: SessionManager = {
      ...real,
      validateSessionToken: async () => {
        throw new TypeError('a bug');
      },
    };
    const { tessera, errors, recordErrors } = setup(broken);
    const app = express();
    app.use(tessera.session);
    app.get('/', (_req, res) => void res.send('in'));
    app.use(recordErrors);
    const url = await serve(app);
    const response = await fetch(url, { headers: { cookie: `__Host-tessera=${'A'.repeat(26)}.${'B'.repeat(43)}` } });
    expect(response.status).toBe(500);
    expect(errors).toEqual([expect.any(TypeError)]);
  });

  it('reports a middleware mounted without `session` as a bug', async () => {
    const { tessera, errors, recordErrors } = setup();
    const app = express();
    app.get('/', tessera.requireAuth, (_req, res) => void res.send('in'));
    app.use(recordErrors);
    expect((await fetch(await serve(app))).status).toBe(500);
    expect(String(errors[0])).toMatch(/"session" middleware must run before "requireAuth"/);
  });

  it('appends its cookies beside the app’s own and leaves res.end alone', async () => {
    const { tessera } = setup();
    const app = express();
    let endPatched = true;
    app.use(tessera.session);
    app.get('/', (req, res) => {
      endPatched = Object.prototype.hasOwnProperty.call(res, 'end');
      res.cookie('theme', 'dark');
      res.json({ session: req.tessera?.session ?? null });
    });
    const response = await fetch(await serve(app), { headers: { cookie: '__Host-tessera=garbage%%' } });
    expect(response.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^__Host-tessera=;.*Max-Age=0/),
      expect.stringMatching(/^theme=dark/),
    ]);
    expect(endPatched).toBe(false);
  });

  it('exposes req.tessera without a property of its own on each request, in mounted sub-apps too', async () => {
    const sessions = createSessionManager(createMemoryStore());
    const { tessera } = setup(sessions);
    const { token, session } = await sessions.createSession('user-alice');
    const app = express();
    const sub = express();
    const seen: unknown[] = [];
    app.use(tessera.session);
    sub.get('/me', tessera.requireAuth, (req, res) => {
      seen.push(Object.prototype.hasOwnProperty.call(req, 'tessera'), req.tessera?.session?.id);
      res.json({ userId: req.tessera?.session?.userId });
    });
    app.use('/sub', sub);
    const response = await fetch(`${await serve(app)}/sub/me`, { headers: { cookie: `__Host-tessera=${token}` } });
    expect(await response.json()).toEqual({ userId: 'user-alice' });
    expect(seen).toEqual([false, session.id]);
  });

  it('answers body errors in the API shape and passes other errors on', async () => {
    const { tessera, errors, recordErrors } = setup();
    const app = express();
    app.use(express.json({ limit: 10 }));
    app.post('/', (_req, _res, next) => next(new Error('not a body error')));
    app.use(tessera.errors, recordErrors);
    const url = await serve(app);
    const post = (body: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const tooLarge = await post(JSON.stringify({ a: 'x'.repeat(50) }));
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    expect((await post('{}')).status).toBe(500);
    expect(String(errors[0])).toMatch(/not a body error/);
  });
});
