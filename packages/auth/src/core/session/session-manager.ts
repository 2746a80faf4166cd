import { refuse, type CredentialFailure, type CredentialResult } from '../errors/credential-failure.js';
import { InvalidOptionError } from '../errors/errors.js';
import { guardStore } from '../store/define-store.js';
import type { JsonObject, SessionRecord, SessionStore } from '../store/types.js';
import { constantTimeEqual, secureRandom, sha256Base64url, type RandomSource } from '../../internal/crypto.js';
import { silentLogger, type Logger } from '../../internal/logger.js';
import { createEmitter } from '../../internal/events.js';
import { functionOption, positiveIntegerOption } from '../../internal/options.js';
import {
  formatSessionToken,
  generateSessionId,
  generateSessionSecret,
  isSessionId,
  parseSessionToken,
} from './session-token.js';
import { compareSessionAge, createCappedSession } from './session-cap.js';

/** A live session as the engine hands it to callers. */
export interface Session<Data extends JsonObject = JsonObject> {
  /** The public id: safe to show the user and to put in an access token's `sid`. Never the token. */
  id: string;
  userId: string;
  createdAt: Date;
  lastSeenAt: Date;
  /** When the idle timeout ends the session unless it is used (and renewed) first. */
  idleExpiresAt: Date;
  /** When the absolute lifetime ends the session, whatever happens. */
  absoluteExpiresAt: Date;
  /** The earlier of the two: when a cookie for this session should expire. */
  expiresAt: Date;
  /** The client's address at the latest renewal. */
  ip: string | null;
  /** The client's user agent at the latest renewal. */
  userAgent: string | null;
  /** The client's address at sign-in, kept through renewal and rotation. */
  signInIp: string | null;
  /** The client's user agent at sign-in, kept through renewal and rotation. */
  signInUserAgent: string | null;
  data: Data;
}

const sessionExpiry = (record: SessionRecord): number => Math.min(record.idleExpiresAt, record.absoluteExpiresAt);

/** One entry of a user's session list. */
export interface SessionInfo {
  id: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
  signInIp: string | null;
  signInUserAgent: string | null;
  /** Whether this is the session the list was asked for from. */
  current: boolean;
}

/**
 * The outcome of {@link SessionManager.validateSessionToken}: the session, or
 * why not (`malformed`, `not_found`, `expired` or `revoked`).
 */
export type SessionValidationResult<Data extends JsonObject = JsonObject> = CredentialResult<{
  session: Session<Data>;
  /** The session's expiry moved: a cookie carrying it must be sent again. */
  renewed: boolean;
}>;

/** A new session and the token for the client. The token is shown once and never stored. */
export interface SessionWithToken<Data extends JsonObject = JsonObject> {
  session: Session<Data>;
  token: string;
}

/** Why a session was revoked. */
export type SessionRevokeReason =
  | 'revoked'
  | 'user_revoked_all'
  | 'evicted'
  | 'refresh_reused'
  | 'password_changed'
  /** An operator disabled or deleted the account, or the user deleted it. */
  | 'account_disabled'
  | 'account_deleted'
  /** An operator revoked every session of every user at once. */
  | 'revoked_everywhere';

/** Every state change of a session, delivered to `onEvent`. `at` is epoch milliseconds. */
export type SessionEvent =
  | { type: 'session.created'; sessionId: string; userId: string; at: number }
  | { type: 'session.renewed'; sessionId: string; userId: string; at: number }
  | { type: 'session.rotated'; sessionId: string; previousSessionId: string; userId: string; at: number }
  | { type: 'session.revoked'; sessionId: string; userId: string; at: number; reason: SessionRevokeReason }
  | { type: 'session.expired'; sessionId: string; userId: string; at: number }
  | { type: 'session.deleted'; sessionId: string; userId: string; at: number };

/** Characters of a `User-Agent` a session keeps; the rest is dropped (a header may be kilobytes long). */
export const MAX_USER_AGENT_LENGTH = 512;

/** Request facts recorded on a session at creation and on renewal. */
export interface SessionContext {
  ip?: string | null;
  /** The client's `User-Agent`; only its first {@link MAX_USER_AGENT_LENGTH} (512) characters are stored. */
  userAgent?: string | null;
}

/** A user agent cut to {@link MAX_USER_AGENT_LENGTH} characters, never in the middle of a surrogate pair. */
function clipUserAgent(userAgent: string | null): string | null {
  if (userAgent === null || userAgent.length <= MAX_USER_AGENT_LENGTH) return userAgent;
  const end = /[\uD800-\uDBFF]/.test(userAgent.charAt(MAX_USER_AGENT_LENGTH - 1))
    ? MAX_USER_AGENT_LENGTH - 1
    : MAX_USER_AGENT_LENGTH;
  return userAgent.slice(0, end);
}

