/**
 * Cookie sessions with CSRF protection in an Express app, on the embedded SQLite store:
 *   npx tsx examples/express/server.ts      (or: npm run example:express; PORT=8080 to move it)
 * The imports are the ones your own app writes: the package's public specifiers (tessera-auth, tessera-auth/…).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import express from 'express';
import { createTesseraExpress, sendApiError } from 'tessera-auth/express';
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
const db = new BetterSqlite3('data/express-example.db');
const secret = persistentSecret('data/secret');
// One store for sessions and rate-limit counters: every process on the file shares the budgets.
const store = createSQLiteStore(db);
const auth = createHttpAuth({
  sessions: createSessionManager(store, { idleTimeoutSeconds: 1800 }),
  csrfSecrets: [secret],
  loginThrottle: createLoginThrottle({ store, keySecret: secret }),
  sessionRequestLimit: createRequestLimit({ store, points: 300, durationSeconds: 60 }),
});
const tessera = createTesseraExpress(auth);

const app = express();
app.use(express.json(), express.urlencoded({ extended: false }), tessera.session);

app.post('/login', async (req, res) => {
  const { email, password } = (req.body ?? {}) as { email?: unknown; password?: unknown };
  if (typeof email !== 'string' || typeof password !== 'string') {
    return sendApiError(res, apiError('invalid_request', 'Send {email, password}.'));
  }
  const result = await tessera.login(req, res, { account: email, verify: () => checkPassword(email, password) });
  if (result?.transport === 'cookie') res.json({ userId: result.session.userId, csrfToken: result.csrfToken });
});

// Everything below needs a session; state-changing requests also need the CSRF token.
const api = express.Router();
api.use(tessera.csrf, tessera.rateLimit, tessera.requireAuth);
api.get('/me', (req, res) => void res.json({ userId: req.tessera?.session?.userId }));
api.get('/csrf', (req, res) => void res.json({ csrfToken: tessera.csrfToken(req) }));
let notes: string[] = [];
api.post('/notes', (req, res) => {
  notes = [...notes, String((req.body as { text?: unknown }).text ?? '')];
  res.status(201).json({ notes });
});
api.post('/logout', async (req, res) => {
  if (await tessera.logout(req, res)) res.status(204).end();
});
app.use(api);
app.use(tessera.errors);

const port = Number(process.env.PORT ?? 3000);
app.listen(port, '127.0.0.1', () => console.log(`Express example listening on http://127.0.0.1:${port}`));
