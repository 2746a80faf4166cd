import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** A redis-server this harness started. */
export interface RedisServer {
  host: string;
  port: number;
  /** Its working directory (AOF, cluster config): kept across restarts, removed by `stop`. */
  dir: string;
  url: string;
  /** Kills the process (SIGKILL by default: a crash, not a shutdown) and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Suspends the process (SIGSTOP): it keeps its socket open but answers nothing, like a hung server. */
  freeze(): void;
  /** Resumes a frozen process (SIGCONT). */
  thaw(): void;
  /** Starts it again on the same port and directory, with the same arguments. */
  restart(): Promise<void>;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

/** A 3-master Redis Cluster this harness started. */
export interface RedisCluster {
  nodes: { host: string; port: number }[];
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
let exitHookInstalled = false;

// If the test runner dies without running teardown, still leave no servers or temp dirs behind.
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** The `redis-server` and `redis-cli` binaries on PATH, or `null` when redis-server is missing. */
export function findRedisBinaries(): { server: string; cli: string | null } | null {
  const server = findExecutable('redis-server');
  return server === null ? null : { server, cli: findExecutable('redis-cli') };
}

/** A loopback port nothing listens on, found by binding port 0. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

/** Sends one inline command over a fresh socket and resolves with the raw reply, or rejects. */
function ask(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let reply = '';
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error('timeout')));
    socket.once('error', fail);
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.startsWith('$')) {
        const header = reply.indexOf('\r\n');
        const length = Number(reply.slice(1, header));
        if (reply.length < header + 2 + length + 2) return;
      } else if (!reply.endsWith('\r\n')) return;
      socket.end();
      resolve(reply);
    });
    socket.connect(port, HOST, () => socket.write(`${command}\r\n`));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts a throwaway redis-server on a free loopback port in a temp directory,
 * without persistence unless `args` asks for it, and resolves once it answers
 * PING.
 */
export async function startRedisServer(
  options: { args?: string[]; port?: number; binary?: string } = {},
): Promise<RedisServer> {
  const binary = options.binary ?? findRedisBinaries()?.server;
  if (binary === undefined) throw new Error('redis-server not found on PATH');
  installExitHook();
  const port = options.port ?? (await findFreePort());
  const dir = mkdtempSync(join(tmpdir(), 'tessera-redis-'));
  dirs.add(dir);
  const args = [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--protected-mode',
    'yes',
    ...(options.args ?? []),
  ];
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    const started = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    live.add(started);
    let stderr = '';
    started.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const exited = new Promise<never>((_, reject) =>
      started.once('exit', (code) => reject(new Error(`redis-server exited (${String(code)}): ${stderr}`))),
    );
    exited.catch(() => undefined);
    await Promise.race([
      waitFor(`redis-server on port ${port}`, async () => (await ask(port, 'PING')) === '+PONG\r\n'),
      exited,
    ]);
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const current: ChildProcess | null = child;
    if (current === null) return;
    child = null;
    if (current.exitCode === null && current.signalCode === null) {
      const exited = new Promise((resolve) => current.once('exit', resolve));
      current.kill(signal);
      await exited;
    }
    live.delete(current);
  };

  await start();
  return {
    host: HOST,
    port,
    dir,
    url: `redis://${HOST}:${port}`,
    kill,
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
    restart: start,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}

/**
 * Starts three cluster-enabled redis-servers and joins them into a cluster of
 * three masters with no replicas; resolves once every node reports
 * `cluster_state:ok`.
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const binaries = findRedisBinaries();
  if (binaries === null) throw new Error('redis-server not found on PATH');
  if (binaries.cli === null) throw new Error('redis-cli not found on PATH (needed to create the cluster)');
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      servers.push(
        await startRedisServer({
          binary: binaries.server,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
        }),
      );
    }
    await run(binaries.cli, [
      '--cluster',
      'create',
      ...servers.map((server) => `${server.host}:${server.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    for (const server of servers) {
      await waitFor(`cluster_state:ok on port ${server.port}`, async () =>
        (await ask(server.port, 'CLUSTER INFO')).includes('cluster_state:ok'),
      );
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  return {
    nodes: servers.map((server) => ({ host: server.host, port: server.port })),
    async stop() {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}

/** Parses `REDIS_CLUSTER_NODES` ("host:port,host:port"). */
export function parseClusterNodes(text: string): { host: string; port: number }[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const at = entry.lastIndexOf(':');
      const port = Number(entry.slice(at + 1));
      if (at <= 0 || !Number.isInteger(port)) throw new Error(`REDIS_CLUSTER_NODES: "${entry}" is not host:port`);
      return { host: entry.slice(0, at), port };
    });
}
