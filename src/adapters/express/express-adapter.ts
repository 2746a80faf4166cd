import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { InvalidOptionError } from '../../core/errors/errors.js';
import type { JsonObject } from '../../core/store/types.js';
import { apiErrorBody, apiErrorForBodyFailure, type ApiError } from '../../http/api-error.js';
import {
  csrfFieldOf,
  headerReader,
  type AuthState,
  type HttpAuth,
  type CredentialsAttempt,
  type LoginAttempt,
  type LoginResult,
  type VerifiedCredentials,
  type RequestFacts,
  type TokenResponse,
} from '../../http/http-auth.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Who the request is, loaded by the `session` middleware of {@link createTesseraExpress}. */
    tessera?: AuthState;
  }
}

/** What {@link TesseraExpress.login} needs besides the request: the account name, how to check the password, what to start. */
export type ExpressLoginAttempt<Data extends JsonObject = JsonObject> = LoginAttempt<Data>;

/** Express middleware and helpers over one {@link HttpAuth}. Works with Express 4 and 5. */
export interface TesseraExpress<Data extends JsonObject = JsonObject> {
  /** Loads `req.tessera` from the session cookie or bearer token, and sends renewed or cleared cookies. Mount it first. */
  session: RequestHandler;
  /**
   * Refuses a state-changing cookie request from another site or without the session's CSRF token,
   * sent as `X-CSRF-Token` or as the `_csrf` field of a form (mount `express.urlencoded()` before it).
   */
  csrf: RequestHandler;
  /** Spends one request of the session's budget (when the HTTP layer has a per-session limit). */
  rateLimit: RequestHandler;
  /** Answers 401 unless the request has a session. */
  requireAuth: RequestHandler;
  /**
   * Answers body-parser failures in the API's shape (bad JSON → 400 `invalid_request`,
   * too large → 413, wrong charset → 415); passes every other error on.
   */
  errors: ErrorRequestHandler;
  /**
   * Signs in with a fresh session and appends its cookie. Resolves to the result, or to
   * `null` when it has already answered with an error (cross-site, throttled, bad credentials, store down).
   */
  login(req: Request, res: Response, attempt: ExpressLoginAttempt<Data>): Promise<LoginResult<Data> | null>;
  /**
   * Checks a password under the login throttle without signing in (e.g. a password change) and refreshes
   * the device cookie. Resolves to the user, or to `null` when it has already answered (429, 401, store down).
   */
  verifyCredentials(req: Request, res: Response, attempt: CredentialsAttempt): Promise<VerifiedCredentials | null>;
  /**
   * Ends the session server-side, blocklists a bearer request's access token and clears the cookie.
   * `false` when it has already answered with an error.
   */
  logout(req: Request, res: Response): Promise<boolean>;
  /**
   * Spends a refresh token (token transport) for a new pair. Resolves to the pair, or to `null`
   * when it has already answered with an error (missing token 400, reuse 401 `refresh_reused`, …).
   */
  refresh(req: Request, res: Response, refreshToken: unknown): Promise<TokenResponse | null>;
  /** A fresh CSRF token for the request's cookie session; `null` without one. */
  csrfToken(req: Request): string | null;
}

/** Answers with an API error: its status, its headers and `{"error": {"code", "message"}}`. */
export function sendApiError(res: Response, error: ApiError): void {
  res.status(error.status).set(error.headers).json(apiErrorBody(error));
}

function requestFacts(req: Request): RequestFacts {
  const body: unknown = req.body;
  return {
    method: req.method,
    url: req.originalUrl,
    headers: headerReader(req.headers),
    ip: req.ip ?? null,
    origin: `${req.protocol}://${req.get('host') ?? ''}`,
    csrfField: csrfFieldOf(body),
  };
}

function appendCookies(res: Response, setCookies: readonly string[]): void {
  for (const value of setCookies) res.append('Set-Cookie', value);
}

