import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The built `tessera` binary (`dist/`, built once per run by `build-global-setup.ts`). */
export const cliBinary = new URL('../../packages/server/dist/cli/index.js', import.meta.url).pathname;
const node = process.execPath;

/** How a run of the `tessera` binary ended. */
export interface CLIResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCLI}. */
export interface RunOptions {
  /** Working directory (temp, so `./data` never lands in the repository). */
  cwd: string;
  /** The whole environment of the child, besides PATH and HOME. */
  env?: Record<string, string>;
  /** Piped to stdin; without it stdin is /dev/null. */
  input?: string;
  /** The child's umask (octal text, e.g. `"000"`); inherited when absent. */
  umask?: string;
}

function spawnCLI(args: string[], options: RunOptions): ChildProcess {
  const command: [string, string[]] =
    options.umask === undefined
      ? [node, [cliBinary, ...args]]
      : ['/bin/sh', ['-c', `umask ${options.umask} && exec "$0" "$@"`, node, cliBinary, ...args]];
  return spawn(command[0], command[1], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
}

/** Runs the built `tessera <args>`, as an operator would, and waits for it to exit. */
export function runCLI(args: string[], options: RunOptions): Promise<CLIResult> {
  const child = spawnCLI(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  if (options.input !== undefined) child.stdin?.end(options.input);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `JSON.parse` of a run's stdout, failing with the whole output when it is not JSON. */
export function parseJSONOutput<T>(result: CLIResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${result.code}): ${JSON.stringify(result)}`);
  }
}

/** A `tessera serve` child process and its URL. */
export interface ServedCLI {
  url: string;
  /** Everything it has written so far, stdout and stderr. */
  output(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `tessera serve` on a free port and waits for its "listening" line. */
export async function serveCLI(options: RunOptions): Promise<ServedCLI> {
  const child = spawnCLI(['serve'], { ...options, env: { PORT: '0', ...options.env } });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tessera serve did not start: ${output}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Tessera listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[1] as string);
      }
    });
    void exited.then((code) => reject(new Error(`tessera serve exited with ${code}: ${output}`)));
  });
  return {
    url,
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A throwaway database on the run's PostgreSQL, so the suite's keys and sessions are its own. */
export async function createPostgresDatabase(serverURL: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `tessera_cli_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverURL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverURL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: serverURL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Whether `script` (util-linux) is there to give the CLI a terminal. */
export const canRunInTerminal = (() => {
  try {
    return execFileSync('script', ['--version'], { stdio: 'pipe' }).toString().includes('util-linux');
  } catch {
    return false;
  }
})();

/**
 * Runs `tessera <args>` on a pseudo-terminal (through `script`), answering
 * each prompt as it appears. stdout and stderr arrive merged, as on a screen.
 */
export async function runCLIInTerminal(
  args: string[],
  options: RunOptions,
  answers: { prompt: string; answer: string }[],
): Promise<{ code: number | null; screen: string }> {
  const quote = (value: string): string => `'${value.replaceAll("'", "'\\''")}'`;
  const child = spawn('script', ['-qec', [node, cliBinary, ...args].map(quote).join(' '), '/dev/null'], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let seen = 0;
  for (const { prompt, answer } of answers) {
    const deadline = Date.now() + 15_000;
    while (screen.indexOf(prompt, seen) === -1) {
      if (Date.now() > deadline) throw new Error(`no prompt "${prompt}": ${JSON.stringify(screen)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    seen = screen.indexOf(prompt, seen) + prompt.length;
    child.stdin.write(`${answer}\r`);
  }
  const code = await exited;
  return { code, screen };
}

/** Runs tasks at most `limit` at a time (each CLI run is a whole Node process), results in order. */
export async function runLimited<T>(tasks: (() => Promise<T>)[], limit = 2): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
