/**
 * The admin API's own audit events, besides the account lifecycle's (`user.*`, whose `adminKey` names the key):
 * `adminKey` is always the key's name, never the key.
 */
export type AdminEvent =
  | { type: 'admin.user_looked_up'; adminKey: string; userId: string | null }
  | { type: 'admin.sessions_listed'; adminKey: string; userId: string }
  | { type: 'admin.session_revoked'; adminKey: string; sessionId: string; userId: string }
  /** A request to `/admin/` without a live admin key: no header, another kind of credential, a revoked or expired key. */
  | { type: 'admin.refused'; reason: 'unauthenticated' | 'invalid_token'; ip: string | null };