/** Options of {@link createSessionManager}. */
export interface SessionManagerOptions {
  /**
   * Seconds without use after which a session ends.
   * @default 1800
   */
  idleTimeoutSeconds?: number;
  /**
   * Seconds after creation after which a session ends, however active.
   * @default 604800 (7 days)
   */
  absoluteTimeoutSeconds?: number;
  /**
   * A session is written back (renewed) at most once per this many seconds,
   * not on every request. The idle timeout is therefore exact to within this.
   * @default 60
   */
  renewalIntervalSeconds?: number;
  /**
   * Seconds a store keeps an ended session past its expiry, so a late request
   * is told "expired" rather than "not found". The record is useless to
   * anyone: it holds only the hash of the secret.
   * @default 900
   */
  expiredRetentionSeconds?: number;
  /** Keep at most this many live sessions per user; creating one more revokes the oldest. Unlimited by default. */
  maxSessionsPerUser?: number;
  /** Receives every state change. A hook that throws is logged and otherwise ignored. */
  onEvent?: (event: SessionEvent) => void;
  /** Where the engine reports problems that do not fail a request (a throwing hook). */
  logger?: Logger;
  /**
   * The clock, epoch milliseconds.
   * @default Date.now
   */
  now?: () => number;
  /** The random source for ids and secrets. Must be a CSPRNG outside tests. */
  random?: RandomSource;
}

/** The framework- and database-neutral session engine. */
export interface SessionManager<Data extends JsonObject = JsonObject> {
  /** Starts a session for `userId` with a fresh id (call it at login: never reuse an id the client had). */
  createSession(userId: string, options?: SessionContext & { data?: Data }): Promise<SessionWithToken<Data>>;
  /**
   * Checks a token from a client: the session, or why not. Expected negatives
   * are results, never exceptions; a store failure throws
   * `StoreUnavailableError`. Renews the idle timeout at most once per
   * `renewalIntervalSeconds`, recording the context's IP and user agent.
   */
  validateSessionToken(token: unknown, context?: SessionContext): Promise<SessionValidationResult<Data>>;
  /** The live session with this public id, without renewing it; or why not. */
  getSession(sessionId: string): Promise<SessionValidationResult<Data>>;
  /**
   * The live session with this public id, renewing its idle timeout exactly
   * as {@link SessionManager.validateSessionToken} does (at most once per
   * `renewalIntervalSeconds`): for callers that proved possession of the
   * session some other way, such as a refresh token bound to it.
   */
  touchSession(sessionId: string, context?: SessionContext): Promise<SessionValidationResult<Data>>;
  /**
   * Gives the session a new id and secret, keeping its data, creation time and
   * absolute limit (call it at every privilege change). `null` when the session
   * is no longer live or a concurrent rotation won.
   */
  rotateSession(sessionId: string, options?: { data?: Data }): Promise<SessionWithToken<Data> | null>;
  /** Replaces the session's data. `false` when the session is no longer live. */
  updateSessionData(sessionId: string, data: Data): Promise<boolean>;
  /** Revokes one session. `false` when there was no live session with that id. */
  revokeSession(sessionId: string, reason?: SessionRevokeReason): Promise<boolean>;
  /** Revokes one session only if it belongs to `userId`: what a user may do to their own devices. */
  revokeUserSession(userId: string, sessionId: string): Promise<boolean>;
  /** Revokes every live session of a user, or every one but `exceptSessionId`. Returns the ids revoked. */
  revokeUserSessions(
    userId: string,
    options?: { exceptSessionId?: string; reason?: SessionRevokeReason },
  ): Promise<string[]>;
  /** Deletes a session for good (logout). `false` when there was none. */
  deleteSession(sessionId: string): Promise<boolean>;
  /** The user's live sessions, oldest first, `current` marking `currentSessionId`. */
  listUserSessions(userId: string, options?: { currentSessionId?: string }): Promise<SessionInfo[]>;
  /** Sweeps expired sessions and values from the store; returns how many were removed. */
  deleteExpiredSessions(): Promise<number>;
}

/**
 * Creates the session engine over a store.
 *
 * @example
 * const sessions = createSessionManager(createMemoryStore(), { idleTimeoutSeconds: 1800 });
 * const { token } = await sessions.createSession(user.id, { ip, userAgent });
 * const result = await sessions.validateSessionToken(token);
 * if (!result.ok) return deny(result.reason);
 */
