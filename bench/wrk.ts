/**
 * The load generator: `wrk` (one thread, keep-alive connections), pinned to a
 * core of its own. Installed with apt-get when missing, and the bench says so.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { findExecutable } from './processes.js';

const run = promisify(execFile);

/** One wrk run, as read from its output. */
export interface WrkResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  /** Responses that were not 2xx or 3xx: any is a broken stack, never a data point. */
  non2xx: number;
  /** connect + read + write + timeout errors. */
  socketErrors: number;
  latencyMs: { p50: number; p75: number; p90: number; p99: number };
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function latency(text: string, percentile: string): number {
  const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
  if (match === null) throw new Error(`wrk output has no ${percentile}% latency`);
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

/** Reads `wrk --latency` output; throws when it is not wrk's summary. */
export function parseWrkOutput(text: string): WrkResult {
  const total = /^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),/m.exec(text);
  const rate = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (total === null || rate === null) throw new Error(`not wrk output:\n${text}`);
  const non2xx = /^\s*Non-2xx or 3xx responses: (\d+)/m.exec(text);
  const socket = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/m.exec(text);
  return {
    requests: Number(total[1]),
    seconds: (Number(total[2]) * UNIT_MS[total[3]!]!) / 1000,
    requestsPerSecond: Number(rate[1]),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: socket === null ? 0 : socket.slice(1, 5).reduce((sum, count) => sum + Number(count), 0),
    latencyMs: {
      p50: latency(text, '50'),
      p75: latency(text, '75'),
      p90: latency(text, '90'),
      p99: latency(text, '99'),
    },
  };
}

export interface WrkOptions {
  url: string;
  headers: Record<string, string>;
  seconds: number;
  connections: number;
  /** `taskset -c <core>` prefix, or `null` to run unpinned. */
  core: string | null;
}

/** Runs wrk once (one thread) and parses what it printed. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '5s',
    '--latency',
    ...Object.entries(options.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]),
    options.url,
  ];
  const [file, argv] = options.core === null ? ['wrk', args] : ['taskset', ['-c', options.core, 'wrk', ...args]];
  const { stdout } = await run(file, argv, { timeout: (options.seconds + 30) * 1000, maxBuffer: 1 << 20 });
  return parseWrkOutput(stdout);
}

/**
 * Finds wrk, installing Debian's `wrk` package with apt-get when it is missing
 * (as root, else through `sudo -n`). Says what it does on stderr.
 */
export function ensureWrk(log: (line: string) => void): string {
  const found = findExecutable('wrk');
  if (found !== null) return found;
  log('wrk is not installed: installing it with apt-get (Debian package "wrk")…');
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  const apt = (...args: string[]) => {
    const [file, ...rest] = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
    execFileSync(file!, rest, { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
  };
  try {
    apt('install', '-y', '-q', '--no-install-recommends', 'wrk');
  } catch {
    // The package lists may be missing or stale: refresh them once and try again.
    apt('update', '-q');
    apt('install', '-y', '-q', '--no-install-recommends', 'wrk');
  }
  const installed = findExecutable('wrk');
  if (installed === null) throw new Error('apt-get install wrk finished but wrk is still not on PATH');
  log(`installed wrk at ${installed}`);
  return installed;
}
