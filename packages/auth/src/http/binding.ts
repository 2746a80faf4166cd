import { InvalidOptionError } from '../core/errors/errors.js';
import type { JsonObject } from '../core/store/types.js';
import type { ApiError } from './api-error.js';
import { recentAuthMaxAge } from './guards.js';
import type { RequestFacts } from './request-facts.js';
import type {
  AuthState,
  CredentialsAttempt,
  HttpAuth,
  HttpResult,
  LoginAttempt,
  LoginResult,
  ReauthenticateResult,
  RecentAuthOptions,
  TokenResponse,
  VerifiedCredentials,
} from './types.js';

/**
 * What a framework tells {@link bindHttpAuth}: four hooks for its requests and
 * responses, and where it keeps who the request is. `Ctx` is whatever one
 * value reaches both (Express's `res`, Fastify's `reply`, Hono's `c`).
 */
export interface FrameworkHooks<Ctx, Data extends JsonObject, Answered> {
  /** The request's method, URL, headers, client IP and own origin (no body: authentication needs none). */
  facts(ctx: Ctx): RequestFacts;
  /** The `_csrf` field of a form body; asked only for a cookie request whose token is not in the header. */
  csrfField(ctx: Ctx): string | undefined | Promise<string | undefined>;
  /** Appends `Set-Cookie` values to the response, beside any the app set. */
  setCookies(ctx: Ctx, values: readonly string[]): void;
  /**
   * Answers with the API error (status, headers, `{"error": {"code", "message"}}`) the framework's way:
   * send it and return `null`, or throw what the framework turns into that answer.
   */
  sendError(ctx: Ctx, error: ApiError): Answered;
  /** Where the request's {@link AuthState} lives (`undefined` before the session middleware ran). */
  state: { get(ctx: Ctx): AuthState<Data> | undefined; set(ctx: Ctx, state: AuthState<Data>): void };
}

/** What {@link HttpAuth.logout} leaves: the cookies it cleared and who the rest of the request is (nobody). */
export interface LogoutResult<Data extends JsonObject = JsonObject> {
  setCookies: string[];
  state: AuthState<Data>;
}

/** Options of {@link TesseraBinding.startSession}. */
export interface StartSessionOptions<Data extends JsonObject = JsonObject> {
  /** @default "cookie" */
  transport?: 'cookie' | 'token';
  data?: Data;
  /** The name a login would use: a cookie session then also gets that account's device cookie. */
  account?: string;
}

/**
 * The surface every adapter has, whatever the framework. A guard resolves to
 * `true` when the request may go on, `false` when its error was answered.
 * A flow resolves to its result, or to what `sendError` returned (`null`)
 * when its error was answered: one convention on every adapter.
 */
export interface TesseraBinding<Ctx, Data extends JsonObject, Answered> {
  /** Authenticates the request, keeps its state and sends renewed or cleared cookies. */
  session(ctx: Ctx): Promise<boolean>;
  /** CSRF token and request source for a state-changing cookie request. */
  csrf(ctx: Ctx): Promise<boolean>;
  /** Spends one request of the session's budget. */
  rateLimit(ctx: Ctx): Promise<boolean>;
  /** Lets only a request with a session through. */
  requireAuth(ctx: Ctx): Promise<boolean>;
  /**
   * Step-up: a guard that lets through only a session whose last sign-in or re-authentication is within
   * `maxAgeSeconds` (403 `reauth_required` with `error.maxAgeSeconds` otherwise). Checked once, here.
   */
  requireRecentAuth(options: RecentAuthOptions): (ctx: Ctx) => Promise<boolean>;
  /** Lets only a request from this site through (for routes with no session yet). */
  sameOrigin(ctx: Ctx): Promise<boolean>;
  /** {@link HttpAuth.login}: sets the cookies and moves the request to the new session. */
  login(ctx: Ctx, attempt: LoginAttempt<Data>): Promise<LoginResult<Data> | Answered>;
  /** {@link HttpAuth.startSession}: sign-up's first session (no login throttle), with the device cookie given `account`. */
  startSession(ctx: Ctx, userId: string, options?: StartSessionOptions<Data>): Promise<LoginResult<Data> | Answered>;
  /** {@link HttpAuth.verifyCredentials}: a password re-check under the login throttle; refreshes a known device's cookie. */
  verifyCredentials(ctx: Ctx, attempt: CredentialsAttempt): Promise<VerifiedCredentials | Answered>;
  /**
   * {@link HttpAuth.reauthenticate}: proves the password again under the login throttle; sets the new cookie
   * (cookie transport) and moves the request to the session's new id.
   */
  reauthenticate(ctx: Ctx, attempt: CredentialsAttempt): Promise<ReauthenticateResult<Data> | Answered>;
  /** {@link HttpAuth.logout}: clears the cookie; the request is nobody from then on. */
  logout(ctx: Ctx): Promise<LogoutResult<Data> | Answered>;
  /** {@link HttpAuth.refresh}: a new token pair for a refresh token. */
  refresh(ctx: Ctx, refreshToken: unknown): Promise<TokenResponse | Answered>;
  /** A fresh CSRF token for the request's cookie session; `null` without one. */
  csrfToken(ctx: Ctx): string | null;
}

