import type pg from 'pg';
import { runPostgresMigrations } from 'tessera-auth/stores/postgres';
import { accountFromRow as toAccount, type Account, type AccountRow, type AccountStore } from './account-store.js';
import { postgresQueries } from '../database-calls.js';

/** Applies the account and admin-key tables' migrations (idempotent, safe under concurrent starts). */
export function migratePostgresAccounts(pool: pg.Pool): Promise<number[]> {
  return runPostgresMigrations(pool, { schema: undefined, migrations: '"tessera_accounts_migrations"' }, [
    {
      version: 1,
      name: 'create accounts',
      sql: `CREATE TABLE tessera_accounts (
                id text PRIMARY KEY,
                email text NOT NULL UNIQUE,
                password_hash text NOT NULL,
                created_at double precision NOT NULL
              )`,
    },
    {
      version: 2,
      name: 'account disabled time',
      sql: 'ALTER TABLE tessera_accounts ADD COLUMN disabled_at double precision',
    },
    {
      version: 3,
      name: 'create admin keys',
      sql: `CREATE TABLE tessera_admin_keys (
                name text PRIMARY KEY,
                key_hash text NOT NULL UNIQUE,
                created_at double precision NOT NULL,
                expires_at double precision
              )`,
    },
  ]);
}

/** Accounts in the server's PostgreSQL database (table `tessera_accounts`; run {@link migratePostgresAccounts} first). */
export function createPostgresAccountStore(pool: pg.Pool): AccountStore {
  const query = postgresQueries(pool, 'The account database failed');
  return {
    async createAccount(account) {
      const result = await query(
        'INSERT INTO tessera_accounts (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING',
        [account.id, account.email, account.passwordHash, account.createdAt],
      );
      return result.rowCount === 1 ? account : null;
    },
    async findAccountByEmail(email) {
      return toAccount((await query<AccountRow>('SELECT * FROM tessera_accounts WHERE email = $1', [email])).rows[0]);
    },
    async findAccountById(id) {
      return toAccount((await query<AccountRow>('SELECT * FROM tessera_accounts WHERE id = $1', [id])).rows[0]);
    },
    async deleteAccount(id) {
      return (await query('DELETE FROM tessera_accounts WHERE id = $1', [id])).rowCount === 1;
    },
    async setPasswordHash(id, passwordHash) {
      const result = await query('UPDATE tessera_accounts SET password_hash = $1 WHERE id = $2', [passwordHash, id]);
      return result.rowCount === 1;
    },
    async setDisabledAt(id, disabledAt) {
      // COALESCE keeps the first disabling time when an account is disabled twice.
      const result =
        disabledAt === null
          ? await query('UPDATE tessera_accounts SET disabled_at = NULL WHERE id = $1', [id])
          : await query('UPDATE tessera_accounts SET disabled_at = COALESCE(disabled_at, $1) WHERE id = $2', [
              disabledAt,
              id,
            ]);
      return result.rowCount === 1;
    },
    async listAccounts() {
      const result = await query<AccountRow>('SELECT * FROM tessera_accounts ORDER BY created_at, id', []);
      return result.rows.map((row) => toAccount(row) as Account);
    },
  };
}
