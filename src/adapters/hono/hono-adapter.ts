import type { Context, MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { InvalidOptionError } from '../../core/errors/errors.js';
import type { JsonObject } from '../../core/store/types.js';
import { apiErrorBody, type ApiError } from '../../http/api-error.js';
import type {
  AuthState,
  CredentialsAttempt,
  HttpAuth,
  LoginAttempt,
  LoginResult,
  RequestFacts,
  TokenResponse,
  VerifiedCredentials,
} from '../../http/http-auth.js';

/** The Hono environment the middleware needs: `c.get('tessera')` is who the request is. */
export interface TesseraEnv<Data extends JsonObject = JsonObject> {
  Variables: { tessera: AuthState<Data> };
}

/** Options of {@link createTesseraHono}. */
export interface TesseraHonoOptions {
  /**
   * The client IP, the way your runtime knows it: `getConnInfo(c).remote.address`
   * on Node, `c.req.header('cf-connecting-ip')` behind Cloudflare, a proxy header
   * you trust behind your own proxy. Login throttling counts attempts per IP;
   * without a real IP every client would share one counter.
   */
  clientIP: (c: Context) => string | null | undefined;
}

/** What {@link TesseraHono.login} needs: the account name, how to check the password, what to start. */
export type HonoLoginAttempt<Data extends JsonObject = JsonObject> = LoginAttempt<Data>;

/** Hono middleware and helpers over one {@link HttpAuth}. */
export interface TesseraHono<Data extends JsonObject = JsonObject> {
  /** Sets `c.get('tessera')` from the session cookie or bearer token, and sends renewed or cleared cookies. Mount it first. */
  session: MiddlewareHandler<TesseraEnv<Data>>;
  /** Refuses a state-changing cookie request without the session's CSRF token (header or `_csrf` form field) or from another site. */
  csrf: MiddlewareHandler<TesseraEnv<Data>>;
  /** Spends one request of the session's budget (when the HTTP layer has a per-session limit). */
  rateLimit: MiddlewareHandler<TesseraEnv<Data>>;
  /** Answers 401 unless the request has a session. */
  requireAuth: MiddlewareHandler<TesseraEnv<Data>>;
  /**
   * Signs in with a fresh session and sets its cookie. Resolves to the result, or
   * to the error `Response` to return (cross-site, throttled, bad credentials, store down).
   */
  login(c: Context<TesseraEnv<Data>>, attempt: HonoLoginAttempt<Data>): Promise<LoginResult<Data> | Response>;
  /**
   * Checks a password under the login throttle without signing in (e.g. a password change) and refreshes
   * the device cookie. Resolves to the user, or to the error `Response` to return (429, 401, store down).
   */
  verifyCredentials(c: Context<TesseraEnv<Data>>, attempt: CredentialsAttempt): Promise<VerifiedCredentials | Response>;
  /**
   * Ends the session server-side, blocklists a bearer request's access token and clears the cookie.
   * Resolves to `null`, or to the error `Response` to return.
   */
  logout(c: Context<TesseraEnv<Data>>): Promise<Response | null>;
  /**
   * Spends a refresh token (token transport) for a new pair. Resolves to the pair, or to the
   * error `Response` to return (missing token 400, reuse 401 `refresh_reused`, …).
   */
  refresh(c: Context<TesseraEnv<Data>>, refreshToken: unknown): Promise<TokenResponse | Response>;
  /** A fresh CSRF token for the request's cookie session; `null` without one. */
  csrfToken(c: Context<TesseraEnv<Data>>): string | null;
}

/** The API error as a response: its status, its headers and `{"error": {"code", "message"}}`. */
export function sendApiError(c: Context, error: ApiError): Response {
  return c.json(apiErrorBody(error), error.status as ContentfulStatusCode, error.headers);
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * Tessera for Hono on any runtime: only Web APIs (`Request` headers,
 * `Set-Cookie` appended through `c.header`). The own origin is the request
 * URL's; the client IP comes from `options.clientIP`.
 *
 * @example
 * const tessera = createTesseraHono(auth, { clientIP: (c) => getConnInfo(c).remote.address });
 * const app = new Hono<TesseraEnv>();
 * app.use(tessera.session);
 * app.post('/transfer', tessera.csrf, tessera.rateLimit, tessera.requireAuth, (c) => c.json({ ok: true }));
 */
export function createTesseraHono<Data extends JsonObject = JsonObject>(
  auth: HttpAuth<Data>,
  options: TesseraHonoOptions,
): TesseraHono<Data> {
  if (typeof auth?.authenticate !== 'function') {
    throw new InvalidOptionError('"auth" must be an HTTP layer (createHttpAuth)');
  }
  if (typeof options?.clientIP !== 'function') {
    throw new InvalidOptionError('"clientIP" must be a function returning the client IP for a request');
  }
  const { clientIP } = options;

  const requestFacts = (c: Context, csrfField?: string): RequestFacts => {
    const url = c.req.url;
    const path = url.indexOf('/', url.indexOf('//') + 2);
    const headers = c.req.raw.headers;
    return {
      method: c.req.method,
      url: path === -1 ? '/' : url.slice(path),
      headers: (name) => headers.get(name) ?? undefined,
      ip: clientIP(c) ?? null,
      origin: new URL(url).origin,
      csrfField,
    };
  };

  const setCookies = (c: Context, values: readonly string[]): void => {
    for (const value of values) c.header('Set-Cookie', value, { append: true });
  };

  const stateOf = (c: Context<TesseraEnv<Data>>, middleware: string): AuthState<Data> => {
    const state = c.get('tessera') as AuthState<Data> | undefined;
    if (state === undefined) throw new InvalidOptionError(`the "session" middleware must run before "${middleware}"`);
    return state;
  };

  /** The `_csrf` field of a form body, read only when no header carries the token (Hono caches the parsed body for the handler). */
  const formCSRFField = async (c: Context): Promise<string | undefined> => {
    if (c.req.header('x-csrf-token') !== undefined || !c.req.header('content-type')?.toLowerCase().startsWith(FORM)) {
      return undefined;
    }
    const field = (await c.req.parseBody())['_csrf'];
    return typeof field === 'string' ? field : undefined;
  };

  const tessera: TesseraHono<Data> = {
    session: async (c, next) => {
      const result = await auth.authenticate(requestFacts(c));
      if (!result.ok) return sendApiError(c, result.error);
      c.set('tessera', result.value);
      setCookies(c, result.value.setCookies);
      await next();
      return undefined;
    },

    csrf: async (c, next) => {
      const state = stateOf(c, 'csrf');
      const field = state.transport === 'cookie' ? await formCSRFField(c) : undefined;
      const error = auth.verifyCSRF(requestFacts(c, field), state);
      if (error !== null) return sendApiError(c, error);
      await next();
      return undefined;
    },

    rateLimit: async (c, next) => {
      const error = await auth.limitRequest(requestFacts(c), stateOf(c, 'rateLimit'));
      if (error !== null) return sendApiError(c, error);
      await next();
      return undefined;
    },

    requireAuth: async (c, next) => {
      const error = auth.requireAuth(stateOf(c, 'requireAuth'));
      if (error !== null) return sendApiError(c, error);
      await next();
      return undefined;
    },

    async login(c, attempt) {
      const facts = requestFacts(c);
      const refused = auth.verifyRequestSource(facts);
      if (refused !== null) return sendApiError(c, refused);
      const result = await auth.login(facts, stateOf(c, 'login'), attempt);
      if (!result.ok) return sendApiError(c, result.error);
      setCookies(c, result.value.setCookies);
      c.set('tessera', result.value.state);
      return result.value;
    },

    async verifyCredentials(c, attempt) {
      const result = await auth.verifyCredentials(requestFacts(c), attempt);
      if (!result.ok) return sendApiError(c, result.error);
      setCookies(c, result.value.setCookies);
      return result.value;
    },

    async logout(c) {
      const result = await auth.logout(stateOf(c, 'logout'));
      if (!result.ok) return sendApiError(c, result.error);
      setCookies(c, result.value.setCookies);
      c.set('tessera', result.value.state);
      return null;
    },

    async refresh(c, refreshToken) {
      const result = await auth.refresh(requestFacts(c), refreshToken);
      return result.ok ? result.value : sendApiError(c, result.error);
    },

    csrfToken: (c) => auth.csrfToken(stateOf(c, 'csrfToken')),
  };
  return Object.freeze(tessera);
}
