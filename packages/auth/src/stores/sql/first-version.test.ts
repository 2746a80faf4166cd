import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createSessionManager } from '../../core/session/session-manager.js';
import type { Store } from '../../core/store/types.js';
import { connectPostgres, createPostgresStore } from '../postgres/postgres-store.js';
import { migratePostgres, resolvePostgresTables, runPostgresMigrations } from '../postgres/migrations.js';
import { migrateSQLite } from '../sqlite/migrations.js';
import { createSQLiteStore } from '../sqlite/sqlite-store.js';

// The first version's schemas, verbatim (version 1 of each store's migrations as the first release shipped them):
// a database made by that release is rebuilt here and then opened by this version's store.
const firstSQLiteSchema = (prefix: string): string => `
        CREATE TABLE ${prefix}sessions (
          id TEXT PRIMARY KEY,
          user_id TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          revoked_at INTEGER,
          record TEXT NOT NULL
        ) STRICT;
        CREATE INDEX ${prefix}sessions_user_id ON ${prefix}sessions (user_id, created_at);
        CREATE INDEX ${prefix}sessions_expires_at ON ${prefix}sessions (expires_at);
        CREATE TABLE ${prefix}values (
          key TEXT PRIMARY KEY,
          value TEXT NOT NULL,
          expires_at INTEGER
        ) STRICT;
        CREATE INDEX ${prefix}values_expires_at ON ${prefix}values (expires_at) WHERE expires_at IS NOT NULL;
      `;

const firstPostgresSchema = (prefix: string, sessions: string, values: string): string => `
        CREATE TABLE ${sessions} (
          id text PRIMARY KEY,
          secret_hash text NOT NULL,
          user_id text NOT NULL,
          created_at double precision NOT NULL,
          last_seen_at double precision NOT NULL,
          idle_expires_at double precision NOT NULL,
          absolute_expires_at double precision NOT NULL,
          expires_at double precision NOT NULL,
          revoked_at double precision,
          ip text,
          user_agent text,
          data text NOT NULL
        );
        CREATE INDEX "${prefix}sessions_user_id" ON ${sessions} (user_id, created_at);
        CREATE INDEX "${prefix}sessions_expires_at" ON ${sessions} (expires_at);
        CREATE TABLE ${values} (
          key text PRIMARY KEY,
          value text NOT NULL,
          expires_at double precision
        );
        CREATE INDEX "${prefix}values_expires_at" ON ${values} (expires_at) WHERE expires_at IS NOT NULL;
      `;

const FIRST_MIGRATION_NAME = 'create sessions and values';

/**
 * A session and its token as the first version issued them: the id began with
 * the user's 4-character shard tag, and the record had no sign-in fields.
 */
function firstVersionSession(userId: string, at: number) {
  const tag = createHash('sha256').update(userId, 'utf8').digest('base64url').slice(0, 4);
  const id = tag + randomBytes(16).toString('base64url');
  const secret = randomBytes(32).toString('base64url');
  const record = {
    id,
    secretHash: createHash('sha256').update(secret, 'utf8').digest('base64url'),
    userId,
    createdAt: at,
    lastSeenAt: at,
    idleExpiresAt: at + 1_800_000,
    absoluteExpiresAt: at + 604_800_000,
    expiresAt: at + 1_800_000 + 900_000,
    revokedAt: null,
    ip: '198.51.100.4',
    userAgent: 'FirstVersion/1.0',
    data: { role: 'admin' },
  };
  return { record, token: `${id}.${secret}` };
}

