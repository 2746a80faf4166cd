/**
 * An Express app in the middle of the switch from express-session + connect-redis: Tessera signs people in,
 * express-session is still mounted to read (and destroy) the sessions people already have. docs/migrating.md
 * shows it piece by piece; express-session.test.ts runs it with express-session's memory store as the old side.
 */
import { RedisStore } from 'connect-redis';
import express from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import { createLoginThrottle, createSessionManager, type Store } from 'tessera-auth';
import { createTesseraExpress } from 'tessera-auth/express';
import { createHttpAuth } from 'tessera-auth/http';
import { bridgeExpressSession } from './express-session.js';

export interface MigratingAppOptions {
  /** The store express-session already uses (connect-redis in production). */
  oldStore: session.Store;
  /** The secret express-session signs its cookie with: still needed to read the old cookies. */
  oldSecret: string;
  /** Tessera's store: sessions and login-throttle counters. */
  store: Store;
  /** ≥ 32 random bytes for CSRF tokens, device cookies and counter keys. */
  secret: string;
  /** Your password check: the user id for good credentials, `null` otherwise. */
  checkPassword: (email: string, password: string) => Promise<string | null>;
}

export function createMigratingApp(options: MigratingAppOptions): express.Express {
  const { oldStore, oldSecret, store, secret, checkPassword } = options;
  const auth = createHttpAuth({
    sessions: createSessionManager(store, { idleTimeoutSeconds: 1800 }),
    csrfSecrets: [secret],
    loginThrottle: createLoginThrottle({ store, keySecret: secret }),
  });
  const tessera = createTesseraExpress(auth);

  const app = express();
  app.use(express.json());
  // The old middleware stays until the old sessions have expired; it no longer creates any.
  app.use(session({ store: oldStore, secret: oldSecret, resave: false, saveUninitialized: false }));
  app.use(tessera.session, bridgeExpressSession(auth, tessera));

  app.post('/login', async (req, res) => {
    const { email, password } = (req.body ?? {}) as { email?: unknown; password?: unknown };
    if (typeof email !== 'string' || typeof password !== 'string') return void res.status(400).end();
    const result = await tessera.login(req, res, { account: email, verify: () => checkPassword(email, password) });
    if (result?.transport === 'cookie') res.json({ userId: result.session.userId, csrfToken: result.csrfToken });
  });
  app.get('/me', tessera.requireAuth, (req, res) => void res.json({ userId: req.tessera?.session?.userId }));
  app.get('/csrf', tessera.requireAuth, (req, res) => void res.json({ csrfToken: tessera.csrfToken(req) }));
  app.post('/logout', tessera.csrf, tessera.requireAuth, async (req, res) => {
    if (await tessera.logout(req, res)) res.status(204).end();
  });
  app.use(tessera.errors);
  return app;
}

/** The old side in production: connect-redis on a node-redis client, as before the switch. */
export async function connectOldStore(url: string): Promise<RedisStore> {
  const client = createClient({ url });
  await client.connect();
  return new RedisStore({ client, prefix: 'sess:' });
}
