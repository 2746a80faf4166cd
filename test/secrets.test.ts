import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KeyInvalidError, StoreConflictError } from '../packages/auth/src/core/errors/errors.js';
import { createSessionManager } from '../packages/auth/src/core/session/session-manager.js';
import { createTokenService } from '../packages/auth/src/core/token/token-service.js';
import type { JsonValue, Store } from '../packages/auth/src/core/store/types.js';
import type { KeyDocumentCodec } from '../packages/auth/src/core/token/key-ring.js';
import { createMemoryStore } from '../packages/auth/src/stores/memory/memory-store.js';
import { connectPostgres, createPostgresStore } from '../packages/auth/src/stores/postgres/postgres-store.js';
import { migratePostgres } from '../packages/auth/src/stores/postgres/migrations.js';
import { createSQLiteStore } from '../packages/auth/src/stores/sqlite/sqlite-store.js';
import { loadServerConfig, type ServerConfig } from '../packages/server/src/config.js';
import { createServerLogger } from '../packages/server/src/logging.js';
import { openServerRuntime, type ServerRuntime } from '../packages/server/src/runtime.js';
import {
  openDocument,
  parseSecretsKey,
  readSecretsKey,
  resealSecrets,
  sealDocument,
  secretsKeyCodec,
  type SecretsKey,
} from '../packages/server/src/secrets-at-rest.js';
import { CSRF_OVERLAP_SECONDS, loadServerSecrets, rotateServerSecrets } from '../packages/server/src/secrets.js';
import { createServerServices } from '../packages/server/src/services.js';
import { createPostgresDatabase, runCLI } from './support/cli-harness.js';
import { startTestServer } from './support/server-harness.js';
import { makeSessionRecord } from 'tessera-auth/testing';

