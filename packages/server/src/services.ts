import { createSessionManager, type SessionEvent, type SessionManager } from 'tessera-auth';
import { createTokenService, type TokenEvent, type TokenService } from 'tessera-auth';
import type { Logger } from 'tessera-auth';
import type { SessionLifetimes } from 'tessera-auth/http';
import type { ServerConfig } from './config.js';
import type { ServerRuntime } from './runtime.js';

/**
 * The lifetimes of sessions by transport: a token session gets the token timeouts, a `remember: false`
 * cookie session lives at most TESSERA_BROWSER_SESSION_MAX_AGE (and never longer than a remembered one).
 */
export function createServerLifetimes(config: ServerConfig): SessionLifetimes {
  return {
    token: {
      idleTimeoutSeconds: config.tokenIdleTimeoutSeconds,
      absoluteTimeoutSeconds: config.tokenAbsoluteTimeoutSeconds,
    },
    browserSession: {
      absoluteTimeoutSeconds: Math.min(config.absoluteTimeoutSeconds, config.browserSessionMaxAgeSeconds),
    },
  };
}

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
  options: {
    logger: Logger;
    onEvent?: (event: SessionEvent | TokenEvent) => void;
    now?: () => number;
    /** `false`: no near cache (the CLI: a command validates little and must not hold a subscriber open). */
    nearCache?: boolean;
  },
): ServerServices {
  const { logger, onEvent, now, nearCache } = options;
  const hooks = { logger, ...(onEvent === undefined ? {} : { onEvent }), ...(now === undefined ? {} : { now }) };
  const sessions = createSessionManager(runtime.sessions, {
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    absoluteTimeoutSeconds: config.absoluteTimeoutSeconds,
    // Token-transport sessions get their own lifetimes (createServerLifetimes): the ceilings let them.
    maxIdleTimeoutSeconds: Math.max(config.idleTimeoutSeconds, config.tokenIdleTimeoutSeconds),
    maxAbsoluteTimeoutSeconds: Math.max(config.absoluteTimeoutSeconds, config.tokenAbsoluteTimeoutSeconds),
    renewalIntervalSeconds: Math.min(60, Math.floor(config.idleTimeoutSeconds / 2)),
    maxSessionsPerUser: config.maxSessionsPerUser,
    ...(nearCache === undefined ? {} : { nearCache }),
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
