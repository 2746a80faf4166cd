import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { isTesseraError } from '../../core/errors/errors.js';
import { createSQLiteStore } from './sqlite-store.js';
import { describeStore, makeSessionRecord } from 'tessera-auth/testing';

const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'));
const file = join(dir, 'conformance.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStore('sqlite', {
  clock: 'injected',
  create: async ({ prefix, now }) => createSQLiteStore(file, { tablePrefix: prefix, now }),
});

describe('sqlite store', () => {
  it('keeps sessions across a restart (a new store on the same file)', async () => {
    const path = join(dir, 'restart.db');
    const first = createSQLiteStore(path);
    const record = makeSessionRecord('alice', Date.now());
    await first.createSession(record);
    await first.set('key', { kid: 'a' });
    await first.close();
    const second = createSQLiteStore(path);
    expect(await second.getSession(record.id)).toEqual(record);
    expect(await second.get('key')).toEqual({ kid: 'a' });
    await second.close();
  });

  it('uses WAL, records its migrations once, and indexes user and expiry', async () => {
    const db = new BetterSqlite3(join(dir, 'schema.db'));
    const store = createSQLiteStore(db);
    createSQLiteStore(db);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.prepare('SELECT version, name FROM tessera_migrations').all()).toEqual([
      { version: 1, name: 'create sessions and values' },
      { version: 2, name: 'sessions: one column per record field' },
      { version: 3, name: 'sessions: sign-in ip and user agent' },
      { version: 4, name: 'sessions: authentication time, own idle timeout, cookie lifetime' },
      { version: 5, name: 'sessions: new-device mark' },
    ]);
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tessera_sessions'")
      .all()
      .map((row) => (row as { name: string }).name);
    expect(indexes).toEqual(expect.arrayContaining(['tessera_sessions_user_id', 'tessera_sessions_expires_at']));
    await store.close();
    expect(db.open).toBe(true);
    db.close();
  });

  it('reads a corrupt record as absent and logs a fingerprint, never the id', async () => {
    const db = new BetterSqlite3(':memory:');
    const warn = vi.fn();
    const store = createSQLiteStore(db, { logger: { warn, info: vi.fn(), debug: vi.fn(), error: vi.fn() } });
    const record = makeSessionRecord('alice', Date.now());
    await store.createSession(record);
    db.prepare('UPDATE tessera_sessions SET data = ? WHERE id = ?').run('{"role": not json', record.id);
    expect(await store.getSession(record.id)).toBeNull();
    expect(await store.listUserSessions('alice')).toEqual([]);
    db.prepare('UPDATE tessera_sessions SET data = ? WHERE id = ?').run('[1, 2]', record.id);
    expect(await store.getSession(record.id)).toBeNull();
    expect(warn).toHaveBeenCalledTimes(3);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(record.id);
    db.close();
  });

  it('deletes expired rows in batches', async () => {
    let clock = Date.now();
    const store = createSQLiteStore(':memory:', { deleteBatchSize: 7, now: () => clock });
    for (let i = 0; i < 30; i++) {
      await store.createSession(makeSessionRecord(`user-${i}`, clock, { expiresAt: clock + 10 }));
    }
    clock += 20;
    expect(await store.deleteExpired()).toBe(30);
    await store.close();
  });

  it('turns a driver failure into the typed unavailable error', async () => {
    const db = new BetterSqlite3(':memory:');
    const store = createSQLiteStore(db);
    db.close();
    const error = await store.getSession('AAAAbm90LWEtcmVhbC1zZXNzaW9u').catch((caught: unknown) => caught);
    expect(isTesseraError(error) && error.code).toBe('ERR_STORE_UNAVAILABLE');
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('refuses a table prefix that is not a plain identifier', () => {
    expect(() => createSQLiteStore(':memory:', { tablePrefix: 'x; DROP TABLE users; --' })).toThrow(/"tablePrefix"/);
  });
});

describe('sqlite store beside another process holding the write lock', () => {
  /** A second connection, as another process would have, holding the write lock until released. */
  const holdWriteLock = (path: string) => {
    const other = new BetterSqlite3(path);
    other.exec('BEGIN IMMEDIATE');
    return {
      release: () => {
        other.exec('ROLLBACK');
        other.close();
      },
    };
  };

  it('waits for a short lock without blocking the event loop: a burst of writes all land after release', async () => {
    const path = join(dir, 'short-lock.db');
    const store = createSQLiteStore(path);
    const lock = holdWriteLock(path);
    let releasedAt = 0;
    // Only a free event loop can run this timer while the writes wait for the lock.
    setTimeout(() => {
      releasedAt = Date.now();
      lock.release();
    }, 150);
    const records = Array.from({ length: 20 }, (_, i) => makeSessionRecord(`user-${i}`, Date.now()));
    const results = await Promise.all([
      ...records.map((record) => store.createSession(record)),
      ...records.map((record, i) => store.set(`key-${i}`, i)),
    ]);
    expect(releasedAt).toBeGreaterThan(0);
    expect(results).toHaveLength(40);
    for (const record of records) expect(await store.getSession(record.id)).toEqual(record);
    expect(await store.get('key-19')).toBe(19);
    await store.close();
  });

  it('gives up on a held lock with StoreUnavailableError, answering other work meanwhile, and recovers after', async () => {
    const path = join(dir, 'held-lock.db');
    const store = createSQLiteStore(path);
    const record = makeSessionRecord('alice', Date.now());
    await store.createSession(record);
    const lock = holdWriteLock(path);
    const order: string[] = [];
    const writes = Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.set(`held-${i}`, i).then(
          () => 'written',
          (error: unknown) => (isTesseraError(error) ? error.code : String(error)),
        ),
      ),
    ).then((outcomes) => {
      order.push('writes');
      return outcomes;
    });
    // Work that needs no lock finishes first: a timer and a read (WAL readers never wait for the writer).
    await new Promise((resolve) => setTimeout(resolve, 20));
    order.push('timer');
    expect(await store.getSession(record.id)).toEqual(record);
    order.push('read');
    expect(await writes).toEqual(Array.from({ length: 10 }, () => 'ERR_STORE_UNAVAILABLE'));
    expect(order).toEqual(['timer', 'read', 'writes']);
    expect(await store.get('held-0')).toBeNull();
    lock.release();
    await store.set('held-0', 0);
    expect(await store.get('held-0')).toBe(0);
    await store.close();
  });
});

describe('sqlite counters', () => {
  it('count in the database file, so a second process (a new connection) sees the same counts', async () => {
    const path = join(dir, 'limits.db');
    const first = createSQLiteStore(new BetterSqlite3(path));
    const second = createSQLiteStore(new BetterSqlite3(path));
    const burst = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? first : second).increment('login', 1, 60)),
    );
    expect(burst.map((result) => result.value).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, i) => i + 1),
    );
    expect((await second.increment('login', 1, 60)).value).toBe(41);
  });
});
