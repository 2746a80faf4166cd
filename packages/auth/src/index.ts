// What an application uses: the session engine, tokens, CSRF, cookies, throttles, cleanup, and the errors to
// catch. Building a store: `tessera-auth/stores`; the HTTP layer: `tessera-auth/http`; every error type:
// `tessera-auth/errors`.
export {
  InvalidOptionError,
  isTesseraError,
  KeyInvalidError,
  StoreConflictError,
  StoreUnavailableError,
  TesseraError,
} from './core/errors/index.js';
export * from './core/session/index.js';
export type { JsonObject, JsonValue, KeyValueStore, SessionStore, Store } from './core/store/index.js';
export * from './core/cleanup/index.js';
export * from './core/cookie/index.js';
export {
  createCSRFProtection,
  type CSRFOptions,
  type CSRFProtection,
  type CSRFSecrets,
  type RequestSource,
} from './core/csrf/index.js';
export * from './core/device/index.js';
export * from './core/rate-limit/index.js';
export * from './core/token/index.js';
export type { Logger } from './internal/logger.js';
export type { RandomSource } from './internal/crypto.js';
