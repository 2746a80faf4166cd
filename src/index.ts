export * from './core/errors/index.js';
export * from './core/session/index.js';
export * from './core/store/index.js';
export * from './core/cleanup/index.js';
export type { Logger } from './internal/logger.js';
export type { RandomSource } from './internal/crypto.js';
export * from './core/cookie/index.js';
export * from './core/csrf/index.js';
export * from './core/rate-limit/index.js';
