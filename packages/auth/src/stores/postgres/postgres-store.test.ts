import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type pg from 'pg';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { isTesseraError } from '../../core/errors/errors.js';
import type { Store } from '../../core/store/types.js';
import {
  findFreePort,
  findPostgresBinaries,
  startPostgresServer,
} from '../../../../../test/support/postgres-harness.js';
import { createCappedSession } from '../../core/session/session-cap.js';
import { migratePostgres } from './migrations.js';
import { connectPostgres, createPostgresStore } from './postgres-store.js';
import { describeRefreshTokens, describeStore, makeSessionRecord } from 'tessera-auth/testing';

const url = inject('postgresUrl');
const freshPrefix = (): string => `t${randomBytes(4).toString('hex')}_`;
const quietLogger = () => ({ warn: vi.fn(), info: vi.fn(), debug: vi.fn(), error: vi.fn() });

/** Drops the tables of the given prefixes, so a run against a DATABASE_URL leaves nothing behind. */
async function dropTables(pool: pg.Pool, prefixes: Iterable<string>): Promise<void> {
  for (const prefix of prefixes) {
    await pool.query(`DROP TABLE IF EXISTS "${prefix}sessions", "${prefix}values", "${prefix}migrations"`);
  }
}

/** One call of every store method, each expected to reach the backend. */
function everyMethod(store: Store): [string, () => Promise<unknown>][] {
  const record = makeSessionRecord('alice', Date.now());
  return [
    ['createSession', () => store.createSession(record)],
    ['createSession (capped)', () => createCappedSession(store, record, 2)],
    ['getSession', () => store.getSession(record.id)],
    ['updateSession', () => store.updateSession(record.id, { lastSeenAt: Date.now() })],
    ['rotateSession', () => store.rotateSession(record.id, makeSessionRecord('alice', Date.now()))],
    ['revokeSession', () => store.revokeSession(record.id, Date.now())],
    ['revokeUserSessions', () => store.revokeUserSessions('alice', Date.now())],
    ['deleteSession', () => store.deleteSession(record.id)],
    ['listUserSessions', () => store.listUserSessions('alice')],
    ['get', () => store.get('key')],
    ['set', () => store.set('key', 1, 60)],
    ['setIfAbsent', () => store.setIfAbsent('key', 1, 60)],
    ['getAndDelete', () => store.getAndDelete('key')],
    ['delete', () => store.delete('key')],
    ['deleteExpired', () => store.deleteExpired()],
  ];
}

/** Every method rejects with the typed unavailable error, the driver's error as cause, within `boundMs`. */
async function expectEveryMethodUnavailable(store: Store, boundMs: number): Promise<void> {
  const started = Date.now();
  const outcomes = await Promise.all(
    everyMethod(store).map(async ([name, call]) => {
      const outcome = await call().then(
        (value: unknown) => ({ name, value }),
        (error: unknown) => ({ name, error }),
      );
      return { ...outcome, ms: Date.now() - started };
    }),
  );
  for (const outcome of outcomes) {
    expect(outcome, outcome.name).toHaveProperty('error');
    const error = (outcome as { error: unknown }).error;
    expect(isTesseraError(error) && error.code, outcome.name).toBe('ERR_STORE_UNAVAILABLE');
    expect((error as Error).cause, outcome.name).toBeInstanceOf(Error);
    expect(outcome.ms, outcome.name).toBeLessThan(boundMs);
  }
}

