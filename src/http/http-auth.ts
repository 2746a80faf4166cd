import { createSessionCookie, type SessionCookie, type SessionCookieOptions } from '../core/cookie/session-cookie.js';
import { createCSRFProtection, isSafeMethod, type CSRFSecrets, type RequestSourceVerdict } from '../core/csrf/csrf.js';
import { createDeviceCookie, type DeviceCookie } from '../core/device/device-cookie.js';
import { InvalidOptionError } from '../core/errors/errors.js';
import {
  createLoginThrottle,
  memoryRateLimiters,
  type LoginThrottle,
  type RequestLimit,
} from '../core/rate-limit/rate-limit.js';
import type { Session, SessionManager } from '../core/session/session-manager.js';
import type { JsonObject } from '../core/store/types.js';
import type { AccessTokenClaims } from '../core/token/access-token.js';
import type { TokenPair, TokenService } from '../core/token/token-service.js';
import { secureRandom } from '../internal/crypto.js';
import { createEmitter } from '../internal/events.js';
import { silentLogger, type Logger } from '../internal/logger.js';
import {
  apiError,
  apiErrorForCredential,
  apiErrorFromException,
  type ApiError,
  type AuthFailure,
} from './api-error.js';

/** Reads a request header by lower-case name. Node's `IncomingHttpHeaders` and Web `Headers` both fit through {@link headerReader}. */
export type HeaderReader = (name: string) => string | undefined;

/** What the HTTP layer needs to know about a request; adapters fill it in. */
export interface RequestFacts {
  method: string;
  /** The path and query string as received. */
  url: string;
  headers: HeaderReader;
  /** The client IP, as the framework resolved it (with its proxy trust settings). */
  ip: string | null;
  /** This server's origin as the browser sees it, e.g. `https://auth.example.com`. */
  origin: string;
  /** The `_csrf` field of a form body, when the adapter parsed one. */
  csrfField?: string | undefined;
}

/** The token transport's answer to login and refresh, in the shape of an OAuth token response (API.md). */
export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  /** Seconds until the access token expires. */
  expires_in: number;
}

const toTokenResponse = (pair: TokenPair): TokenResponse => ({
  access_token: pair.accessToken,
  refresh_token: pair.refreshToken,
  token_type: pair.tokenType,
  expires_in: pair.expiresIn,
});

/** Who a request is, as far as its credentials say. */
export interface AuthState<Data extends JsonObject = JsonObject> {
  /** How the request authenticated; `null` when it did not. */
  transport: 'cookie' | 'bearer' | null;
  session: Session<Data> | null;
  /** Why presented credentials failed; `null` when none were presented, or they worked. */
  failure: AuthFailure | null;
  /** The verified access token's claims, for bearer requests. */
  accessToken: AccessTokenClaims | null;
  /** `Set-Cookie` values the response must carry (a renewed or a cleared session cookie). */
  setCookies: string[];
}

/** Audit events of the HTTP layer. Never carries a credential. */
export type HttpAuthEvent =
  | {
      type: 'csrf.rejected';
      reason: 'missing_token' | 'bad_token' | Exclude<RequestSourceVerdict, null>;
      ip: string | null;
    }
  | { type: 'rate_limit.exceeded'; limit: 'login' | 'session'; ip: string | null }
  | {
      type: 'login.succeeded';
      userId: string;
      sessionId: string;
      ip: string | null;
      /** No valid device cookie for this account came with the request: a client not seen signing in here before. */
      newDevice: boolean;
    }
  /** `account` is the account name tried (e.g. an email): fingerprint it before it reaches a log. */
  | { type: 'login.failed'; account: string; ip: string | null }
  | { type: 'logout'; userId: string; sessionId: string };

