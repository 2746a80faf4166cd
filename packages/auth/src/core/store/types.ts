import type { SessionInvalidation } from './invalidation.js';

/** A value that survives `JSON.stringify` / `JSON.parse` unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object: the shape of session data. */
export type JsonObject = { [key: string]: JsonValue };

/**
 * A session as a store keeps it. Every timestamp is epoch milliseconds. The
 * token's secret is never here, only its SHA-256. The fields and how each is
 * stored are listed once, in `SESSION_FIELDS` (session-record.ts).
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
  /** The client's address at the latest renewal. */
  ip: string | null;
  /** The client's user agent at the latest renewal. */
  userAgent: string | null;
  /** The client's address at sign-in; kept through renewal and rotation. `null` for sessions older than the field. */
  signInIp: string | null;
  /** The client's user agent at sign-in; kept through renewal and rotation. */
  signInUserAgent: string | null;
  /**
   * When the user last proved a credential for this session: the sign-in, then each re-authentication.
   * Kept through renewal and rotation. `null` for sessions older than the field: read as `createdAt`.
   */
  authenticatedAt: number | null;
  /** This session's own idle timeout, milliseconds, which renewal uses; `null`: the engine's default. */
  idleTimeoutMs: number | null;
  /**
   * `"browser"` when the session's cookie ends with the browser (no `Max-Age`: "remember me" off);
   * `null` for a cookie that lasts as long as the session.
   */
  cookieLifetime: string | null;
  /**
   * Until when the session counts as signed in from a new device (a client not seen signing in to the
   * account before); `null` when it was not, or for sessions older than the field. Kept through rotation.
   */
  newDeviceUntil: number | null;
  data: JsonObject;
}

/** The fields a renewal or a data update may change. */
export type SessionPatch = Partial<
  Pick<SessionRecord, 'lastSeenAt' | 'idleExpiresAt' | 'expiresAt' | 'ip' | 'userAgent' | 'data'>
>;

/**
 * The session table: the handful of primitives the session engine builds on.
 * Every method returns a promise; `null` means absent, expired or (for a
 * mutation) not live; timestamps are epoch milliseconds. A mutation returns
 * the record it changed, so the engine never reads it again. An operational
 * failure rejects with `StoreUnavailableError`; a corrupt record reads as
 * absent. Policy (session caps, renewal, expiry) lives in the engine, not here.
 */
export interface SessionStore {
  /** A short name for logs and metrics: `memory`, `sqlite`, `redis`, … */
  readonly name: string;

  /** Inserts a new session; resolves to the stored record. */
  createSession(record: SessionRecord): Promise<SessionRecord>;

  /** The record, revoked ones included; `null` when absent or past `expiresAt`. */
  getSession(id: string): Promise<SessionRecord | null>;

  /** Applies `patch` to a live record. Atomic. The updated record; `null` when absent, expired or revoked. */
  updateSession(id: string, patch: SessionPatch): Promise<SessionRecord | null>;

  /**
   * Merges `partial` into a live record's `data`, top-level keys only: each key replaces that key's value
   * (nested objects are replaced whole), and a key whose value is `null` is removed. Atomic: of concurrent
   * merges of different keys every key stays. The updated record; `null` when absent, expired or revoked
   * (and nothing changed).
   */
  mergeSessionData(id: string, partial: JsonObject): Promise<SessionRecord | null>;

  /**
   * Replaces session `oldId` with `record` (a new id) in one atomic step. Of
   * concurrent rotations of one session exactly one gets the new record back;
   * `null` when the old session is absent, expired or revoked.
   */
  rotateSession(oldId: string, record: SessionRecord): Promise<SessionRecord | null>;

  /** Marks a live session revoked at `revokedAt`. Atomic: of concurrent callers one gets the revoked record, the rest `null`. */
  revokeSession(id: string, revokedAt: number): Promise<SessionRecord | null>;

  /**
   * Marks every live session of a user revoked, except `exceptId`, in one
   * atomic step: a session created concurrently is either revoked or was
   * created after. Returns the revoked records.
   */
  revokeUserSessions(userId: string, revokedAt: number, options?: { exceptId?: string }): Promise<SessionRecord[]>;

  /** Deletes a session record outright (logout). The deleted record; `null` when there was none live or revoked. */
  deleteSession(id: string): Promise<SessionRecord | null>;

  /** The user's sessions that are not revoked and not past `expiresAt`, oldest first. */
  listUserSessions(userId: string): Promise<SessionRecord[]>;

  /**
   * How many sessions are live now: not revoked, before both their idle and
   * absolute limits. For a metrics gauge, so optional: a store that cannot
   * count without scanning everything (Redis) leaves it out.
   */
  countLiveSessions?(): Promise<number>;

  /**
   * Optional hook: the first characters every new session id of `userId` must
   * start with (base64url, at most 4), for a partitioned store that places a
   * user's sessions together (Redis Cluster hash tags). The engine fills the
   * rest of the id with random characters. Stores without it get fully random ids.
   */
  sessionIdPrefix?(userId: string): string;

  /**
   * Optional hook: the store's broadcast of session changes, for a manager's
   * near cache. A store that offers it must publish the ids of the sessions
   * it revokes, deletes, rotates away or whose data it replaces from inside
   * those same operations (so every writer publishes, the CLI included); a
   * renewal need not publish. Synchronous, and returns the same channel on
   * every call; `close()` ends its subscription. A store without it (memory,
   * SQLite: one process) gets no near cache.
   */
  invalidation?(): SessionInvalidation;
}

/**
 * Short-lived values (refresh tokens, blocklist, keys): JSON under a string
 * key, with native atomic operations. TTLs are seconds.
 */
export interface KeyValueStore {
  /** A short name for logs and metrics. */
  readonly name: string;

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
}

/** What every backend's `create…Store()` returns: both stores over one backend, plus its lifecycle. */
export interface Store extends SessionStore, KeyValueStore {
  readonly name: string;

  /**
   * Removes expired sessions and values (and, where the backend expires them
   * itself, the index entries they left). Returns how many it removed. Works in
   * batches so it never holds a long lock.
   */
  deleteExpired(): Promise<number>;

  /** Waits for calls in flight, then releases connections and timers. Later calls reject with `StoreUnavailableError`. */
  close(): Promise<void>;
}
