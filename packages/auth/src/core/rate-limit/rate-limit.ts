import { InvalidOptionError, isTesseraError, StoreUnavailableError } from '../errors/errors.js';
import type { KeyValueStore } from '../store/types.js';
import { hmacBase64url } from '../../internal/crypto.js';
import { functionOption, positiveIntegerOption, requiredPositiveIntegerOption } from '../../internal/options.js';

/**
 * Where rate-limit counters live: a Tessera store of any kind (memory, SQLite,
 * PostgreSQL, Redis, Redis Cluster), usually the one that holds the sessions.
 * The limits use its atomic `increment` (and `delete`), nothing backend-specific.
 */
export type CounterStore = Pick<KeyValueStore, 'name' | 'increment' | 'delete'>;

/** A limit's answer: go ahead, or wait this many seconds. */
export type RateLimitVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Options of {@link createLoginThrottle}. */
export interface LoginThrottleOptions {
  /** The counters' store, shared by every instance that must share the budget. */
  store: CounterStore;
  /**
   * Password checks per account per window before further attempts are
   * refused. A known device (see {@link LoginThrottle.attempt}) has a budget
   * of its own of the same size.
   * @default 10
   */
  maxAttemptsPerAccount?: number;
  /**
   * Failed password checks per client IP per window (any account) before
   * refusal; a successful sign-in gives its attempt back.
   * @default 100
   */
  maxAttemptsPerIP?: number;
  /**
   * The window, seconds: fixed, starting at a counter's first attempt.
   * @default 900
   */
  windowSeconds?: number;
  /**
   * Key for hashing account names, devices and IPs into counter keys, so a
   * dump of the counters names no one. Use a server secret.
   */
  keySecret: string | Uint8Array;
  /**
   * The clock Retry-After is counted on, epoch milliseconds: the store's (a
   * store with an injected clock needs the same one here).
   * @default Date.now
   */
  now?: () => number;
}

/**
 * The answer to {@link LoginThrottle.attempt}: check the password, then call
 * `succeeded()` if it was right (nothing if it was wrong: the charge stands);
 * or wait this many seconds.
 */
export type LoginAttemptVerdict =
  | {
      allowed: true;
      /**
       * Resets the counter the attempt was charged to and gives the attempt
       * back to the IP. A known device's success resets that device's budget
       * only: signing in on one's own device must not hand whoever is
       * guessing elsewhere a fresh budget for the account.
       */
      succeeded(): Promise<void>;
    }
  | { allowed: false; retryAfterSeconds: number };

/**
 * Brute-force protection for anything that checks a password: a budget of
 * attempts per account, per known device of an account, and per client IP.
 */
export interface LoginThrottle {
  /**
   * Charges one attempt BEFORE the password is checked, atomically on the
   * backend: however many attempts arrive at once, at most the budget of each
   * counter is allowed per window, and the rest are refused.
   *
   * `device` is the id of a verified device cookie bound to this account
   * (see `createDeviceCookie`): the attempt is then charged to that device's
   * own budget instead of the account's, so failures from elsewhere do not
   * lock a client out that has signed in to the account before. The IP
   * budget applies to every attempt.
   */
  attempt(account: string, ip: string | null, options?: { device?: string | null }): Promise<LoginAttemptVerdict>;
}

/** Options of {@link createRequestLimit}. */
export interface RequestLimitOptions {
  /** The counters' store, shared by every instance that must share the budget. */
  store: CounterStore;
  /** Requests allowed per key per window. */
  points: number;
  /** The window, seconds: fixed, starting at a key's first request. */
  durationSeconds: number;
  /** Names the limit's counters, so two limits on one store keep apart. @default "req" */
  name?: string;
  /** The store's clock, for Retry-After. @default Date.now */
  now?: () => number;
}

/** A plain request budget per key (e.g. per session: "100 requests per 15 minutes"). */
export interface RequestLimit {
  /** Spends one request of `key`'s budget. */
  consume(key: string): Promise<RateLimitVerdict>;
  /** Gives one request back to `key`'s budget (a request that was refused for another reason before any work). */
  refund(key: string): Promise<void>;
  /**
   * Starts whatever {@link RequestLimit.consume} will need from the store for `key`, without spending
   * anything, so it overlaps other work of the request (the HTTP layer calls it beside the session read).
   * Optional: a limit without it asks the store when `consume` is called.
   */
  prepare?(key: string): void;
}

/** Counter keys: `rl:<limit>:<key>`, apart from everything else a store holds. */
export const counterKey = (limit: string, key: string): string => `rl:${limit}:${key}`;

/** Runs a counter step; any failure becomes StoreUnavailableError, so a broken counter never lets guesses through. */
export async function counterBackend<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isTesseraError(error) && error.code !== 'ERR_STORE_UNAVAILABLE') throw error;
    throw new StoreUnavailableError('The rate limit store failed', { cause: error });
  }
}

/** One fixed-window counter with a budget: the store's atomic `increment` decides, nothing is read first. */
interface Counter {
  /** Charges one point; allowed when the count, this point included, is within the budget. */
  charge(key: string): Promise<RateLimitVerdict>;
  /** Gives one point back. */
  refund(key: string): Promise<void>;
  /** Forgets the key's count. */
  reset(key: string): Promise<void>;
}

