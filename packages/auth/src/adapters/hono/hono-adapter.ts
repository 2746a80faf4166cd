import type { Context, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { InvalidOptionError } from '../../core/errors/errors.js';
import type { JsonObject } from '../../core/store/types.js';
import { apiErrorBody, type ApiError } from '../../http/api-error.js';
import { bindHttpAuth, type TesseraBinding } from '../../http/binding.js';
import type { AuthState, HttpAuth, LoginAttempt, RecentAuthOptions } from '../../http/http-auth.js';

/** The Hono environment the middleware needs: `c.get('tessera')` is who the request is. */
export interface TesseraEnv<Data extends JsonObject = JsonObject> {
  Variables: { tessera: AuthState<Data> };
}

/** Options of {@link createTesseraHono}. */
export interface TesseraHonoOptions {
  /**
   * The client IP, the way your runtime knows it: `getConnInfo(c).remote.address` on Node,
   * `c.req.header('cf-connecting-ip')` behind Cloudflare, a proxy header you trust behind your own proxy.
   * Login throttling counts attempts per IP; without a real IP every client would share one counter.
   */
  clientIP: (c: Context) => string | null | undefined;
}

/** What {@link TesseraHono.login} needs: the account name, how to check the password, what to start. */
export type HonoLoginAttempt<Data extends JsonObject = JsonObject> = LoginAttempt<Data>;

/**
 * Hono middleware and flows over one {@link HttpAuth}: `session` sets `c.get('tessera')` (mount it first);
 * `csrf` (token in `X-CSRF-Token` or a `_csrf` form field), `rateLimit` and `requireAuth` answer API errors.
 * Each flow (`login`, `startSession`, `verifyCredentials`, `reauthenticate`, `logout`, `refresh`) resolves to its result; an error
 * (cross-site 403, throttled 429, bad credentials 401, store down 503…) is thrown as an `HTTPException` carrying
 * the JSON answer, which Hono sends (an `onError` of your own returns `error.getResponse()` for those).
 */
export type TesseraHono<Data extends JsonObject = JsonObject> = {
  [K in 'session' | 'csrf' | 'rateLimit' | 'requireAuth']: MiddlewareHandler<TesseraEnv<Data>>;
} & Omit<
  TesseraBinding<Context<TesseraEnv<Data>>, Data, never>,
  'session' | 'csrf' | 'rateLimit' | 'requireAuth' | 'requireRecentAuth' | 'sameOrigin'
> & {
    /**
     * Step-up middleware: only a session signed in (or re-authenticated) within `maxAgeSeconds` gets through;
     * otherwise 403 `reauth_required` with `error.maxAgeSeconds`.
     */
    requireRecentAuth(options: RecentAuthOptions): MiddlewareHandler<TesseraEnv<Data>>;
  };

/** The API error as a response: its status, its headers and `{"error": {"code", "message"}}`. */
export function sendApiError(c: Context, error: ApiError): Response {
  return c.json(apiErrorBody(error), error.status as ContentfulStatusCode, error.headers);
}

const FORM = 'application/x-www-form-urlencoded';

/**
 * Tessera for Hono on any runtime: only Web APIs (`Request` headers, `Set-Cookie` appended through `c.header`).
 * The own origin is the request URL's; the client IP comes from `options.clientIP`.
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
  if (typeof options?.clientIP !== 'function') {
    throw new InvalidOptionError('"clientIP" must be a function returning the client IP for a request');
  }
  const { clientIP } = options;
  const bound = bindHttpAuth<Context<TesseraEnv<Data>>, Data, never>(auth, {
    facts(c) {
      const url = c.req.url;
      const path = url.indexOf('/', url.indexOf('//') + 2);
      return {
        method: c.req.method,
        url: path === -1 ? '/' : url.slice(path),
        headers: (name) => c.req.raw.headers.get(name) ?? undefined,
        ip: clientIP(c) ?? null,
        // Read only by the request-source check: a URL parse per request otherwise.
        get origin() {
          return new URL(url).origin;
        },
      };
    },
    // Hono caches the parsed body, so the handler can still read it.
    csrfField: async (c) => {
      if (!c.req.header('content-type')?.toLowerCase().startsWith(FORM)) return undefined;
      const field = (await c.req.parseBody())['_csrf'];
      return typeof field === 'string' ? field : undefined;
    },
    setCookies: (c, values) => values.forEach((value) => c.header('Set-Cookie', value, { append: true })),
    sendError(c, error) {
      throw new HTTPException(error.status as ContentfulStatusCode, {
        res: sendApiError(c, error),
        message: error.code,
      });
    },
    state: { get: (c) => c.get('tessera') as AuthState<Data> | undefined, set: (c, state) => c.set('tessera', state) },
  });
  const middleware =
    (guard: (c: Context<TesseraEnv<Data>>) => Promise<boolean>): MiddlewareHandler<TesseraEnv<Data>> =>
    async (c, next) => {
      try {
        await guard(c);
      } catch (error) {
        // Middleware answers its own refusals, so an app's onError sees only real failures.
        if (error instanceof HTTPException && error.res !== undefined) return error.getResponse();
        throw error;
      }
      await next();
      return undefined;
    };
  const { session, csrf, rateLimit, requireAuth, requireRecentAuth, sameOrigin: _sameOrigin, ...flows } = bound;
  return Object.freeze({
    session: middleware(session),
    csrf: middleware(csrf),
    rateLimit: middleware(rateLimit),
    requireAuth: middleware(requireAuth),
    requireRecentAuth: (recent: RecentAuthOptions) => middleware(requireRecentAuth(recent)),
    ...flows,
  });
}
