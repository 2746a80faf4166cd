import { createSessionCookie, type SessionCookie } from '../core/cookie/session-cookie.js';
import { createCSRFProtection, type CSRFProtection } from '../core/csrf/csrf.js';
import { createDeviceCookie, type DeviceCookie } from '../core/device/device-cookie.js';
import { InvalidOptionError } from '../core/errors/errors.js';
import { createLoginThrottle, type LoginThrottle } from '../core/rate-limit/rate-limit.js';
import { createMemoryStore } from '../stores/memory/memory-store.js';
import type { Session, SessionManager } from '../core/session/session-manager.js';
import type { JsonObject } from '../core/store/types.js';
import type { TokenService } from '../core/token/token-service.js';
import { secureRandom } from '../internal/crypto.js';
import { createEmitter } from '../internal/events.js';
import { functionOption } from '../internal/options.js';
import { silentLogger, type Logger } from '../internal/logger.js';
import { apiErrorFromException } from './api-error.js';
import type { RequestFacts } from './request-facts.js';
import type { AuthFailure, AuthState, HttpAuthEvent, HttpAuthOptions, HttpResult } from './types.js';

/** What every part of the HTTP layer shares, built once from the options. */
export interface HttpAuthContext<Data extends JsonObject> {
  sessions: SessionManager<Data>;
  tokens: TokenService | undefined;
  cookie: SessionCookie;
  csrf: CSRFProtection;
  devices: DeviceCookie;
  loginThrottle: LoginThrottle | null;
  options: HttpAuthOptions<Data>;
  emit: (event: HttpAuthEvent) => void;
  /** The origin `Origin` is compared with for this request. */
  ownOrigin: (request: RequestFacts) => string;
  /** The raw access token of a bearer request, kept off the state object so it is not passed around or logged. */
  bearerTokens: WeakMap<AuthState<Data>, string>;
  anonymous: (failure?: AuthFailure | null, setCookies?: string[]) => AuthState<Data>;
  /** The session cookie for `session`: until it expires, or until the browser closes for a browser session. */
  sessionCookie: (token: string, session: Session<Data>) => string;
  now: () => number;
  /** Runs a step that may hit a store; a store failure becomes 503, anything else propagates as a bug. */
  guarded: <T>(run: () => Promise<HttpResult<T>>) => Promise<HttpResult<T>>;
}

let warnedMemoryThrottle = false;

/** The login throttle to use: the caller's, none when they opt out with `false`, or counters in this process's memory. */
function resolveLoginThrottle(option: LoginThrottle | false | undefined, logger: Logger): LoginThrottle | null {
  if (option === false) return null;
  if (option !== undefined) {
    if (typeof option?.attempt !== 'function') {
      throw new InvalidOptionError('"loginThrottle" must be a login throttle (createLoginThrottle) or false');
    }
    return option;
  }
  if (globalThis.process?.env?.NODE_ENV === 'production' && !warnedMemoryThrottle) {
    warnedMemoryThrottle = true;
    const message =
      'Tessera: login attempts are counted in this process only. With several instances, pass ' +
      '"loginThrottle: createLoginThrottle({ store: … })" on a shared backend (Redis, PostgreSQL, SQLite).';
    if (logger === silentLogger) process.emitWarning(message, { code: 'TESSERA_MEMORY_LOGIN_THROTTLE' });
    else logger.warn({ event: 'login_throttle.in_memory' }, message);
  }
  // Counters that die with the process need no stable key: a random one keeps account names out of them all the same.
  // The memory store's own production warning would repeat the one above: it goes to a silent logger.
  const store = createMemoryStore({ logger: silentLogger });
  return createLoginThrottle({ store, keySecret: secureRandom(32) });
}

/** Checks the options and builds the shared parts: cookies, CSRF, throttle, events. */
export function createHttpAuthContext<Data extends JsonObject>(options: HttpAuthOptions<Data>): HttpAuthContext<Data> {
  if (typeof options.sessions?.validateSessionToken !== 'function') {
    throw new InvalidOptionError('"sessions" must be a session manager (createSessionManager)');
  }
  const logger = options.logger ?? silentLogger;
  const configuredOrigin = options.ownOrigin;
  const cookie = createSessionCookie(options.cookie);
  return {
    sessions: options.sessions,
    tokens: options.tokens,
    cookie,
    sessionCookie: (token, session) => cookie.serialize(token, session.browserSession ? null : session.expiresAt),
    now: functionOption<() => number>('now', options.now, Date.now),
    csrf: createCSRFProtection({
      secrets: options.csrfSecrets,
      ...(options.allowedOrigins === undefined ? {} : { allowedOrigins: options.allowedOrigins }),
    }),
    devices: createDeviceCookie({
      secrets: options.csrfSecrets,
      insecure: options.cookie?.insecure === true,
      ...(options.deviceCookie?.name === undefined ? {} : { name: options.deviceCookie.name }),
      ...(options.deviceCookie?.maxAgeSeconds === undefined
        ? {}
        : { maxAgeSeconds: options.deviceCookie.maxAgeSeconds }),
    }),
    loginThrottle: resolveLoginThrottle(options.loginThrottle, logger),
    options,
    emit: createEmitter(options.onEvent, logger, 'HTTP auth'),
    ownOrigin: (request) =>
      configuredOrigin === undefined
        ? request.origin
        : typeof configuredOrigin === 'string'
          ? configuredOrigin
          : configuredOrigin(request),
    bearerTokens: new WeakMap(),
    anonymous: (failure = null, setCookies = []) => ({
      transport: null,
      session: null,
      failure,
      accessToken: null,
      setCookies,
    }),
    async guarded<T>(run: () => Promise<HttpResult<T>>): Promise<HttpResult<T>> {
      try {
        return await run();
      } catch (error) {
        const mapped = apiErrorFromException(error);
        if (mapped === null) throw error;
        return { ok: false, error: mapped };
      }
    },
  };
}
