import { refuse, type CredentialFailure, type CredentialResult } from '../errors/credential-failure.js';
import { InvalidOptionError } from '../errors/errors.js';
import { guardStore } from '../store/define-store.js';
import type { JsonObject, JsonValue, SessionRecord, SessionStore } from '../store/types.js';
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
import { applyNearCache, type NearCacheSettings } from './near-cache.js';
import { describeUserAgent, ipPrefix, isOtherClient, SESSION_BINDINGS, type SessionBinding } from './client-facts.js';

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
  /**
   * When the user last proved a credential for this session: the sign-in, then each re-authentication
   * (see {@link SessionManager.rotateSession}). What step-up checks (`requireRecentAuth`) compare with.
   */
  authenticatedAt: Date;
  /** The session's cookie ends with the browser (no `Max-Age`): the user signed in without "remember me". */
  browserSession: boolean;
  /** Until when the session counts as signed in from a new device (see `createSession`'s `newDevice`); `null` when it never did. */
  newDeviceUntil: Date | null;
  data: Data;
}

/** {@link SessionRecord.cookieLifetime} of a session whose cookie ends with the browser. */
const BROWSER_COOKIE = 'browser';

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
  /** Signed in from a client not seen signing in to this account before, less than a day ago. */
  newDevice: boolean;
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
  /** Strict binding: the session was used from another browser or OS than it signed in with. */
  | 'binding_mismatch'
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
  | { type: 'session.deleted'; sessionId: string; userId: string; at: number }
  /**
   * The session was used from another IP address than the latest one it recorded (once per change: the new
   * address is recorded at once). The raw addresses are for the sink to keep or fingerprint; the prefixes
   * (/24, /48) say "same network or not" without them.
   */
  | {
      type: 'session.ip_changed';
      sessionId: string;
      userId: string;
      at: number;
      previousIp: string | null;
      ip: string | null;
      previousIpPrefix: string | null;
      ipPrefix: string | null;
    }
  /**
   * The session was used with another user agent than the latest one it recorded (once per change). The raw
   * headers are for the sink to keep or fingerprint; `previousDevice`/`device` are the coarse
   * `Chrome 120 on Windows`. `otherClient`: another browser family or OS than at sign-in, which the `strict`
   * binding revokes (reason `binding_mismatch`).
   */
  | {
      type: 'session.user_agent_changed';
      sessionId: string;
      userId: string;
      at: number;
      previousUserAgent: string | null;
      userAgent: string | null;
      previousDevice: string | null;
      device: string | null;
      otherClient: boolean;
    };

/** How long a session signed in from a new device carries the mark: a day. */
export const NEW_DEVICE_MARK_MS = 86_400_000;

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

/**
 * Per-session lifetimes for {@link SessionManager.createSession}, each at most the manager's ceiling
 * (`maxIdleTimeoutSeconds`, `maxAbsoluteTimeoutSeconds`): a longer one is cut to the ceiling.
 */
export interface SessionLifetime {
  /** Seconds without use after which this session ends; stored on the session, so renewals use it too. */
  idleTimeoutSeconds?: number;
  /** Seconds after creation after which this session ends, however active. */
  absoluteTimeoutSeconds?: number;
}

/** Options of {@link SessionManager.createSession}. */
export interface CreateSessionOptions<Data extends JsonObject = JsonObject> extends SessionContext, SessionLifetime {
  data?: Data;
  /**
   * The session's cookie should end with the browser ("remember me" off): recorded on the session
   * ({@link Session.browserSession}) so every cookie written for it is a browser-session cookie.
   * @default false
   */
  browserSession?: boolean;
  /**
   * The client was not seen signing in to this account before: the session is marked as a new device for
   * {@link NEW_DEVICE_MARK_MS} (a day), and the session list shows it as `newDevice`.
   * @default false
   */
  newDevice?: boolean;
}

