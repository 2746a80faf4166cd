import type pg from 'pg';
import { runPostgresMigrations } from 'tessera-auth/stores/postgres';
import {
  clientFromRow,
  type ClientRow,
  type IntrospectionClient,
  type IntrospectionClientStore,
} from './client-store.js';
import { postgresQueries } from '../database-calls.js';

/** Applies the clients table's migrations (idempotent, safe under concurrent starts). */
export function migratePostgresClients(pool: pg.Pool): Promise<number[]> {
  return runPostgresMigrations(pool, { schema: undefined, migrations: '"tessera_clients_migrations"' }, [
    {
      version: 1,
      name: 'create introspection clients',
      sql: `CREATE TABLE tessera_clients (
                name text PRIMARY KEY,
                secret_hash text NOT NULL,
                created_at double precision NOT NULL
              )`,
    },
  ]);
}

/** Introspection clients in the server's PostgreSQL database (run {@link migratePostgresClients} first). */
export function createPostgresClientStore(pool: pg.Pool): IntrospectionClientStore {
  const query = postgresQueries(pool, 'The client database failed');
  return {
    async createClient(client) {
      const result = await query(
        'INSERT INTO tessera_clients (name, secret_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
        [client.name, client.secretHash, client.createdAt],
      );
      return result.rowCount === 1;
    },
    async findClient(name) {
      return clientFromRow((await query<ClientRow>('SELECT * FROM tessera_clients WHERE name = $1', [name])).rows[0]);
    },
    async listClients() {
      const result = await query<ClientRow>('SELECT * FROM tessera_clients ORDER BY created_at, name', []);
      return result.rows.map((row) => clientFromRow(row) as IntrospectionClient);
    },
    async deleteClient(name) {
      return (await query('DELETE FROM tessera_clients WHERE name = $1', [name])).rowCount === 1;
    },
    async hasClients() {
      return (await query('SELECT 1 FROM tessera_clients LIMIT 1', [])).rowCount === 1;
    },
  };
}
