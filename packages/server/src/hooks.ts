import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { sendApiError } from 'tessera-auth/fastify';
import { apiError, apiErrorFromException } from 'tessera-auth/http';
import { isAdminPath } from './admin/admin-auth.js';
import { createRouteTable, edgeRequestCheck, setSecurityHeaders } from './edge.js';
import type { ServerMetrics } from './metrics.js';
import type { ServerSecretsSource } from './secrets.js';

/** What the request hooks need. */
export interface RequestHookOptions {
  /** The origin users reach, asked per request. */
  publicOrigin: () => string;
  secretsSource: Pick<ServerSecretsSource, 'refreshIfStale'>;
}

/** The routes a server registered, as the request hooks saw them. */
export interface RegisteredRoutes {
  /** `METHOD path` of every route registered (HEAD left out). */
  list: string[];
  /** The methods a path allows (for 405 and its `Allow`). */
  allowed(url: string): string[];
}

/**
 * The hooks every request meets before a route runs: the route list (for 404 against 405), closing, the edge
 * check (Host, URL length) and the secrets refresh. Registered before the auth plugin, so they come first.
 */
export function addRequestHooks(app: FastifyInstance, options: RequestHookOptions): RegisteredRoutes {
  const list: string[] = [];
  const routeTable = createRouteTable();
  let closing = false;
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    routeTable.add(route.url, methods);
    for (const method of methods) if (method !== 'HEAD') list.push(`${method} ${route.url}`);
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  // First of all hooks: a foreign Host or an over-long URL is refused before any credential is looked at.
  app.addHook('onRequest', edgeRequestCheck({ publicOrigin: options.publicOrigin, closing: () => closing }));
  app.addHook('onRequest', async (request) => {
    // The admin API's one credential is the admin key: a user's cookie is neither validated, renewed nor cleared there.
    if (isAdminPath(request.url)) delete request.headers.cookie;
    // Only /auth needs the CSRF secrets, and a health check must not wait on the database.
    if (request.url.startsWith('/auth')) await options.secretsSource.refreshIfStale();
  });
  return { list, allowed: (url) => routeTable.allowed(url) };
}

/** What the response hooks need. */
export interface ResponseHookOptions {
  logger: PinoLogger;
  metrics: ServerMetrics;
  routes: RegisteredRoutes;
  /** Replies that answered 503 `overloaded` (a full work queue): busy, not a store outage. */
  overloadedReplies: WeakSet<FastifyReply>;
}

/**
 * The error and not-found handlers (API error shape, 405 with `Allow`), the security headers on every answer,
 * and one request log line and the request metrics per response. Registered after the auth plugin.
 */
export function addResponseHooks(app: FastifyInstance, options: ResponseHookOptions): void {
  const { logger, metrics } = options;
  app.setErrorHandler((error, request, reply) => {
    try {
      return app.tessera.errorHandler(error as FastifyError, request, reply);
    } catch {
      const unavailable = apiErrorFromException(error);
      if (unavailable !== null) return sendApiError(reply, unavailable);
      // Never a credential: no body, no headers, the route pattern rather than the path (which may hold an id).
      logger.error({ err: error, method: request.method, route: request.routeOptions.url ?? null }, 'request failed');
      return sendApiError(reply, apiError('internal_error'));
    }
  });
  app.setNotFoundHandler((request, reply) => {
    const allowed = options.routes.allowed(request.url);
    if (allowed.length === 0) return sendApiError(reply, apiError('not_found'));
    return sendApiError(reply, apiError('method_not_allowed', undefined, { Allow: allowed.join(', ') }));
  });
  app.addHook('onSend', async (request, reply, payload) => {
    setSecurityHeaders(request, reply);
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    // A 503 is a store that could not answer (HTTP layer or error handler), unless it is a full queue's `overloaded`.
    if (reply.statusCode === 503 && !options.overloadedReplies.has(reply)) metrics.storeErrors.inc({ route });
    metrics.requestDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    logger.info(
      {
        reqId: request.id,
        method: request.method,
        // The route pattern (/auth/sessions/:id), never the path: a path may hold a session id or a token.
        route: request.routeOptions.url ?? null,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
}
