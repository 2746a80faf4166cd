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
