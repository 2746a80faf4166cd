/**
 * The events Tessera sends to webhook endpoints, and how they are made from
 * the server's audit events. Payloads carry ids only (the user's id, a
 * session's public id): never a token, a password or an email address.
 */

/** Why a session was revoked, as its audit event says (`revoked`, `evicted`, `refresh_reused`, ...). */
export type WebhookRevokeReason = string;

/** `session.revoked`: one session ended before its time. */
export interface SessionRevokedData {
  userId: string;
  sessionId: string;
  reason: WebhookRevokeReason;
}

/** `user.sessions_revoked`: several sessions of a user ended at once (sign out everywhere, an administrator). */
export interface UserSessionsRevokedData {
  userId: string;
  /** The sessions it ended, when the event names them. */
  sessionIds?: string[];
  /** The session kept (the one that asked to sign out everywhere else), when there is one. */
  keptSessionId?: string;
}

/** `password.changed`: the password changed; every other session of the user was revoked. */
export interface PasswordChangedData {
  userId: string;
  /** The session that changed it (it stays signed in). */
  sessionId: string;
}

/** `refresh.reuse_detected`: a used refresh token came back; its session was revoked. */
export interface RefreshReuseDetectedData {
  userId: string;
  sessionId: string;
  kind?: string;
}

/** `user.disabled` and `user.deleted`. */
export interface UserData {
  userId: string;
}

/** `login.new_device`: a sign-in from a client not seen signing in to this account before. */
export interface NewDeviceLoginData {
  userId: string;
  sessionId?: string;
  ip?: string;
}

/** Every event type a webhook endpoint receives, with the shape of its `data`. */
export interface WebhookEventData {
  'session.revoked': SessionRevokedData;
  'user.sessions_revoked': UserSessionsRevokedData;
  'password.changed': PasswordChangedData;
  'refresh.reuse_detected': RefreshReuseDetectedData;
  'user.disabled': UserData;
  'user.deleted': UserData;
  'login.new_device': NewDeviceLoginData;
}

/** The name of an event type webhooks carry. */
export type WebhookEventType = keyof WebhookEventData;

/** The event types, in the order the documentation lists them. */
export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = [
  'session.revoked',
  'user.sessions_revoked',
  'password.changed',
  'refresh.reuse_detected',
  'user.disabled',
  'user.deleted',
  'login.new_device',
];

/** A webhook's body (Standard Webhooks): the type, when it happened (ISO 8601), and its data. */
export type WebhookPayload = {
  [Type in WebhookEventType]: { type: Type; timestamp: string; data: WebhookEventData[Type] };
}[WebhookEventType];

/** Any audit event: a `type` and fields; those of events other parts of the server add are read by name. */
export type AuditEventLike = { readonly type: string };

const text = (fields: Record<string, unknown>, key: string): string | undefined => {
  const value = fields[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
};

const texts = (fields: Record<string, unknown>, key: string): string[] | undefined => {
  const value = fields[key];
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? (value as string[]) : undefined;
};

/** Copies the optional fields that are present, so a payload never holds `undefined`. */
function present<T extends object>(data: T): T {
  return Object.fromEntries(Object.entries(data).filter(([, value]) => value !== undefined)) as T;
}

/**
 * The webhook an audit event becomes, or `null` when it is not one webhooks
 * carry (or lacks the user id every payload needs). `now` (epoch ms) dates an
 * event that carries no `at` of its own.
 */
export function webhookFromAuditEvent(event: AuditEventLike, now: number): WebhookPayload | null {
  const fields = event as Record<string, unknown>;
  const userId = text(fields, 'userId');
  if (userId === undefined) return null;
  const at = typeof fields.at === 'number' && Number.isFinite(fields.at) ? fields.at : now;
  const timestamp = new Date(at).toISOString();
  const sessionId = text(fields, 'sessionId');
  switch (event.type) {
    case 'session.revoked':
      if (sessionId === undefined) return null;
      return { type: event.type, timestamp, data: { userId, sessionId, reason: text(fields, 'reason') ?? 'revoked' } };
    case 'user.sessions_revoked':
      return {
        type: event.type,
        timestamp,
        data: present({
          userId,
          sessionIds: texts(fields, 'sessionIds'),
          // The session that asked (signing out everywhere else) is the event's own `sessionId`.
          keptSessionId: text(fields, 'keptSessionId') ?? sessionId,
        }),
      };
    case 'password.changed':
      if (sessionId === undefined) return null;
      return { type: event.type, timestamp, data: { userId, sessionId } };
    case 'refresh.reuse_detected':
      if (sessionId === undefined) return null;
      return { type: event.type, timestamp, data: present({ userId, sessionId, kind: text(fields, 'kind') }) };
    case 'user.disabled':
    case 'user.deleted':
      return { type: event.type, timestamp, data: { userId } };
    case 'login.new_device':
      return { type: event.type, timestamp, data: present({ userId, sessionId, ip: text(fields, 'ip') }) };
    default:
      return null;
  }
}