/**
 * Binds the HTTP layer to a framework through its {@link FrameworkHooks}:
 * every adapter gets the same middleware and flows, with the same answers
 * and the same return convention, and none can skip a check (login, sign-up
 * and the password re-check refuse another site inside the HTTP layer).
 */
export function bindHttpAuth<Ctx, Data extends JsonObject, Answered>(
  auth: HttpAuth<Data>,
  hooks: FrameworkHooks<Ctx, Data, Answered>,
): TesseraBinding<Ctx, Data, Answered> {
  if (typeof auth?.authenticate !== 'function') {
    throw new InvalidOptionError('"auth" must be an HTTP layer (createHttpAuth)');
  }

  const stateOf = (ctx: Ctx, name: string): AuthState<Data> => {
    const state = hooks.state.get(ctx);
    if (state === undefined) throw new InvalidOptionError(`the "session" middleware must run before "${name}"`);
    return state;
  };

  const pass = (ctx: Ctx, error: ApiError | null): boolean => {
    if (error === null) return true;
    hooks.sendError(ctx, error);
    return false;
  };

  /** Sends the result's cookies and moves the request to its new state, or answers its error. */
  const settle = <T extends { setCookies: string[]; state?: AuthState<Data> }>(
    ctx: Ctx,
    result: HttpResult<T>,
  ): T | Answered => {
    if (!result.ok) return hooks.sendError(ctx, result.error);
    hooks.setCookies(ctx, result.value.setCookies);
    if (result.value.state !== undefined) hooks.state.set(ctx, result.value.state);
    return result.value;
  };

  const binding: TesseraBinding<Ctx, Data, Answered> = {
    async session(ctx) {
      const result = await auth.authenticate(hooks.facts(ctx));
      if (!result.ok) return pass(ctx, result.error);
      hooks.state.set(ctx, result.value);
      hooks.setCookies(ctx, result.value.setCookies);
      return true;
    },
    async csrf(ctx) {
      const state = stateOf(ctx, 'csrf');
      const facts = hooks.facts(ctx);
      const needsField = state.transport === 'cookie' && facts.headers('x-csrf-token') === undefined;
      // Set on the facts, not spread into a copy: a spread would run the adapters' lazy getters (`origin`).
      if (needsField) facts.csrfField = await hooks.csrfField(ctx);
      return pass(ctx, auth.verifyCSRF(facts, state));
    },
    rateLimit: async (ctx) => pass(ctx, await auth.limitRequest(hooks.facts(ctx), stateOf(ctx, 'rateLimit'))),
    requireAuth: async (ctx) => pass(ctx, auth.requireAuth(stateOf(ctx, 'requireAuth'))),
    requireRecentAuth(options) {
      const recent = { maxAgeSeconds: recentAuthMaxAge(options) };
      return async (ctx) => pass(ctx, auth.requireRecentAuth(stateOf(ctx, 'requireRecentAuth'), recent));
    },
    sameOrigin: async (ctx) => pass(ctx, auth.verifyRequestSource(hooks.facts(ctx))),
    login: async (ctx, attempt) => settle(ctx, await auth.login(hooks.facts(ctx), stateOf(ctx, 'login'), attempt)),
    startSession: async (ctx, userId, options) =>
      settle(ctx, await auth.startSession(hooks.facts(ctx), stateOf(ctx, 'startSession'), userId, options)),
    verifyCredentials: async (ctx, attempt) => settle(ctx, await auth.verifyCredentials(hooks.facts(ctx), attempt)),
    reauthenticate: async (ctx, attempt) =>
      settle(ctx, await auth.reauthenticate(hooks.facts(ctx), stateOf(ctx, 'reauthenticate'), attempt)),
    logout: async (ctx) => settle(ctx, await auth.logout(stateOf(ctx, 'logout'))),
    async refresh(ctx, refreshToken) {
      const result = await auth.refresh(hooks.facts(ctx), refreshToken);
      return result.ok ? result.value : hooks.sendError(ctx, result.error);
    },
    csrfToken: (ctx) => auth.csrfToken(stateOf(ctx, 'csrfToken')),
  };
  return Object.freeze(binding);
}