function createCounter(
  store: CounterStore,
  limit: string,
  points: number,
  windowSeconds: number,
  now: () => number,
): Counter {
  return {
    async charge(key) {
      const { value, expiresAt } = await counterBackend(() =>
        store.increment(counterKey(limit, key), 1, windowSeconds),
      );
      if (value <= points) return { allowed: true };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((expiresAt - now()) / 1000)) };
    },
    async refund(key) {
      await counterBackend(() => store.increment(counterKey(limit, key), -1, windowSeconds));
    },
    async reset(key) {
      await counterBackend(() => store.delete(counterKey(limit, key)));
    },
  };
}

/** The `store` option of a limit, checked: it needs `increment` and `delete`. */
export function counterStoreOption(store: CounterStore | undefined): CounterStore {
  if (typeof store?.increment !== 'function' || typeof store.delete !== 'function') {
    throw new InvalidOptionError('"store" must be a Tessera store (it needs increment and delete)');
  }
  return store;
}

/**
 * Login throttling on the store's atomic `increment`: a fixed-window budget
 * of password checks per account (or per known device of the account) and
 * per IP, charged before the check, so a burst of parallel guesses cannot
 * slip through between a read and a write: the n-th concurrent attempt sees
 * the count n and is refused past the budget. A refused attempt gives the
 * other counter its point back. A success resets the account's (or device's)
 * counter and gives the IP its attempt back, so many people signing in behind
 * one address do not use up its budget. A backend failure throws
 * StoreUnavailableError: a broken counter never turns into unlimited guesses.
 */
export function createLoginThrottle(options: LoginThrottleOptions): LoginThrottle {
  const store = counterStoreOption(options.store);
  const windowSeconds = positiveIntegerOption('windowSeconds', options.windowSeconds, 900);
  const now = functionOption<() => number>('now', options.now, Date.now);
  const perAccountPoints = positiveIntegerOption('maxAttemptsPerAccount', options.maxAttemptsPerAccount, 10);
  const perAccount = createCounter(store, 'login-account', perAccountPoints, windowSeconds, now);
  const perDevice = createCounter(store, 'login-device', perAccountPoints, windowSeconds, now);
  const perIP = createCounter(
    store,
    'login-ip',
    positiveIntegerOption('maxAttemptsPerIP', options.maxAttemptsPerIP, 100),
    windowSeconds,
    now,
  );
  const hashed = (value: string): string => hmacBase64url(options.keySecret, value).slice(0, 32);
  // JSON keeps the parts apart: no account name can be made to collide with another account and device.
  const accountKey = (account: string): string => hashed(`account:${account}`);
  const deviceKey = (account: string, device: string): string => hashed(`device:${JSON.stringify([account, device])}`);
  const ipKey = (ip: string | null): string => hashed(`ip:${ip ?? 'unknown'}`);

  return {
    async attempt(account, ip, attemptOptions = {}) {
      const device = attemptOptions.device ?? null;
      const [counter, key] =
        device === null ? [perAccount, accountKey(account)] : [perDevice, deviceKey(account, device)];
      const ipCounter = ipKey(ip);
      const [byAccount, byIP] = await Promise.allSettled([counter.charge(key), perIP.charge(ipCounter)]);
      if (byAccount.status === 'rejected' || byIP.status === 'rejected') {
        // Give back what was charged for an attempt that will not be evaluated; then fail closed.
        if (byAccount.status === 'fulfilled' && byAccount.value.allowed) await counter.refund(key).catch(() => null);
        if (byIP.status === 'fulfilled' && byIP.value.allowed) await perIP.refund(ipCounter).catch(() => null);
        throw byAccount.status === 'rejected' ? byAccount.reason : (byIP as PromiseRejectedResult).reason;
      }
      const [a, b] = [byAccount.value, byIP.value];
      if (a.allowed && b.allowed) {
        return {
          allowed: true,
          async succeeded() {
            await Promise.all([counter.reset(key), perIP.refund(ipCounter)]);
          },
        };
      }
      // A refused attempt is never evaluated, so the counter that did let it through gets its point back:
      // an office behind one IP does not pay for attempts on a locked account, and the reverse.
      if (a.allowed) await counter.refund(key);
      if (b.allowed) await perIP.refund(ipCounter);
      return {
        allowed: false,
        retryAfterSeconds: Math.max(a.allowed ? 0 : a.retryAfterSeconds, b.allowed ? 0 : b.retryAfterSeconds),
      };
    },
  };
}

/** A per-key fixed-window request budget on the store's atomic `increment` (off unless configured). */
export function createRequestLimit(options: RequestLimitOptions): RequestLimit {
  const store = counterStoreOption(options.store);
  const counter = createCounter(
    store,
    options.name ?? 'req',
    requiredPositiveIntegerOption('points', options.points),
    requiredPositiveIntegerOption('durationSeconds', options.durationSeconds),
    functionOption<() => number>('now', options.now, Date.now),
  );
  return { consume: (key) => counter.charge(key), refund: (key) => counter.refund(key) };
}