/** Options of {@link createHttpAuth}. */
export interface HttpAuthOptions<Data extends JsonObject = JsonObject> {
  sessions: SessionManager<Data>;
  /** Enables the bearer transport (login with `transport: "token"`, refresh, `Authorization: Bearer`). */
  tokens?: TokenService;
  /**
   * Server secrets for CSRF tokens, each ≥ 32 bytes; the first signs, all
   * verify. Or a function returning the current list, asked on every use, to
   * rotate them without a restart.
   */
  csrfSecrets: CSRFSecrets;
  /** Origins allowed on cookie requests besides the server's own. */
  allowedOrigins?: readonly string[];
  /**
   * The server's own origin as users reach it, e.g. `https://auth.example.com`: what `Origin` is compared
   * with, instead of each request's {@link RequestFacts.origin} (built from the `Host` header, which a
   * DNS-rebinding page chooses). A function is asked per request, e.g. when the port is known only once
   * the server listens. Set it wherever the server can be reached under a name it does not check.
   * @default the request's own origin
   */
  ownOrigin?: string | ((request: RequestFacts) => string);
  cookie?: SessionCookieOptions;
  /**
   * Brute-force protection for {@link HttpAuth.login} and
   * {@link HttpAuth.verifyCredentials}. Without one, the counters live in this
   * process's memory (with a one-time warning when `NODE_ENV=production`:
   * several instances need a shared backend, e.g. `createLoginThrottle` on
   * `createRedisRateLimiters`). `false` turns throttling off: only for a
   * caller that throttles password checks itself.
   * @default createLoginThrottle({ limiters: memoryRateLimiters, … })
   */
  loginThrottle?: LoginThrottle | false;
  /**
   * The device cookie that lets a client which has signed in to an account
   * before keep its own login budget during a lockout (signed with
   * `csrfSecrets`; `Secure` unless `cookie.insecure`).
   */
  deviceCookie?: {
    /**
     * The cookie's name without the `__Host-` prefix.
     * @default "tessera-device"
     */
    name?: string;
    /**
     * How long a device stays known after its last sign-in, seconds.
     * @default 31536000 (365 days)
     */
    maxAgeSeconds?: number;
  };
  /** A request budget per session, checked by {@link HttpAuth.limitRequest}. Off when absent. */
  sessionRequestLimit?: RequestLimit;
  onEvent?: (event: HttpAuthEvent) => void;
  logger?: Logger;
}

/** Either a value or the API error to answer with. */
export type HttpResult<T> = { ok: true; value: T } | { ok: false; error: ApiError };

/**
 * What a login hands back: for the cookie transport, cookies to set and a CSRF token; for the token transport, a pair.
 * `state` is who the rest of the request is: the new cookie session, or nobody (the old session is gone).
 */
export type LoginResult<Data extends JsonObject> = OpenedSession<Data> & {
  /** No valid device cookie for this account came with the request (always `true` from {@link HttpAuth.startSession}). */
  newDevice: boolean;
};

type OpenedSession<Data extends JsonObject> =
  | { transport: 'cookie'; session: Session<Data>; csrfToken: string; setCookies: string[]; state: AuthState<Data> }
  | { transport: 'token'; session: Session<Data>; tokens: TokenResponse; setCookies: string[]; state: AuthState<Data> };

/** A password check: the account name tried and how to check the password. */
export interface CredentialsAttempt {
  /** The account name as the throttle and the device cookie know it (e.g. the normalised email). */
  account: string;
  /** Resolves to the user id for good credentials, `null` otherwise. */
  verify: () => Promise<string | null>;
}

/** What {@link HttpAuth.login} needs: the credentials, and what to start. */
export interface LoginAttempt<Data extends JsonObject = JsonObject> extends CredentialsAttempt {
  /** @default "cookie" */
  transport?: 'cookie' | 'token';
  data?: Data;
  /**
   * Runs after the new session (and token pair) exists, before anything is
   * answered; `false` deletes the session and answers 401
   * `invalid_credentials`. For checks that must come after the session
   * exists: "the password I verified is still the account's" closes the
   * race with a password change whose "sign out everywhere else" ran while
   * this login was still checking the old password.
   */
  confirm?: (session: Session<Data>) => Promise<boolean>;
}

/** A password that passed {@link HttpAuth.verifyCredentials}. */
export interface VerifiedCredentials {
  userId: string;
  /** No valid device cookie for this account came with the request. */
  newDevice: boolean;
  /** `Set-Cookie` values the response must carry (the refreshed device cookie). */
  setCookies: string[];
}

