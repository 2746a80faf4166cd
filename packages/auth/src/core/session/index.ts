export {
  createSessionManager,
  type CreateSessionOptions,
  type Session,
  type SessionContext,
  type SessionEvent,
  type SessionInfo,
  type SessionLifetime,
  type SessionManager,
  type SessionManagerOptions,
  type SessionRevokeReason,
  type SessionValidationResult,
  type SessionWithToken,
} from './session-manager.js';
