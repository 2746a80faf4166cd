import type { Database } from 'better-sqlite3';
import { adminKeyFromRow, type AdminKey, type AdminKeyRow, type AdminKeyStore } from './admin-keys.js';
import { sqliteCalls } from '../database-calls.js';

/** Admin keys in the server's SQLite database (table `tessera_admin_keys`, made by the account store's migrations). */
export function createSQLiteAdminKeyStore(db: Database): AdminKeyStore {
  const insert = db.prepare<[string, string, number, number | null]>(
    'INSERT INTO tessera_admin_keys (name, key_hash, created_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const byHash = db.prepare<[string], AdminKeyRow>('SELECT * FROM tessera_admin_keys WHERE key_hash = ?');
  const all = db.prepare<[], AdminKeyRow>('SELECT * FROM tessera_admin_keys ORDER BY created_at, name');
  const remove = db.prepare<[string]>('DELETE FROM tessera_admin_keys WHERE name = ?');

  const guard = sqliteCalls(db, 'The account database failed');

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
