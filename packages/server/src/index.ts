// The server as a module, for people who start it from their own process instead of the `tessera` command.
export { createTesseraServer, type TesseraServer, type TesseraServerOptions } from './app.js';
export { ConfigurationError, loadServerConfig, type ConfigResult, type ServerConfig } from './config.js';
export { createServerLogger } from './logging.js';
export { openServerRuntime, type ServerRuntime } from './runtime.js';
export { startServer, type RunningServer } from './serve.js';
