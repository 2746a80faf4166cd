/**
 * `npm run bench`: authenticated `GET /me` per stack (bare frameworks, Tessera
 * on each, the peers), measured the way a deployment runs it.
 *
 * - Sessions in Redis: REDIS_URL, or a throwaway redis-server started here on
 *   a free loopback port (and PostgreSQL with `--postgres`: BENCH_POSTGRES_URL,
 *   or a throwaway server).
 * - Each stack server in its own process, pinned to core 0 (`taskset -c 0`);
 *   the load generator `wrk` (one thread, 50 connections) pinned to core 1,
 *   with this process and the Redis it started. wrk is installed with apt-get
 *   when missing.
 * - A warm-up per stack, then interleaved rounds (every stack once per round),
 *   so a slow minute of the machine hits every stack alike; median, min–max.
 * - Redis commands per request from `INFO commandstats` (scripted commands
 *   included), the store calls each server sent (its round trips) and its
 *   CPU time per request.
 * - Cross-instance revocation latency (see revocation.ts): p50/p99 over
 *   `--revocations` sessions revoked on a second instance of the stack; and
 *   the heap kept per distinct session served (a near cache's cost).
 *
 * Prints a table and writes bench/results/latest.json. Flags:
 *   --duration <s> (10)  --rounds <n> (3)  --connections <n> (50)  --warmup <s> (3)
 *   --revocations <n> (1000; 0: none) cross-instance revocation latency on the Tessera cookie stacks
 *   --memory-sessions <n> (5000; 0: none) heap kept per distinct session served, on the same stacks
 *   --stacks <id,id…> (all)  --postgres  --profile <id,id…> (node --cpu-prof into bench/results/profiles)
 *   --json <path> (bench/results/latest.json)
 *   --dist  servers import the built library (packages/auth/dist, `npm run build -w tessera-auth` first) instead
 *           of its sources: what an installed package runs, and CPU profiles with real line numbers
 * Smoke run: `npm run bench -- --duration 3 --rounds 1`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { findPostgresBinaries, startPostgresServer, type PostgresServer } from '../test/support/postgres-harness.js';
import { startRedisServer, type RedisServer } from '../test/support/redis-harness.js';
import { findExecutable, pinProcess, startStack, type StackProcess } from './processes.js';
import { commandDelta, parseCommandStats } from './redis-stats.js';
import { formatCommandBreakdown, formatTable, summarize, type Round } from './report.js';
import {
  measureMemoryPerSession,
  measureRevocationLatency,
  type RevocationLatency,
  type SessionMemory,
} from './revocation.js';
import { STACKS, stackById, type StackInfo } from './stacks.js';
import { ensureWrk, runWrk } from './wrk.js';

const SERVER_CORE = '0';
/** The stacks whose revocation latency is measured: a second instance revokes, the measured one must refuse. */
const REVOCATION_STACKS = new Set(['fastify-tessera', 'fastify-tessera-pg']);
const LOAD_CORE = '1';
const here = dirname(fileURLToPath(import.meta.url));

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    warmup: { type: 'string', default: '3' },
    revocations: { type: 'string', default: '1000' },
    'memory-sessions': { type: 'string', default: '5000' },
    stacks: { type: 'string' },
    postgres: { type: 'boolean', default: false },
    dist: { type: 'boolean', default: false },
    profile: { type: 'string' },
    json: { type: 'string', default: join(here, 'results', 'latest.json') },
  },
});

