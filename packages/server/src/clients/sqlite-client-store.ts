import type { Database } from 'better-sqlite3';
import { migrateSQLite } from 'tessera-auth/stores/sqlite';
import {
  clientFromRow,
  type ClientRow,
  type IntrospectionClient,
  type IntrospectionClientStore,
} from './client-store.js';
import { sqliteCalls } from '../database-calls.js';

/** The migration history of the clients table. */
export const SQLITE_CLIENTS_HISTORY = 'tessera_clients_migrations';

/** Introspection clients in the server's SQLite database (table `tessera_clients`, migrated on creation). */
export function createSQLiteClientStore(db: Database): IntrospectionClientStore {
  migrateSQLite(db, SQLITE_CLIENTS_HISTORY, [
    {
      version: 1,
      name: 'create introspection clients',
      sql: `CREATE TABLE tessera_clients (
              name TEXT PRIMARY KEY,
              secret_hash TEXT NOT NULL,
              created_at INTEGER NOT NULL
            ) STRICT;`,
    },
  ]);
  const insert = db.prepare<[string, string, number]>(
    'INSERT INTO tessera_clients (name, secret_hash, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING',
  );
  const byName = db.prepare<[string], ClientRow>('SELECT * FROM tessera_clients WHERE name = ?');
  const all = db.prepare<[], ClientRow>('SELECT * FROM tessera_clients ORDER BY created_at, name');
  const any = db.prepare<[], { found: number }>('SELECT 1 AS found FROM tessera_clients LIMIT 1');
  const remove = db.prepare<[string]>('DELETE FROM tessera_clients WHERE name = ?');

  const guard = sqliteCalls(db, 'The client database failed');

  return {
    createClient: (client) => guard(() => insert.run(client.name, client.secretHash, client.createdAt).changes === 1),
    findClient: (name) => guard(() => clientFromRow(byName.get(name)), true),
    listClients: () => guard(() => all.all().map((row) => clientFromRow(row) as IntrospectionClient), true),
    deleteClient: (name) => guard(() => remove.run(name).changes === 1),
    hasClients: () => guard(() => any.get() !== undefined, true),
  };
}
