import type pg from 'pg';
import { adminKeyFromRow, type AdminKey, type AdminKeyRow, type AdminKeyStore } from './admin-keys.js';
import { postgresQueries } from '../database-calls.js';

/** Admin keys in the server's PostgreSQL database (table `tessera_admin_keys`; run `migratePostgresAccounts` first). */
export function createPostgresAdminKeyStore(pool: pg.Pool): AdminKeyStore {
  const query = postgresQueries(pool, 'The account database failed');
  return {
    async createAdminKey(record) {
      const result = await query(
        'INSERT INTO tessera_admin_keys (name, key_hash, created_at, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [record.name, record.keyHash, record.createdAt, record.expiresAt],
      );
      return result.rowCount === 1;
    },
    async findAdminKeyByHash(keyHash) {
      const result = await query<AdminKeyRow>('SELECT * FROM tessera_admin_keys WHERE key_hash = $1', [keyHash]);
      return adminKeyFromRow(result.rows[0]);
    },
    async listAdminKeys() {
      const result = await query<AdminKeyRow>('SELECT * FROM tessera_admin_keys ORDER BY created_at, name', []);
      return result.rows.map((row): AdminKey => ({
        name: row.name,
        createdAt: row.created_at,
        expiresAt: row.expires_at,
      }));
    },
    async deleteAdminKey(name) {
      return (await query('DELETE FROM tessera_admin_keys WHERE name = $1', [name])).rowCount === 1;
    },
  };
}
