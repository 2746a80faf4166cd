import { IncomingMessage } from 'node:http';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { JsonObject } from '../../core/store/types.js';
import { apiErrorBody, apiErrorForBodyFailure, type ApiError } from '../../http/api-error.js';
import { bindHttpAuth, type TesseraBinding } from '../../http/binding.js';
import {
  csrfFieldOf,
  headerReader,
  type AuthState,
  type HttpAuth,
  type LoginAttempt,
  type RecentAuthOptions,
} from '../../http/http-auth.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** Who the request is, loaded by the `session` middleware of {@link createTesseraExpress}. */
    tessera?: AuthState;
  }
}

/** What {@link TesseraExpress.login} needs besides the request: the account name, how to check the password, what to start. */
export type ExpressLoginAttempt<Data extends JsonObject = JsonObject> = LoginAttempt<Data>;

type Flows<Data extends JsonObject> = Omit<
  TesseraBinding<Response, Data, null>,
  'session' | 'csrf' | 'rateLimit' | 'requireAuth' | 'requireRecentAuth' | 'sameOrigin' | 'csrfToken'
>;
type OnRequest<F> = F extends (res: Response, ...args: infer A) => infer R
  ? (req: Request, res: Response, ...args: A) => R
  : never;

/**
 * Express middleware and flows over one {@link HttpAuth} (Express 4 and 5). `session` loads `req.tessera`
 * (mount it first); `csrf` (token in `X-CSRF-Token` or a `_csrf` form field), `rateLimit` and `requireAuth`
 * answer API errors themselves; `errors` answers body-parser failures in the API shape (400, 413, 415).
 * Each flow (`login`, `startSession`, `verifyCredentials`, `reauthenticate`, `logout`, `refresh`) resolves to its result, or to
 * `null` once it has answered the error (cross-site 403, throttled 429, bad credentials 401, store down 503…).
 */
export type TesseraExpress<Data extends JsonObject = JsonObject> = {
  [K in 'session' | 'csrf' | 'rateLimit' | 'requireAuth']: RequestHandler;
} & { [K in keyof Flows<Data>]: OnRequest<Flows<Data>[K]> } & {
  errors: ErrorRequestHandler;
  /**
   * Step-up middleware: only a session signed in (or re-authenticated) within `maxAgeSeconds` gets through;
   * otherwise 403 `reauth_required` with `error.maxAgeSeconds`.
   */
  requireRecentAuth(options: RecentAuthOptions): RequestHandler;
  /** A fresh CSRF token for the request's cookie session; `null` without one. */
  csrfToken(req: Request): string | null;
};

/**
 * Who each request is, beside the request rather than on it: a property added to every request
 * (`req.tessera = …`) changes the shape of Node's request objects and costs microseconds per request.
 */
const states = new WeakMap<object, AuthState>();
/** Prototypes that already answer `req.tessera` from {@link states}. */
const exposed = new WeakSet<object>();

/**
 * Defines `req.tessera` once, as a getter on the request prototype every app of this Express shares (the
 * one just above Node's `IncomingMessage.prototype`; sub-apps swap the prototype below it), so the
 * property reads {@link states} without a property of its own on each request.
 */
function exposeState(req: Request): void {
  const own = Object.getPrototypeOf(req) as object | null;
  if (own === null || exposed.has(own)) return;
  const shared = sharedRequestPrototype(own);
  if (!Object.prototype.hasOwnProperty.call(shared, 'tessera')) {
    Object.defineProperty(shared, 'tessera', {
      configurable: true,
      enumerable: false,
      get(this: object) {
        return states.get(this);
      },
      set(this: object, state: AuthState) {
        states.set(this, state);
      },
    });
  }
  exposed.add(own);
}

/** The prototype whose parent is `IncomingMessage.prototype` in `own`'s chain; `own` when there is none. */
function sharedRequestPrototype(own: object): object {
  if (own === IncomingMessage.prototype) return own;
  for (let proto: object | null = own; proto !== null;) {
    const parent = Object.getPrototypeOf(proto) as object | null;
    if (parent === IncomingMessage.prototype) return proto;
    proto = parent;
  }
  return own;
}

/** Answers with an API error: its status, its headers and `{"error": {"code", "message"}}`. */
export function sendApiError(res: Response, error: ApiError): void {
  res.status(error.status).set(error.headers).json(apiErrorBody(error));
}

/**
 * Tessera for Express 4 and 5. The client IP is `req.ip` (its `trust proxy` setting applies) and the own
 * origin is `req.protocol` plus the `Host` header unless the HTTP layer was given `ownOrigin`.
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
  const bound = bindHttpAuth<Response, Data, null>(auth, {
    facts: (res) => ({
      method: res.req.method,
      url: res.req.originalUrl,
      headers: headerReader(res.req.headers),
      ip: res.req.ip ?? null,
      // Read only by the request-source check: `protocol` and the host header cost on every request otherwise.
      get origin() {
        return `${res.req.protocol}://${res.req.get('host') ?? ''}`;
      },
    }),
    csrfField: (res) => csrfFieldOf(res.req.body),
    setCookies: (res, values) => values.forEach((value) => res.append('Set-Cookie', value)),
    sendError: (res, error) => (sendApiError(res, error), null),
    state: {
      get: (res) => states.get(res.req) as AuthState<Data> | undefined,
      set: (res, state) => {
        exposeState(res.req);
        states.set(res.req, state as AuthState);
      },
    },
  });
  // Express 4 ignores a rejected promise from middleware: route it to `next` on both versions.
  const middleware =
    (guard: (res: Response) => Promise<boolean>): RequestHandler =>
    (_req, res, next) =>
      void guard(res).then((go) => go && next(), next);
  return Object.freeze({
    session: middleware(bound.session),
    csrf: middleware(bound.csrf),
    rateLimit: middleware(bound.rateLimit),
    requireAuth: middleware(bound.requireAuth),
    requireRecentAuth: (options) => middleware(bound.requireRecentAuth(options)),
    login: (_req, res, attempt) => bound.login(res, attempt),
    startSession: (_req, res, userId, options) => bound.startSession(res, userId, options),
    verifyCredentials: (_req, res, attempt) => bound.verifyCredentials(res, attempt),
    reauthenticate: (_req, res, attempt) => bound.reauthenticate(res, attempt),
    logout: (_req, res) => bound.logout(res),
    refresh: (_req, res, refreshToken) => bound.refresh(res, refreshToken),
    csrfToken: (req) => bound.csrfToken(req.res as Response),
    errors: (error, _req, res, next) => {
      // body-parser's errors carry a `type` ("entity.parse.failed", "entity.too.large", …); an app's own 400 keeps its message.
      const { status, type } = (error ?? {}) as { status?: unknown; type?: unknown };
      const mapped = typeof type === 'string' && typeof status === 'number' ? apiErrorForBodyFailure(status) : null;
      if (mapped === null || res.headersSent) return next(error);
      sendApiError(res, mapped);
    },
  } satisfies TesseraExpress<Data>);
}