/** Options of {@link createSessionManager}. */
export interface SessionManagerOptions extends NearCacheSettings {
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
   * The longest idle timeout a session may be given at creation ({@link CreateSessionOptions}).
   * @default idleTimeoutSeconds
   */
  maxIdleTimeoutSeconds?: number;
  /**
   * The longest absolute lifetime a session may be given at creation ({@link CreateSessionOptions}).
   * @default absoluteTimeoutSeconds
   */
  maxAbsoluteTimeoutSeconds?: number;
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
  /**
   * What a validation does when the request's IP or user agent differs from the latest ones the session
   * recorded: `off` nothing (they are recorded at the next renewal); `warn` emits `session.ip_changed` /
   * `session.user_agent_changed` once per change (the new value is recorded at once) and keeps the session;
   * `strict` does the same, and revokes the session (reason `binding_mismatch`, the request is refused as
   * `revoked`) when the browser family or the OS differs from the one that signed in. An IP change alone
   * only warns (mobile clients move); a browser's own upgrade is the same family.
   * @default "warn"
   */
  binding?: SessionBinding;
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
  createSession(userId: string, options?: CreateSessionOptions<Data>): Promise<SessionWithToken<Data>>;
  /**
   * Checks a token from a client: the session, or why not. Expected negatives
   * are results, never exceptions; a store failure throws
   * `StoreUnavailableError`. Renews the idle timeout at most once per
   * `renewalIntervalSeconds`, recording the context's IP and user agent; a
   * context that differs from the recorded ones is handled by the `binding`
   * option (events, or a revocation under `strict`).
   */
  validateSessionToken(token: unknown, context?: SessionContext): Promise<SessionValidationResult<Data>>;
  /** The live session with this public id, without renewing it; or why not. */
  getSession(sessionId: string): Promise<SessionValidationResult<Data>>;
  /**
   * Checks a session token like {@link SessionManager.validateSessionToken}
   * but changes nothing: no renewal, no `lastSeenAt` or IP recorded. For a
   * service asking about a token it holds (introspection), not for the
   * token's own client.
   */
  inspectSessionToken(token: unknown): Promise<SessionValidationResult<Data>>;
  /**
   * The live session with this public id, renewing its idle timeout exactly
   * as {@link SessionManager.validateSessionToken} does (at most once per
   * `renewalIntervalSeconds`): for callers that proved possession of the
   * session some other way, such as a refresh token bound to it.
   */
  touchSession(sessionId: string, context?: SessionContext): Promise<SessionValidationResult<Data>>;
  /**
   * Gives the session a new id and secret, keeping its data, creation time,
   * absolute limit and authentication time (call it at every privilege change).
   * `reauthenticated: true` records that the user has just proved a credential
   * again: the new session's `authenticatedAt` is now. `null` when the session
   * is no longer live or a concurrent rotation won.
   */
  rotateSession(
    sessionId: string,
    options?: { data?: Data; reauthenticated?: boolean },
  ): Promise<SessionWithToken<Data> | null>;
  /** Replaces the session's data. `false` when the session is no longer live. */
  updateSessionData(sessionId: string, data: Data): Promise<boolean>;
  /**
   * Merges top-level keys into the session's data in one atomic store step, so
   * concurrent merges of different keys all stay: each key of `partial`
   * replaces that key's value (nested objects are replaced, not merged); a key
   * set to `null` is removed; a key set to `undefined` is ignored (it has no
   * JSON form). The merged data; `null` when the session is no longer live.
   */
  mergeSessionData(
    sessionId: string,
    partial: Partial<Record<keyof Data, JsonValue | undefined>>,
  ): Promise<Data | null>;
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
  const idleTimeoutMs = positiveIntegerOption('idleTimeoutSeconds', options.idleTimeoutSeconds, 1800) * 1000;
  const absoluteTimeoutMs =
    positiveIntegerOption('absoluteTimeoutSeconds', options.absoluteTimeoutSeconds, 604_800) * 1000;
  const renewalIntervalMs = positiveIntegerOption('renewalIntervalSeconds', options.renewalIntervalSeconds, 60) * 1000;
  const retentionMs = positiveIntegerOption('expiredRetentionSeconds', options.expiredRetentionSeconds, 900) * 1000;
  const maxIdleTimeoutMs =
    positiveIntegerOption('maxIdleTimeoutSeconds', options.maxIdleTimeoutSeconds, idleTimeoutMs / 1000) * 1000;
  const maxAbsoluteTimeoutMs =
    positiveIntegerOption('maxAbsoluteTimeoutSeconds', options.maxAbsoluteTimeoutSeconds, absoluteTimeoutMs / 1000) *
    1000;
  const maxSessionsPerUser = positiveIntegerOption('maxSessionsPerUser', options.maxSessionsPerUser, undefined);
  const now = functionOption<() => number>('now', options.now, Date.now);
  const random = functionOption<RandomSource>('random', options.random, secureRandom);
  const onEvent = functionOption<(event: SessionEvent) => void>('onEvent', options.onEvent, undefined);
  const binding = options.binding ?? 'warn';
  if (!SESSION_BINDINGS.includes(binding)) {
    throw new InvalidOptionError(`"binding" must be one of ${SESSION_BINDINGS.join(', ')}`);
  }
  const logger = options.logger ?? silentLogger;
  const store = applyNearCache(guardStore(sessionStore), options, now);
  if (idleTimeoutMs > absoluteTimeoutMs) {
    throw new InvalidOptionError('"idleTimeoutSeconds" must not be greater than "absoluteTimeoutSeconds"');
  }
  if (renewalIntervalMs >= idleTimeoutMs) {
    throw new InvalidOptionError('"renewalIntervalSeconds" must be less than "idleTimeoutSeconds"');
  }
  if (maxIdleTimeoutMs < idleTimeoutMs || maxAbsoluteTimeoutMs < absoluteTimeoutMs) {
    throw new InvalidOptionError(
      '"maxIdleTimeoutSeconds" and "maxAbsoluteTimeoutSeconds" must not be below the defaults',
    );
  }

