import { execFile, execFileSync } from 'node:child_process';
import { accessSync, chownSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where the PostgreSQL server programs live. */
export interface PostgresBinaries {
  initdb: string;
  pgCtl: string;
}

/** A throwaway PostgreSQL server in a temp dir. */
export interface PostgresServer {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` (trust auth, loopback only). */
  url: string;
  port: number;
  /** Stops the server, keeping its data; `start` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and removes its directory. Idempotent. */
  destroy(): Promise<void>;
}

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/**
 * Finds `initdb` and `pg_ctl`: on PATH first, then under
 * /usr/lib/postgresql/<version>/bin (where Debian's `postgresql` package puts
 * them, off PATH), newest version first. `null` when there are none.
 */
export function findPostgresBinaries(): PostgresBinaries | null {
  const candidates = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => `/usr/lib/postgresql/${version}/bin`));
  } catch {
    // No Debian layout: PATH is all there is.
  }
  for (const dir of candidates) {
    const initdb = join(dir, 'initdb');
    const pgCtl = join(dir, 'pg_ctl');
    if (isExecutable(initdb) && isExecutable(pgCtl)) return { initdb, pgCtl };
  }
  return null;
}

/** A loopback port that was free a moment ago: bind port 0 and read what the kernel chose. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the bound port'));
      });
    });
  });
}

/**
 * How to run a server program: initdb refuses to run as root, so as root the
 * programs run as the `postgres` user (via runuser) on a directory it owns.
 */
function commandRunner(dir: string): (program: string, args: string[]) => [string, string[]] {
  if (userInfo().uid !== 0) return (program, args) => [program, args];
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  } catch (error) {
    throw new Error('running as root needs a "postgres" user to run initdb as', { cause: error });
  }
  chownSync(dir, uid, gid);
  return (program, args) => ['runuser', ['-u', 'postgres', '--', program, ...args]];
}

/**
 * Starts a fresh PostgreSQL server: initdb into a temp dir, then pg_ctl on a
 * free loopback port, with its unix socket inside the dir and durability off
 * for speed. Cleans up after itself when starting fails.
 */
export async function startPostgresServer(binaries: PostgresBinaries): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  let port = 0;
  let destroyed = false;
  const command = commandRunner(dir);
  const exec = async (program: string, args: string[]): Promise<void> => {
    const [file, argv] = command(program, args);
    await run(file, argv, { timeout: 60_000 });
  };
  const serverLog = (): string => {
    try {
      return readFileSync(logFile, 'utf8').slice(-2000);
    } catch {
      return '(no server log)';
    }
  };
  const start = async (): Promise<void> => {
    const settings = [
      `-p ${port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${dir}`,
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    await exec(binaries.pgCtl, ['-D', dataDir, '-l', logFile, '-o', settings, '-w', '-t', '30', 'start']);
  };
  const stop = async (): Promise<void> => {
    await exec(binaries.pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  };
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    process.off('exit', destroySync);
    await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  // Last resort when the runner exits without its teardown (an interrupted run).
  function destroySync(): void {
    if (destroyed) return;
    destroyed = true;
    try {
      const [file, argv] = command(binaries.pgCtl, ['-D', dataDir, '-m', 'immediate', 'stop']);
      execFileSync(file, argv, { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // Already stopped.
    }
    rmSync(dir, { recursive: true, force: true });
  }
  process.on('exit', destroySync);

  try {
    await exec(binaries.initdb, [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    // Another process may take the port between the probe and the bind: try a few.
    for (let attempt = 1; ; attempt++) {
      port = await findFreePort();
      try {
        await start();
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  } catch (error) {
    const log = serverLog();
    await destroy();
    throw new Error(`could not start PostgreSQL: ${String(error)}\n${log}`, { cause: error });
  }

  return { url: `postgresql://postgres@127.0.0.1:${port}/postgres`, port, stop, start, destroy };
}
