import type { SessionCookie, SessionCookieOptions } from '../core/cookie/session-cookie.js';
import type { CSRFSecrets, RequestSourceVerdict } from '../core/csrf/csrf.js';
import type { LoginThrottle, RequestLimit } from '../core/rate-limit/rate-limit.js';
import type { Session, SessionLifetime, SessionManager } from '../core/session/session-manager.js';
import type { JsonObject } from '../core/store/types.js';
import type { AccessTokenClaims } from '../core/token/access-token.js';
import type { TokenService } from '../core/token/token-service.js';
import type { Logger } from '../internal/logger.js';
import type { ApiError, AuthFailure } from './api-error.js';
import type { RequestFacts } from './request-facts.js';

/** The token transport's answer to login and refresh, in the shape of an OAuth token response (docs/api.md). */
export interface TokenResponse {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  /** Seconds until the access token expires. */
  expires_in: number;
}

export type { AuthFailure };

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
  /**
   * A sign-in (login or sign-up's first session) from a client without this account's device cookie: a
   * client not seen signing in here before (the token transport never has one). The session is marked
   * `newDevice` for a day. `device` is the coarse user agent (`Chrome 120 on Windows`); what to tell the
   * user, if anything, is the application's choice.
   */
  | { type: 'login.new_device'; userId: string; sessionId: string; ip: string | null; device: string | null }
  /** `account` is the account name tried (e.g. an email): fingerprint it before it reaches a log. */
  | { type: 'login.failed'; account: string; ip: string | null }
  /** A session's user proved the password again; `sessionId` is the session's new id. */
  | { type: 'reauthenticated'; userId: string; sessionId: string; ip: string | null }
  | { type: 'logout'; userId: string; sessionId: string };

/** Session lifetimes by how the client holds the session, each within the session manager's ceilings. */
export interface SessionLifetimes {
  /**
   * Token-transport sessions (mobile apps, CLIs): usually longer than a browser's, since the refresh token
   * is kept by the app.
   * @default the session manager's defaults
   */
  token?: SessionLifetime;
  /**
   * Cookie sessions signed in with `remember: false`: a browser-session cookie (no `Max-Age`) and a
   * shorter absolute lifetime.
   * @default { absoluteTimeoutSeconds: 43200 } (12 hours)
   */
  browserSession?: SessionLifetime;
}

/** Options of {@link HttpAuth.requireRecentAuth}. */
export interface RecentAuthOptions {
  /** How recent, seconds, the session's last authentication (sign-in or re-authentication) must be. */
  maxAgeSeconds: number;
}

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
   * several instances need a shared store, e.g. `createLoginThrottle({ store })`
   * with the Redis or SQL store the sessions use). `false` turns throttling
   * off: only for a caller that throttles password checks itself.
   * @default createLoginThrottle({ store: createMemoryStore(), … })
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
  /** Lifetimes of token-transport and browser-session (`remember: false`) sessions. */
  lifetimes?: SessionLifetimes;
  /**
   * The clock {@link HttpAuth.requireRecentAuth} compares with, epoch milliseconds.
   * @default Date.now
   */
  now?: () => number;
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

/** What {@link HttpAuth.reauthenticate} hands back: the session under its new id, and its new credentials. */
export type ReauthenticateResult<Data extends JsonObject> = OpenedSession<Data>;

export type OpenedSession<Data extends JsonObject> =
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
  /**
   * `false`: the cookie ends with the browser and the session lives at most `lifetimes.browserSession`
   * ("keep me signed in" unchecked). The token transport ignores it.
   * @default true
   */
  remember?: boolean;
  data?: Data;
  /**
   * Runs after the new session (and token pair) exists, before anything is
   * answered; `false` deletes the session and answers 401
   * `invalid_credentials`, an {@link ApiError} deletes it and answers with
   * that error (e.g. 403 `account_disabled`: the password was right, the
   * account may not sign in). For checks that must come after the session
   * exists: "the password I verified is still the account's" closes the
   * race with a password change whose "sign out everywhere else" ran while
   * this login was still checking the old password, and "the account is
   * not disabled" the race with a disable that revokes every session.
   */
  confirm?: (session: Session<Data>) => Promise<boolean | ApiError>;
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
  /**
   * The Fetch Metadata / `Origin` check alone, for routes with no session yet (login CSRF). {@link HttpAuth.login},
   * {@link HttpAuth.startSession} and {@link HttpAuth.verifyCredentials} run it themselves.
   */
  verifyRequestSource(request: RequestFacts): ApiError | null;
  /** `null` when the request has a session; otherwise the 401 to answer with. */
  requireAuth(state: AuthState<Data>): ApiError | null;
  /**
   * Step-up: `null` when the request's session last proved a credential (sign-in or
   * {@link HttpAuth.reauthenticate}) within `maxAgeSeconds`; otherwise 403 `reauth_required` with
   * `maxAgeSeconds` in the error body. Without a session: the 401 of {@link HttpAuth.requireAuth}.
   */
  requireRecentAuth(state: AuthState<Data>, options: RecentAuthOptions): ApiError | null;
  /** Spends one request of the session's budget, when a per-session limit is configured. */
  limitRequest(request: RequestFacts, state: AuthState<Data>): Promise<ApiError | null>;
  /**
   * Signs a user in: refuses a request from another site (403 `csrf_failed`, login CSRF), charges the login throttle (per account, or per known
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
   * Checks a password under the same throttle (and the same request-source check) as {@link HttpAuth.login}, for
   * flows that prove the password again without signing in (a password
   * change): 429 `rate_limited` when over budget, 401 `invalid_credentials`
   * for a wrong password.
   */
  verifyCredentials(request: RequestFacts, attempt: CredentialsAttempt): Promise<HttpResult<VerifiedCredentials>>;
  /**
   * Step-up re-authentication of the request's session: refuses another site, charges the login throttle
   * before calling `verify` (which must resolve to the session's own user id), then moves the session to a
   * new id with its authentication time set to now. Cookie: a new cookie and CSRF token; bearer: a new
   * token pair, the old one stops working. 401 without a session or for a wrong password, 429 when throttled.
   */
  reauthenticate(
    request: RequestFacts,
    state: AuthState<Data>,
    attempt: CredentialsAttempt,
  ): Promise<HttpResult<ReauthenticateResult<Data>>>;
  /**
   * Starts a fresh session for an already-verified user (after sign-up), ending any session the client had;
   * a request from another site is refused (403 `csrf_failed`).
   * With `account` (the name a login would use) a cookie session also gets that account's device cookie:
   * the client that created the account is a known device from then on.
   */
  startSession(
    request: RequestFacts,
    state: AuthState<Data>,
    userId: string,
    options?: { transport?: 'cookie' | 'token'; remember?: boolean; data?: Data; account?: string },
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
