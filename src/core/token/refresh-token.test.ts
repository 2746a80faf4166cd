import { describeRefreshTokens } from '../../../test/refresh-token-suite.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createSQLiteStore } from '../../stores/sqlite/sqlite-store.js';

describeRefreshTokens('memory', async (now) => createMemoryStore({ now }));
describeRefreshTokens('SQLite', async (now) => createSQLiteStore(':memory:', { now }));
