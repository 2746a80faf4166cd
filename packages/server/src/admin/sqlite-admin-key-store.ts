import type { Database } from 'better-sqlite3';
import { StoreUnavailableError } from 'tessera-auth/errors';
import { retryWhileBusy } from 'tessera-auth/stores/sqlite';
import { adminKeyFromRow, type AdminKey, type AdminKeyRow, type AdminKeyStore } from './admin-keys.js';

/** Admin keys in the server's SQLite database (table `tessera_admin_keys`, made by the account store's migrations). */
export function createSQLiteAdminKeyStore(db: Database): AdminKeyStore {
  const insert = db.prepare<[string, string, number, number | null]>(
    'INSERT INTO tessera_admin_keys (name, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const byHash = db.prepare<[string], AdminKeyRow>('SELECT * FROM tessera_admin_keys WHERE key_hash = ?');
  const all = db.prepare<[], AdminKeyRow>('SELECT * FROM tessera_admin_keys ORDER BY created_at, name');
  const remove = db.prepare<[string]>('DELETE FROM tessera_admin_keys WHERE name = ?');

  const guard = async <T>(run: () => T, readOnly = false): Promise<T> => {
    try {
      return await retryWhileBusy(db, run, { readOnly });
    } catch (error) {
      throw new StoreUnavailableError('The account database failed', { cause: error });
    }
  };

  return {
    createAdminKey: (record) =>
      guard(() => insert.run(record.name, record.keyHash, record.createdAt, record.expiresAt).changes === 1),
    findAdminKeyByHash: (keyHash) => guard(() => adminKeyFromRow(byHash.get(keyHash)), true),
    listAdminKeys: () =>
      guard(
        () =>
          all.all().map((row): AdminKey => ({ name: row.name, createdAt: row.created_at, expiresAt: row.expires_at })),
        true,
      ),
    deleteAdminKey: (name) => guard(() => remove.run(name).changes === 1),
  };
}
