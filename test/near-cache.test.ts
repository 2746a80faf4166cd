import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { createSessionManager, type SessionManager, type SessionValidationResult, type Store } from 'tessera-auth';
import type { SessionInvalidationListener } from 'tessera-auth/stores';
import { connectPostgres, createPostgresStore, migratePostgres } from 'tessera-auth/stores/postgres';
import { connectRedis, connectRedisCluster, createRedisStore } from 'tessera-auth/stores/redis';

const redisURL = inject('redisURL');
const clusterNodes = inject('redisClusterNodes');
const postgresUrl = inject('postgresUrl');

/** Generous: a message normally arrives within milliseconds. */
const BOUND_MS = 5000;
const user = (): string => `user-${randomBytes(6).toString('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One backend: separate store instances (each on its own connections) over the same keys or tables. */
interface Backend {
  /** A fresh key prefix or migrated table prefix. */
  prepare(): Promise<string>;
  instance(prefix: string): Promise<{ store: Store; close(): Promise<void> }>;
  /** Kills the subscriber connections of every instance on `prefix`; how many it killed. */
  killSubscribers(prefix: string): Promise<number>;
  /** Marks a session revoked behind the store's back: no message is published (one lost while a channel was down). */
  revokeSilently(prefix: string, id: string): Promise<void>;
  /** The `redis`/`postgres` argument of the child process script, and its URL; none: no two-process test. */
  child?: [string, string];
  close(): Promise<void>;
}

/** A manager on its own store instance, counting the reads that reach the store. */
async function instance(backend: Backend, prefix: string, options: { nearCache?: boolean } = {}) {
  const { store, close } = await backend.instance(prefix);
  let reads = 0;
  const counted: Store = Object.assign(Object.create(store) as Store, {
    getSession: (id: string) => {
      reads++;
      return store.getSession(id);
    },
  });
  // A long max age: only a message, never the entry's age, can make B refuse within the tests' bound.
  const sessions: SessionManager = createSessionManager(counted, { nearCacheMaxAgeSeconds: 600, ...options });
  const channel = store.invalidation!();
  if (options.nearCache !== false) await vi.waitFor(() => expect(channel.healthy()).toBe(true), { timeout: BOUND_MS });
  return { store, sessions, channel, reads: () => reads, close };
}

/** Validates on `sessions` until it refuses or the bound passes; the last result. */
async function untilRefused(
  validate: () => Promise<SessionValidationResult>,
  accept: (result: SessionValidationResult) => boolean = (result) => !result.ok,
): Promise<SessionValidationResult> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const result = await validate();
    if (accept(result) || Date.now() > deadline) return result;
    await sleep(5);
  }
}

function redisBackend(connect: () => Promise<Redis | Cluster>): Backend {
  const clients: (Redis | Cluster)[] = [];
  let admin: Redis | Cluster | null = null;
  const nodes = async (): Promise<Redis[]> => {
    admin ??= await connect();
    return admin.isCluster ? (admin as Cluster).nodes('all') : [admin as Redis];
  };
  return {
    prepare: async () => `nc${randomBytes(4).toString('hex')}:`,
    async instance(prefix) {
      const client = await connect();
      clients.push(client);
      const store = createRedisStore(client, { prefix });
      return {
        store,
        close: async () => {
          await store.close();
          await client.quit();
        },
      };
    },
    async killSubscribers(prefix) {
      let killed = 0;
      for (const node of await nodes()) {
        const list = String(await node.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
        for (const line of list.split('\n')) {
          const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
          if (id !== undefined && line.includes(` name=${prefix}invalidate:sub `)) {
            killed += Number(await node.call('CLIENT', 'KILL', 'ID', id));
          }
        }
      }
      return killed;
    },
    async revokeSilently(prefix, id) {
      admin ??= await connect();
      await admin.hset(`${prefix}{${id.slice(0, 4)}}:s:${id}`, 'revokedAt', String(Date.now()));
    },
    async close() {
      await admin?.quit();
    },
  };
}

function postgresBackend(url: string): Backend {
  const admin: pg.Pool = connectPostgres(url);
  const prefixes: string[] = [];
  return {
    async prepare() {
      const prefix = `nc${randomBytes(4).toString('hex')}_`;
      prefixes.push(prefix);
      await migratePostgres(admin, { tablePrefix: prefix });
      return prefix;
    },
    async instance(prefix) {
      const pool = connectPostgres(url, { max: 3 });
      const store = createPostgresStore(pool, { tablePrefix: prefix });
      return {
        store,
        close: async () => {
          await store.close();
          await pool.end();
        },
      };
    },
    async killSubscribers(prefix) {
      const { rows } = await admin.query<{ killed: boolean }>(
        'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE query = $1',
        [`LISTEN "${prefix}invalidate"`],
      );
      return rows.filter((row) => row.killed).length;
    },
    async revokeSilently(prefix, id) {
      await admin.query(`UPDATE "${prefix}sessions" SET revoked_at = $1 WHERE id = $2`, [Date.now(), id]);
    },
    child: ['postgres', url],
    async close() {
      for (const prefix of prefixes) {
        await admin.query(`DROP TABLE IF EXISTS "${prefix}sessions", "${prefix}values", "${prefix}migrations"`);
      }
      await admin.end();
    },
  };
}

/** Name, factory (`null`: no such server this run), and whether to run the two-process test on it. */
const backends: [string, (() => Backend) | null, boolean][] = [
  [
    'redis',
    redisURL === null ? null : () => ({ ...redisBackend(() => connectRedis(redisURL)), child: ['redis', redisURL] }),
    true,
  ],
  ['redis cluster', clusterNodes === null ? null : () => redisBackend(() => connectRedisCluster(clusterNodes)), false],
  ['postgres', postgresUrl === null ? null : () => postgresBackend(postgresUrl), true],
];

/** A child process running a cached session manager over the built library: one validation per call. */
function childInstance(kind: string, url: string, prefix: string) {
  const script = fileURLToPath(new URL('./support/near-cache-instance.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, kind, url, prefix], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<{ ok?: boolean; reason?: string | null; reads?: number; ready?: boolean }> => {
    const line = await Promise.race([
      lines.next(),
      sleep(15_000).then(() => {
        throw new Error('the child process did not answer');
      }),
    ]);
    if (line.done === true) throw new Error('the child process ended');
    return JSON.parse(line.value) as { ok?: boolean; reason?: string | null; reads?: number; ready?: boolean };
  };
  return {
    ready: next,
    validate: async (token: string) => {
      child.stdin.write(`${token}\n`);
      return next();
    },
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin.write('quit\n');
      await Promise.race([exited, sleep(5000).then(() => child.kill())]);
    },
  };
}

for (const [name, make, twoProcesses] of backends) {
  describe.skipIf(make === null)(`near cache on ${name}`, () => {
    let backend: Backend;
    let prefix: string;
    let a: Awaited<ReturnType<typeof instance>>;
    let b: Awaited<ReturnType<typeof instance>>;
    let cli: Awaited<ReturnType<typeof instance>>;
    beforeAll(async () => {
      backend = make!();
      prefix = await backend.prepare();
      [a, b, cli] = [
        await instance(backend, prefix),
        await instance(backend, prefix),
        await instance(backend, prefix, { nearCache: false }),
      ];
    });
    afterAll(async () => {
      for (const each of [a, b, cli]) await each?.close();
      await backend?.close();
    });

    /** A session made on A and validated twice on B, the second time from B's memory. */
    const cachedOnB = async () => {
      const created = await a.sessions.createSession(user());
      expect((await b.sessions.validateSessionToken(created.token)).ok).toBe(true);
      const reads = b.reads();
      expect((await b.sessions.validateSessionToken(created.token)).ok).toBe(true);
      expect((await b.sessions.getSession(created.session.id)).ok).toBe(true);
      expect(b.reads()).toBe(reads);
      return created;
    };

    const endings: [string, (created: Awaited<ReturnType<typeof cachedOnB>>) => Promise<unknown>][] = [
      ['revokeSession', ({ session }) => a.sessions.revokeSession(session.id)],
      ['revokeUserSessions', ({ session }) => a.sessions.revokeUserSessions(session.userId)],
      ['deleteSession', ({ session }) => a.sessions.deleteSession(session.id)],
      ['rotateSession', ({ session }) => a.sessions.rotateSession(session.id)],
      [
        'revokeSession on an instance without a cache (the CLI)',
        ({ session }) => cli.sessions.revokeSession(session.id),
      ],
    ];
    it.each(endings)('a session cached on B is refused by B soon after %s on another instance', async (_, end) => {
      const created = await cachedOnB();
      expect(await end(created)).toBeTruthy();
      const result = await untilRefused(() => b.sessions.validateSessionToken(created.token));
      expect(result.ok).toBe(false);
    });

    it('a data change on another instance reaches B', async () => {
      const { session } = await cachedOnB();
      expect(await a.sessions.updateSessionData(session.id, { role: 'admin' })).toBe(true);
      const result = await untilRefused(
        () => b.sessions.getSession(session.id),
        (seen) => seen.ok && seen.session.data.role === 'admin',
      );
      expect(result).toMatchObject({ ok: true, session: { data: { role: 'admin' } } });
    });

    it('racing: once a revocation resolved and its message arrived, no validation on B succeeds', async () => {
      const { token, session } = await cachedOnB();
      let arrived = false;
      const listener: SessionInvalidationListener = {
        invalidate: (ids) => {
          if (ids.includes(session.id)) arrived = true;
        },
        invalidateAll: () => undefined,
        up: () => undefined,
        down: () => undefined,
      };
      const unsubscribe = b.channel.subscribe(listener);
      let stop = false;
      const after: boolean[] = [];
      let before = 0;
      const loop = (async () => {
        while (!stop) {
          const afterArrival = arrived;
          const result = await b.sessions.validateSessionToken(token);
          if (afterArrival) after.push(result.ok);
          else if (result.ok) before++;
          // A cached answer resolves without I/O: yield, or the loop starves every connection.
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      try {
        await sleep(20);
        expect(await a.sessions.revokeSession(session.id)).toBe(true);
        await vi.waitFor(() => expect(arrived).toBe(true), { timeout: BOUND_MS });
        await vi.waitFor(() => expect(after.length).toBeGreaterThan(20), { timeout: BOUND_MS });
      } finally {
        stop = true;
        await loop;
        unsubscribe();
      }
      expect(before).toBeGreaterThan(0);
      expect(after.filter((ok) => ok)).toEqual([]);
    });

    it('fails closed: with its channel killed B reads the store, and caches again once resubscribed', async () => {
      const c = await instance(backend, prefix);
      try {
        const downs: number[] = [];
        c.channel.subscribe({
          invalidate: () => undefined,
          invalidateAll: () => undefined,
          up: () => undefined,
          down: () => downs.push(Date.now()),
        });
        const { token, session } = await a.sessions.createSession(user());
        await c.sessions.validateSessionToken(token);
        const reads = c.reads();
        expect((await c.sessions.validateSessionToken(token)).ok).toBe(true);
        expect(c.reads()).toBe(reads);

        expect(await backend.killSubscribers(prefix)).toBeGreaterThan(0);
        await vi.waitFor(() => expect(downs.length).toBeGreaterThan(0), { timeout: BOUND_MS });
        // Revoked while the channel is down, without a message: honoured at the next validation.
        await backend.revokeSilently(prefix, session.id);
        expect(await c.sessions.validateSessionToken(token)).toEqual({ ok: false, reason: 'revoked' });
        expect(c.reads()).toBe(reads + 1);

        await vi.waitFor(() => expect(c.channel.healthy()).toBe(true), { timeout: BOUND_MS });
        const fresh = await a.sessions.createSession(user());
        await c.sessions.validateSessionToken(fresh.token);
        const after = c.reads();
        expect((await c.sessions.validateSessionToken(fresh.token)).ok).toBe(true);
        expect(c.reads()).toBe(after);
        // And the new subscription carries messages again.
        await a.sessions.revokeSession(fresh.session.id);
        expect((await untilRefused(() => c.sessions.validateSessionToken(fresh.token))).ok).toBe(false);
      } finally {
        await c.close();
      }
    });

    if (twoProcesses) {
      it('two processes: a revocation in this one is honoured by the other’s cache', async () => {
        const [kind, url] = backend.child!;
        const other = childInstance(kind, url, prefix);
        try {
          expect(await other.ready()).toEqual({ ready: true });
          const { token, session } = await a.sessions.createSession(user());
          const first = await other.validate(token);
          expect(first.ok).toBe(true);
          const second = await other.validate(token);
          expect(second).toMatchObject({ ok: true, reads: first.reads });
          expect(await a.sessions.revokeSession(session.id)).toBe(true);
          const deadline = Date.now() + BOUND_MS;
          let answer = await other.validate(token);
          while (answer.ok === true && Date.now() < deadline) {
            await sleep(5);
            answer = await other.validate(token);
          }
          expect(answer).toMatchObject({ ok: false, reason: 'revoked' });
        } finally {
          await other.stop();
        }
      });
    }
  });
}
