export {
  connectPostgres,
  createPostgresStore,
  type ConnectPostgresOptions,
  type PostgresStoreOptions,
} from './postgres-store.js';
export {
  migratePostgres,
  postgresStoreMigrations,
  type PostgresMigration,
  type PostgresTableOptions,
} from './migrations.js';