/** Reads the first-version session through this version's store and engine, and renews it. */
async function expectReadAndRenewed(store: Store, old: ReturnType<typeof firstVersionSession>, at: number) {
  expect(await store.getSession(old.record.id)).toEqual({
    ...old.record,
    signInIp: null,
    signInUserAgent: null,
    authenticatedAt: null,
    idleTimeoutMs: null,
    cookieLifetime: null,
    newDeviceUntil: null,
  });
  expect(await store.listUserSessions(old.record.userId)).toHaveLength(1);
  expect(await store.get('kept')).toEqual({ kid: 'a' });
  let clock = at + 120_000;
  const sessions = createSessionManager(store, { now: () => clock });
  const result = await sessions.validateSessionToken(old.token, { ip: '198.51.100.9', userAgent: 'Now/2.0' });
  expect(result).toMatchObject({ ok: true, renewed: true });
  expect(result.session).toMatchObject({
    id: old.record.id,
    ip: '198.51.100.9',
    signInIp: null,
    // Signed in before the field existed: its authentication time is its creation.
    authenticatedAt: new Date(at),
    data: { role: 'admin' },
  });
  const renewed = await store.getSession(old.record.id);
  expect(renewed).toMatchObject({ lastSeenAt: clock, ip: '198.51.100.9', userAgent: 'Now/2.0' });
  clock += 1000;
  const rotated = await sessions.rotateSession(old.record.id);
  expect(rotated?.session).toMatchObject({ userId: old.record.userId, createdAt: new Date(at), signInIp: null });
  expect((await sessions.validateSessionToken(old.token)).ok).toBe(false);
}

describe('a first-version SQLite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-first-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates forward and its session reads, validates and renews', async () => {
    const path = join(dir, 'v1.db');
    const at = Date.now();
    const old = firstVersionSession('alice', at);
    const corrupt = firstVersionSession('mallory', at);
    const db = new BetterSqlite3(path);
    migrateSQLite(db, 'tessera_migrations', [
      { version: 1, name: FIRST_MIGRATION_NAME, sql: firstSQLiteSchema('tessera_') },
    ]);
    const insert = db.prepare(
      'INSERT INTO tessera_sessions (id, user_id, created_at, expires_at, revoked_at, record) VALUES (?, ?, ?, ?, ?, ?)',
    );
    insert.run(old.record.id, 'alice', at, old.record.expiresAt, null, JSON.stringify(old.record));
    insert.run(corrupt.record.id, 'mallory', at, corrupt.record.expiresAt, null, '{"not": "a record"');
    db.prepare('INSERT INTO tessera_values (key, value, expires_at) VALUES (?, ?, ?)').run('kept', '{"kid":"a"}', null);
    db.close();

    const store = createSQLiteStore(path, { now: () => Date.now() });
    const migrated = new BetterSqlite3(path);
    expect(migrated.prepare('SELECT version FROM tessera_migrations ORDER BY version').pluck().all()).toEqual([
      1, 2, 3, 4, 5,
    ]);
    expect(migrated.prepare('SELECT count(*) FROM tessera_sessions').pluck().get()).toBe(1);
    migrated.close();
    await expectReadAndRenewed(store, old, at);
    await store.close();
  });
});

const url = inject('postgresUrl');

describe.skipIf(url === null)('a first-version PostgreSQL schema', () => {
  const pool = connectPostgres(url ?? '');
  const prefix = `t${randomBytes(4).toString('hex')}_`;
  afterAll(async () => {
    await pool.query(`DROP TABLE IF EXISTS "${prefix}sessions", "${prefix}values", "${prefix}migrations"`);
    await pool.end();
  });

  it('migrates forward and its session reads, validates and renews', async () => {
    const tables = resolvePostgresTables({ tablePrefix: prefix });
    const first = {
      version: 1,
      name: FIRST_MIGRATION_NAME,
      sql: firstPostgresSchema(prefix, tables.sessions, tables.values),
    };
    expect(await runPostgresMigrations(pool, tables, [first])).toEqual([1]);
    const at = Date.now();
    const old = firstVersionSession('alice', at);
    const { record } = old;
    await pool.query(
      `INSERT INTO ${tables.sessions} (id, secret_hash, user_id, created_at, last_seen_at, idle_expires_at,
         absolute_expires_at, expires_at, revoked_at, ip, user_agent, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      [
        record.id,
        record.secretHash,
        record.userId,
        record.createdAt,
        record.lastSeenAt,
        record.idleExpiresAt,
        record.absoluteExpiresAt,
        record.expiresAt,
        null,
        record.ip,
        record.userAgent,
        JSON.stringify(record.data),
      ],
    );
    await pool.query(`INSERT INTO ${tables.values} (key, value, expires_at) VALUES ($1, $2, NULL)`, [
      'kept',
      '{"kid":"a"}',
    ]);

    expect(await migratePostgres(pool, { tablePrefix: prefix })).toEqual([2, 3, 4]);
    const store = createPostgresStore(pool, { tablePrefix: prefix });
    await expectReadAndRenewed(store, old, at);
    await store.close();
  });
});
