import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { InvalidOptionError } from '../../core/errors/errors.js';
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

/** What `reply.tesseraLogin` needs: the account name, how to check the password, what to start. */
export type FastifyLoginAttempt<Data extends JsonObject = JsonObject> = LoginAttempt<Data>;

/** A preHandler of the plugin: answers with an API error, or lets the request through. */
export type TesseraPreHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/**
 * What the plugin puts on the instance as `fastify.tessera`: the preHandlers `csrf` (token in `X-CSRF-Token`
 * or a `_csrf` form field, e.g. with `@fastify/formbody`), `rateLimit`, `requireAuth` and `sameOrigin` (another
 * site refused, for routes with no session yet); `csrfToken`; and `errorHandler`, for `setErrorHandler`, which
 * answers Fastify's body errors in the API shape (400, 413, 415) and rethrows the rest.
 */
export interface TesseraFastify {
  csrf: TesseraPreHandler;
  rateLimit: TesseraPreHandler;
  requireAuth: TesseraPreHandler;
  sameOrigin: TesseraPreHandler;
  /**
   * A step-up preHandler: only a session signed in (or re-authenticated) within `maxAgeSeconds` gets
   * through; otherwise 403 `reauth_required` with `error.maxAgeSeconds`.
   */
  requireRecentAuth(options: RecentAuthOptions): TesseraPreHandler;
  /** A fresh CSRF token for the request's cookie session; `null` without one. */
  csrfToken(request: FastifyRequest): string | null;
  errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply;
}

type Bound = TesseraBinding<FastifyReply, JsonObject, null>;
type OnReply<F> = F extends (reply: FastifyReply, ...args: infer A) => infer R ? (...args: A) => R : never;

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request is, loaded by the plugin's onRequest hook. */
    tessera: AuthState;
  }
  /**
   * The flows, each resolving to its result, or to `null` once it has answered the error (cross-site 403,
   * throttled 429, bad credentials 401, store down 503…). `tesseraStartSession` is sign-up's first session
   * (no login throttle); `tesseraVerifyCredentials` re-checks a password under the login throttle;
   * `tesseraReauthenticate` proves it again for step-up and moves the session to a new id.
   */
  interface FastifyReply {
    tesseraLogin: OnReply<Bound['login']>;
    tesseraStartSession: OnReply<Bound['startSession']>;
    tesseraVerifyCredentials: OnReply<Bound['verifyCredentials']>;
    tesseraReauthenticate: OnReply<Bound['reauthenticate']>;
    tesseraLogout: OnReply<Bound['logout']>;
    tesseraRefresh: OnReply<Bound['refresh']>;
  }
  interface FastifyInstance {
    tessera: TesseraFastify;
  }
}

/** Options of {@link tesseraFastify}. */
export interface TesseraFastifyOptions {
  auth: HttpAuth;
}

/** Answers with an API error: its status, its headers and `{"error": {"code", "message"}}`. */
export function sendApiError(reply: FastifyReply, error: ApiError): FastifyReply {
  return reply.code(error.status).headers(error.headers).send(apiErrorBody(error));
}

function stateOf(request: FastifyRequest): AuthState {
  // Absent when the route lives outside the context the plugin was registered in: a wiring bug, not "anonymous".
  const state = request.tessera as AuthState | null | undefined;
  if (state == null) throw new InvalidOptionError('tesseraFastify is not registered for this route');
  return state;
}

const plugin: FastifyPluginAsync<TesseraFastifyOptions> = async (fastify, options) => {
  const bound: Bound = bindHttpAuth<FastifyReply, JsonObject, null>(options.auth, {
    facts: ({ request }) => ({
      method: request.method,
      url: request.url,
      headers: headerReader(request.headers),
      ip: request.ip,
      // Read only by the request-source check: built when asked, not on every request.
      get origin() {
        return `${request.protocol}://${request.host}`;
      },
    }),
    csrfField: ({ request }) => csrfFieldOf(request.body),
    // Fastify appends repeated Set-Cookie headers rather than replacing them.
    setCookies: (reply, values) => values.forEach((value) => reply.header('set-cookie', value)),
    sendError: (reply, error) => (sendApiError(reply, error), null),
    state: { get: ({ request }) => stateOf(request), set: ({ request }, state) => void (request.tessera = state) },
  });
  const preHandler =
    (guard: (reply: FastifyReply) => Promise<boolean>): TesseraPreHandler =>
    async (_request, reply) =>
      (await guard(reply)) ? undefined : reply;

  // Fastify refuses object defaults (they would be shared by every request); the onRequest hook sets the real value.
  fastify.decorateRequest('tessera', null as unknown as AuthState);
  // onRequest, not preHandler: authentication needs no body, so a token in the URL or a store outage is answered before one is read.
  fastify.addHook('onRequest', preHandler(bound.session));
  const { login: Login, startSession: StartSession, verifyCredentials: VerifyCredentials } = bound;
  const flows = {
    Login,
    StartSession,
    VerifyCredentials,
    Reauthenticate: bound.reauthenticate,
    Logout: bound.logout,
    Refresh: bound.refresh,
  };
  for (const [name, flow] of Object.entries(flows) as [string, (reply: FastifyReply, ...args: never[]) => unknown][]) {
    fastify.decorateReply(`tessera${name}`, function (this: FastifyReply, ...args: never[]) {
      return flow(this, ...args);
    });
  }
  fastify.decorate(
    'tessera',
    Object.freeze({
      csrf: preHandler(bound.csrf),
      rateLimit: preHandler(bound.rateLimit),
      requireAuth: preHandler(bound.requireAuth),
      sameOrigin: preHandler(bound.sameOrigin),
      requireRecentAuth: (recent) => preHandler(bound.requireRecentAuth(recent)),
      csrfToken: (request) => options.auth.csrfToken(stateOf(request)),
      errorHandler(error, _request, reply) {
        const mapped =
          typeof error.code === 'string' && error.code.startsWith('FST_ERR_') && error.statusCode !== undefined
            ? apiErrorForBodyFailure(error.statusCode)
            : null;
        if (mapped === null) throw error;
        return sendApiError(reply, mapped);
      },
    } satisfies TesseraFastify),
  );
};

/**
 * Tessera for Fastify 5: register it with `{ auth }` (an HTTP layer from `createHttpAuth`). Every request gets
 * `request.tessera`; `fastify.tessera` holds the preHandlers; `reply.tesseraLogin` / `reply.tesseraLogout` (and
 * the other flows) sign in and out. The client IP is `request.ip` (Fastify's `trustProxy` applies) and the own
 * origin is `request.protocol` plus `request.host` unless the HTTP layer was given `ownOrigin` (give it wherever
 * the app answers a `Host` it does not check: a DNS-rebinding page chooses that).
 *
 * @example
 * await app.register(tesseraFastify, { auth });
 * app.setErrorHandler(app.tessera.errorHandler);
 * app.post('/transfer', { preHandler: [app.tessera.csrf, app.tessera.rateLimit, app.tessera.requireAuth] }, handler);
 */
export const tesseraFastify = fp(plugin, { fastify: '5.x', name: 'tessera' });