/**
 * Tessera for Express 4 and 5: thin middleware over the framework-neutral HTTP
 * layer. The client IP is Express's `req.ip` (so its `trust proxy` setting
 * applies) and the own origin is `req.protocol` plus the `Host` header.
 *
 * @example
 * const tessera = createTesseraExpress(createHttpAuth({ sessions, csrfSecrets: [secret] }));
 * app.use(express.json(), tessera.session);
 * app.post('/login', async (req, res) => {
 *   const result = await tessera.login(req, res, { account: req.body.email, verify: () => checkPassword(req.body) });
 *   if (result?.transport === 'cookie') res.json({ csrfToken: result.csrfToken });
 * });
 * app.post('/transfer', tessera.csrf, tessera.rateLimit, tessera.requireAuth, handler);
 * app.use(tessera.errors);
 */
export function createTesseraExpress<Data extends JsonObject = JsonObject>(auth: HttpAuth<Data>): TesseraExpress<Data> {
  if (typeof auth?.authenticate !== 'function') {
    throw new InvalidOptionError('"auth" must be an HTTP layer (createHttpAuth)');
  }

  const stateOf = (req: Request, middleware: string): AuthState<Data> => {
    if (req.tessera === undefined) {
      throw new InvalidOptionError(`the "session" middleware must run before "${middleware}"`);
    }
    return req.tessera as AuthState<Data>;
  };

  /** Express 4 ignores a rejected promise from middleware; route it to `next` on both versions. */
  const handler =
    (run: (req: Request, res: Response) => Promise<ApiError | null>): RequestHandler =>
    (req, res, next) => {
      run(req, res).then((error) => (error === null ? next() : sendApiError(res, error)), next);
    };

  const tessera: TesseraExpress<Data> = {
    session: handler(async (req, res) => {
      const result = await auth.authenticate(requestFacts(req));
      if (!result.ok) return result.error;
      req.tessera = result.value as AuthState;
      appendCookies(res, result.value.setCookies);
      return null;
    }),

    csrf: handler(async (req) => auth.verifyCSRF(requestFacts(req), stateOf(req, 'csrf'))),

    rateLimit: handler(async (req) => auth.limitRequest(requestFacts(req), stateOf(req, 'rateLimit'))),

    requireAuth: handler(async (req) => auth.requireAuth(stateOf(req, 'requireAuth'))),

    errors: (error, _req, res, next) => {
      // body-parser's errors carry a `type` ("entity.parse.failed", "entity.too.large", …); an app's own 400 keeps its message.
      const { status, type } = (error ?? {}) as { status?: unknown; type?: unknown };
      const mapped = typeof type === 'string' && typeof status === 'number' ? apiErrorForBodyFailure(status) : null;
      if (mapped === null || res.headersSent) return next(error);
      sendApiError(res, mapped);
    },

    async login(req, res, attempt) {
      const facts = requestFacts(req);
      const refused = auth.verifyRequestSource(facts);
      if (refused !== null) {
        sendApiError(res, refused);
        return null;
      }
      const result = await auth.login(facts, stateOf(req, 'login'), attempt);
      if (!result.ok) {
        sendApiError(res, result.error);
        return null;
      }
      appendCookies(res, result.value.setCookies);
      req.tessera = result.value.state as AuthState;
      return result.value;
    },

    async verifyCredentials(req, res, attempt) {
      const result = await auth.verifyCredentials(requestFacts(req), attempt);
      if (!result.ok) {
        sendApiError(res, result.error);
        return null;
      }
      appendCookies(res, result.value.setCookies);
      return result.value;
    },

    async logout(req, res) {
      const result = await auth.logout(stateOf(req, 'logout'));
      if (!result.ok) {
        sendApiError(res, result.error);
        return false;
      }
      appendCookies(res, result.value.setCookies);
      req.tessera = result.value.state as AuthState;
      return true;
    },

    async refresh(req, res, refreshToken) {
      const result = await auth.refresh(requestFacts(req), refreshToken);
      if (result.ok) return result.value;
      sendApiError(res, result.error);
      return null;
    },

    csrfToken: (req) => auth.csrfToken(stateOf(req, 'csrfToken')),
  };
  return Object.freeze(tessera);
}
