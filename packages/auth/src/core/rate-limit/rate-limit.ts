import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { StoreUnavailableError } from '../errors/errors.js';
import { hmacBase64url } from '../../internal/crypto.js';
import { positiveIntegerOption, requiredPositiveIntegerOption } from '../../internal/options.js';

/**
 * Makes one rate-limiter-flexible limiter on the backend the sessions use
 * (memory, SQLite, Redis, PostgreSQL). `keyPrefix` separates the counters of
 * different limits.
 */
export type RateLimiterFactory = (options: {
  keyPrefix: string;
  points: number;
  durationSeconds: number;
}) => RateLimiterAbstract;

/** Counters in this process's memory: tests and single-process development. */
export const memoryRateLimiters: RateLimiterFactory = ({ keyPrefix, points, durationSeconds }) =>
  new RateLimiterMemory({ keyPrefix, points, duration: durationSeconds });

/** A limit's answer: go ahead, or wait this many seconds. */
export type RateLimitVerdict = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Options of {@link createLoginThrottle}. */
export interface LoginThrottleOptions {
  limiters: RateLimiterFactory;
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
   * The window, seconds.
   * @default 900
   */
  windowSeconds?: number;
  /**
   * Key for hashing account names, devices and IPs into counter keys, so a
   * dump of the counters names no one. Use a server secret.
   */
  keySecret: string | Uint8Array;
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
  limiters: RateLimiterFactory;
  /** Requests allowed per key per window. */
  points: number;
  /** The window, seconds. */
  durationSeconds: number;
  /** Counter key prefix. @default "req" */
  name?: string;
}

/** A plain request budget per key (e.g. per session: "100 requests per 15 minutes"). */
export interface RequestLimit {
  /** Spends one request of `key`'s budget. */
  consume(key: string): Promise<RateLimitVerdict>;
}

const blocked = (res: RateLimiterRes): { allowed: false; retryAfterSeconds: number } => ({
  allowed: false,
  retryAfterSeconds: Math.max(1, Math.ceil(res.msBeforeNext / 1000)),
});

/** rate-limiter-flexible rejects with a RateLimiterRes when over the limit and with an Error when its store fails. */
async function spend(limiter: RateLimiterAbstract, key: string): Promise<RateLimitVerdict> {
  try {
    await limiter.consume(key);
    return { allowed: true };
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return blocked(rejection);
    throw new StoreUnavailableError('The rate limit store failed', { cause: rejection });
  }
}

async function backend<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw new StoreUnavailableError('The rate limit store failed', { cause: error });
  }
}

/**
 * Login throttling on rate-limiter-flexible: a fixed budget of password
 * checks per account (or per known device of the account) and per IP per
 * window, charged before the check with the backend's atomic `consume`, so a
 * burst of parallel guesses cannot slip through between a read and a write.
 * A success resets the account's (or device's) counter and gives the IP its
 * attempt back, so many people signing in behind one address do not use up
 * its budget. A backend failure throws StoreUnavailableError: a broken
 * counter never turns into unlimited guesses.
 */
export function createLoginThrottle(options: LoginThrottleOptions): LoginThrottle {
  const windowSeconds = positiveIntegerOption('windowSeconds', options.windowSeconds, 900);
  const perAccountPoints = positiveIntegerOption('maxAttemptsPerAccount', options.maxAttemptsPerAccount, 10);
  const perAccount = options.limiters({
    keyPrefix: 'login-account',
    points: perAccountPoints,
    durationSeconds: windowSeconds,
  });
  const perDevice = options.limiters({
    keyPrefix: 'login-device',
    points: perAccountPoints,
    durationSeconds: windowSeconds,
  });
  const perIP = options.limiters({
    keyPrefix: 'login-ip',
    points: positiveIntegerOption('maxAttemptsPerIP', options.maxAttemptsPerIP, 100),
    durationSeconds: windowSeconds,
  });
  const hashed = (value: string): string => hmacBase64url(options.keySecret, value).slice(0, 32);
  // JSON keeps the parts apart: no account name can be made to collide with another account and device.
  const accountKey = (account: string): string => hashed(`account:${account}`);
  const deviceKey = (account: string, device: string): string => hashed(`device:${JSON.stringify([account, device])}`);
  const ipKey = (ip: string | null): string => hashed(`ip:${ip ?? 'unknown'}`);

  return {
    async attempt(account, ip, attemptOptions = {}) {
      const device = attemptOptions.device ?? null;
      const [limiter, key] =
        device === null ? [perAccount, accountKey(account)] : [perDevice, deviceKey(account, device)];
      const ipCounter = ipKey(ip);
      const [byAccount, byIP] = await Promise.allSettled([spend(limiter, key), spend(perIP, ipCounter)]);
      if (byAccount.status === 'rejected' || byIP.status === 'rejected') {
        // Give back what was charged for an attempt that will not be evaluated; then fail closed.
        if (byAccount.status === 'fulfilled' && byAccount.value.allowed) await limiter.reward(key).catch(() => null);
        if (byIP.status === 'fulfilled' && byIP.value.allowed) await perIP.reward(ipCounter).catch(() => null);
        throw byAccount.status === 'rejected' ? byAccount.reason : (byIP as PromiseRejectedResult).reason;
      }
      const [a, b] = [byAccount.value, byIP.value];
      if (a.allowed && b.allowed) {
        return {
          allowed: true,
          async succeeded() {
            await backend(() => Promise.all([limiter.delete(key), perIP.reward(ipCounter)]));
          },
        };
      }
      // A refused attempt is never evaluated, so the counter that did let it through gets its point back:
      // an office behind one IP does not pay for attempts on a locked account, and the reverse.
      if (a.allowed) await backend(() => limiter.reward(key));
      if (b.allowed) await backend(() => perIP.reward(ipCounter));
      return {
        allowed: false,
        retryAfterSeconds: Math.max(a.allowed ? 0 : a.retryAfterSeconds, b.allowed ? 0 : b.retryAfterSeconds),
      };
    },
  };
}

/** A per-key request budget on rate-limiter-flexible (off unless configured). */
export function createRequestLimit(options: RequestLimitOptions): RequestLimit {
  const limiter = options.limiters({
    keyPrefix: options.name ?? 'req',
    points: requiredPositiveIntegerOption('points', options.points),
    durationSeconds: requiredPositiveIntegerOption('durationSeconds', options.durationSeconds),
  });
  return { consume: (key) => spend(limiter, key) };
}
