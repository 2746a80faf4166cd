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
    /** The origin users reach, asked when a token is signed or verified (the server knows its port once listening). */
    publicOrigin?: () => string;
  },
): ServerServices {
  const { logger, onEvent, now, nearCache } = options;
  const publicOrigin = options.publicOrigin ?? (() => configuredOrigin(config));
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
    algorithm: config.signingAlgorithm,
    // Unset, both are the public URL: what a verifier elsewhere knows the server by.
    issuer: config.issuer ?? publicOrigin,
    audience: config.audiences ?? (() => publicOrigin()),
    accessTokenTtlSeconds: config.accessTokenTtlSeconds,
    refreshGraceSeconds: config.refreshGraceSeconds,
    ...hooks,
  });
  return { sessions, tokens };
}

/** The origin users reach as the configuration alone says it: the public URL, else the loopback address and port. */
export function configuredOrigin(config: ServerConfig): string {
  return config.publicURL ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}

/**
 * Makes the signing key one of the configured algorithm: when the current key is of another (the setting
 * changed), a rotation. The previous key stays in the JWKS and verifies until its last token expires, so
 * no live token is refused. Returns the new key's id, or `null` when nothing changed.
 */
export async function alignSigningAlgorithm(config: ServerConfig, tokens: TokenService): Promise<string | null> {
  const [current] = await tokens.listKeys();
  if (current === undefined || current.alg === config.signingAlgorithm) return null;
  return (await tokens.rotateKeys()).kid;
}
