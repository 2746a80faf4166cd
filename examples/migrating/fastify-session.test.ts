import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import { createMemoryStore } from 'tessera-auth/stores/memory';
import { describe, expect, it } from 'vitest';
import { createMigratingFastify } from './fastify-session.js';

const OLD_SECRET = 'the secret @fastify/session signed its cookies with';

function cookieNamed(setCookie: string | string[] | number | undefined, name: string): string | undefined {
  const values = Array.isArray(setCookie) ? setCookie : typeof setCookie === 'string' ? [setCookie] : [];
  return values.find((value) => value.startsWith(`${name}=`))?.split(';')[0];
}

async function setup() {
  const oldStore = new fastifySession.MemoryStore();
  // The app before the switch, on the same old store: it is what gave users their @fastify/session cookies.
  const oldApp = Fastify();
  await oldApp.register(fastifyCookie);
  await oldApp.register(fastifySession, {
    secret: OLD_SECRET,
    store: oldStore,
    saveUninitialized: false,
    cookie: { secure: false },
  });
  oldApp.post('/old-login', async (request, reply) => {
    request.session.set('userId', 'user-ada');
    return reply.code(204).send();
  });
  const app = await createMigratingFastify({
    oldSecret: OLD_SECRET,
    oldStore,
    store: createMemoryStore(),
    secret: 'f'.repeat(32),
    checkPassword: async () => null,
  });
  const oldCookie = cookieNamed(
    (await oldApp.inject({ method: 'POST', url: '/old-login' })).headers['set-cookie'],
    'sessionId',
  );
  if (oldCookie === undefined) throw new Error('the old app set no cookie');
  const oldSessionId = decodeURIComponent(oldCookie.slice('sessionId='.length)).split('.')[0] ?? '';
  const oldSession = () =>
    new Promise<unknown>((resolve, reject) =>
      oldStore.get(oldSessionId, (error, value) => (error ? reject(error) : resolve(value))),
    );
  expect(await oldSession()).toBeTruthy();
  return { app, oldCookie, oldSession };
}

describe('the @fastify/session bridge', () => {
  it('turns an old session into a Tessera session for the same user and destroys the old one', async () => {
    const { app, oldCookie, oldSession } = await setup();

    const first = await app.inject({ method: 'GET', url: '/me', headers: { cookie: oldCookie } });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ userId: 'user-ada' });
    const tesseraCookie = cookieNamed(first.headers['set-cookie'], '__Host-tessera');
    expect(tesseraCookie).toMatch(/^__Host-tessera=[A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]+$/);
    expect(await oldSession()).toBeFalsy();

    expect((await app.inject({ method: 'GET', url: '/me', headers: { cookie: oldCookie } })).statusCode).toBe(401);
    const again = await app.inject({ method: 'GET', url: '/me', headers: { cookie: tesseraCookie ?? '' } });
    expect(again.json()).toEqual({ userId: 'user-ada' });
  });

  it('bridges no request from another site', async () => {
    const { app, oldCookie, oldSession } = await setup();
    const crossSite = await app.inject({
      method: 'GET',
      url: '/me',
      headers: { cookie: oldCookie, 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.statusCode).toBe(401);
    expect(cookieNamed(crossSite.headers['set-cookie'], '__Host-tessera')).toBeUndefined();
    expect(await oldSession()).toBeTruthy();
  });
});