describe.skipIf(url === null)('postgres', () => {
  const pool = connectPostgres(url ?? '');
  const prefixes = new Set<string>();
  afterAll(async () => {
    await dropTables(pool, prefixes);
    await pool.end();
  });

  describeStore('postgres', {
    clock: 'injected',
    create: async ({ prefix, now }) => {
      prefixes.add(prefix);
      await migratePostgres(pool, { tablePrefix: prefix });
      return createPostgresStore(pool, { tablePrefix: prefix, now });
    },
  });

  describeRefreshTokens('postgres', async (now) => {
    const prefix = freshPrefix();
    prefixes.add(prefix);
    await migratePostgres(pool, { tablePrefix: prefix });
    return createPostgresStore(pool, { tablePrefix: prefix, now });
  });

  describe('postgres store', () => {
    const migrated = async (options: { logger?: ReturnType<typeof quietLogger>; now?: () => number } = {}) => {
      const prefix = freshPrefix();
      prefixes.add(prefix);
      await migratePostgres(pool, { tablePrefix: prefix });
      return { prefix, store: createPostgresStore(pool, { tablePrefix: prefix, ...options }) };
    };

    it('migrates once under concurrent starts, records the history, and indexes user and expiry', async () => {
      const prefix = freshPrefix();
      prefixes.add(prefix);
      const runs = await Promise.all(Array.from({ length: 8 }, () => migratePostgres(pool, { tablePrefix: prefix })));
      expect(runs.flat()).toEqual([1, 2, 3, 4]);
      expect(await migratePostgres(pool, { tablePrefix: prefix })).toEqual([]);
      const history = await pool.query(`SELECT version, name FROM "${prefix}migrations"`);
      expect(history.rows).toEqual([
        { version: 1, name: 'create sessions and values' },
        { version: 2, name: 'sessions: sign-in ip and user agent' },
        { version: 3, name: 'sessions: authentication time, own idle timeout, cookie lifetime' },
        { version: 4, name: 'sessions: new-device mark' },
      ]);
      const indexes = await pool.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE tablename = $1', [
        `${prefix}sessions`,
      ]);
      expect(indexes.rows.map((row) => row.indexname)).toEqual(
        expect.arrayContaining([`${prefix}sessions_user_id`, `${prefix}sessions_expires_at`]),
      );
    });

    it('creates and uses a schema of its own', async () => {
      const schema = `s${randomBytes(4).toString('hex')}`;
      try {
        expect(await migratePostgres(pool, { schema })).toEqual([1, 2, 3, 4]);
        const store = createPostgresStore(pool, { schema });
        const record = makeSessionRecord('alice', Date.now());
        await store.createSession(record);
        expect(await store.getSession(record.id)).toEqual(record);
        const found = await pool.query('SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2', [
          schema,
          'tessera_sessions',
        ]);
        expect(found.rowCount).toBe(1);
        await store.close();
      } finally {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }
    });

    it('requires migratePostgres first, and says so', async () => {
      const store = createPostgresStore(pool, { tablePrefix: freshPrefix() });
      const error = await store.getSession('AAAAbm90LWEtcmVhbC1zZXNzaW9u').catch((caught: unknown) => caught);
      expect(isTesseraError(error) && error.code).toBe('ERR_STORE_UNAVAILABLE');
      expect((error as Error).message).toMatch(/migratePostgres/);
      expect((error as Error).cause).toBeInstanceOf(Error);
    });

    it('reads a corrupt record as absent and logs a fingerprint, never the id', async () => {
      const logger = quietLogger();
      const { prefix, store } = await migrated({ logger });
      const record = makeSessionRecord('alice', Date.now());
      await store.createSession(record);
      await pool.query(`UPDATE "${prefix}sessions" SET data = $1 WHERE id = $2`, ['{"role": not json', record.id]);
      expect(await store.getSession(record.id)).toBeNull();
      expect(await store.listUserSessions('alice')).toEqual([]);
      await pool.query(`UPDATE "${prefix}sessions" SET data = $1 WHERE id = $2`, ['[1, 2]', record.id]);
      expect(await store.getSession(record.id)).toBeNull();
      expect(logger.warn).toHaveBeenCalledTimes(3);
      expect(JSON.stringify(logger.warn.mock.calls)).not.toContain(record.id);
      await store.close();
    });

    it('deletes expired rows in batches and counts them', async () => {
      let clock = Date.now();
      const prefix = freshPrefix();
      prefixes.add(prefix);
      await migratePostgres(pool, { tablePrefix: prefix });
      const store = createPostgresStore(pool, { tablePrefix: prefix, deleteBatchSize: 7, now: () => clock });
      for (let i = 0; i < 30; i++) {
        await store.createSession(makeSessionRecord(`user-${i}`, clock, { expiresAt: clock + 10 }));
      }
      for (let i = 0; i < 9; i++) await store.set(`k${i}`, i, 0.001);
      await store.set('forever', 1);
      clock += 20;
      expect(await store.deleteExpired()).toBe(39);
      expect(await store.get('forever')).toBe(1);
      await store.close();
    });

    it('keeps strings PostgreSQL treats specially intact, and values as parameters', async () => {
      const { store } = await migrated();
      const record = makeSessionRecord("o'brien", Date.now(), {
        userAgent: "'); DROP TABLE users; -- $1 \\x00",
        data: { nul: 'a\u0000b', dollar: '$$' },
      });
      await store.createSession(record);
      expect(await store.getSession(record.id)).toEqual(record);
      expect(await store.listUserSessions("o'brien")).toEqual([record]);
      await store.close();
    });

    it('accounts every session once when revoke-alls race capped logins', async () => {
      const { store } = await migrated();
      const clock = Date.now();
      const records = Array.from({ length: 24 }, (_, i) => makeSessionRecord('alice', clock + i));
      const calls = records.flatMap((record, i) => {
        const create = createCappedSession(store, record, 3);
        return i % 6 === 5 ? [create, store.revokeUserSessions('alice', clock + 100)] : [create];
      });
      const revoked = (await Promise.all(calls)).flat().map((record) => record.id);
      expect(new Set(revoked).size).toBe(revoked.length);
      const live = (await store.listUserSessions('alice')).map((record) => record.id);
      expect(live.length).toBeLessThanOrEqual(3);
      expect([...revoked, ...live].sort()).toEqual(records.map((record) => record.id).sort());
      await store.close();
    });

    it('waits for calls in flight on close, then refuses new ones', async () => {
      const { store } = await migrated();
      const pending = store.set('k', 1);
      await store.close();
      await expect(pending).resolves.toBeUndefined();
      await expect(store.get('k')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    });

    it('refuses a table prefix or schema that is not a plain identifier', async () => {
      expect(() => createPostgresStore(pool, { tablePrefix: 'x"; DROP TABLE users; --' })).toThrow(/"tablePrefix"/);
      expect(() => createPostgresStore(pool, { schema: 'Public' })).toThrow(/"schema"/);
      await expect(migratePostgres(pool, { tablePrefix: 'bad-prefix' })).rejects.toThrow(/"tablePrefix"/);
    });

    it('has the server cancel a statement that outlasts statement_timeout', async () => {
      const shortPool = connectPostgres(url ?? '', { statement_timeout: 300 });
      const { prefix, store: migratedStore } = await migrated();
      await migratedStore.close();
      const store = createPostgresStore(shortPool, { tablePrefix: prefix });
      const record = makeSessionRecord('alice', Date.now());
      await store.createSession(record);
      const locker = await pool.connect();
      try {
        await locker.query('BEGIN');
        await locker.query(`SELECT 1 FROM "${prefix}sessions" WHERE id = $1 FOR UPDATE`, [record.id]);
        const error = await store.revokeSession(record.id, Date.now()).catch((caught: unknown) => caught);
        expect(isTesseraError(error) && error.code).toBe('ERR_STORE_UNAVAILABLE');
        expect((error as { cause?: { code?: string } }).cause?.code).toBe('57014');
      } finally {
        await locker.query('ROLLBACK');
        locker.release();
        await store.close();
        await shortPool.end();
      }
    });
  });
});