const postgresUrl = inject('postgresUrl');
const logger = createServerLogger('error');
const PASSWORD = 'correct horse battery';
const newKeyText = (): string => randomBytes(32).toString('base64');
const keyOf = (text: string): SecretsKey => parseSecretsKey(text, 'TESSERA_SECRETS_KEY') as SecretsKey;

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-secrets-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('TESSERA_SECRETS_KEY', () => {
  it('accepts 32 random bytes as base64 or hex, and names a key by an id that reveals nothing', () => {
    const bytes = randomBytes(32);
    const fromBase64 = keyOf(bytes.toString('base64'));
    const fromHex = keyOf(` ${bytes.toString('hex')}\n`);
    expect(fromBase64.id).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(fromHex.id).toBe(fromBase64.id);
    expect(keyOf(bytes.toString('base64url')).id).toBe(fromBase64.id);
    expect(JSON.stringify(fromBase64)).not.toContain(bytes.toString('base64').slice(0, 20));
  });

  it('refuses a weak or malformed key, saying how to make a good one and never echoing it', () => {
    for (const weak of [
      'password',
      'correct horse battery staple, a passphrase!',
      Buffer.alloc(32).toString('base64'),
      Buffer.alloc(32, 'ab').toString('base64'),
      randomBytes(16).toString('base64'),
      randomBytes(48).toString('base64'),
    ]) {
      const loaded = loadServerConfig({ TESSERA_SECRETS_KEY: weak });
      expect(loaded.ok).toBe(false);
      const message = loaded.ok ? '' : loaded.errors.join('\n');
      expect(message).toContain('TESSERA_SECRETS_KEY');
      expect(message).toContain('openssl rand -base64 32');
      expect(message).not.toContain(weak);
    }
  });

  it('reads the key from TESSERA_SECRETS_KEY_FILE, and refuses both at once or an unreadable file', () => {
    const dir = tempDir();
    const text = newKeyText();
    writeFileSync(join(dir, 'kek'), `${text}\n`, { mode: 0o600 });
    const loaded = loadServerConfig({ TESSERA_SECRETS_KEY_FILE: join(dir, 'kek') });
    expect(loaded.ok && loaded.config.secretsKey?.id).toBe(keyOf(text).id);
    const none = loadServerConfig({});
    expect(none.ok && none.config.secretsKey).toBeNull();
    expect(readSecretsKey('TESSERA_SECRETS_KEY', text, join(dir, 'kek'))).toBe(
      'Set TESSERA_SECRETS_KEY or TESSERA_SECRETS_KEY_FILE, not both',
    );
    expect(readSecretsKey('TESSERA_SECRETS_KEY', undefined, join(dir, 'missing'))).toMatch(
      /^TESSERA_SECRETS_KEY_FILE must name a readable file holding the key \(ENOENT/,
    );
  });
});

/** A database for the runtime, reopened with whatever key a step asks for. */
interface Database {
  env: Record<string, string>;
  /** The raw store under the runtime, to see what is really stored. */
  raw(): Promise<{ store: Store; close(): Promise<void> }>;
  /** Every byte of the database's files, for a plain-text search (SQLite only). */
  bytes?(): Buffer;
  destroy(): Promise<void>;
}

type OpenedRuntime = ServerRuntime & { config: ServerConfig };

async function openRuntime(database: Database, key: string | null): Promise<OpenedRuntime> {
  const loaded = loadServerConfig({ ...database.env, ...(key === null ? {} : { TESSERA_SECRETS_KEY: key }) });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return { ...(await openServerRuntime(loaded.config, logger)), config: loaded.config };
}

/** Everything secret in the stored documents of a runtime opened without a key: private `d`s and root secrets. */
async function plainSecrets(runtime: ServerRuntime): Promise<string[]> {
  const found: string[] = [];
  const secrets = (await runtime.database.get('server:secrets')) as { roots: { secret: string }[]; stable: string };
  found.push(secrets.stable, ...secrets.roots.map((root) => root.secret));
  const document = (await runtime.database.get('token:keyring')) as { keys: { privateJwk: { d: string } | null }[] };
  for (const key of document.keys) if (key.privateJwk !== null) found.push(key.privateJwk.d);
  return found;
}

function describeSecretsAtRest(name: string, open: (() => Promise<Database>) | null): void {
  describe.skipIf(open === null)(`secrets at rest on ${name}`, () => {
    it('a database started without a key gets its secrets sealed when started with one, and only opens with that key', async () => {
      const database = await (open as () => Promise<Database>)();
      try {
        const plain = await openRuntime(database, null);
        const { tokens } = createServerServices(plain.config, plain, { logger });
        const before = await tokens.listKeys();
        await loadServerSecrets(plain.database);
        await tokens.rotateKeys();
        const secrets = await plainSecrets(plain);
        expect(secrets.length).toBeGreaterThanOrEqual(3);
        await plain.close();

        const text = newKeyText();
        const sealed = await openRuntime(database, text);
        expect(sealed.secretsAtRest.keyId).toBe(keyOf(text).id);
        const sealedTokens = createServerServices(sealed.config, sealed, { logger }).tokens;
        const after = await sealedTokens.listKeys();
        expect(after.map((key) => key.kid)).toContain(before[0]?.kid);
        await sealedTokens.rotateKeys();
        const newest = (await sealedTokens.listKeys())[0]?.kid;
        await sealed.close();

        const { store, close } = await database.raw();
        try {
          for (const key of ['server:secrets', 'token:keyring']) {
            const stored = JSON.stringify(await store.get(key));
            expect(stored).toContain('"format":"tessera.sealed.v1"');
            for (const secret of secrets) expect(stored).not.toContain(secret);
          }
        } finally {
          await close();
        }
        const bytes = database.bytes?.();
        if (bytes !== undefined) for (const secret of secrets) expect(bytes.includes(secret)).toBe(false);

        const messages = await Promise.all(
          [null, newKeyText()].map((key) =>
            openRuntime(database, key).then(
              async (runtime) => {
                await runtime.close();
                return 'opened';
              },
              (error: unknown) => (error as Error).message,
            ),
          ),
        );
        expect(messages[0]).toContain(`are encrypted (key id ${keyOf(text).id}): set TESSERA_SECRETS_KEY`);
        expect(messages[1]).toContain(`were encrypted with another key (id ${keyOf(text).id})`);

        const next = newKeyText();
        const again = await openRuntime(database, text);
        expect(await again.secretsAtRest.rekey(keyOf(next))).toBe(2);
        await again.close();
        const rekeyed = await openRuntime(database, next);
        expect((await createServerServices(rekeyed.config, rekeyed, { logger }).tokens.listKeys())[0]?.kid).toBe(
          newest,
        );
        await rekeyed.close();
        await expect(openRuntime(database, text)).rejects.toThrow(/were encrypted with another key/);
        await expect(openRuntime(database, text)).rejects.toBeInstanceOf(KeyInvalidError);
      } finally {
        await database.destroy();
      }
    });

    it.each([
      ['plain', false],
      ['sealed', true],
    ])(
      'a database of the first version (a %s chain of key documents) starts with its keys, sealed, the chain erased',
      async (_, sealedBefore) => {
        const database = await (open as () => Promise<Database>)();
        try {
          const text = newKeyText();
          // The first version's layout, made from a current one: `token:keys:v<N>` and a `token:keys:head` hint.
          const first = await openRuntime(database, sealedBefore ? text : null);
          const firstTokens = createServerServices(first.config, first, { logger }).tokens;
          const [original] = await firstTokens.listKeys();
          await first.close();
          const { store, close } = await database.raw();
          try {
            const current = (await store.get('token:keyring')) as JsonValue;
            const plain = sealedBefore
              ? (secretsKeyCodec(keyOf(text), null).open(current, 'token:keyring') as { keys: JsonValue })
              : (current as { keys: JsonValue });
            const legacy = { version: 4, keys: plain.keys };
            await store.set(
              'token:keys:v4',
              sealedBefore ? sealDocument(keyOf(text), 'token:keys:v4', legacy) : legacy,
            );
            await store.set('token:keys:head', 4);
            await store.delete('token:keyring');
          } finally {
            await close();
          }

          const started = await openRuntime(database, text);
          const tokens = createServerServices(started.config, started, { logger }).tokens;
          expect((await tokens.listKeys()).map((key) => key.kid)).toEqual([original?.kid]);
          await started.close();
          const raw = await database.raw();
          try {
            for (const key of ['token:keys:head', 'token:keys:v4']) expect(await raw.store.get(key)).toBeNull();
            const stored = (await raw.store.get('token:keyring')) as { format?: string; kek?: string };
            expect(stored).toMatchObject({ format: 'tessera.sealed.v1', kek: keyOf(text).id });
          } finally {
            await raw.close();
          }
        } finally {
          await database.destroy();
        }
      },
    );
  });
}

describeSecretsAtRest('SQLite', async () => {
  const dir = tempDir();
  const file = join(dir, 'tessera.db');
  return {
    env: { TESSERA_DATABASE: `sqlite:${file}` },
    raw: async () => {
      const store = createSQLiteStore(file);
      return { store, close: () => store.close() };
    },
    bytes: () =>
      Buffer.concat([file, `${file}-wal`].filter((path) => existsSync(path)).map((path) => readFileSync(path))),
    destroy: async () => undefined,
  };
});

describeSecretsAtRest(
  'PostgreSQL',
  postgresUrl === null
    ? null
    : async () => {
        const database = await createPostgresDatabase(postgresUrl);
        return {
          env: { TESSERA_DATABASE: database.url },
          raw: async () => {
            const pool = connectPostgres(database.url);
            await migratePostgres(pool);
            const store = createPostgresStore(pool);
            return {
              store,
              close: async () => {
                await store.close();
                await pool.end();
              },
            };
          },
          destroy: () => database.drop(),
        };
      },
);

/** A key codec for an instance that has not been restarted during a rekey: opens under either key, seals under `sealWith`. */
function rekeyingCodec(keys: SecretsKey[], sealWith: SecretsKey): KeyDocumentCodec {
  return {
    seal: (document, storeKey) => sealDocument(sealWith, storeKey, document),
    open: (stored, storeKey) => {
      const kek = (stored as { kek?: string }).kek;
      return openDocument(keys.find((key) => key.id === kek) ?? null, storeKey, stored) ?? stored;
    },
  };
}

describe('re-sealing racing key rotations', () => {
  it('never undoes a rotation: every key rotated in since the last revocation is there, and one private key', async () => {
    const raw = createMemoryStore();
    const [oldKey, newKey] = [keyOf(newKeyText()), keyOf(newKeyText())];
    const sessions = createSessionManager(raw);
    const keyCodec = rekeyingCodec([oldKey, newKey], oldKey);
    const tokens = createTokenService({ sessions, store: raw, issuer: 'i', audience: 'a', keyCodec });
    await tokens.listKeys();
    let rotating = true;
    const kids: string[] = [];
    let rekeys = 0;
    await Promise.all([
      (async () => {
        try {
          for (let i = 0; i < 30; i++) kids.push((await tokens.rotateKeys({ revokePrevious: i % 10 === 0 })).kid);
        } finally {
          rotating = false;
        }
      })(),
      (async () => {
        while (rotating) {
          rekeys += await resealSecrets(raw, oldKey, newKey);
          // Key generation finishes on the thread pool: let it, or this loop of resolved promises starves it.
          await new Promise((resolve) => setImmediate(resolve));
        }
      })(),
    ]);
    expect(rekeys).toBeGreaterThan(0);
    await resealSecrets(raw, oldKey, newKey);
    const stored = (await raw.get('token:keyring')) as JsonValue;
    expect(stored).toMatchObject({ format: 'tessera.sealed.v1', kek: newKey.id });
    const document = openDocument(newKey, 'token:keyring', stored) as {
      version: number;
      keys: { kid: string; privateJwk: object | null }[];
    };
    expect(document.version).toBe(31);
    expect(document.keys.map((key) => key.kid).sort()).toEqual(kids.slice(20).sort());
    expect(document.keys.filter((key) => key.privateJwk !== null).map((key) => key.kid)).toEqual([kids.at(-1)]);
  });
});

describe('re-sealing beside a rotation that replaces the document it is re-writing', () => {
  it('loses the compare-and-set, re-reads, and seals the rotated document: the erased private key does not come back', async () => {
    const raw = createMemoryStore();
    const tokens = createTokenService({ sessions: createSessionManager(raw), store: raw, issuer: 'i', audience: 'a' });
    const [before] = await tokens.listKeys();
    let interleaved = false;
    let rotatedKid = '';
    // Between re-sealing's read of the document and its write, a rotation replaces it and erases the old private key.
    const racing: Store = {
      ...raw,
      compareAndSet: async (key, expected, next, ttlSeconds) => {
        if (!interleaved && key === 'token:keyring') {
          interleaved = true;
          rotatedKid = (await tokens.rotateKeys({ revokePrevious: true })).kid;
        }
        return raw.compareAndSet(key, expected, next, ttlSeconds);
      },
    };
    const key = keyOf(newKeyText());
    expect(await resealSecrets(racing, key, key)).toBe(1);
    expect(interleaved).toBe(true);
    const document = openDocument(key, 'token:keyring', await raw.get('token:keyring')) as {
      keys: { kid: string }[];
    };
    expect(document.keys.map((stored) => stored.kid)).toEqual([rotatedKid]);
    expect(rotatedKid).not.toBe(before?.kid);
  });
});

function describeRotation(name: string, open: (() => Promise<{ store: Store; close(): Promise<void> }>) | null) {
  describe.skipIf(open === null)(`root secret rotation on ${name}`, () => {
    it('makes a new CSRF root, keeps the previous one for the overlap, and keeps rate-limit and fingerprint keys', async () => {
      const { store, close } = await (open as NonNullable<typeof open>)();
      try {
        let clock = Date.now();
        const now = (): number => clock;
        const before = await loadServerSecrets(store, now);
        const rotation = await rotateServerSecrets(store, now);
        expect(rotation.previousVerifiesUntil.getTime()).toBe(clock + CSRF_OVERLAP_SECONDS * 1000);
        const after = await loadServerSecrets(store, now);
        expect(after.csrf).toHaveLength(2);
        expect(after.csrf[0]?.equals(before.csrf[0] as Buffer)).toBe(false);
        expect(after.csrf[1]?.equals(before.csrf[0] as Buffer)).toBe(true);
        expect(after.rateLimit.equals(before.rateLimit)).toBe(true);
        expect(after.fingerprint.equals(before.fingerprint)).toBe(true);
        clock += CSRF_OVERLAP_SECONDS * 1000;
        const later = await loadServerSecrets(store, now);
        expect(later.csrf).toHaveLength(1);
        expect(later.csrf[0]?.equals(after.csrf[0] as Buffer)).toBe(true);
        // The expired root is erased from the document at the next rotation.
        await rotateServerSecrets(store, now);
        const document = (await store.get('server:secrets')) as { roots: { secret: string }[] };
        expect(document.roots).toHaveLength(2);
      } finally {
        await close();
      }
    });

    it('concurrent rotations never lose a root: each one that proceeds adds its own, the others are told to try again', async () => {
      const { store, close } = await (open as NonNullable<typeof open>)();
      try {
        const before = await loadServerSecrets(store);
        const outcomes = await Promise.all(
          Array.from({ length: 8 }, () =>
            rotateServerSecrets(store).then(
              () => 'rotated',
              // Each refusal is its own class, not the bare base: `instanceof` and `code` agree.
              (error: unknown) => (error instanceof StoreConflictError ? error.code : String(error)),
            ),
          ),
        );
        const rotated = outcomes.filter((outcome) => outcome === 'rotated').length;
        expect(rotated).toBeGreaterThanOrEqual(1);
        expect(outcomes.filter((outcome) => outcome === 'ERR_STORE_CONFLICT')).toHaveLength(8 - rotated);
        const after = await loadServerSecrets(store);
        expect(after.csrf).toHaveLength(1 + rotated);
        expect(after.csrf.at(-1)?.equals(before.csrf[0] as Buffer)).toBe(true);
        // The lock is released: the next rotation proceeds.
        await rotateServerSecrets(store);
        expect((await loadServerSecrets(store)).csrf).toHaveLength(2 + rotated);
      } finally {
        await close();
      }
    });

    it('reads a version 1 document with the same rate-limit and fingerprint keys it had', async () => {
      const { store, close } = await (open as NonNullable<typeof open>)();
      try {
        const root = randomBytes(32).toString('base64url');
        await store.set('server:secrets', { version: 1, roots: [root] } as JsonValue);
        const before = await loadServerSecrets(store);
        await rotateServerSecrets(store);
        const after = await loadServerSecrets(store);
        expect(after.rateLimit.equals(before.rateLimit)).toBe(true);
        expect(after.csrf[1]?.equals(before.csrf[0] as Buffer)).toBe(true);
      } finally {
        await close();
      }
    });
  });
}

describeRotation('memory', async () => {
  const store = createMemoryStore();
  return { store, close: () => store.close() };
});
describeRotation('SQLite', async () => {
  const store = createSQLiteStore(join(tempDir(), 'rotation.db'));
  return { store, close: () => store.close() };
});
describeRotation(
  'PostgreSQL',
  postgresUrl === null
    ? null
    : async () => {
        const database = await createPostgresDatabase(postgresUrl);
        const pool = connectPostgres(database.url);
        await migratePostgres(pool);
        const store = createPostgresStore(pool);
        return {
          store,
          close: async () => {
            await store.close();
            await pool.end();
            await database.drop();
          },
        };
      },
);

describe('a running server and a secrets rotation', () => {
  it('adopts the new root within a minute; a CSRF token from before works through the overlap, then stops', async () => {
    // The probe (signing the other devices out) is a sensitive action: the sign-in stays recent for the whole test.
    const server = await startTestServer({ TESSERA_REAUTH_MAX_AGE: '31536000' });
    try {
      const signup = await server.call('POST', '/auth/signup', {
        body: { email: `rotate-${randomUUID()}@example.com`, password: PASSWORD },
      });
      expect(signup.status).toBe(201);
      const cookie = signup.setCookie as string;
      const before = signup.json.csrfToken as string;
      const revokeOthers = (csrf: string) => server.call('DELETE', '/auth/sessions', { cookie, csrf });
      expect((await revokeOthers(before)).status).toBe(204);

      await rotateServerSecrets(server.runtime.database);
      // Not re-read yet: new tokens still come from the old root.
      const stale = (await server.call('GET', '/auth/csrf', { cookie })).json.csrfToken as string;
      server.advance(61_000);
      const fresh = (await server.call('GET', '/auth/csrf', { cookie })).json.csrfToken as string;
      for (const token of [before, stale, fresh]) expect((await revokeOthers(token)).status).toBe(204);

      // Through the overlap, the session kept alive by use: the old tokens keep working until it ends.
      const step = 20 * 60_000;
      for (let elapsed = 61_000; elapsed + step < CSRF_OVERLAP_SECONDS * 1000; elapsed += step) {
        server.advance(step);
        expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(200);
      }
      expect((await revokeOthers(before)).status).toBe(204);
      server.advance(step);
      expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(200);
      for (const token of [before, stale]) {
        const refused = await revokeOthers(token);
        expect(refused.status).toBe(403);
        expect(refused.json.error.code).toBe('csrf_failed');
      }
      expect((await revokeOthers(fresh)).status).toBe(204);
    } finally {
      await server.close();
    }
  });
});

describe('a server beside tessera cleanup in another process', () => {
  it(
    'answers every write while the cleanup deletes thousands of rows in batches: no 503',
    { timeout: 180_000 },
    async () => {
      const server = await startTestServer();
      try {
        const path = server.config.database.kind === 'sqlite' ? server.config.database.path : '';
        const past = createSQLiteStore(path, { now: () => Date.now() - 7_200_000 });
        for (let i = 0; i < 3000; i++) {
          await past.createSession(makeSessionRecord(`expired-${i % 50}`, Date.now() - 7_200_000));
          await past.set(`expired-${i}`, i, 60);
        }
        await past.close();
        const signup = await server.call('POST', '/auth/signup', {
          body: { email: `cleanup-${randomUUID()}@example.com`, password: PASSWORD, transport: 'token' },
        });
        const bearer = signup.json.access_token as string;
        let done = false;
        const cleanup = runCLI(['cleanup', '--json'], { cwd: tempDir(), env: { TESSERA_DATABASE: `sqlite:${path}` } });
        void cleanup.finally(() => {
          done = true;
        });
        const statuses: number[] = [];
        // Each call takes the write lock (revoking the other sessions is one immediate transaction).
        while (!done) statuses.push((await server.call('DELETE', '/auth/sessions', { bearer })).status);
        const result = await cleanup;
        expect(result.code).toBe(0);
        expect(JSON.parse(result.stdout)).toMatchObject({ removed: 6000 });
        expect(statuses.length).toBeGreaterThan(0);
        expect(statuses.filter((status) => status !== 204)).toEqual([]);
      } finally {
        await server.close();
      }
    },
  );
});

describe('a server beside another process holding the SQLite write lock', () => {
  it('answers /healthz at once, answers a database write 503 instead of freezing, and recovers after release', async () => {
    const server = await startTestServer();
    try {
      const signup = await server.call('POST', '/auth/signup', {
        body: { email: `lock-${randomUUID()}@example.com`, password: PASSWORD, transport: 'token' },
      });
      expect(signup.status).toBe(201);
      const bearer = signup.json.access_token as string;
      const path = server.config.database.kind === 'sqlite' ? server.config.database.path : '';
      const other = new BetterSqlite3(path);
      other.exec('BEGIN IMMEDIATE');
      let released = false;
      try {
        const finished: string[] = [];
        const logout = server.call('POST', '/auth/logout', { bearer }).then((result) => {
          finished.push('logout');
          return result;
        });
        // Sent after the write: on a frozen event loop it could only finish after it.
        await new Promise((resolve) => setTimeout(resolve, 50));
        const health = await server.call('GET', '/healthz');
        finished.push('healthz');
        expect(health.status).toBe(200);
        const refused = await logout;
        expect(finished).toEqual(['healthz', 'logout']);
        expect(refused.status).toBe(503);
        expect(refused.json.error.code).toBe('unavailable');
        expect((await server.call('GET', '/auth/me', { bearer })).status).toBe(200);
        other.exec('ROLLBACK');
        released = true;
        expect((await server.call('POST', '/auth/logout', { bearer })).status).toBe(204);
        expect((await server.call('GET', '/auth/me', { bearer })).status).toBe(401);
      } finally {
        if (!released) other.exec('ROLLBACK');
        other.close();
      }
    } finally {
      await server.close();
    }
  });
});
