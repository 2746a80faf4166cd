import type { Database } from 'better-sqlite3';
import { migrateSQLite } from 'tessera-auth/stores/sqlite';
import { accountFromRow as toAccount, type Account, type AccountRow, type AccountStore } from './account-store.js';
import { sqliteCalls } from '../database-calls.js';

/** Accounts in the server's SQLite database (table `tessera_accounts`, and the admin keys' table, migrated on creation). */
export function createSQLiteAccountStore(db: Database): AccountStore {
  migrateSQLite(db, 'tessera_accounts_migrations', [
    {
      version: 1,
      name: 'create accounts',
      sql: `CREATE TABLE tessera_accounts (
              id TEXT PRIMARY KEY,
              email TEXT NOT NULL UNIQUE,
              password_hash TEXT NOT NULL,
              created_at INTEGER NOT NULL
            ) STRICT;`,
    },
    { version: 2, name: 'account disabled time', sql: 'ALTER TABLE tessera_accounts ADD COLUMN disabled_at INTEGER' },
    {
      version: 3,
      name: 'create admin keys',
      sql: `CREATE TABLE tessera_admin_keys (
              name TEXT PRIMARY KEY,
              key_hash TEXT NOT NULL UNIQUE,
              created_at INTEGER NOT NULL,
              expires_at INTEGER
            ) STRICT;`,
    },
  ]);
  const insert = db.prepare(
    'INSERT INTO tessera_accounts (id, email, password_hash, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (email) DO NOTHING',
  );
  const byEmail = db.prepare<[string], AccountRow>('SELECT * FROM tessera_accounts WHERE email = ?');
  const byId = db.prepare<[string], AccountRow>('SELECT * FROM tessera_accounts WHERE id = ?');
  const all = db.prepare<[], AccountRow>('SELECT * FROM tessera_accounts ORDER BY created_at, id');
  const remove = db.prepare<[string]>('DELETE FROM tessera_accounts WHERE id = ?');
  const setHash = db.prepare<[string, string]>('UPDATE tessera_accounts SET password_hash = ? WHERE id = ?');
  // COALESCE keeps the first disabling time when an account is disabled twice.
  const disable = db.prepare<[number, string]>(
    'UPDATE tessera_accounts SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?',
  );
  const enable = db.prepare<[string]>('UPDATE tessera_accounts SET disabled_at = NULL WHERE id = ?');

  const guard = sqliteCalls(db, 'The account database failed');

  return {
    createAccount: (account) =>
      guard(() =>
        insert.run(account.id, account.email, account.passwordHash, account.createdAt).changes === 1 ? account : null,
      ),
    findAccountByEmail: (email) => guard(() => toAccount(byEmail.get(email)), true),
    findAccountById: (id) => guard(() => toAccount(byId.get(id)), true),
    deleteAccount: (id) => guard(() => remove.run(id).changes === 1),
    setPasswordHash: (id, passwordHash) => guard(() => setHash.run(passwordHash, id).changes === 1),
    setDisabledAt: (id, disabledAt) =>
      guard(() => (disabledAt === null ? enable.run(id) : disable.run(disabledAt, id)).changes === 1),
    listAccounts: () => guard(() => all.all().map((row) => toAccount(row) as Account), true),
  };
}
