import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { z } from 'zod';
import { sendApiError, type TesseraPreHandler } from 'tessera-auth/fastify';
import type { RateLimitVerdict, RequestLimit } from 'tessera-auth';
import type { SessionManager } from 'tessera-auth';
import type { TokenService } from 'tessera-auth';
import { apiError, type ApiError } from 'tessera-auth/http';
import type { HttpAuth } from 'tessera-auth/http';
import type { AccountLifecycle } from '../accounts/account-lifecycle.js';
import type { SignupGuard } from '../accounts/signup-guard.js';
import type { AdminKey } from '../admin/admin-keys.js';
import { describeBodyError } from '../api-schemas.js';
import type { AuditSink } from '../audit.js';
import type { ServerConfig } from '../config.js';
import type { ServerMetrics } from '../metrics.js';
import type { RouteSpec } from '../openapi.js';
import type { ServerRuntime } from '../runtime.js';

/** What the route handlers work with: the server's services, budgets and helpers, built once per server. */
export interface RouteContext {
  config: ServerConfig;
  runtime: ServerRuntime;
  logger: PinoLogger;
  /** The clock, epoch milliseconds. */
  now: () => number;
  metrics: ServerMetrics;
  sessions: SessionManager;
  tokens: TokenService;
  auth: HttpAuth;
  /** The auth plugin's instance API (`app.tessera`). */
  tessera: FastifyInstance['tessera'];
  signupGuard: SignupGuard;
  refreshLimit: RequestLimit;
  introspectLimit: RequestLimit;
  audit: AuditSink;
  /** Disabling, enabling and deleting accounts with their sessions. */
  lifecycle: AccountLifecycle;
  /** The preHandler of `auth: "admin"` routes: 401 without a live admin key. */
  requireAdminKey(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
  /** The admin key that authenticated a request on an `auth: "admin"` route. */
  adminKeyOf(request: FastifyRequest): AdminKey;
  /** A keyed hash of a rate-limit key (a client IP, a client), so that a dump of the counters names no one. */
  keyOf(purpose: string, value: string): string;
  /** The 429 for a spent budget, logged once per refusal; `null` when the request may go on. */
  limited(verdict: RateLimitVerdict, name: string): ApiError | null;
  /** Answers 503 `overloaded` (a full work queue), which the metrics do not count as a store failure. */
  overloaded(reply: FastifyReply, message: string): FastifyReply;
  /** Answers with the Prometheus metrics. */
  sendMetrics(reply: FastifyReply): Promise<FastifyReply>;
  /** The OpenAPI document this server serves. */
  openapi: Record<string, unknown>;
}

/** What a handler gets: the request, the reply and the body, already validated against the route's schema. */
export interface RouteInput<Body> {
  request: FastifyRequest;
  reply: FastifyReply;
  body: Body;
}

/** One endpoint: its spec (registration and OpenAPI) paired with its handler. */
export interface RouteDefinition<Body = unknown> extends Omit<RouteSpec, 'body'> {
  body?: z.ZodType<Body>;
  /**
   * Checks that come before the body is read (the caller's credentials, its rate limit): the error it returns is
   * the answer, ahead of any 400 for the body.
   */
  before?(context: RouteContext, request: FastifyRequest): Promise<ApiError | null>;
  handle(context: RouteContext, input: RouteInput<Body>): Promise<unknown>;
}

/** Declares a route, its handler typed by its body schema (`undefined` without one). */
export function defineRoute<Body = undefined>(route: RouteDefinition<Body>): RouteDefinition {
  return route as RouteDefinition;
}

/**
 * The step-up preHandler of sensitive actions (a route with `recentAuth: true`, or any handler that needs it):
 * 403 `reauth_required` unless the session's last sign-in or re-authentication is within TESSERA_REAUTH_MAX_AGE.
 */
export function requireRecentAuth(context: Pick<RouteContext, 'tessera' | 'config'>): TesseraPreHandler {
  return context.tessera.requireRecentAuth({ maxAgeSeconds: context.config.reauthMaxAgeSeconds });
}

/**
 * Registers every route: the spec's preHandlers (same-origin, session, CSRF, per-session budget), then its
 * `before` checks, then its body validated against the spec's schema (400 `invalid_request` naming the field,
 * never echoing a value), then the handler with the typed body.
 */
export function registerRoutes(app: FastifyInstance, routes: readonly RouteDefinition[], context: RouteContext): void {
  const { tessera } = context;
  for (const route of routes) {
    const preHandler = [
      ...(route.sameOrigin === true ? [tessera.sameOrigin] : []),
      ...(route.auth === 'session' ? [tessera.requireAuth] : []),
      ...(route.auth === 'admin' ? [context.requireAdminKey] : []),
      ...(route.csrf ? [tessera.csrf] : []),
      ...(route.recentAuth === true ? [requireRecentAuth(context)] : []),
      ...(route.auth === 'session' ? [tessera.rateLimit] : []),
    ];
    const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      const refused = route.before === undefined ? null : await route.before(context, request);
      if (refused !== null) return sendApiError(reply, refused);
      if (route.body === undefined) return route.handle(context, { request, reply, body: undefined });
      const parsed = route.body.safeParse(request.body ?? {});
      if (!parsed.success) return sendApiError(reply, apiError('invalid_request', describeBodyError(parsed.error)));
      return route.handle(context, { request, reply, body: parsed.data });
    };
    app.route({ method: route.method, url: route.path, preHandler, handler });
  }
}
