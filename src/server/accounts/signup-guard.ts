import {
  createRequestLimit,
  type RateLimiterFactory,
  type RateLimitVerdict,
} from '../../core/rate-limit/rate-limit.js';
import { hmacBase64url } from '../../internal/crypto.js';

/** A bounded queue of async work: at most `concurrency` tasks run, at most `maxWaiting` wait. */
export interface WorkQueue {
  /** Runs `task` when a slot frees up; `null` at once, running nothing, when the queue is full. */
  run<T>(task: () => Promise<T>): Promise<T> | null;
  /** Whether {@link WorkQueue.run} would refuse a task right now. */
  full(): boolean;
}

/** Creates a {@link WorkQueue}. */
export function createWorkQueue(options: { concurrency: number; maxWaiting: number }): WorkQueue {
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = (): void => {
    const next = waiting.shift();
    // A waiting task takes the slot over; otherwise the slot frees.
    if (next === undefined) running--;
    else next();
  };
  const settle = async <T>(task: () => Promise<T>): Promise<T> => {
    try {
      return await task();
    } finally {
      release();
    }
  };
  return {
    run(task) {
      if (running < options.concurrency) {
        running++;
        return settle(task);
      }
      if (waiting.length >= options.maxWaiting) return null;
      return new Promise<void>((resolve) => waiting.push(resolve)).then(() => settle(task));
    },
    full: () => running >= options.concurrency && waiting.length >= options.maxWaiting,
  };
}

/** Options of {@link createSignupGuard}. */
export interface SignupGuardOptions {
  limiters: RateLimiterFactory;
  /** Hashes emails and IPs into counter keys, so a dump of the counters names no one. */
  keySecret: string | Uint8Array;
  /** Sign-up attempts per client IP per hour. */
  maxPerIP: number;
  /** Sign-up attempts per email address per hour, whether or not it is taken. */
  maxPerEmail: number;
}

/** Sign-up's own budgets, separate from the login throttle's: a client blocked for one is not blocked for the other. */
export interface SignupGuard {
  /** Spends one attempt of the IP's hourly budget (atomic on every backend). */
  consumeIP(ip: string | null): Promise<RateLimitVerdict>;
  /** Spends one attempt of the email's hourly budget (atomic on every backend). */
  consumeEmail(email: string): Promise<RateLimitVerdict>;
  /**
   * Sign-up's password hashing, in its own bounded queue so a flood of sign-ups
   * cannot take the hashing capacity logins need. `null` when the queue is full.
   */
  hash(run: () => Promise<string>): Promise<string> | null;
  /** Whether {@link SignupGuard.hash} would refuse right now: a cheap early 503, before the strength check's CPU. */
  busy(): boolean;
}

/** Hashes running at once for sign-ups: one, leaving the rest of libuv's pool (4 threads by default) to logins. */
const HASH_CONCURRENCY = 1;
/** Sign-ups waiting for a hash: about a second of work, past which the client is told to come back. */
const HASH_MAX_WAITING = 16;
const HOUR_SECONDS = 3600;

/** Builds the sign-up throttle (per IP and per email, charged before any hashing) and its hash queue. */
export function createSignupGuard(options: SignupGuardOptions): SignupGuard {
  const { limiters, keySecret } = options;
  const perIP = createRequestLimit({
    limiters,
    name: 'signup-ip',
    points: options.maxPerIP,
    durationSeconds: HOUR_SECONDS,
  });
  const perEmail = createRequestLimit({
    limiters,
    name: 'signup-email',
    points: options.maxPerEmail,
    durationSeconds: HOUR_SECONDS,
  });
  const key = (kind: string, value: string): string => hmacBase64url(keySecret, `${kind}:${value}`).slice(0, 32);
  const queue = createWorkQueue({ concurrency: HASH_CONCURRENCY, maxWaiting: HASH_MAX_WAITING });
  return {
    consumeIP: (ip) => perIP.consume(key('signup-ip', ip ?? 'unknown')),
    consumeEmail: (email) => perEmail.consume(key('signup-email', email)),
    hash: (run) => queue.run(run),
    busy: () => queue.full(),
  };
}
