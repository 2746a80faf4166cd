export { isSessionRecord, parseSessionRecord } from './session-record.js';
export { ttlMilliseconds } from './ttl.js';
export type {
  CreateSessionOptions,
  JsonObject,
  JsonValue,
  SessionPatch,
  SessionRecord,
  SessionStore,
} from './types.js';
