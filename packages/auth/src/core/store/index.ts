// For people who write a store: the wrapper every backend goes through, the one list of record fields, and the
// contracts. Run `describeStore` from `tessera-auth/testing` against the result. A store shared by several
// processes can offer a near cache its `invalidation()` hook: publish the changed ids from inside the mutations,
// and build the subscriber side with `createInvalidationChannel` (reconnection, health, fail-closed listeners).
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
