/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object: the shape of session data. */
export type JsonObject = { [key: string]: JsonValue };

/**
 * A session as a store keeps it. Every timestamp is epoch milliseconds. The
 * token's secret is never here, only its SHA-256.
 */
export interface SessionRecord {
  /** The session's public id: the store key and the part of the token before the dot. */
  id: string;
  /** SHA-256 of the token's secret, base64url. */
  secretHash: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  /** When the idle timeout ends the session unless it is renewed first. */
  idleExpiresAt: number;
  /** When the absolute lifetime ends the session; no renewal moves it. */
  absoluteExpiresAt: number;
  /**
   * When the store may forget the record: the earlier of the two limits above
   * plus a short retention, so a late request can still be told it expired.
   */
  expiresAt: number;
  /** Set when the session was revoked; a revoked record is kept until `expiresAt` so a late request learns why. */
  revokedAt: number | null;
  ip: string | null;
  userAgent: string | null;
  data: JsonObject;
}

/** The fields a renewal or a data update may change. */
export type SessionPatch = Partial<
  Pick<SessionRecord, 'lastSeenAt' | 'idleExpiresAt' | 'expiresAt' | 'ip' | 'userAgent' | 'data'>
>;

/** Options of {@link SessionStore.createSession}. */
export interface CreateSessionOptions {
  /**
   * Keep at most this many live sessions for the user, counting the new one:
   * the oldest others are revoked in the same atomic step.
   */
  maxSessionsPerUser?: number;
}

/**
 * Where sessions and short-lived values live. Every method returns a promise;
 * `null` means absent or expired; TTLs are seconds; timestamps epoch
 * milliseconds. An operational failure (backend down, timeout) rejects with
 * `StoreUnavailableError`; a corrupt record reads as absent.
 *
 * Keys and session ids are namespaced by the store's prefix, so two stores
 * with different prefixes on one backend never see each other's data.
 */
export interface SessionStore {
  /** A short name for logs and metrics: `memory`, `sqlite`, `redis`, … */
  readonly name: string;

  /**
   * Inserts a new session. Atomic with the eviction it implies: with
   * `maxSessionsPerUser`, the user's oldest live sessions beyond the cap are
   * revoked (at `record.createdAt`) in the same step, and their ids returned.
   */
  createSession(record: SessionRecord, options?: CreateSessionOptions): Promise<string[]>;

  /** The record, revoked ones included; `null` when absent or past `expiresAt`. */
  getSession(id: string): Promise<SessionRecord | null>;

  /** Applies `patch` to a live record. Atomic. `false` when absent, expired or revoked. */
  updateSession(id: string, patch: SessionPatch): Promise<boolean>;

  /**
   * Replaces session `oldId` with `record` (a new id) in one atomic step. Of
   * concurrent rotations of one session exactly one returns `true`; `false`
   * when the old session is absent, expired or revoked.
   */
  rotateSession(oldId: string, record: SessionRecord): Promise<boolean>;

  /** Marks a live session revoked at `revokedAt`. Atomic, idempotent; `false` when there was none to revoke. */
  revokeSession(id: string, revokedAt: number): Promise<boolean>;

  /**
   * Marks every live session of a user revoked, except `exceptId`, in one
   * atomic step: a session created concurrently is either revoked or was
   * created after. Returns the revoked ids.
   */
  revokeUserSessions(userId: string, revokedAt: number, options?: { exceptId?: string }): Promise<string[]>;

  /** Deletes a session record outright (logout). Idempotent; `false` when there was none. */
  deleteSession(id: string): Promise<boolean>;

  /** The user's live sessions (not revoked, not expired), oldest first. */
  listUserSessions(userId: string): Promise<SessionRecord[]>;

  /** The value under `key`; `null` when absent or expired. */
  get(key: string): Promise<JsonValue | null>;

  /** Stores `value` under `key`, replacing any value. Without `ttlSeconds` it never expires. */
  set(key: string, value: JsonValue, ttlSeconds?: number): Promise<void>;

  /** Stores `value` only when `key` holds nothing live. Atomic: of concurrent callers exactly one gets `true`. */
  setIfAbsent(key: string, value: JsonValue, ttlSeconds?: number): Promise<boolean>;

  /** Returns the value and deletes it in one atomic step: of concurrent callers exactly one gets the value. */
  getAndDelete(key: string): Promise<JsonValue | null>;

  /** Deletes `key`. Idempotent; `false` when there was nothing live. */
  delete(key: string): Promise<boolean>;

  /**
   * Replaces the value under `key` with `next` only while it still is
   * `expected` (`null`: while nothing live is stored). Values are compared by
   * their JSON text, so pass the value as read. Atomic: of concurrent callers
   * with the same `expected`, exactly one gets `true`. Without `ttlSeconds`
   * `next` never expires.
   */
  compareAndSet(key: string, expected: JsonValue | null, next: JsonValue, ttlSeconds?: number): Promise<boolean>;

  /**
   * Adds `by` (a safe integer, negative to give back) to the integer under
   * `key` and returns the new value and when the key expires (epoch
   * milliseconds). A key that is absent or expired starts at `by` and expires
   * `ttlSeconds` later; later increments do not move that expiry: a fixed
   * window. Atomic: of concurrent increments none is lost.
   */
  increment(key: string, by: number, ttlSeconds: number): Promise<{ value: number; expiresAt: number }>;

  /**
   * Removes expired sessions and values (and, where the backend expires them
   * itself, the index entries they left). Returns how many it removed. Works in
   * batches so it never holds a long lock.
   */
  deleteExpired(): Promise<number>;

  /**
   * How many sessions are live now: not revoked, before both their idle and
   * absolute limits. For a metrics gauge, so optional: a store that cannot
   * count without scanning everything (Redis) leaves it out.
   */
  countLiveSessions?(): Promise<number>;

  /** Releases connections and timers. The store is unusable afterwards. */
  close(): Promise<void>;
}
