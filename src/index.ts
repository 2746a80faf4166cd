export * from './core/errors/index.js';
export * from './core/session/index.js';
export * from './core/store/index.js';
export * from './core/token/index.js';
