import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
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

/** What `reply.tesseraLogin` needs: the account name, how to check the password, what to start. */
export type FastifyLoginAttempt<Data extends JsonObject = JsonObject> = LoginAttempt<Data>;

/** A preHandler of the plugin: answers with an API error, or lets the request through. */
export type TesseraPreHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/** What the plugin puts on the instance as `fastify.tessera`. */
export interface TesseraFastify {
  /**
   * preHandler: refuses a state-changing cookie request from another site or without the session's CSRF token,
   * sent as `X-CSRF-Token` or as the `_csrf` field of a form (needs a urlencoded parser, e.g. `@fastify/formbody`).
   */
  csrf: TesseraPreHandler;
  /** preHandler: spends one request of the session's budget (when the HTTP layer has a per-session limit). */
  rateLimit: TesseraPreHandler;
  /** preHandler: answers 401 unless the request has a session. */
  requireAuth: TesseraPreHandler;
  /** preHandler: refuses a request from another site (Fetch Metadata / `Origin`): for sign-up-like routes that have no session yet. */
  sameOrigin: TesseraPreHandler;
  /** A fresh CSRF token for the request's cookie session; `null` without one. */
  csrfToken(request: FastifyRequest): string | null;
  /**
   * An error handler for `fastify.setErrorHandler` that answers Fastify's body errors in the API's
   * shape (bad JSON → 400 `invalid_request`, too large → 413, unsupported type → 415) and rethrows the rest.
   */
  errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the request is, loaded by the plugin's onRequest hook. */
    tessera: AuthState;
  }
  interface FastifyReply {
    /**
     * Signs in with a fresh session and sets its cookie. Resolves to the result, or to `null`
     * when it has already answered with an error (cross-site, throttled, bad credentials, store down).
     */
    tesseraLogin(attempt: FastifyLoginAttempt): Promise<LoginResult<JsonObject> | null>;
    /**
     * Checks a password under the login throttle without signing in (e.g. a password change) and refreshes
     * the device cookie. Resolves to the user, or to `null` when it has already answered (429, 401, store down).
     */
    tesseraVerifyCredentials(attempt: CredentialsAttempt): Promise<VerifiedCredentials | null>;
    /**
     * Ends the session server-side, blocklists a bearer request's access token and clears the cookie.
     * `false` when it has already answered with an error.
     */
    tesseraLogout(): Promise<boolean>;
    /**
     * Spends a refresh token (token transport) for a new pair. Resolves to the pair, or to `null`
     * when it has already answered with an error (missing token 400, reuse 401 `refresh_reused`, …).
     */
    tesseraRefresh(refreshToken: unknown): Promise<TokenResponse | null>;
    /**
     * Starts a fresh session for a user the app has already verified (right after sign-up), with no
     * login throttle, and sets its cookie. Resolves to the result, or to `null` when it has already
     * answered with an error (cross-site, store down).
     */
    tesseraStartSession(
      userId: string,
      options?: { transport?: 'cookie' | 'token'; data?: JsonObject; account?: string },
    ): Promise<LoginResult<JsonObject> | null>;
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

function requestFacts(request: FastifyRequest): RequestFacts {
  const body: unknown = request.body;
  return {
    method: request.method,
    url: request.url,
    headers: headerReader(request.headers),
    ip: request.ip,
    origin: `${request.protocol}://${request.host}`,
    csrfField: csrfFieldOf(body),
  };
}

function setCookies(reply: FastifyReply, values: readonly string[]): void {
  // Fastify appends repeated Set-Cookie headers rather than replacing them.
  for (const value of values) reply.header('set-cookie', value);
}

const plugin: FastifyPluginAsync<TesseraFastifyOptions> = async (fastify, options) => {
  const auth = options.auth;
  if (typeof auth?.authenticate !== 'function') {
    throw new InvalidOptionError('"auth" must be an HTTP layer (createHttpAuth)');
  }

  const stateOf = (request: FastifyRequest): AuthState => {
    // Absent when the route lives outside the context the plugin was registered in: a wiring bug, not "anonymous".
    const state = request.tessera as AuthState | null | undefined;
    if (state === null || state === undefined) {
      throw new InvalidOptionError('tesseraFastify is not registered for this route');
    }
    return state;
  };

  const answer = (reply: FastifyReply, error: ApiError | null): FastifyReply | undefined =>
    error === null ? undefined : sendApiError(reply, error);

  // Fastify refuses object defaults (they would be shared by every request); the onRequest hook sets the real value.
  fastify.decorateRequest('tessera', null as unknown as AuthState);
  fastify.decorateReply('tesseraLogin', async function (this: FastifyReply, attempt: FastifyLoginAttempt) {
    const facts = requestFacts(this.request);
    const refused = auth.verifyRequestSource(facts);
    if (refused !== null) {
      sendApiError(this, refused);
      return null;
    }
    const result = await auth.login(facts, stateOf(this.request), attempt);
    if (!result.ok) {
      sendApiError(this, result.error);
      return null;
    }
    setCookies(this, result.value.setCookies);
    this.request.tessera = result.value.state;
    return result.value;
  });
  fastify.decorateReply('tesseraVerifyCredentials', async function (this: FastifyReply, attempt: CredentialsAttempt) {
    const result = await auth.verifyCredentials(requestFacts(this.request), attempt);
    if (!result.ok) {
      sendApiError(this, result.error);
      return null;
    }
    setCookies(this, result.value.setCookies);
    return result.value;
  });
  fastify.decorateReply('tesseraLogout', async function (this: FastifyReply) {
    const result = await auth.logout(stateOf(this.request));
    if (!result.ok) {
      sendApiError(this, result.error);
      return false;
    }
    setCookies(this, result.value.setCookies);
    this.request.tessera = result.value.state;
    return true;
  });
  fastify.decorateReply('tesseraRefresh', async function (this: FastifyReply, refreshToken: unknown) {
    const result = await auth.refresh(requestFacts(this.request), refreshToken);
    if (result.ok) return result.value;
    sendApiError(this, result.error);
    return null;
  });

  fastify.decorateReply(
    'tesseraStartSession',
    async function (
      this: FastifyReply,
      userId: string,
      options?: { transport?: 'cookie' | 'token'; data?: JsonObject; account?: string },
    ) {
      const facts = requestFacts(this.request);
      const refused = auth.verifyRequestSource(facts);
      if (refused !== null) {
        sendApiError(this, refused);
        return null;
      }
      const result = await auth.startSession(facts, stateOf(this.request), userId, options);
      if (!result.ok) {
        sendApiError(this, result.error);
        return null;
      }
      setCookies(this, result.value.setCookies);
      this.request.tessera = result.value.state;
      return result.value;
    },
  );

  // onRequest, not preHandler: authentication needs no body, so a token in the URL or a store outage is answered before one is read.
  fastify.addHook('onRequest', async (request, reply) => {
    const result = await auth.authenticate(requestFacts(request));
    if (!result.ok) return sendApiError(reply, result.error);
    request.tessera = result.value;
    setCookies(reply, result.value.setCookies);
    return undefined;
  });

  const tessera: TesseraFastify = {
    csrf: async (request, reply) => answer(reply, auth.verifyCSRF(requestFacts(request), stateOf(request))),
    rateLimit: async (request, reply) =>
      answer(reply, await auth.limitRequest(requestFacts(request), stateOf(request))),
    requireAuth: async (request, reply) => answer(reply, auth.requireAuth(stateOf(request))),
    sameOrigin: async (request, reply) => answer(reply, auth.verifyRequestSource(requestFacts(request))),
    csrfToken: (request) => auth.csrfToken(stateOf(request)),
    errorHandler(error, _request, reply) {
      const mapped =
        typeof error.code === 'string' && error.code.startsWith('FST_ERR_') && error.statusCode !== undefined
          ? apiErrorForBodyFailure(error.statusCode)
          : null;
      if (mapped === null) throw error;
      return sendApiError(reply, mapped);
    },
  };
  fastify.decorate('tessera', Object.freeze(tessera));
};

/**
 * Tessera for Fastify 5: register it with `{ auth }` (an HTTP layer from
 * `createHttpAuth`). Every request gets `request.tessera`; `fastify.tessera`
 * holds the preHandlers; `reply.tesseraLogin` / `reply.tesseraLogout` sign in
 * and out. The client IP is `request.ip` (Fastify's `trustProxy` applies) and
 * the own origin is `request.protocol` plus `request.host` unless the HTTP layer was given `ownOrigin`
 * (give it wherever the app answers a `Host` it does not check: a DNS-rebinding page chooses that).
 *
 * @example
 * await app.register(tesseraFastify, { auth });
 * app.setErrorHandler(app.tessera.errorHandler);
 * app.post('/transfer', { preHandler: [app.tessera.csrf, app.tessera.rateLimit, app.tessera.requireAuth] }, handler);
 */
export const tesseraFastify = fp(plugin, { fastify: '5.x', name: 'tessera' });
