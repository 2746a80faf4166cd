export {
  connectPostgres,
  createPostgresStore,
  type ConnectPostgresOptions,
  type PostgresStoreOptions,
} from './postgres-store.js';
export {
  migratePostgres,
  runPostgresMigrations,
  postgresStoreMigrations,
  type PostgresMigration,
  type PostgresTableOptions,
} from './migrations.js';
