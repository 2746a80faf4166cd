import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createSQLiteStore } from '../../stores/sqlite/sqlite-store.js';
import { describeRefreshTokens } from 'tessera-auth/testing';

describeRefreshTokens('memory', async (now) => createMemoryStore({ now }));
describeRefreshTokens('SQLite', async (now) => createSQLiteStore(':memory:', { now }));
