/**
 * Cross-instance revocation latency: one instance of a stack revokes a
 * session, another instance (same store) is polled with that session's cookie
 * until it answers 401. The latency is from the moment the revoking call
 * started to the first 401 seen (both read CLOCK_MONOTONIC through
 * `process.hrtime`, one clock for every process of the machine), so it
 * includes the revoking call and one poll's round trip: an upper bound.
 * The measured instance serves a hot session from its near cache (Redis,
 * PostgreSQL), so this is how long the store's invalidation message takes to
 * reach it: PUBLISH or NOTIFY inside the revoking call, then one poll.
 */
import type { StackProcess } from './processes.js';

export interface RevocationLatency {
  stack: string;
  revocations: number;
  /** Revocations the other instance still honoured after the bound (10 s): each one is a failure. */
  notSeen: number;
  latencyMs: { p50: number; p99: number; max: number } | null;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('percentile of nothing');
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const SEEN_WITHIN_MS = 10_000;

export async function measureRevocationLatency(
  stack: string,
  revoker: StackProcess,
  server: StackProcess,
  count: number,
): Promise<RevocationLatency> {
  const url = `http://127.0.0.1:${server.port}/me`;
  const status = async (cookie: string) => {
    const response = await fetch(url, { headers: { cookie } });
    await response.arrayBuffer();
    return response.status;
  };
  const latencies: number[] = [];
  let notSeen = 0;
  for (let i = 0; i < count; i++) {
    const { id, cookie } = await revoker.openSession();
    // Served once (twice: a cache fills on the first), so the other instance knows the session before it goes.
    for (let read = 0; read < 2; read++) {
      const answered = await status(cookie);
      if (answered !== 200) throw new Error(`a fresh session answered ${answered} on the other instance`);
    }
    const revoked = revoker.revokeSession(id);
    const deadline = process.hrtime.bigint() + BigInt(SEEN_WITHIN_MS) * 1_000_000n;
    let seenAt: bigint | null = null;
    while (seenAt === null && process.hrtime.bigint() < deadline) {
      if ((await status(cookie)) === 401) seenAt = process.hrtime.bigint();
    }
    const { startedAt } = await revoked;
    if (seenAt === null) notSeen++;
    else latencies.push(Number(seenAt - startedAt) / 1e6);
  }
  latencies.sort((a, b) => a - b);
  return {
    stack,
    revocations: count,
    notSeen,
    latencyMs:
      latencies.length === 0
        ? null
        : { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1)! },
  };
}

export interface SessionMemory {
  stack: string;
  sessions: number;
  /**
   * Heap kept per distinct session served, bytes: what a near cache holds per entry. Without one, about
   * zero (and noise, which can be negative).
   */
  bytesPerSession: number;
}

/**
 * Opens `count` sessions on the revoking instance, has the measured instance serve each once (16 at a
 * time), and divides its heap growth (after full collections) by `count`.
 */
export async function measureMemoryPerSession(
  stack: string,
  opener: StackProcess,
  server: StackProcess,
  count: number,
): Promise<SessionMemory> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) cookies.push((await opener.openSession()).cookie);
  const url = `http://127.0.0.1:${server.port}/me`;
  const before = await server.heapUsed();
  let next = 0;
  const worker = async () => {
    while (next < cookies.length) {
      const response = await fetch(url, { headers: { cookie: cookies[next++]! } });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`a fresh session answered ${response.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const after = await server.heapUsed();
  return { stack, sessions: count, bytesPerSession: (after - before) / count };
}
