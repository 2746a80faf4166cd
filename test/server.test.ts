import { inject } from 'vitest';
import { describeServer } from './server-e2e.js';
import { describeServerThrottle } from './server-throttle-e2e.js';

const redisURL = inject('redisURL');
const postgresUrl = inject('postgresUrl');
const redisAndPostgres = () =>
  redisURL === null || postgresUrl === null ? null : { TESSERA_SESSION_STORE: redisURL, TESSERA_DATABASE: postgresUrl };

describeServer('SQLite (the default)', () => ({}));
describeServer('Redis + PostgreSQL', redisAndPostgres);
describeServerThrottle('SQLite (the default)', () => ({}));
describeServerThrottle('Redis + PostgreSQL', redisAndPostgres);
