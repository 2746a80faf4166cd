export {
  coarseUserAgent,
  describeUserAgent,
  ipPrefix,
  isOtherClient,
  SESSION_BINDINGS,
  type CoarseUserAgent,
  type SessionBinding,
} from './client-facts.js';
export {
  NEW_DEVICE_MARK_MS,
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