function count(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer ≥ ${min}, got "${text}"`);
  return value;
}
const duration = count('duration', flags.duration, 1);
const roundCount = count('rounds', flags.rounds, 1);
const connections = count('connections', flags.connections, 1);
const warmup = count('warmup', flags.warmup, 0);
const revocations = count('revocations', flags.revocations, 0);
const memorySessions = count('memory-sessions', flags['memory-sessions'], 0);
const log = (line: string) => console.error(line);
const loads = (averages: number[]): string => averages.map((n) => n.toFixed(2)).join(' ');

const withPostgres = flags.postgres || process.env.BENCH_POSTGRES_URL !== undefined;
const chosen: StackInfo[] =
  flags.stacks === undefined
    ? STACKS.filter((stack) => withPostgres || stack.store !== 'postgres')
    : flags.stacks.split(',').map((id) => stackById(id.trim()));
const profiled = new Set(
  (flags.profile ?? '')
    .split(',')
    .filter((id) => id !== '')
    .map((id) => stackById(id).id),
);

const pinned = findExecutable('taskset') !== null;
if (!pinned) log('taskset not found (util-linux): nothing is pinned, and the numbers share both cores.');
const core = (wanted: string): string | null => (pinned ? wanted : null);

const cleanups: (() => Promise<void>)[] = [];
const cleanup = async () => {
  for (const step of cleanups.splice(0).reverse()) await step().catch((error: unknown) => log(String(error)));
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  if (flags.dist && !existsSync(join(here, '..', 'packages', 'auth', 'dist', 'index.js'))) {
    throw new Error('--dist: packages/auth/dist is missing; run `npm run build -w tessera-auth` first');
  }
  ensureWrk(log);
  if (pinned) pinProcess(process.pid, LOAD_CORE);

  // Redis: the caller's, or one started here and pinned beside the load generator.
  let redisUrl = process.env.REDIS_URL;
  let redisStarted: RedisServer | null = null;
  if (redisUrl === undefined || redisUrl === '') {
    redisStarted = await startRedisServer();
    cleanups.push(() => redisStarted!.stop());
    redisUrl = redisStarted.url;
  }
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  cleanups.push(async () => void redis.disconnect());
  const redisInfo = await redis.info('server');
  const redisVersion = /redis_version:(\S+)/.exec(redisInfo)?.[1] ?? 'unknown';
  if (redisStarted !== null && pinned) pinProcess(Number(/process_id:(\d+)/.exec(redisInfo)?.[1]), LOAD_CORE);
  log(`Redis ${redisVersion} at ${redisUrl}${redisStarted === null ? ' (REDIS_URL, not pinned)' : ', started here'}`);

  let postgresUrl = process.env.BENCH_POSTGRES_URL;
  if (chosen.some((stack) => stack.store === 'postgres') && postgresUrl === undefined) {
    const binaries = findPostgresBinaries();
    if (binaries === null) throw new Error('--postgres: no initdb/pg_ctl found (apt-get install postgresql)');
    const server: PostgresServer = await startPostgresServer(binaries);
    cleanups.push(() => server.destroy());
    postgresUrl = server.url;
    if (pinned) {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      const dataDir = (await client.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
      await client.end();
      const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      pinProcess(postmaster, LOAD_CORE, true);
    }
    log(`PostgreSQL at ${postgresUrl}, started here`);
  }

  const env: Record<string, string> = { BENCH_REDIS_URL: redisUrl, NODE_ENV: 'production' };
  if (postgresUrl !== undefined) env.BENCH_POSTGRES_URL = postgresUrl;
  const profileDir = join(here, 'results', 'profiles');
  if (profiled.size > 0) mkdirSync(profileDir, { recursive: true });

  const servers = new Map<string, StackProcess>();
  const errors = new Map<string, string>();
  cleanups.push(async () => {
    await Promise.all([...servers.values()].map((server) => server.stop()));
  });
  for (const stack of chosen) {
    try {
      const nodeArgs = [
        ...(profiled.has(stack.id) ? ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, stack.id)}`] : []),
        // Memory per session is read after full collections.
        ...(REVOCATION_STACKS.has(stack.id) ? ['--expose-gc'] : []),
      ];
      const server = await startStack(stack.id, { core: core(SERVER_CORE), env, nodeArgs, dist: flags.dist });
      servers.set(stack.id, server);
      await checkAnswers(stack, server);
    } catch (error) {
      errors.set(stack.id, error instanceof Error ? error.message.split('\n')[0]! : String(error));
      log(`${stack.id}: ${errors.get(stack.id)}`);
    }
  }

  const url = (server: StackProcess) => `http://127.0.0.1:${server.port}/me`;
  const live = () => chosen.filter((stack) => servers.has(stack.id) && !errors.has(stack.id));
  const load = { connections, core: core(LOAD_CORE) };
  const loadBefore = loadavg();
  log(
    `node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, load ${loadBefore.map((n) => n.toFixed(2)).join(' ')}; ` +
      `servers on core ${SERVER_CORE}, wrk -t1 -c${connections} on core ${LOAD_CORE}; ` +
      `${warmup} s warm-up, ${roundCount} × ${duration} s rounds, ${live().length} stacks`,
  );
  if (warmup > 0) {
    for (const stack of live()) {
      const server = servers.get(stack.id)!;
      await runWrk({ ...load, url: url(server), headers: server.headers, seconds: warmup });
    }
  }

  const rounds = new Map<string, Round[]>();
  for (let round = 1; round <= roundCount; round++) {
    for (const stack of live()) {
      const server = servers.get(stack.id)!;
      const statsBefore = parseCommandStats(await redis.info('commandstats'));
      const before = await server.stats();
      const result = await runWrk({ ...load, url: url(server), headers: server.headers, seconds: duration });
      // The requests wrk left in flight finish on the server: let them, then count.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const after = await server.stats();
      const statsAfter = parseCommandStats(await redis.info('commandstats'));
      if (result.non2xx > 0 || result.socketErrors > 0) {
        errors.set(
          stack.id,
          `round ${round}: ${result.non2xx} non-2xx responses, ${result.socketErrors} socket errors`,
        );
      }
      const measured: Round = {
        round,
        ...result,
        redisCommands: commandDelta(statsBefore, statsAfter),
        served: after.requests - before.requests,
        sent: before.sent === null || after.sent === null ? null : after.sent - before.sent,
        cpuMicros: after.cpuMicros - before.cpuMicros,
      };
      rounds.set(stack.id, [...(rounds.get(stack.id) ?? []), measured]);
      log(
        `round ${round}/${roundCount} ${stack.id.padEnd(22)} ${Math.round(result.requestsPerSecond).toString().padStart(7)} req/s`,
      );
    }
  }
  const revocationResults: RevocationLatency[] = [];
  const memoryResults: SessionMemory[] = [];
  for (const stack of live().filter((candidate) => REVOCATION_STACKS.has(candidate.id))) {
    if (revocations === 0) break;
    const revoker = await startStack(stack.id, { core: core(SERVER_CORE), env, nodeArgs: [], dist: flags.dist });
    try {
      const result = await measureRevocationLatency(stack.id, revoker, servers.get(stack.id)!, revocations);
      revocationResults.push(result);
      if (result.notSeen > 0) errors.set(stack.id, `${result.notSeen} revocations not seen by the other instance`);
      if (memorySessions > 0) {
        memoryResults.push(await measureMemoryPerSession(stack.id, revoker, servers.get(stack.id)!, memorySessions));
      }
    } finally {
      await revoker.stop();
    }
  }
  const loadAfter = loadavg();

  const summaries = summarize(chosen, rounds, errors);
  console.log(
    `\nAuthenticated GET /me, ${roundCount} interleaved round(s) of ${duration} s, wrk -t1 -c${connections}` +
      `${pinned ? ` (servers on core ${SERVER_CORE}, wrk on core ${LOAD_CORE})` : ' (unpinned)'}; ` +
      `Redis ${redisVersion}; load average (1, 5, 15 min) ${loads(loadBefore)} at the start, ${loads(loadAfter)} at the end ` +
      `on ${cpus().length} cores: above the core count, other work shared the machine and the numbers are noisy\n`,
  );
  console.log(formatTable(summaries));
  console.log(
    '\n÷ bare: median over the median of the same framework bare, same run. Redis cmds/req: INFO commandstats ' +
      'delta over the requests the server received (commands run by scripts included). sent/req: round trips the ' +
      'server process made to its store (writes to the Redis connection, one per command or per pipelined batch; pg ' +
      'queries; – where the client is not counted). ratio min–max: each round over its bare round. ' +
      "CPU µs/req: the server process's user + system time per request served (steadier than req/s on a busy machine).",
  );
  for (const result of revocationResults) {
    const latency = result.latencyMs;
    console.log(
      `\nRevocation seen by another instance (${result.stack}, ${result.revocations} revocations, from the revoking ` +
        `call's start to the first 401): ` +
        (latency === null
          ? 'never'
          : `p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms, max ${latency.max.toFixed(2)} ms`) +
        (result.notSeen > 0 ? `; ${result.notSeen} NOT SEEN within 10 s` : ''),
    );
  }
  for (const result of memoryResults) {
    console.log(
      `Heap kept per distinct session served (${result.stack}, ${result.sessions} sessions, after full GCs): ` +
        `${Math.round(result.bytesPerSession)} bytes`,
    );
  }
  const breakdown = formatCommandBreakdown(summaries);
  if (breakdown !== '') console.log(`\nRedis commands per request, by command:\n${breakdown}`);

  mkdirSync(dirname(flags.json), { recursive: true });
  writeFileSync(
    flags.json,
    `${JSON.stringify(
      {
        date: new Date().toISOString(),
        node: process.version,
        cpu: { model: cpus()[0]?.model ?? null, count: cpus().length },
        loadAverage: { before: loadBefore, after: loadAfter },
        options: {
          dist: flags.dist,
          revocations,
          memorySessions,
          duration,
          rounds: roundCount,
          connections,
          warmup,
          pinned,
          serverCore: SERVER_CORE,
          loadCore: LOAD_CORE,
        },
        redis: { version: redisVersion, startedByBench: redisStarted !== null },
        postgres: postgresUrl === undefined ? null : { startedByBench: process.env.BENCH_POSTGRES_URL === undefined },
        stacks: summaries,
        revocation: revocationResults,
        memoryPerSession: memoryResults,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${flags.json}`);
  if (profiled.size > 0) {
    console.log(`CPU profiles, one folder per stack (tsx's loader thread writes one too): ${profileDir}`);
    console.log('  top self time: tsx bench/profile-top.ts bench/results/profiles/<stack>');
  }
  await cleanup();
  if (errors.size > 0) process.exitCode = 1;
} catch (error) {
  await cleanup();
  throw error;
}

/** The stack must answer its credential with 200 and the user, and no credential as a bare or guarded route does. */
async function checkAnswers(stack: StackInfo, server: StackProcess): Promise<void> {
  const target = `http://127.0.0.1:${server.port}/me`;
  const authed = await fetch(target, { headers: server.headers });
  const body = (await authed.json().catch(() => null)) as { userId?: unknown } | null;
  if (authed.status !== 200 || body?.userId !== 'user-bench') {
    throw new Error(`GET /me with its credential answered ${authed.status} ${JSON.stringify(body)}`);
  }
  const anonymous = await fetch(target);
  await anonymous.arrayBuffer();
  if (anonymous.status !== stack.anonymousStatus) {
    throw new Error(`GET /me without a credential answered ${anonymous.status}, not ${stack.anonymousStatus}`);
  }
}
