import { createSessionCookie, type SessionCookie, type SessionCookieOptions } from '../core/cookie/session-cookie.js';
import { createCSRFProtection, isSafeMethod, type CSRFSecrets, type RequestSourceVerdict } from '../core/csrf/csrf.js';
import { InvalidOptionError } from '../core/errors/errors.js';
import type { LoginThrottle, RequestLimit } from '../core/rate-limit/rate-limit.js';
import type { Session, SessionManager } from '../core/session/session-manager.js';
import type { JsonObject } from '../core/store/types.js';
import type { AccessTokenClaims } from '../core/token/access-token.js';
import type { TokenPair, TokenService } from '../core/token/token-service.js';
import { createEmitter } from '../internal/events.js';
import { silentLogger, type Logger } from '../internal/logger.js';
import { apiError, apiErrorFromException, type ApiError } from './api-error.js';

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

/** Why presented credentials did not authenticate. */
export type AuthFailure = 'session_expired' | 'session_revoked' | 'invalid_token' | 'token_expired';

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
  | { type: 'login.succeeded'; userId: string; sessionId: string; ip: string | null }
  | { type: 'login.failed'; ip: string | null }
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
  cookie?: SessionCookieOptions;
  /** Brute-force protection for {@link HttpAuth.login}. */
  loginThrottle?: LoginThrottle;
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
export type LoginResult<Data extends JsonObject> =
  | { transport: 'cookie'; session: Session<Data>; csrfToken: string; setCookies: string[]; state: AuthState<Data> }
  | { transport: 'token'; session: Session<Data>; tokens: TokenResponse; setCookies: string[]; state: AuthState<Data> };

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
   * Signs a user in: throttles by account and IP, calls `verify` (which returns
   * the user id for good credentials, `null` otherwise), and starts a fresh
   * session — any session the client had is ended, never reused.
   */
  login(
    request: RequestFacts,
    state: AuthState<Data>,
    attempt: {
      account: string;
      verify: () => Promise<string | null>;
      transport?: 'cookie' | 'token';
      data?: Data;
    },
  ): Promise<HttpResult<LoginResult<Data>>>;
  /** Starts a fresh session for an already-verified user (after sign-up), ending any session the client had. */
  startSession(
    request: RequestFacts,
    state: AuthState<Data>,
    userId: string,
    options?: { transport?: 'cookie' | 'token'; data?: Data },
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
  const { sessions, tokens, loginThrottle, sessionRequestLimit } = options;
  const cookie = createSessionCookie(options.cookie);
  const csrf = createCSRFProtection({
    secrets: options.csrfSecrets,
    ...(options.allowedOrigins === undefined ? {} : { allowedOrigins: options.allowedOrigins }),
  });
  const logger = options.logger ?? silentLogger;
  const emit = createEmitter(options.onEvent, logger, 'HTTP auth');

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
    if (tokens === undefined) return anonymous('invalid_token');
    const verified = await tokens.verifyAccessToken(token);
    if (verified.claims === null) return anonymous(verified.reason === 'expired' ? 'token_expired' : 'invalid_token');
    // With revocationCheck "session" the token service has already read the session: no second round trip.
    const session = (verified.session ??
      (await sessions.getSession(verified.claims.sid)).session) as Session<Data> | null;
    if (session === null || session.userId !== verified.claims.sub) return anonymous('invalid_token');
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

  const startSession: HttpAuth<Data>['startSession'] = (request, state, userId, startOptions = {}) =>
    guarded<LoginResult<Data>>(async () => {
      const transport = startOptions.transport ?? 'cookie';
      if (transport === 'token' && tokens === undefined) {
        return { ok: false, error: apiError('invalid_request', 'The token transport is not enabled.') };
      }
      await endPreviousSession(state);
      const created = await sessions.createSession(userId, {
        ip: request.ip,
        userAgent: request.headers('user-agent') ?? null,
        ...(startOptions.data === undefined ? {} : { data: startOptions.data }),
      });
      emit({ type: 'login.succeeded', userId, sessionId: created.session.id, ip: request.ip });
      if (transport === 'token' && tokens !== undefined) {
        const pair = toTokenResponse(await tokens.issueTokens(created.session));
        // A bearer client has no use for a cookie it might still hold from a cookie session.
        const setCookies = state.transport === 'cookie' ? [cookie.serializeClear()] : [];
        return {
          ok: true,
          value: { transport: 'token', session: created.session, tokens: pair, setCookies, state: anonymous() },
        };
      }
      return {
        ok: true,
        value: {
          transport: 'cookie',
          session: created.session,
          csrfToken: csrf.generateCSRFToken(created.session.id),
          setCookies: [cookie.serialize(created.token, created.session.expiresAt)],
          state: { ...anonymous(), transport: 'cookie', session: created.session },
        },
      };
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
            value: token === undefined ? anonymous('invalid_token') : await authenticateBearer(token),
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
        if (result.session === null) {
          const failure =
            result.reason === 'expired' ? 'session_expired' : result.reason === 'revoked' ? 'session_revoked' : null;
          return { ok: true, value: anonymous(failure, [cookie.serializeClear()]) };
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
        ownOrigin: request.origin,
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
        ownOrigin: request.origin,
      });
      if (source === null) return null;
      emit({ type: 'csrf.rejected', reason: source, ip: request.ip });
      return apiError('csrf_failed', 'This request came from another site.');
    },

    requireAuth(state) {
      if (state.session !== null) return null;
      const bearerChallenge = { 'WWW-Authenticate': 'Bearer error="invalid_token"' };
      switch (state.failure) {
        case 'invalid_token':
          return apiError('invalid_token', undefined, bearerChallenge);
        case 'token_expired':
          return apiError('token_expired', undefined, bearerChallenge);
        case 'session_expired':
          return apiError('session_expired');
        case 'session_revoked':
          return apiError('session_revoked');
        default:
          return apiError('unauthenticated');
      }
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
        const throttled = async (): Promise<ApiError | null> => {
          if (loginThrottle === undefined) return null;
          const verdict = await loginThrottle.check(attempt.account, request.ip);
          if (verdict.allowed) return null;
          emit({ type: 'rate_limit.exceeded', limit: 'login', ip: request.ip });
          return apiError(
            'rate_limited',
            `Too many failed sign-in attempts; try again in ${verdict.retryAfterSeconds} seconds.`,
            {
              'Retry-After': String(verdict.retryAfterSeconds),
            },
          );
        };
        const refused = await throttled();
        if (refused !== null) return { ok: false, error: refused };
        const userId = await attempt.verify();
        if (userId === null) {
          await loginThrottle?.recordFailure(attempt.account, request.ip);
          emit({ type: 'login.failed', ip: request.ip });
          return { ok: false, error: apiError('invalid_credentials') };
        }
        await loginThrottle?.recordSuccess(attempt.account);
        return startSession(request, state, userId, {
          ...(attempt.transport === undefined ? {} : { transport: attempt.transport }),
          ...(attempt.data === undefined ? {} : { data: attempt.data }),
        });
      });
    },

    startSession,

    logout(state) {
      return guarded<{ setCookies: string[]; state: AuthState<Data> }>(async () => {
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
        if (result.tokens !== null) return { ok: true, value: toTokenResponse(result.tokens) };
        const code = (
          {
            invalid: 'invalid_token',
            expired: 'session_expired',
            revoked: 'session_revoked',
            reused: 'refresh_reused',
          } as const
        )[result.reason];
        return { ok: false, error: apiError(code, undefined, { 'WWW-Authenticate': 'Bearer error="invalid_token"' }) };
      });
    },

    csrfToken(state) {
      return state.transport === 'cookie' && state.session !== null ? csrf.generateCSRFToken(state.session.id) : null;
    },
  };
  return Object.freeze(http);
}
