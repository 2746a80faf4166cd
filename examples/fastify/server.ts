/**
 * Cookie sessions with CSRF protection in a Fastify app, on the embedded SQLite store:
 *   npx tsx examples/fastify/server.ts      (or: npm run example:fastify; PORT=8080 to move it)
 * The imports are the ones your own app writes: the package's public specifiers (tessera-auth, tessera-auth/…).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';
import { sendApiError, tesseraFastify } from 'tessera-auth/fastify';
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
const db = new BetterSqlite3('data/fastify-example.db');
const secret = persistentSecret('data/secret');
// One store for sessions and rate-limit counters: every process on the file shares the budgets.
const store = createSQLiteStore(db);
const auth = createHttpAuth({
  sessions: createSessionManager(store, { idleTimeoutSeconds: 1800 }),
  csrfSecrets: [secret],
  loginThrottle: createLoginThrottle({ store, keySecret: secret }),
  sessionRequestLimit: createRequestLimit({ store, points: 300, durationSeconds: 60 }),
});

const app = Fastify();
await app.register(tesseraFastify, { auth });
app.setErrorHandler(app.tessera.errorHandler);

app.post('/login', async (request, reply) => {
  const { email, password } = (request.body ?? {}) as { email?: unknown; password?: unknown };
  if (typeof email !== 'string' || typeof password !== 'string') {
    return sendApiError(reply, apiError('invalid_request', 'Send {email, password}.'));
  }
  const result = await reply.tesseraLogin({ account: email, verify: () => checkPassword(email, password) });
  if (result?.transport !== 'cookie') return reply;
  return { userId: result.session.userId, csrfToken: result.csrfToken };
});

// Everything in here needs a session; state-changing requests also need the CSRF token.
await app.register(async (api) => {
  api.addHook('preHandler', app.tessera.csrf);
  api.addHook('preHandler', app.tessera.rateLimit);
  api.addHook('preHandler', app.tessera.requireAuth);
  api.get('/me', async (request) => ({ userId: request.tessera.session?.userId }));
  api.get('/csrf', async (request) => ({ csrfToken: app.tessera.csrfToken(request) }));
  let notes: string[] = [];
  api.post('/notes', async (request, reply) => {
    notes = [...notes, String((request.body as { text?: unknown } | null)?.text ?? '')];
    return reply.code(201).send({ notes });
  });
  api.post('/logout', async (_request, reply) => ((await reply.tesseraLogout()) ? reply.code(204).send() : reply));
});

const port = Number(process.env.PORT ?? 3000);
await app.listen({ port, host: '127.0.0.1' });
console.log(`Fastify example listening on http://127.0.0.1:${port}`);