describe('postgres store faults', () => {
  it('rejects every method with StoreUnavailableError when nothing listens, fast', async () => {
    const port = await findFreePort();
    const pool = connectPostgres(`postgresql://postgres@127.0.0.1:${port}/postgres`);
    const store = createPostgresStore(pool);
    await expectEveryMethodUnavailable(store, 5_000);
    await store.close();
    await pool.end();
  });

  it('rejects every method within the connect timeout when the server never answers', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const pool = connectPostgres(`postgresql://postgres@127.0.0.1:${port}/postgres`);
    const store = createPostgresStore(pool);
    try {
      await expectEveryMethodUnavailable(store, 5_000);
    } finally {
      await store.close();
      await pool.end();
      // Not awaited: the close callback waits on sockets the pool has already given up on.
      silent.close();
      for (const socket of sockets) socket.destroy();
    }
  });

  const binaries = findPostgresBinaries();
  it.skipIf(binaries === null)(
    'fails closed while the server is down and works again once it is back',
    async () => {
      const server = await startPostgresServer(binaries!);
      const pool = connectPostgres(server.url);
      try {
        await migratePostgres(pool);
        const store = createPostgresStore(pool);
        const record = makeSessionRecord('alice', Date.now());
        await store.createSession(record);
        await store.set('grant', 'x', 60);
        expect(await store.getSession(record.id)).toEqual(record);

        await server.stop();
        await expectEveryMethodUnavailable(store, 5_000);

        await server.start();
        expect(await store.getSession(record.id)).toEqual(record);
        expect(await store.getAndDelete('grant')).toBe('x');
        expect(await store.listUserSessions('alice')).toEqual([record]);
        await store.close();
      } finally {
        await pool.end();
        await server.destroy();
      }
    },
    60_000,
  );
});
