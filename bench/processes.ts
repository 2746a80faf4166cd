/** Child processes of the bench: the stack servers (pinned to a core), and pinning others after the fact. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/** Pins every thread of a running process (and, with `children`, of its direct children) to `core`. */
export function pinProcess(pid: number, core: string, children = false): void {
  const pids = [pid];
  if (children) {
    const listed = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
    pids.push(
      ...listed
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map(Number),
    );
  }
  for (const target of pids) execFileSync('taskset', ['-a', '-p', '-c', core, String(target)], { stdio: 'ignore' });
}

export interface ServerStats {
  requests: number;
  sent: number | null;
  /** CPU time (user + system) the server process used, microseconds. */
  cpuMicros: number;
}

/** A stack server the bench started. */
export interface StackProcess {
  pid: number;
  port: number;
  headers: Record<string, string>;
  /**
   * Requests the server received so far, and the store calls (Redis commands, PostgreSQL queries) it
   * sent; `sent` is `null` when its client is not counted.
   */
  stats(): Promise<ServerStats>;
  /** The heap in use after a full collection, bytes (the server must run with `--expose-gc`). */
  heapUsed(): Promise<number>;
  /** Tessera cookie stacks: opens a session in the stack's store and returns its id and `Cookie` value. */
  openSession(): Promise<{ id: string; cookie: string }>;
  /** Tessera cookie stacks: revokes a session; when the call started and returned (`process.hrtime.bigint()`). */
  revokeSession(id: string): Promise<{ startedAt: bigint; finishedAt: bigint }>;
  /** SIGTERM, so the server closes and exits (and `--cpu-prof` writes); SIGKILL after 15 s. */
  stop(): Promise<void>;
}

const SERVE = fileURLToPath(new URL('./serve.ts', import.meta.url));

/**
 * Starts `serve.ts <id>` under the same Node flags as this process (tsx, the
 * `tessera-source` condition unless `dist`), pinned with `taskset -c <core>` unless `core`
 * is null, and resolves once it printed its port.
 */
export async function startStack(
  id: string,
  options: { core: string | null; env: Record<string, string>; nodeArgs: string[]; dist?: boolean },
): Promise<StackProcess> {
  // Without the `tessera-source` condition, `tessera-auth` resolves to its built dist/ (tsx still runs serve.ts).
  const inherited =
    options.dist === true ? process.execArgv.filter((arg) => !arg.includes('tessera-source')) : process.execArgv;
  const node = [...inherited, ...options.nodeArgs, SERVE, id];
  const [file, args] =
    options.core === null ? [process.execPath, node] : ['taskset', ['-c', options.core, process.execPath, ...node]];
  const child: ChildProcess = spawn(file, args, {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    env: { ...process.env, ...options.env },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`stack ${id} exited (${String(code ?? signal)}) before it was ready:\n${stderr}`);
  });
  exited.catch(() => undefined);
  type Message = { type: string } & Record<string, unknown>;
  const next = (type: string) =>
    new Promise<Message>((resolve) => {
      const listen = (message: Message) => {
        if (message.type !== type) return;
        child.off('message', listen);
        resolve(message);
      };
      child.on('message', listen);
    });
  const ready = next('ready');
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`stack ${id} did not start within 120 s:\n${stderr}`)), 120_000).unref(),
  );
  let started: Message;
  try {
    started = await Promise.race([ready, exited, timeout]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const ask = async (message: { type: string; id?: string }): Promise<Message> => {
    const answer = next(message.type);
    child.send(message);
    const reply = await answer;
    if (typeof reply.error === 'string') throw new Error(`stack ${id}: ${reply.error}`);
    return reply;
  };
  return {
    pid: child.pid!,
    port: started.port as number,
    headers: started.headers as Record<string, string>,
    stats: async () => (await ask({ type: 'stats' })) as unknown as ServerStats,
    heapUsed: async () => (await ask({ type: 'memory' })).heapUsed as number,
    openSession: async () => (await ask({ type: 'session.open' })) as unknown as { id: string; cookie: string },
    async revokeSession(sessionId) {
      const reply = await ask({ type: 'session.revoke', id: sessionId });
      return { startedAt: BigInt(reply.startedAt as string), finishedAt: BigInt(reply.finishedAt as string) };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
