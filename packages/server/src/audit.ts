import type { Logger as PinoLogger } from 'pino';
import type { SessionEvent } from 'tessera-auth';
import type { TokenEvent } from 'tessera-auth';
import type { HttpAuthEvent } from 'tessera-auth/http';
import type { AccountLifecycleEvent } from './accounts/account-lifecycle.js';
import type { AdminEvent } from './admin/admin-events.js';
import type { Fingerprint } from './logging.js';
import type { ServerMetrics } from './metrics.js';

/** The server's own audit event: a password was changed (the session is the one that changed it). */
export type PasswordChangedEvent = { type: 'password.changed'; userId: string; sessionId: string };

/**
 * The server's audit event: a user's sessions were revoked at once (signing out everywhere else, or
 * `tessera sessions revoke --user`). One event for the whole operation (each session also has its own
 * `session.revoked`); `sessionId` is the session that asked, which stays signed in, if one did.
 */
export type UserSessionsRevokedEvent = {
  type: 'user.sessions_revoked';
  userId: string;
  sessionId?: string;
  /** The sessions revoked (left out of the log line; webhooks carry them). */
  sessionIds: string[];
};

/**
 * Every event the server audits: the session engine's, the token service's, the HTTP layer's and its own (a
 * password change, a user's sessions revoked at once, an account's lifecycle, the admin API's reads and refusals).
 */
export type AuditEvent =
  | SessionEvent
  | TokenEvent
  | HttpAuthEvent
  | PasswordChangedEvent
  | UserSessionsRevokedEvent
  | AccountLifecycleEvent
  | AdminEvent;

/** Takes one audit event: a log line, and the counters it moves. */
export type AuditSink = (event: AuditEvent) => void;

/**
 * The server's audit event sink: every auth event becomes one structured log line (`auth event`), in which ids,
 * account names and full user agents are keyed fingerprints, and the login, revocation and reuse counters move with it.
 */
export function createAuditSink(logger: PinoLogger, fingerprint: Fingerprint, metrics: ServerMetrics): AuditSink {
  return (event) => {
    logger.info(auditLine(event, fingerprint), 'auth event');
    countEvent(event, metrics);
  };
}

function auditLine(event: AuditEvent, fingerprint: Fingerprint): Record<string, unknown> {
  const line: Record<string, unknown> = { event: event.type };
  for (const [key, value] of Object.entries(event)) {
    if (key === 'type') continue;
    if (key === 'account') {
      // The email someone tried: never raw in a log, yet the same account always gives the same fingerprint.
      line.account_fp = typeof value === 'string' ? fingerprint(`account:${value}`) : null;
    } else if (key === 'sessionId' || key === 'previousSessionId' || key === 'sid' || key === 'jti') {
      line[key.replace(/Id$/, '') + '_fp'] = typeof value === 'string' ? fingerprint(value) : value;
    } else if (key === 'userAgent' || key === 'previousUserAgent') {
      // A full user agent narrows down who someone is: fingerprinted, the coarse `device` fields say the rest.
      line[`${key}_fp`] = typeof value === 'string' ? fingerprint(`user-agent:${value}`) : null;
    } else if (key === 'ip' && typeof value === 'string') {
      line.ip = value;
    } else if (typeof value !== 'object' || value === null) {
      line[key] = value;
    }
  }
  return line;
}

function countEvent(event: AuditEvent, metrics: ServerMetrics): void {
  switch (event.type) {
    case 'session.revoked':
      metrics.revocations.inc({ reason: event.reason });
      break;
    case 'refresh.reuse_detected':
      metrics.reuseDetections.inc();
      break;
    case 'login.failed':
      metrics.logins.inc({ outcome: 'invalid_credentials' });
      break;
    case 'rate_limit.exceeded':
      if (event.limit === 'login') metrics.logins.inc({ outcome: 'rate_limited' });
      break;
    case 'login.succeeded':
      metrics.logins.inc({ outcome: 'success' });
      break;
    default:
      break;
  }
}
