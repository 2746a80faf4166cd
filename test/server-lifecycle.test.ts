import { inject } from 'vitest';
import { describeAccountLifecycle } from './server-lifecycle-e2e.js';

const redisURL = inject('redisURL');
const clusterNodes = inject('redisClusterNodes');
const postgresUrl = inject('postgresUrl');

describeAccountLifecycle('SQLite (the default)', () => ({}));
describeAccountLifecycle('Redis + PostgreSQL', () =>
  redisURL === null || postgresUrl === null ? null : { TESSERA_SESSION_STORE: redisURL, TESSERA_DATABASE: postgresUrl },
);
describeAccountLifecycle('Redis Cluster + SQLite', () =>
  clusterNodes === null
    ? null
    : { TESSERA_SESSION_STORE: `redis-cluster://${clusterNodes.map((node) => `${node.host}:${node.port}`).join(',')}` },
);
describeAccountLifecycle('memory sessions + SQLite', () => ({ TESSERA_SESSION_STORE: 'memory:' }));
