export { createSQLiteStore, sqliteStoreMigrations, type SQLiteStoreOptions } from './sqlite-store.js';
export { migrateSQLite, type SQLiteMigration } from './migrations.js';
export { createSQLiteRateLimiters } from './sqlite-rate-limiters.js';
export { retryWhileBusy } from './busy.js';
