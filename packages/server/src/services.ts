import { createSessionManager, type SessionEvent, type SessionManager } from 'tessera-auth';
import { createTokenService, type TokenEvent, type TokenService } from 'tessera-auth';
import type { Logger } from 'tessera-auth';
import type { ServerConfig } from './config.js';
import type { ServerRuntime } from './runtime.js';

/** The session engine and token service as the server configures them. */
export interface ServerServices {
  sessions: SessionManager;
  tokens: TokenService;
}

/**
 * Builds the session engine and the token service from the configuration,
 * for the server and the CLI alike: the same timeouts, issuer, audience and
 * token lifetime decide what a listing shows and how long a rotated key keeps
 * verifying, wherever they are used from.
 */
export function createServerServices(
  config: ServerConfig,
  runtime: ServerRuntime,
  options: { logger: Logger; onEvent?: (event: SessionEvent | TokenEvent) => void; now?: () => number },
): ServerServices {
  const { logger, onEvent, now } = options;
  const hooks = { logger, ...(onEvent === undefined ? {} : { onEvent }), ...(now === undefined ? {} : { now }) };
  const sessions = createSessionManager(runtime.sessions, {
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    absoluteTimeoutSeconds: config.absoluteTimeoutSeconds,
    renewalIntervalSeconds: Math.min(60, Math.floor(config.idleTimeoutSeconds / 2)),
    maxSessionsPerUser: config.maxSessionsPerUser,
    binding: config.sessionBinding,
    ...hooks,
  });
  const tokens = createTokenService({
    sessions,
    store: runtime.sessions,
    // Keys stay in the database even when sessions live in Redis: a cache flush must not drop them.
    keyStore: runtime.database,
    keyCodec: runtime.keyCodec,
    issuer: 'tessera',
    audience: 'tessera',
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    refreshGraceSeconds: config.refreshGraceSeconds,
    ...hooks,
  });
  return { sessions, tokens };
}
