import { inject } from 'vitest';
import { describeServer } from './server-e2e.js';

const redisURL = inject('redisURL');
const postgresUrl = inject('postgresUrl');

describeServer('SQLite (the default)', () => ({}));
describeServer('Redis + PostgreSQL', () =>
  redisURL === null || postgresUrl === null ? null : { TESSERA_SESSION_STORE: redisURL, TESSERA_DATABASE: postgresUrl },
);
