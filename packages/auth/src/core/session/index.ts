export {
  createSessionManager,
  type Session,
  type SessionContext,
  type SessionEvent,
  type SessionInfo,
  type SessionManager,
  type SessionManagerOptions,
  type SessionRevokeReason,
  type SessionValidationResult,
  type SessionWithToken,
} from './session-manager.js';
