import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import session from 'express-session';
import { createMemoryStore } from 'tessera-auth/stores/memory';
import { afterEach, describe, expect, it } from 'vitest';
import { createMigratingApp } from './express-app.js';

const OLD_SECRET = 'the secret express-session signed its cookies with';
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

/** The app before the switch, on the same old store: it is what gave users their express-session cookies. */
function oldApp(oldStore: session.Store): express.Express {
  const app = express();
  app.use(session({ store: oldStore, secret: OLD_SECRET, resave: false, saveUninitialized: false }));
  app.post('/old-login', (req, res) => {
    req.session.userId = 'user-ada';
    res.status(204).end();
  });
  return app;
}

function cookieNamed(response: Response, name: string): string | undefined {
  return response.headers
    .getSetCookie()
    .find((value) => value.startsWith(`${name}=`))
    ?.split(';')[0];
}

const storedSessions = (store: session.MemoryStore) =>
  new Promise<number>((resolve, reject) =>
    store.length((error, length) => (error ? reject(error) : resolve(length ?? 0))),
  );

async function setup() {
  const oldStore = new session.MemoryStore();
  const oldUrl = await serve(oldApp(oldStore));
  const newUrl = await serve(
    createMigratingApp({
      oldStore,
      oldSecret: OLD_SECRET,
      store: createMemoryStore(),
      secret: 'm'.repeat(32),
      checkPassword: async () => null,
    }),
  );
  const oldCookie = cookieNamed(await fetch(`${oldUrl}/old-login`, { method: 'POST' }), 'connect.sid');
  if (oldCookie === undefined) throw new Error('the old app set no cookie');
  expect(await storedSessions(oldStore)).toBe(1);
  return { oldStore, newUrl, oldCookie };
}

describe('the express-session bridge', () => {
  it('turns an old session into a Tessera session for the same user and destroys the old one', async () => {
    const { oldStore, newUrl, oldCookie } = await setup();

    const first = await fetch(`${newUrl}/me`, { headers: { cookie: oldCookie } });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ userId: 'user-ada' });
    const tesseraCookie = cookieNamed(first, '__Host-tessera');
    expect(tesseraCookie).toMatch(/^__Host-tessera=[A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]+$/);
    expect(cookieNamed(first, 'connect.sid')).toBe('connect.sid=');
    expect(await storedSessions(oldStore)).toBe(0);

    // The old cookie opens nothing any more; the Tessera one does.
    expect((await fetch(`${newUrl}/me`, { headers: { cookie: oldCookie } })).status).toBe(401);
    const again = await fetch(`${newUrl}/me`, { headers: { cookie: tesseraCookie ?? '' } });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ userId: 'user-ada' });
  });

  it('bridges no request from another site, and no unsafe method', async () => {
    const { oldStore, newUrl, oldCookie } = await setup();

    const crossSite = await fetch(`${newUrl}/me`, { headers: { cookie: oldCookie, 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(401);
    expect(cookieNamed(crossSite, '__Host-tessera')).toBeUndefined();
    const post = await fetch(`${newUrl}/logout`, { method: 'POST', headers: { cookie: oldCookie } });
    expect(post.status).toBe(401);
    expect(cookieNamed(post, '__Host-tessera')).toBeUndefined();
    expect(await storedSessions(oldStore)).toBe(1);
  });
});
