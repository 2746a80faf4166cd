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
   * Failed logins per account per window before further attempts are refused.
   * @default 10
   */
  maxAttemptsPerAccount?: number;
  /**
   * Failed logins per client IP per window (any account) before refusal.
   * @default 100
   */
  maxAttemptsPerIP?: number;
  /**
   * The window, seconds.
   * @default 900
   */
  windowSeconds?: number;
  /**
   * Key for hashing account names and IPs into counter keys, so a dump of the
   * counters names no one. Use a server secret.
   */
  keySecret: string | Uint8Array;
}

/** Brute-force protection for a login form: per account and per client IP. */
export interface LoginThrottle {
  /** Whether a login attempt may proceed (reads both counters; counts nothing). */
  check(account: string, ip: string | null): Promise<RateLimitVerdict>;
  /** Counts a failed attempt against the account and the IP. */
  recordFailure(account: string, ip: string | null): Promise<void>;
  /** Forgets the account's failures after a successful login (the IP's stay). */
  recordSuccess(account: string): Promise<void>;
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

const blocked = (res: RateLimiterRes): RateLimitVerdict => ({
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
 * Login throttling on rate-limiter-flexible: a fixed budget of failures per
 * account and per IP per window. Failures are counted, successes reset the
 * account. A backend failure throws StoreUnavailableError: a broken counter
 * never turns into unlimited guesses.
 */
export function createLoginThrottle(options: LoginThrottleOptions): LoginThrottle {
  const windowSeconds = positiveIntegerOption('windowSeconds', options.windowSeconds, 900);
  const perAccount = options.limiters({
    keyPrefix: 'login-account',
    points: positiveIntegerOption('maxAttemptsPerAccount', options.maxAttemptsPerAccount, 10),
    durationSeconds: windowSeconds,
  });
  const perIP = options.limiters({
    keyPrefix: 'login-ip',
    points: positiveIntegerOption('maxAttemptsPerIP', options.maxAttemptsPerIP, 100),
    durationSeconds: windowSeconds,
  });
  const accountKey = (account: string): string => hmacBase64url(options.keySecret, `account:${account}`).slice(0, 32);
  const ipKey = (ip: string | null): string => hmacBase64url(options.keySecret, `ip:${ip ?? 'unknown'}`).slice(0, 32);

  const remaining = async (limiter: RateLimiterAbstract, key: string): Promise<RateLimitVerdict> => {
    const res = await backend(() => limiter.get(key));
    return res !== null && res.remainingPoints <= 0 ? blocked(res) : { allowed: true };
  };

  return {
    async check(account, ip) {
      const [byAccount, byIP] = await Promise.all([
        remaining(perAccount, accountKey(account)),
        remaining(perIP, ipKey(ip)),
      ]);
      if (!byAccount.allowed && !byIP.allowed) {
        return { allowed: false, retryAfterSeconds: Math.max(byAccount.retryAfterSeconds, byIP.retryAfterSeconds) };
      }
      return byAccount.allowed ? byIP : byAccount;
    },
    async recordFailure(account, ip) {
      await Promise.all([spend(perAccount, accountKey(account)), spend(perIP, ipKey(ip))]);
    },
    async recordSuccess(account) {
      await backend(() => perAccount.delete(accountKey(account)));
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
