// Test kits for people who write a store or embed the library: run the same suites this repository runs.
// They use vitest (`describe`/`it`/`expect`), an optional peer of this package.
export { createFaultyStore, type FaultyStore } from './failing-store.js';
export { describeRefreshTokens, type RefreshStoreFactory } from './refresh-token-suite.js';
export { makeSessionRecord } from './session-records.js';
export { describeStore, type StoreFactory } from './store-conformance.js';
