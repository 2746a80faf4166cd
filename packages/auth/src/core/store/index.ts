// For people who write a store: the wrapper every backend goes through, the one list of record fields, and the
// contracts. Run `describeStore` from `tessera-auth/testing` against the result.
export { defineStore, guardStore, type DefineStoreOptions, type StoreBackend } from './define-store.js';
export { isSessionRecord, parseSessionRecord, SESSION_FIELDS, type SessionFieldSpec } from './session-record.js';
export { ttlMilliseconds } from './ttl.js';
export type {
  JsonObject,
  JsonValue,
  KeyValueStore,
  SessionPatch,
  SessionRecord,
  SessionStore,
  Store,
} from './types.js';
export {
  createInvalidationChannel,
  type ClosableSessionInvalidation,
  type InvalidationChannelOptions,
  type InvalidationConnection,
  type InvalidationConnectionEvents,
  type SessionInvalidation,
  type SessionInvalidationListener,
} from './invalidation.js';