  /** A session's own lifetimes, milliseconds: the defaults, or the overrides cut to the ceilings. */
  const lifetimeOf = (lifetime: SessionLifetime): { idleMs: number; absoluteMs: number } => {
    const idle = positiveIntegerOption('idleTimeoutSeconds', lifetime.idleTimeoutSeconds, idleTimeoutMs / 1000);
    const absolute = positiveIntegerOption(
      'absoluteTimeoutSeconds',
      lifetime.absoluteTimeoutSeconds,
      absoluteTimeoutMs / 1000,
    );
    const idleMs = Math.min(idle * 1000, maxIdleTimeoutMs);
    // Renewal writes at most once per interval: an idle timeout at or below it would end sessions in use.
    if (idleMs <= renewalIntervalMs) {
      throw new InvalidOptionError('"idleTimeoutSeconds" must be greater than "renewalIntervalSeconds"');
    }
    return { idleMs, absoluteMs: Math.min(absolute * 1000, maxAbsoluteTimeoutMs) };
  };

  /** The idle timeout renewal gives a record: its own, or the default (records older than the field). */
  const idleTimeoutOf = (record: Pick<SessionRecord, 'idleTimeoutMs'>): number => record.idleTimeoutMs ?? idleTimeoutMs;

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
    authenticatedAt: new Date(record.authenticatedAt ?? record.createdAt),
    browserSession: record.cookieLifetime === BROWSER_COOKIE,
    newDeviceUntil: record.newDeviceUntil === null ? null : new Date(record.newDeviceUntil),
    data: record.data as Data,
  });

  const newRecord = (
    base: Omit<SessionRecord, 'id' | 'secretHash' | 'lastSeenAt' | 'idleExpiresAt' | 'expiresAt' | 'revokedAt'>,
    at: number,
  ): { record: SessionRecord; token: string } => {
    const id = generateSessionId(store.sessionIdPrefix?.(base.userId) ?? '', random);
    const secret = generateSessionSecret(random);
    const idleExpiresAt = Math.min(at + idleTimeoutOf(base), base.absoluteExpiresAt);
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

  /** The IP and user agent the request comes with (the recorded ones where the context says nothing), and what changed. */
  const clientSeen = (record: SessionRecord, context: SessionContext) => {
    const ip = context.ip === undefined ? record.ip : context.ip;
    const userAgent = context.userAgent === undefined ? record.userAgent : clipUserAgent(context.userAgent);
    return { ip, userAgent, ipChanged: ip !== record.ip, userAgentChanged: userAgent !== record.userAgent };
  };

  const emitDrift = (
    record: SessionRecord,
    seen: ReturnType<typeof clientSeen>,
    otherClient: boolean,
    at: number,
  ): void => {
    const { id: sessionId, userId } = record;
    if (seen.ipChanged) {
      emit({
        type: 'session.ip_changed',
        sessionId,
        userId,
        at,
        previousIp: record.ip,
        ip: seen.ip,
        previousIpPrefix: ipPrefix(record.ip),
        ipPrefix: ipPrefix(seen.ip),
      });
    }
    if (seen.userAgentChanged) {
      emit({
        type: 'session.user_agent_changed',
        sessionId,
        userId,
        at,
        previousUserAgent: record.userAgent,
        userAgent: seen.userAgent,
        previousDevice: describeUserAgent(record.userAgent),
        device: describeUserAgent(seen.userAgent),
        otherClient,
      });
    }
  };

  /**
   * Checks a live record against the binding and renews its idle timeout when the last renewal is older than
   * the interval. A changed IP or user agent is written at once (with a renewal) rather than at the next one,
   * so it is reported once, not on every request until then: a rare write, not one per request.
   */
  const renew = async (record: SessionRecord, context: SessionContext): Promise<SessionValidationResult<Data>> => {
    const at = now();
    const result = check(record, at);
    if (!result.ok) return result;
    const seen = clientSeen(record, context);
    const drifted = binding !== 'off' && (seen.ipChanged || seen.userAgentChanged);
    if (!drifted && at - record.lastSeenAt < renewalIntervalMs) return result;

    // Sessions older than the sign-in fields compare with the latest user agent instead.
    const otherClient =
      drifted && seen.userAgentChanged && isOtherClient(record.signInUserAgent ?? record.userAgent, seen.userAgent);
    if (binding === 'strict' && otherClient) {
      const revoked = await store.revokeSession(record.id, at);
      // Of concurrent requests with the copied cookie, the one that revoked reports it; every one is refused.
      if (revoked !== null) {
        emitDrift(record, seen, otherClient, at);
        emitRevoked([revoked], at, 'binding_mismatch');
      }
      return refuse('revoked');
    }

    const idleExpiresAt = Math.min(at + idleTimeoutOf(record), record.absoluteExpiresAt);
    const patch = {
      lastSeenAt: at,
      idleExpiresAt,
      expiresAt: idleExpiresAt + retentionMs,
      ip: seen.ip,
      userAgent: seen.userAgent,
    };
    const updated = await store.updateSession(record.id, patch);
    // Revoked or deleted between the read and the write: the revocation wins.
    if (updated === null) return refuse('revoked');
    emit({ type: 'session.renewed', sessionId: record.id, userId: record.userId, at });
    if (drifted) emitDrift(record, seen, otherClient, at);
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
      const { idleMs, absoluteMs } = lifetimeOf(createOptions);
      const { record, token } = newRecord(
        {
          userId,
          createdAt: at,
          absoluteExpiresAt: at + absoluteMs,
          ip,
          userAgent,
          signInIp: ip,
          signInUserAgent: userAgent,
          authenticatedAt: at,
          idleTimeoutMs: idleMs === idleTimeoutMs ? null : idleMs,
          cookieLifetime: createOptions.browserSession === true ? BROWSER_COOKIE : null,
          newDeviceUntil: createOptions.newDevice === true ? at + NEW_DEVICE_MARK_MS : null,
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

    async inspectSessionToken(token) {
      const parsed = parseSessionToken(token);
      if (parsed === null) return refuse('malformed');
      const record = await store.getSession(parsed.id);
      if (record === null || !constantTimeEqual(sha256Base64url(parsed.secret), record.secretHash)) {
        return refuse('not_found');
      }
      return check(record, now());
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
        {
          ...old,
          ...(rotateOptions.data === undefined ? {} : { data: rotateOptions.data }),
          ...(rotateOptions.reauthenticated === true ? { authenticatedAt: at } : {}),
        },
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

    async mergeSessionData(sessionId, partial) {
      if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) {
        throw new InvalidOptionError('"partial" must be an object of top-level data keys');
      }
      if (!isSessionId(sessionId)) return null;
      // JSON text drops `undefined` keys: what goes to the store is exactly what the JSON form says.
      const merged = await store.mergeSessionData(sessionId, JSON.parse(JSON.stringify(partial)) as JsonObject);
      return merged === null ? null : (merged.data as Data);
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
          newDevice: record.newDeviceUntil !== null && at < record.newDeviceUntil,
          current: record.id === listOptions.currentSessionId,
        }));
    },

    async deleteExpiredSessions() {
      return store.deleteExpired();
    },
  };
  return Object.freeze(manager);
}
