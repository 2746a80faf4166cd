import type { SessionInvalidation } from '../core/store/invalidation.js';
import type { Store } from '../core/store/types.js';

/** A store whose backend can be switched off, and which counts calls per method. */
export interface FaultyStore extends Store {
  /** While true every call rejects the way a dropped connection does. */
  down: boolean;
  /** Calls made so far, per method name. */
  readonly calls: Record<string, number>;
}

/**
 * Wraps a real store so tests can take its backend down on purpose and count
 * round trips. While `down`, every method rejects with a plain driver-like
 * error, so the engine's own fail-closed handling is what gets tested. The
 * store's invalidation channel (when it has one) is unhealthy while `down`,
 * as a real one is when its backend goes away, so a near cache fails closed too.
 */
export function createFaultyStore(inner: Store): FaultyStore {
  const calls: Record<string, number> = {};
  const faulty = { name: inner.name, down: false, calls } as FaultyStore;
  for (const key of Object.keys(inner) as (keyof Store)[]) {
    const member = inner[key];
    if (key === 'sessionIdPrefix') Object.assign(faulty, { sessionIdPrefix: member });
    if (key === 'invalidation') Object.assign(faulty, { invalidation: () => faultyChannel(inner, faulty) });
    if (typeof member !== 'function' || key === 'sessionIdPrefix' || key === 'invalidation') continue;
    const method = member as (...args: unknown[]) => Promise<unknown>;
    (faulty as unknown as Record<string, unknown>)[key] = async (...args: unknown[]) => {
      calls[key] = (calls[key] ?? 0) + 1;
      if (faulty.down && key !== 'close') {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
      }
      return method(...args);
    };
  }
  return faulty;
}

/** The inner store's channel, unhealthy while the faulty store is down. */
function faultyChannel(inner: Store, faulty: FaultyStore): SessionInvalidation {
  const channel = inner.invalidation!();
  return {
    subscribe: (listener) => channel.subscribe(listener),
    healthy: () => !faulty.down && channel.healthy(),
  };
}
