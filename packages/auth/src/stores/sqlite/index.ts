export { createSQLiteStore, sqliteStoreMigrations, type SQLiteStoreOptions } from './sqlite-store.js';
export { migrateSQLite, type SQLiteMigration } from './migrations.js';
export { retryWhileBusy } from './busy.js';
