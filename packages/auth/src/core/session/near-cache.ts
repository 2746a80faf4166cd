import { InvalidOptionError } from '../errors/errors.js';
import type { SessionInvalidation } from '../store/invalidation.js';
import type { JsonObject, SessionPatch, SessionRecord, SessionStore } from '../store/types.js';
import { positiveIntegerOption } from '../../internal/options.js';

/** The session manager's near-cache options (see `SessionManagerOptions`). */
export interface NearCacheSettings {
  /**
   * Keep recently validated sessions in memory, so a hot session costs no
   * store call. Only with a store that broadcasts changes (Redis,
   * PostgreSQL: `store.invalidation`); `false` turns it off.
   * @default true
   */
  nearCache?: boolean;
  /**
   * Most sessions the near cache keeps; the least recently used go first.
   * @default 10000
   */
  nearCacheSize?: number;
  /**
   * Seconds a cached session is served at most before it is read again: a
   * bound on a lost message, on top of the store's broadcast.
   * @default 5
   */
  nearCacheMaxAgeSeconds?: number;
}

/** Options of {@link createNearCache}. */
export interface NearCacheOptions {
  /** Most sessions kept; the least recently used one goes first. */
  maxEntries: number;
  /** Milliseconds an entry is served at most after it was read from the store: a bound on a lost message. */
  maxAgeMs: number;
  /** The clock, epoch milliseconds. */
  now: () => number;
}

/** A read in progress: whether what it brings back may still be cached (no invalidation may have passed it). */
export interface NearCacheTicket {
  readonly epoch: number;
}

/** The validated sessions an instance keeps in memory, dropped when the store says they changed. */
export interface NearCache {
  /** The cached live record, or `undefined` (not cached, too old, past its own limits, or the channel is down). */
  get(id: string): SessionRecord | undefined;
  /** Call before reading the store; hand the ticket to {@link NearCache.set} with what the read returned. */
  ticket(): NearCacheTicket;
  /** Caches a live record read (or written) since `ticket`, unless an invalidation came in between. */
  set(record: SessionRecord, ticket: NearCacheTicket): void;
  /** Drops these sessions at once. */
  invalidate(ids: readonly string[]): void;
  /** Drops every session of a user. */
  invalidateUser(userId: string): void;
  /** How many sessions are cached now. */
  readonly size: number;
}

interface Entry {
  record: SessionRecord;
  cachedAt: number;
}

/**
 * A bounded LRU of live session records by id that fails closed: it serves
 * only while `channel` is healthy, is emptied whenever the channel goes down
 * or comes back (messages may have been lost in between), and forgets an
 * entry on a message naming it, when it is older than `maxAgeMs`, or once the
 * record's own idle or absolute limit has passed (another instance may have
 * renewed it: read it again).
 *
 * A read that started before an invalidation must not put back what the
 * invalidation removed, so every read takes a {@link NearCacheTicket} first
 * and {@link NearCache.set} drops its result when anything was invalidated
 * since. Every invalidation moves one counter, which is simple and errs on
 * the safe side: a busy channel costs hit rate, never correctness.
 */
export function createNearCache(channel: SessionInvalidation, options: NearCacheOptions): NearCache {
  const { maxEntries, maxAgeMs, now } = options;
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const entries = new Map<string, Entry>();
  let epoch = 0;

  const clear = (): void => {
    epoch++;
    entries.clear();
  };
  const drop = (ids: readonly string[]): void => {
    epoch++;
    for (const id of ids) entries.delete(id);
  };

  channel.subscribe({ invalidate: drop, invalidateAll: clear, up: clear, down: clear });

  return {
    get(id) {
      if (!channel.healthy()) {
        if (entries.size > 0) clear();
        return undefined;
      }
      const entry = entries.get(id);
      if (entry === undefined) return undefined;
      const at = now();
      const { record } = entry;
      entries.delete(id);
      if (at - entry.cachedAt >= maxAgeMs || at >= record.idleExpiresAt || at >= record.absoluteExpiresAt) {
        return undefined;
      }
      entries.set(id, entry);
      return record;
    },
    ticket: () => ({ epoch }),
    set(record, ticket) {
      if (ticket.epoch !== epoch || !channel.healthy() || record.revokedAt !== null) return;
      entries.delete(record.id);
      entries.set(record.id, { record, cachedAt: now() });
      while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
    },
    invalidate: drop,
    invalidateUser(userId) {
      epoch++;
      for (const [id, entry] of entries) if (entry.record.userId === userId) entries.delete(id);
    },
    get size() {
      return entries.size;
    },
  };
}