/** The framework-neutral HTTP layer every adapter and the server stand on. */
export interface HttpAuth<Data extends JsonObject = JsonObject> {
  readonly cookie: SessionCookie;
  /** Reads the bearer token or session cookie (never a URL) and validates it. */
  authenticate(request: RequestFacts): Promise<HttpResult<AuthState<Data>>>;
  /** CSRF and request-source checks for a cookie-authenticated request; `null` when it may proceed. */
  verifyCSRF(request: RequestFacts, state: AuthState<Data>): ApiError | null;
  /** The Fetch Metadata / `Origin` check alone: for sign-up and login, which have no session yet (login CSRF). */
  verifyRequestSource(request: RequestFacts): ApiError | null;
  /** `null` when the request has a session; otherwise the 401 to answer with. */
  requireAuth(state: AuthState<Data>): ApiError | null;
  /** Spends one request of the session's budget, when a per-session limit is configured. */
  limitRequest(request: RequestFacts, state: AuthState<Data>): Promise<ApiError | null>;
  /**
   * Signs a user in: charges the login throttle (per account, or per known
   * device, and per IP) before calling `verify`, which returns the user id for
   * good credentials and `null` otherwise; then starts a fresh session — any
   * session the client had is ended, never reused — runs `confirm`, and sets
   * the device cookie.
   */
  login(
    request: RequestFacts,
    state: AuthState<Data>,
    attempt: LoginAttempt<Data>,
  ): Promise<HttpResult<LoginResult<Data>>>;
  /**
   * Checks a password under the same throttle as {@link HttpAuth.login}, for
   * flows that prove the password again without signing in (a password
   * change): 429 `rate_limited` when over budget, 401 `invalid_credentials`
   * for a wrong password.
   */
  verifyCredentials(request: RequestFacts, attempt: CredentialsAttempt): Promise<HttpResult<VerifiedCredentials>>;
  /**
   * Starts a fresh session for an already-verified user (after sign-up), ending any session the client had.
   * With `account` (the name a login would use) a cookie session also gets that account's device cookie:
   * the client that created the account is a known device from then on.
   */
  startSession(
    request: RequestFacts,
    state: AuthState<Data>,
    userId: string,
    options?: { transport?: 'cookie' | 'token'; data?: Data; account?: string },
  ): Promise<HttpResult<LoginResult<Data>>>;
  /**
   * Ends the request's session server-side, blocklists its access token, and clears the cookie.
   * `state` is who the rest of the request is: nobody.
   */
  logout(state: AuthState<Data>): Promise<HttpResult<{ setCookies: string[]; state: AuthState<Data> }>>;
  /**
   * Spends a refresh token for a new pair (token transport). A missing token is
   * 400; a spent one replayed outside the grace window revokes the session and
   * answers 401 `refresh_reused`.
   */
  refresh(request: RequestFacts, refreshToken: unknown): Promise<HttpResult<TokenResponse>>;
  /** A fresh (masked) CSRF token for a cookie session; `null` for any other request. */
  csrfToken(state: AuthState<Data>): string | null;
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
      '"loginThrottle: createLoginThrottle({ limiters: … })" on a shared backend (Redis, PostgreSQL, SQLite).';
    if (logger === silentLogger) process.emitWarning(message, { code: 'TESSERA_MEMORY_LOGIN_THROTTLE' });
    else logger.warn({ event: 'login_throttle.in_memory' }, message);
  }
  // Counters that die with the process need no stable key: a random one keeps account names out of them all the same.
  return createLoginThrottle({ limiters: memoryRateLimiters, keySecret: secureRandom(32) });
}

/** Query parameters that would carry a credential: refused, so no token ever travels in a URL or a log of one. */
const CREDENTIAL_PARAMS = new Set([
  'access_token',
  'refresh_token',
  'token',
  'id_token',
  'session',
  'session_token',
  'sessionid',
  'csrf',
  '_csrf',
  'csrf_token',
  'password',
  'passwd',
  'current_password',
  'currentpassword',
  'new_password',
  'newpassword',
  'client_secret',
  'api_key',
  'apikey',
]);

