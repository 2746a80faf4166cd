import { StoreUnavailableError } from '../errors/errors.js';
import { functionOption, positiveIntegerOption, requiredPositiveIntegerOption } from '../../internal/options.js';
import {
  counterBackend,
  counterKey,
  counterStoreOption,
  type RateLimitVerdict,
  type RequestLimit,
  type RequestLimitOptions,
} from './rate-limit.js';

/** Options of {@link createLeasedRequestLimit}. */
export interface LeasedRequestLimitOptions extends RequestLimitOptions {
  /**
   * Points an instance reserves from the shared counter at once, then spends
   * without asking the store again. Smaller: fewer points stranded on an
   * instance, more store calls (one per `chunk` requests of a key).
   * @default Math.ceil(points / 10)
   */
  chunk?: number;
  /**
   * Keys whose lease this instance keeps at most (and as many again of leases
   * not spent from yet); past it the oldest lease is dropped (its unspent
   * points are lost: safe, never an extra request).
   * @default 10000
   */
  maxLeases?: number;
}

/** What this instance holds of one key's budget in the current window. */
interface Lease {
  /** When the window ends, epoch milliseconds, as the store reported it. */
  expiresAt: number;
  /** Leased points not yet spent. */
  remaining: number;
  /** Points spent from this window's leases, the most a refund can give back. */
  spent: number;
  /** The store said the window's budget is gone: refuse locally until it ends. */
  exhausted: boolean;
}

const ALLOWED: RateLimitVerdict = Object.freeze({ allowed: true });

/**
 * A per-key fixed-window request budget that costs the store about one call
 * per `chunk` requests instead of one per request, and stays exact across
 * instances: each instance leases a chunk of points from the shared counter
 * with one atomic `increment(key, chunk, window)` and spends them locally;
 * when its lease runs out it leases another.
 *
 * The counter's value is every point handed out in the window, so each lease
 * gets the slice `(value - chunk, value]` of the budget, cut at `points`: the
 * slices of racing leases never overlap, and however many instances lease at
 * once, together they never spend more than `points` in a window. What a lease
 * could not get is given back to the counter at once (a negative increment),
 * and once the store says the budget is gone the instance refuses that key
 * locally until the window ends, without asking again.
 *
 * The price of leasing:
 * - points leased but unspent when the window ends are lost (never carried
 *   over), so a key may get fewer than `points` requests: up to
 *   `chunk - 1` per instance that served it;
 * - an instance may refuse a key while another still holds unspent points of
 *   the same window (it does not ask the others for them): the key then waits
 *   for the window to end, as if its budget were spent;
 * - the window's end is the store's, compared with this instance's clock
 *   (`now`): keep the clocks in sync.
 * With `chunk: 1` it is exact but costs a store call per request, like
 * {@link createRequestLimit}. A store failure throws StoreUnavailableError
 * (fail closed), and a failed lease is not retried by the request that needed it.
 */
export function createLeasedRequestLimit(options: LeasedRequestLimitOptions): RequestLimit {
  const store = counterStoreOption(options.store);
  const points = requiredPositiveIntegerOption('points', options.points);
  const windowSeconds = requiredPositiveIntegerOption('durationSeconds', options.durationSeconds);
  const chunk = Math.min(points, positiveIntegerOption('chunk', options.chunk, Math.ceil(points / 10)));
  const maxLeases = positiveIntegerOption('maxLeases', options.maxLeases, 10_000);
  /** Leases one request may wait for: enough to drain the whole budget chunk by chunk, and a spare. */
  const maxRounds = Math.ceil(points / chunk) + 4;
  const now = functionOption<() => number>('now', options.now, Date.now);
  const name = options.name ?? 'req';
  /**
   * Leases of keys this instance has spent from, and leases not spent from yet (asked for by `prepare`,
   * e.g. for a session id a forged token names): each map keeps at most `maxLeases`, oldest dropped first,
   * so a flood of leases nobody spends cannot push out the ones in use.
   */
  const spending = new Map<string, Lease>();
  const unspent = new Map<string, Lease>();
  /** Leases being asked for, one per key at a time: a burst on one key waits for it instead of leasing again. */
  const leasing = new Map<string, Promise<void>>();

  const find = (key: string): Lease | undefined => spending.get(key) ?? unspent.get(key);
  const keep = (key: string, lease: Lease): void => {
    const into = lease.spent > 0 || spending.has(key) ? spending : unspent;
    spending.delete(key);
    unspent.delete(key);
    into.set(key, lease);
    if (into.size > maxLeases) into.delete(into.keys().next().value as string);
  };

  const lease = async (key: string): Promise<void> => {
    const storeKey = counterKey(name, key);
    const { value, expiresAt } = await counterBackend(() => store.increment(storeKey, chunk, windowSeconds));
    // This lease owns the slice (value - chunk, value] of the window's budget, cut at `points`.
    const granted = Math.max(0, Math.min(chunk, points - (value - chunk)));
    if (granted < chunk) {
      // Give back what could not be granted; a failure only leaves the counter higher (fewer points, never more).
      await counterBackend(() => store.increment(storeKey, granted - chunk, windowSeconds)).catch(() => undefined);
    }
    const held = find(key);
    const sameWindow = held !== undefined && held.expiresAt === expiresAt;
    keep(key, {
      expiresAt,
      remaining: (sameWindow ? held.remaining : 0) + granted,
      spent: sameWindow ? held.spent : 0,
      exhausted: granted < chunk,
    });
  };

  /** Starts leasing for `key` unless a lease is already on its way; resolves when it has landed. */
  const leaseOnce = (key: string): Promise<void> => {
    let pending = leasing.get(key);
    if (pending === undefined) {
      pending = lease(key).finally(() => leasing.delete(key));
      leasing.set(key, pending);
    }
    return pending;
  };

  /** A usable verdict from what this instance holds, or `null` when it must lease first. */
  const fromLease = (key: string): RateLimitVerdict | null => {
    const held = find(key);
    if (held === undefined) return null;
    const left = held.expiresAt - now();
    if (left <= 0) {
      spending.delete(key);
      unspent.delete(key);
      return null;
    }
    if (held.remaining > 0) {
      held.remaining--;
      if (held.spent++ === 0 && unspent.delete(key)) keep(key, held);
      return ALLOWED;
    }
    return held.exhausted ? { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(left / 1000)) } : null;
  };

  return {
    async consume(key) {
      const local = fromLease(key);
      if (local !== null) return local;
      // Lease, then spend; a burst may drain the new lease before this request's turn, so lease again until
      // the store says the budget is gone (each round leases more, or ends exhausted).
      // Bounded: a lease that lands already expired (this clock far ahead of the store's) must not loop forever.
      for (let round = 0; round <= maxRounds; round++) {
        await leaseOnce(key);
        const verdict = fromLease(key);
        if (verdict !== null) return verdict;
      }
      throw new StoreUnavailableError('The rate limit store keeps answering windows that have already ended');
    },
    async refund(key) {
      const held = spending.get(key);
      if (held === undefined || held.spent === 0 || held.expiresAt <= now()) return;
      held.spent--;
      held.remaining++;
    },
    prepare(key) {
      const held = find(key);
      if (held !== undefined && (held.remaining > 0 || held.exhausted) && held.expiresAt > now()) return;
      // The request that spends will see a failure itself; nothing waits on this one.
      leaseOnce(key).catch(() => undefined);
    },
  };
}