/**
 * The session store as a manager with a near cache uses it: `getSession`
 * answers from the cache when it can; every mutation made through it drops
 * the session from this instance's cache at once (without waiting for the
 * store's message to come back), and a renewal or creation caches the record
 * it wrote, so a renewal is written at most once per interval per instance:
 * concurrent renewals of one session (a burst of requests that all saw the
 * old copy) share the one write in flight.
 */
export function withNearCache<S extends SessionStore>(store: S, cache: NearCache): S {
  const cached: SessionStore = Object.create(store) as SessionStore;
  const renewing = new Map<string, Promise<SessionRecord | null>>();

  /** Runs a mutation that changes `id`, dropping it before (a read in flight must not cache it) and after. */
  const changing = async <T>(ids: readonly string[], mutation: () => Promise<T>): Promise<T> => {
    cache.invalidate(ids);
    try {
      return await mutation();
    } finally {
      cache.invalidate(ids);
    }
  };

  cached.getSession = async (id: string) => {
    const hit = cache.get(id);
    if (hit !== undefined) return hit;
    const ticket = cache.ticket();
    const record = await store.getSession(id);
    if (record !== null) cache.set(record, ticket);
    return record;
  };
  cached.createSession = async (record: SessionRecord) => {
    const ticket = cache.ticket();
    const created = await store.createSession(record);
    cache.set(created, ticket);
    return created;
  };
  cached.updateSession = async (id: string, patch: SessionPatch) => {
    if (patch.data !== undefined) return changing([id], () => store.updateSession(id, patch));
    // A renewal: other instances need not hear of it (their copy is re-read once it looks expired).
    const inFlight = renewing.get(id);
    if (inFlight !== undefined) return inFlight;
    const ticket = cache.ticket();
    const renewal = store.updateSession(id, patch).then((updated) => {
      if (updated === null) cache.invalidate([id]);
      else cache.set(updated, ticket);
      return updated;
    });
    renewing.set(id, renewal);
    const forget = (): void => {
      renewing.delete(id);
    };
    renewal.then(forget, forget);
    return renewal;
  };
  cached.mergeSessionData = (id: string, partial: JsonObject) =>
    changing([id], () => store.mergeSessionData(id, partial));
  cached.rotateSession = (oldId: string, record: SessionRecord) =>
    changing([oldId], () => store.rotateSession(oldId, record));
  cached.revokeSession = (id: string, revokedAt: number) => changing([id], () => store.revokeSession(id, revokedAt));
  cached.deleteSession = (id: string) => changing([id], () => store.deleteSession(id));
  cached.revokeUserSessions = async (userId: string, revokedAt: number, options?: { exceptId?: string }) => {
    cache.invalidateUser(userId);
    try {
      const revoked = await store.revokeUserSessions(userId, revokedAt, options);
      cache.invalidate(revoked.map((record) => record.id));
      return revoked;
    } finally {
      cache.invalidateUser(userId);
    }
  };
  return cached as S;
}

/**
 * `store` behind a near cache when the settings allow it and the store
 * broadcasts changes; otherwise `store` itself.
 */
export function applyNearCache<S extends SessionStore>(store: S, settings: NearCacheSettings, now: () => number): S {
  if (settings.nearCache !== undefined && typeof settings.nearCache !== 'boolean') {
    throw new InvalidOptionError('"nearCache" must be a boolean');
  }
  const maxEntries = positiveIntegerOption('nearCacheSize', settings.nearCacheSize, 10_000);
  const maxAgeMs = positiveIntegerOption('nearCacheMaxAgeSeconds', settings.nearCacheMaxAgeSeconds, 5) * 1000;
  const channel = settings.nearCache === false ? undefined : store.invalidation?.();
  if (channel === undefined) return store;
  return withNearCache(store, createNearCache(channel, { maxEntries, maxAgeMs, now }));
}
