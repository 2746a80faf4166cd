import { inject } from 'vitest';
import { describeAccountDefenses } from './server-accounts-e2e.js';
import { describeServerBinding } from './server-binding-e2e.js';

const redisURL = inject('redisURL');
const postgresUrl = inject('postgresUrl');

describeAccountDefenses('SQLite (the default)', () => ({}));
describeAccountDefenses('Redis + PostgreSQL', () =>
  redisURL === null || postgresUrl === null ? null : { TESSERA_SESSION_STORE: redisURL, TESSERA_DATABASE: postgresUrl },
);
describeServerBinding('SQLite (the default)', () => ({}));
describeServerBinding('Redis + PostgreSQL', () =>
  redisURL === null || postgresUrl === null ? null : { TESSERA_SESSION_STORE: redisURL, TESSERA_DATABASE: postgresUrl },
);
