import { createRequestLimit, type CounterStore, type RateLimitVerdict } from 'tessera-auth';
import { hmacBase64url } from '../crypto.js';

/** A place in a {@link WorkQueue}, held from {@link WorkQueue.reserve} until its task ends or it is released. */
export interface WorkSlot {
  /** Runs `task` once the slot's turn comes, then frees the slot. Once per slot. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Gives the place up without running anything (a no-op once `run` was called). */
  release(): void;
}

/** A bounded queue of async work: at most `concurrency` tasks run, at most `maxWaiting` wait. */
export interface WorkQueue {
  /** A place in the queue; `null` at once when `maxWaiting` places already wait. */
  reserve(): WorkSlot | null;
}

/** Creates a {@link WorkQueue}. */
export function createWorkQueue(options: { concurrency: number; maxWaiting: number }): WorkQueue {
  let running = 0;
  const waiting: (() => void)[] = [];
  /** A running slot ends: the first waiting one takes it over, or it frees. */
  const handOver = (): void => {
    const next = waiting.shift();
    if (next === undefined) running--;
    else next();
  };
  const slot = (turn: Promise<void>, grant?: () => void): WorkSlot => {
    let used = false;
    return {
      async run(task) {
        if (used) throw new Error('a work slot runs one task');
        used = true;
        await turn;
        try {
          return await task();
        } finally {
          handOver();
        }
      },
      release() {
        if (used) return;
        used = true;
        const index = grant === undefined ? -1 : waiting.indexOf(grant);
        // Still waiting: leave the line. Otherwise its turn has come (it holds a running place): pass it on.
        if (index !== -1) waiting.splice(index, 1);
        else handOver();
      },
    };
  };
  return {
    reserve() {
      if (running < options.concurrency) {
        running++;
        return slot(Promise.resolve());
      }
      if (waiting.length >= options.maxWaiting) return null;
      let grant: () => void = () => undefined;
      const turn = new Promise<void>((resolve) => {
        grant = resolve;
      });
      waiting.push(grant);
      return slot(turn, grant);
    },
  };
}

/** Options of {@link createSignupGuard}. */
export interface SignupGuardOptions {
  /** The counters' store: the one the sessions use, shared by every instance. */
  store: CounterStore;
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
  /** Gives back the attempt of an email whose password was refused before anything else happened. Never throws. */
  refundEmail(email: string): Promise<void>;
  /**
   * A place in sign-up's own hash queue, so a flood of sign-ups cannot take
   * the hashing capacity logins need; `null` when the queue is full.
   */
  reserveHash(): WorkSlot | null;
}

/** Hashes running at once for sign-ups: one, leaving the rest of libuv's pool (4 threads by default) to logins. */
const HASH_CONCURRENCY = 1;
/** Sign-ups waiting for a hash: about a second of work, past which the client is told to come back. */
const HASH_MAX_WAITING = 16;
const HOUR_SECONDS = 3600;

/** Builds the sign-up throttle (per IP and per email, spent before any hashing) and its hash queue. */
export function createSignupGuard(options: SignupGuardOptions): SignupGuard {
  const { store, keySecret } = options;
  const perIP = createRequestLimit({
    store,
    name: 'signup-ip',
    points: options.maxPerIP,
    durationSeconds: HOUR_SECONDS,
  });
  const perEmail = createRequestLimit({
    store,
    name: 'signup-email',
    points: options.maxPerEmail,
    durationSeconds: HOUR_SECONDS,
  });
  const key = (kind: string, value: string): string => hmacBase64url(keySecret, `${kind}:${value}`).slice(0, 32);
  const queue = createWorkQueue({ concurrency: HASH_CONCURRENCY, maxWaiting: HASH_MAX_WAITING });
  return {
    consumeIP: (ip) => perIP.consume(key('signup-ip', ip ?? 'unknown')),
    consumeEmail: (email) => perEmail.consume(key('signup-email', email)),
    async refundEmail(email) {
      // A lost refund only costs the person one attempt: not worth failing their request for.
      await perEmail.refund(key('signup-email', email)).catch(() => undefined);
    },
    reserveHash: () => queue.reserve(),
  };
}
