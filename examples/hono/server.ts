/**
 * Cookie sessions with CSRF protection in a Hono app (here on Node), on the embedded SQLite store:
 *   npx tsx examples/hono/server.ts      (or: npm run example:hono; PORT=8080 to move it)
 * The imports are the ones your own app writes: the package's public specifiers (tessera-auth, tessera-auth/…).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import BetterSqlite3 from 'better-sqlite3';
import { Hono } from 'hono';
import { createTesseraHono, sendApiError, type TesseraEnv } from 'tessera-auth/hono';
import { createLoginThrottle, createRequestLimit, createSessionManager } from 'tessera-auth';
import { apiError, createHttpAuth } from 'tessera-auth/http';
import { createSQLiteStore } from 'tessera-auth/stores/sqlite';

/** A secret made once and kept in ./data, so CSRF tokens survive a restart. Never a built-in default. */
function persistentSecret(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(path, 'utf8');
}

// Your users table goes here, with argon2id password hashes; one demo account keeps the example small.
const USERS = new Map([['demo@example.com', { id: 'user-demo', password: 'correct horse battery staple' }]]);
const digest = (value: string) => createHash('sha256').update(value).digest();
async function checkPassword(email: string, password: string): Promise<string | null> {
  const user = USERS.get(email);
  return user !== undefined && timingSafeEqual(digest(user.password), digest(password)) ? user.id : null;
}

mkdirSync('data', { recursive: true });
const db = new BetterSqlite3('data/hono-example.db');
const secret = persistentSecret('data/secret');
// One store for sessions and rate-limit counters: every process on the file shares the budgets.
const store = createSQLiteStore(db);
const auth = createHttpAuth({
  sessions: createSessionManager(store, { idleTimeoutSeconds: 1800 }),
  csrfSecrets: [secret],
  loginThrottle: createLoginThrottle({ store, keySecret: secret }),
  sessionRequestLimit: createRequestLimit({ store, points: 300, durationSeconds: 60 }),
});
// On Node the socket knows the client; on other runtimes use theirs (e.g. the cf-connecting-ip header).
const tessera = createTesseraHono(auth, { clientIP: (c) => getConnInfo(c).remote.address });

const app = new Hono<TesseraEnv>();
app.use(tessera.session);

app.post('/login', async (c) => {
  const body = await c.req.json<{ email?: unknown; password?: unknown }>().catch(() => null);
  const email = body?.email;
  const password = body?.password;
  if (typeof email !== 'string' || typeof password !== 'string') {
    return sendApiError(c, apiError('invalid_request', 'Send {email, password} as JSON.'));
  }
  const result = await tessera.login(c, { account: email, verify: () => checkPassword(email, password) });
  return c.json({ userId: result.session.userId, csrfToken: result.transport === 'cookie' ? result.csrfToken : null });
});

// Everything below needs a session; state-changing requests also need the CSRF token.
const api = new Hono<TesseraEnv>();
api.use(tessera.csrf, tessera.rateLimit, tessera.requireAuth);
api.get('/me', (c) => c.json({ userId: c.get('tessera').session?.userId }));
api.get('/csrf', (c) => c.json({ csrfToken: tessera.csrfToken(c) }));
let notes: string[] = [];
api.post('/notes', async (c) => {
  const body = await c.req.json<{ text?: unknown }>().catch(() => null);
  notes = [...notes, String(body?.text ?? '')];
  return c.json({ notes }, 201);
});
api.post('/logout', async (c) => {
  await tessera.logout(c);
  return c.body(null, 204);
});
app.route('/', api);

const port = Number(process.env.PORT ?? 3000);
serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, () =>
  console.log(`Hono example listening on http://127.0.0.1:${port}`),
);