export function createSessionManager<Data extends JsonObject = JsonObject>(
  sessionStore: SessionStore & { deleteExpired(): Promise<number> },
  options: SessionManagerOptions = {},
): SessionManager<Data> {
  const store = guardStore(sessionStore);
  const idleTimeoutMs = positiveIntegerOption('idleTimeoutSeconds', options.idleTimeoutSeconds, 1800) * 1000;
  const absoluteTimeoutMs =
    positiveIntegerOption('absoluteTimeoutSeconds', options.absoluteTimeoutSeconds, 604_800) * 1000;
  const renewalIntervalMs = positiveIntegerOption('renewalIntervalSeconds', options.renewalIntervalSeconds, 60) * 1000;
  const retentionMs = positiveIntegerOption('expiredRetentionSeconds', options.expiredRetentionSeconds, 900) * 1000;
  const maxSessionsPerUser = positiveIntegerOption('maxSessionsPerUser', options.maxSessionsPerUser, undefined);
  const now = functionOption<() => number>('now', options.now, Date.now);
  const random = functionOption<RandomSource>('random', options.random, secureRandom);
  const onEvent = functionOption<(event: SessionEvent) => void>('onEvent', options.onEvent, undefined);
  const logger = options.logger ?? silentLogger;
  if (idleTimeoutMs > absoluteTimeoutMs) {
    throw new InvalidOptionError('"idleTimeoutSeconds" must not be greater than "absoluteTimeoutSeconds"');
  }
  if (renewalIntervalMs >= idleTimeoutMs) {
    throw new InvalidOptionError('"renewalIntervalSeconds" must be less than "idleTimeoutSeconds"');
  }

  const emit = createEmitter(onEvent, logger, 'session');

  const toSession = (record: SessionRecord): Session<Data> => ({
    id: record.id,
    userId: record.userId,
    createdAt: new Date(record.createdAt),
    lastSeenAt: new Date(record.lastSeenAt),
    idleExpiresAt: new Date(record.idleExpiresAt),
    absoluteExpiresAt: new Date(record.absoluteExpiresAt),
    expiresAt: new Date(sessionExpiry(record)),
    ip: record.ip,
    userAgent: record.userAgent,
    signInIp: record.signInIp,
    signInUserAgent: record.signInUserAgent,
    data: record.data as Data,
  });

  const newRecord = (
    base: Omit<SessionRecord, 'id' | 'secretHash' | 'lastSeenAt' | 'idleExpiresAt' | 'expiresAt' | 'revokedAt'>,
    at: number,
  ): { record: SessionRecord; token: string } => {
    const id = generateSessionId(store.sessionIdPrefix?.(base.userId) ?? '', random);
    const secret = generateSessionSecret(random);
    const idleExpiresAt = Math.min(at + idleTimeoutMs, base.absoluteExpiresAt);
    const record: SessionRecord = {
      ...base,
      id,
      secretHash: sha256Base64url(secret),
      lastSeenAt: at,
      idleExpiresAt,
      expiresAt: idleExpiresAt + retentionMs,
      revokedAt: null,
    };
    return { record, token: formatSessionToken(id, secret) };
  };

  const emitRevoked = (records: SessionRecord[], at: number, reason: SessionRevokeReason): void => {
    for (const { id, userId } of records) emit({ type: 'session.revoked', sessionId: id, userId, at, reason });
  };

  /** The reason a stored record is not a live session at `at`, or `null` when it is live. */
  const invalidReason = (record: SessionRecord, at: number): CredentialFailure | null => {
    if (record.revokedAt !== null) return 'revoked';
    if (at >= record.idleExpiresAt || at >= record.absoluteExpiresAt) return 'expired';
    return null;
  };

  const check = (record: SessionRecord | null, at: number): SessionValidationResult<Data> => {
    if (record === null) return refuse('not_found');
    const reason = invalidReason(record, at);
    if (reason === 'expired') emit({ type: 'session.expired', sessionId: record.id, userId: record.userId, at });
    if (reason !== null) return refuse(reason);
    return { ok: true, session: toSession(record), renewed: false };
  };

  const sessionBelongsTo = async (userId: string, sessionId: string): Promise<boolean> => {
    if (!isSessionId(sessionId)) return false;
    const record = await store.getSession(sessionId);
    return record !== null && record.userId === userId;
  };

  /** Checks a live record and renews its idle timeout when the last renewal is older than the interval. */
  const renew = async (record: SessionRecord, context: SessionContext): Promise<SessionValidationResult<Data>> => {
    const at = now();
    const result = check(record, at);
    if (!result.ok || at - record.lastSeenAt < renewalIntervalMs) return result;

    const idleExpiresAt = Math.min(at + idleTimeoutMs, record.absoluteExpiresAt);
    const patch = {
      lastSeenAt: at,
      idleExpiresAt,
      expiresAt: idleExpiresAt + retentionMs,
      ip: context.ip === undefined ? record.ip : context.ip,
      userAgent: context.userAgent === undefined ? record.userAgent : clipUserAgent(context.userAgent),
    };
    const updated = await store.updateSession(record.id, patch);
    // Revoked or deleted between the read and the write: the revocation wins.
    if (updated === null) return refuse('revoked');
    emit({ type: 'session.renewed', sessionId: record.id, userId: record.userId, at });
    return { ok: true, session: toSession(updated), renewed: true };
  };

  const manager: SessionManager<Data> = {
    async createSession(userId, createOptions = {}) {
      if (typeof userId !== 'string' || userId.length === 0) {
        throw new InvalidOptionError('"userId" must be a non-empty string');
      }
      const at = now();
      const ip = createOptions.ip ?? null;
      const userAgent = clipUserAgent(createOptions.userAgent ?? null);
      const { record, token } = newRecord(
        {
          userId,
          createdAt: at,
          absoluteExpiresAt: at + absoluteTimeoutMs,
          ip,
          userAgent,
          signInIp: ip,
          signInUserAgent: userAgent,
          data: createOptions.data ?? ({} as Data),
        },
        at,
      );
      if (maxSessionsPerUser === undefined) await store.createSession(record);
      const evicted =
        maxSessionsPerUser === undefined ? [] : await createCappedSession(store, record, maxSessionsPerUser);
      emit({ type: 'session.created', sessionId: record.id, userId, at });
      emitRevoked(evicted, at, 'evicted');
      return { session: toSession(record), token };
    },

    async validateSessionToken(token, context = {}) {
      const parsed = parseSessionToken(token);
      if (parsed === null) return refuse('malformed');
      const record = await store.getSession(parsed.id);
      // A wrong secret answers exactly like an unknown id: nothing tells an attacker the id exists.
      if (record === null || !constantTimeEqual(sha256Base64url(parsed.secret), record.secretHash)) {
        return refuse('not_found');
      }
      return renew(record, context);
    },

    async getSession(sessionId) {
      if (!isSessionId(sessionId)) return refuse('not_found');
      return check(await store.getSession(sessionId), now());
    },

    async touchSession(sessionId, context = {}) {
      if (!isSessionId(sessionId)) return refuse('not_found');
      const record = await store.getSession(sessionId);
      if (record === null) return refuse('not_found');
      return renew(record, context);
    },

    async rotateSession(sessionId, rotateOptions = {}) {
      if (!isSessionId(sessionId)) return null;
      const old = await store.getSession(sessionId);
      const at = now();
      if (old === null || invalidReason(old, at) !== null) return null;
      const { record, token } = newRecord(
        { ...old, ...(rotateOptions.data === undefined ? {} : { data: rotateOptions.data }) },
        at,
      );
      const rotated = await store.rotateSession(old.id, record);
      if (rotated === null) return null;
      emit({ type: 'session.rotated', sessionId: rotated.id, previousSessionId: old.id, userId: old.userId, at });
      return { session: toSession(rotated), token };
    },

    async updateSessionData(sessionId, data) {
      if (!isSessionId(sessionId)) return false;
      return (await store.updateSession(sessionId, { data })) !== null;
    },

    async revokeSession(sessionId, reason = 'revoked') {
      if (!isSessionId(sessionId)) return false;
      const at = now();
      const revoked = await store.revokeSession(sessionId, at);
      if (revoked === null) return false;
      emitRevoked([revoked], at, reason);
      return true;
    },

    async revokeUserSession(userId, sessionId) {
      if (!(await sessionBelongsTo(userId, sessionId))) return false;
      return manager.revokeSession(sessionId);
    },

    async revokeUserSessions(userId, revokeOptions = {}) {
      const at = now();
      const exceptId = revokeOptions.exceptSessionId;
      const revoked = await store.revokeUserSessions(userId, at, exceptId === undefined ? undefined : { exceptId });
      emitRevoked(revoked, at, revokeOptions.reason ?? 'user_revoked_all');
      return revoked.map((record) => record.id);
    },

    async deleteSession(sessionId) {
      if (!isSessionId(sessionId)) return false;
      const deleted = await store.deleteSession(sessionId);
      if (deleted === null) return false;
      emit({ type: 'session.deleted', sessionId, userId: deleted.userId, at: now() });
      return true;
    },

    async listUserSessions(userId, listOptions = {}) {
      const records = await store.listUserSessions(userId);
      const at = now();
      return records
        .filter((record) => invalidReason(record, at) === null)
        .sort(compareSessionAge)
        .map((record) => ({
          id: record.id,
          createdAt: new Date(record.createdAt),
          lastSeenAt: new Date(record.lastSeenAt),
          expiresAt: new Date(sessionExpiry(record)),
          ip: record.ip,
          userAgent: record.userAgent,
          signInIp: record.signInIp,
          signInUserAgent: record.signInUserAgent,
          current: record.id === listOptions.currentSessionId,
        }));
    },

    async deleteExpiredSessions() {
      return store.deleteExpired();
    },
  };
  return Object.freeze(manager);
}