/** The `_csrf` field of a parsed form body, when there is one. */
export function csrfFieldOf(body: unknown): string | undefined {
  const field = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['_csrf'] : undefined;
  return typeof field === 'string' ? field : undefined;
}

/** Adapts Node's header object (`req.headers`) to a {@link HeaderReader}; repeated headers are joined with `, `. */
export function headerReader(headers: Record<string, string | string[] | undefined>): HeaderReader {
  return (name) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
}

function hasCredentialInURL(url: string): boolean {
  const query = url.indexOf('?');
  if (query === -1) return false;
  for (const name of new URLSearchParams(url.slice(query + 1)).keys()) {
    if (CREDENTIAL_PARAMS.has(name.toLowerCase())) return true;
  }
  return false;
}

const BEARER = /^Bearer +([A-Za-z0-9_.~+/=-]+) *$/i;

/**
 * The HTTP layer: cookie and bearer transports, CSRF, login throttling and the
 * login/logout flows, with every outcome mapped to API.md's statuses and codes.
 * Frameworks only translate requests and responses to and from it.
 */
export function createHttpAuth<Data extends JsonObject = JsonObject>(options: HttpAuthOptions<Data>): HttpAuth<Data> {
  if (typeof options.sessions?.validateSessionToken !== 'function') {
    throw new InvalidOptionError('"sessions" must be a session manager (createSessionManager)');
  }
  const { sessions, tokens, sessionRequestLimit } = options;
  const cookie = createSessionCookie(options.cookie);
  const csrf = createCSRFProtection({
    secrets: options.csrfSecrets,
    ...(options.allowedOrigins === undefined ? {} : { allowedOrigins: options.allowedOrigins }),
  });
  const devices: DeviceCookie = createDeviceCookie({
    secrets: options.csrfSecrets,
    insecure: options.cookie?.insecure === true,
    ...(options.deviceCookie?.name === undefined ? {} : { name: options.deviceCookie.name }),
    ...(options.deviceCookie?.maxAgeSeconds === undefined ? {} : { maxAgeSeconds: options.deviceCookie.maxAgeSeconds }),
  });
  const logger = options.logger ?? silentLogger;
  const emit = createEmitter(options.onEvent, logger, 'HTTP auth');
  const loginThrottle = resolveLoginThrottle(options.loginThrottle, logger);
  const configuredOrigin = options.ownOrigin;
  const ownOrigin = (request: RequestFacts): string =>
    configuredOrigin === undefined
      ? request.origin
      : typeof configuredOrigin === 'string'
        ? configuredOrigin
        : configuredOrigin(request);

  // The raw access token of a bearer request, kept off the state object so it is not passed around or logged.
  const bearerTokens = new WeakMap<AuthState<Data>, string>();

  const anonymous = (failure: AuthFailure | null = null, setCookies: string[] = []): AuthState<Data> => ({
    transport: null,
    session: null,
    failure,
    accessToken: null,
    setCookies,
  });

  /** Runs a step that may hit a store; a store failure becomes 503, anything else propagates as a bug. */
  const guarded = async <T>(run: () => Promise<HttpResult<T>>): Promise<HttpResult<T>> => {
    try {
      return await run();
    } catch (error) {
      const mapped = apiErrorFromException(error);
      if (mapped === null) throw error;
      return { ok: false, error: mapped };
    }
  };

  const authenticateBearer = async (token: string): Promise<AuthState<Data>> => {
    if (tokens === undefined) return anonymous({ credential: 'access_token', reason: 'invalid' });
    const verified = await tokens.verifyAccessToken(token);
    if (!verified.ok) return anonymous({ credential: 'access_token', reason: verified.reason });
    // With revocationCheck "session" the token service has already read the session: no second round trip.
    const session = (verified.session ??
      (await sessions.getSession(verified.claims.sid)).session ??
      null) as Session<Data> | null;
    if (session === null || session.userId !== verified.claims.sub) {
      return anonymous({ credential: 'access_token', reason: 'invalid' });
    }
    const state: AuthState<Data> = {
      transport: 'bearer',
      session,
      failure: null,
      accessToken: verified.claims,
      setCookies: [],
    };
    bearerTokens.set(state, token);
    return state;
  };

  const endPreviousSession = async (state: AuthState<Data>): Promise<void> => {
    if (state.session !== null) await sessions.deleteSession(state.session.id);
  };

  /** Creates the session (and token pair) for `userId`; ending the old session and telling anyone are the caller's. */
  const openSession = async (
    request: RequestFacts,
    state: AuthState<Data>,
    userId: string,
    transport: 'cookie' | 'token',
    data: Data | undefined,
  ): Promise<OpenedSession<Data>> => {
    const created = await sessions.createSession(userId, {
      ip: request.ip,
      userAgent: request.headers('user-agent') ?? null,
      ...(data === undefined ? {} : { data }),
    });
    if (transport === 'token' && tokens !== undefined) {
      const pair = toTokenResponse(await tokens.issueTokens(created.session));
      // A bearer client has no use for a cookie it might still hold from a cookie session.
      const setCookies = state.transport === 'cookie' ? [cookie.serializeClear()] : [];
      return { transport: 'token', session: created.session, tokens: pair, setCookies, state: anonymous() };
    }
    return {
      transport: 'cookie',
      session: created.session,
      csrfToken: csrf.generateCSRFToken(created.session.id),
      setCookies: [cookie.serialize(created.token, created.session.expiresAt)],
      state: { ...anonymous(), transport: 'cookie', session: created.session },
    };
  };

  const transportUnavailable = (transport: 'cookie' | 'token'): HttpResult<never> | null =>
    transport === 'token' && tokens === undefined
      ? { ok: false, error: apiError('invalid_request', 'The token transport is not enabled.') }
      : null;

  /**
   * The password check every flow shares: charge the throttle first (a burst
   * cannot outrun a counter that is spent before the check), then verify.
   * `succeeded` is the caller's to call once the sign-in is really done.
   */
  const checkCredentials = async (
    request: RequestFacts,
    attempt: CredentialsAttempt,
    onFailure: () => void,
  ): Promise<HttpResult<{ userId: string; deviceId: string | null; succeeded: () => Promise<void> }>> => {
    if (typeof attempt.account !== 'string' || typeof attempt.verify !== 'function') {
      throw new InvalidOptionError('a login attempt needs "account" (a string) and "verify" (a function)');
    }
    const deviceId = devices.read(request.headers('cookie'), attempt.account);
    let succeeded = async (): Promise<void> => undefined;
    if (loginThrottle !== null) {
      const verdict = await loginThrottle.attempt(attempt.account, request.ip, { device: deviceId });
      if (!verdict.allowed) {
        emit({ type: 'rate_limit.exceeded', limit: 'login', ip: request.ip });
        const error = apiError(
          'rate_limited',
          `Too many failed sign-in attempts; try again in ${verdict.retryAfterSeconds} seconds.`,
          { 'Retry-After': String(verdict.retryAfterSeconds) },
        );
        return { ok: false, error };
      }
      succeeded = verdict.succeeded;
    }
    const userId = await attempt.verify();
    if (userId === null) {
      onFailure();
      return { ok: false, error: apiError('invalid_credentials') };
    }
    return { ok: true, value: { userId, deviceId, succeeded } };
  };

  const startSession: HttpAuth<Data>['startSession'] = (request, state, userId, startOptions = {}) =>
    guarded<LoginResult<Data>>(async () => {
      const transport = startOptions.transport ?? 'cookie';
      const unavailable = transportUnavailable(transport);
      if (unavailable !== null) return unavailable;
      await endPreviousSession(state);
      const opened = await openSession(request, state, userId, transport, startOptions.data);
      emit({ type: 'login.succeeded', userId, sessionId: opened.session.id, ip: request.ip, newDevice: true });
      const { account } = startOptions;
      const deviceCookies =
        transport === 'cookie' && account !== undefined ? [devices.serialize(account).setCookie] : [];
      return { ok: true, value: { ...opened, setCookies: [...opened.setCookies, ...deviceCookies], newDevice: true } };
    });

  const http: HttpAuth<Data> = {
    cookie,

    authenticate(request) {
      return guarded<AuthState<Data>>(async () => {
        if (hasCredentialInURL(request.url)) {
          return {
            ok: false,
            error: apiError(
              'invalid_request',
              'Credentials are never accepted in a URL; send them in the Authorization header or the session cookie.',
            ),
          };
        }
        const authorization = request.headers('authorization');
        if (authorization !== undefined && /^bearer\b/i.test(authorization)) {
          const token = BEARER.exec(authorization)?.[1];
          return {
            ok: true,
            value:
              token === undefined
                ? anonymous({ credential: 'access_token', reason: 'malformed' })
                : await authenticateBearer(token),
          };
        }
        const cookieHeader = request.headers('cookie');
        const token = cookie.read(cookieHeader);
        if (token === null) {
          // A cookie of ours that we cannot read (garbage, or tossed duplicates) is cleared, not trusted.
          const present = cookieHeader?.includes(`${cookie.name}=`) === true;
          return { ok: true, value: anonymous(null, present ? [cookie.serializeClear()] : []) };
        }
        const result = await sessions.validateSessionToken(token, {
          ip: request.ip,
          userAgent: request.headers('user-agent') ?? null,
        });
        if (!result.ok) {
          return {
            ok: true,
            value: anonymous({ credential: 'session', reason: result.reason }, [cookie.serializeClear()]),
          };
        }
        return {
          ok: true,
          value: {
            transport: 'cookie',
            session: result.session,
            failure: null,
            accessToken: null,
            setCookies: result.renewed ? [cookie.serialize(token, result.session.expiresAt)] : [],
          },
        };
      });
    },

    verifyCSRF(request, state) {
      const override =
        request.headers('x-http-method-override') ??
        request.headers('x-http-method') ??
        request.headers('x-method-override');
      if (state.transport !== 'cookie' || state.session === null || isSafeMethod(request.method, override)) return null;
      const source = csrf.checkRequestSource({
        method: request.method,
        origin: request.headers('origin'),
        secFetchSite: request.headers('sec-fetch-site'),
        ownOrigin: ownOrigin(request),
      });
      if (source !== null) {
        emit({ type: 'csrf.rejected', reason: source, ip: request.ip });
        return apiError('csrf_failed', 'This request came from another site.');
      }
      const token = request.headers('x-csrf-token') ?? request.csrfField;
      if (token === undefined || token === '') {
        emit({ type: 'csrf.rejected', reason: 'missing_token', ip: request.ip });
        return apiError('csrf_failed', 'Send the CSRF token in the X-CSRF-Token header.');
      }
      if (!csrf.verifyCSRFToken(state.session.id, token)) {
        emit({ type: 'csrf.rejected', reason: 'bad_token', ip: request.ip });
        return apiError('csrf_failed', 'The CSRF token is not valid for this session.');
      }
      return null;
    },

    verifyRequestSource(request) {
      const source = csrf.checkRequestSource({
        method: request.method,
        origin: request.headers('origin'),
        secFetchSite: request.headers('sec-fetch-site'),
        ownOrigin: ownOrigin(request),
      });
      if (source === null) return null;
      emit({ type: 'csrf.rejected', reason: source, ip: request.ip });
      return apiError('csrf_failed', 'This request came from another site.');
    },

    requireAuth(state) {
      if (state.session !== null) return null;
      if (state.failure === null) return apiError('unauthenticated');
      return apiErrorForCredential(state.failure.credential, state.failure.reason);
    },

    async limitRequest(request, state) {
      const sessionId = state.session?.id;
      if (sessionRequestLimit === undefined || sessionId === undefined) return null;
      const result = await guarded(async () => ({
        ok: true as const,
        value: await sessionRequestLimit.consume(sessionId),
      }));
      if (!result.ok) return result.error;
      if (result.value.allowed) return null;
      emit({ type: 'rate_limit.exceeded', limit: 'session', ip: request.ip });
      return apiError('rate_limited', 'Too many requests for this session; wait and try again.', {
        'Retry-After': String(result.value.retryAfterSeconds),
      });
    },

    login(request, state, attempt) {
      return guarded<LoginResult<Data>>(async () => {
        const transport = attempt.transport ?? 'cookie';
        const unavailable = transportUnavailable(transport);
        if (unavailable !== null) return unavailable;
        const failed = (): void => emit({ type: 'login.failed', account: attempt.account, ip: request.ip });
        const checked = await checkCredentials(request, attempt, failed);
        if (!checked.ok) return checked;
        const { userId, deviceId } = checked.value;
        const newDevice = deviceId === null;
        const opened = await openSession(request, state, userId, transport, attempt.data);
        if (attempt.confirm !== undefined) {
          let confirmed = false;
          try {
            confirmed = await attempt.confirm(opened.session);
          } finally {
            // Nothing has been answered yet, so a session that is not confirmed was never handed out: delete it.
            if (!confirmed) await sessions.deleteSession(opened.session.id);
          }
          if (!confirmed) {
            failed();
            return { ok: false, error: apiError('invalid_credentials') };
          }
        }
        await endPreviousSession(state);
        await checked.value.succeeded();
        emit({ type: 'login.succeeded', userId, sessionId: opened.session.id, ip: request.ip, newDevice });
        // A browser's sign-in makes (or keeps) its device known; the token transport sets no cookies.
        const deviceCookies = transport === 'cookie' ? [devices.serialize(attempt.account, deviceId).setCookie] : [];
        return { ok: true, value: { ...opened, setCookies: [...opened.setCookies, ...deviceCookies], newDevice } };
      });
    },

    verifyCredentials(request, attempt) {
      return guarded<VerifiedCredentials>(async () => {
        const checked = await checkCredentials(request, attempt, () => undefined);
        if (!checked.ok) return checked;
        const { userId, deviceId, succeeded } = checked.value;
        await succeeded();
        // A known device's cookie starts its lifetime again; an unknown client is not given one here.
        const setCookies = deviceId === null ? [] : [devices.serialize(attempt.account, deviceId).setCookie];
        return { ok: true, value: { userId, newDevice: deviceId === null, setCookies } };
      });
    },

    startSession,

    logout(state) {
      return guarded<{ setCookies: string[]; state: AuthState<Data> }>(async () => {
        // A bearer that does not verify is refused, whatever cookie rides along: a 204 would tell the client it
        // signed out while the session it meant lives on.
        if (state.failure?.credential === 'access_token') {
          const refused = http.requireAuth(state);
          if (refused !== null) return { ok: false, error: refused };
        }
        const setCookies = state.transport === 'bearer' ? [] : [cookie.serializeClear()];
        const rawAccessToken = bearerTokens.get(state);
        if (state.session !== null) {
          // The token service's logout blocklists the access token until it expires and deletes its session.
          if (rawAccessToken !== undefined && tokens !== undefined) await tokens.logout(rawAccessToken);
          else await sessions.deleteSession(state.session.id);
          emit({ type: 'logout', userId: state.session.userId, sessionId: state.session.id });
        }
        return { ok: true, value: { setCookies, state: anonymous() } };
      });
    },

    refresh(request, refreshToken) {
      return guarded<TokenResponse>(async () => {
        if (tokens === undefined) {
          return { ok: false, error: apiError('invalid_request', 'The token transport is not enabled.') };
        }
        if (typeof refreshToken !== 'string' || refreshToken === '') {
          return { ok: false, error: apiError('invalid_request', 'Send refresh_token in the JSON body.') };
        }
        const result = await tokens.refreshTokens(refreshToken, {
          ip: request.ip,
          userAgent: request.headers('user-agent') ?? null,
        });
        if (result.ok) return { ok: true, value: toTokenResponse(result.tokens) };
        return { ok: false, error: apiErrorForCredential('refresh_token', result.reason) };
      });
    },

    csrfToken(state) {
      return state.transport === 'cookie' && state.session !== null ? csrf.generateCSRFToken(state.session.id) : null;
    },
  };
  return Object.freeze(http);
}
