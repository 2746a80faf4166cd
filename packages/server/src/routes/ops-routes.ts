import { sendApiError } from 'tessera-auth/fastify';
import { constantTimeEqual } from '../crypto.js';
import { apiError } from 'tessera-auth/http';
import { healthResponse } from '../api-schemas.js';
import { defineRoute } from './route.js';

/** `GET /healthz`: liveness. */
export const healthzRoute = defineRoute({
  id: 'healthz',
  method: 'GET',
  path: '/healthz',
  summary: 'Liveness.',
  auth: 'none',
  csrf: false,
  success: { status: 200, schema: healthResponse, description: 'Alive' },
  errors: [],
  async handle(_context, { reply }) {
    return reply.send({ status: 'ok' });
  },
});

/** `GET /readyz`: 503 when a store is unreachable. */
export const readyzRoute = defineRoute({
  id: 'readyz',
  method: 'GET',
  path: '/readyz',
  summary: 'Readiness: 503 when a store is unreachable.',
  auth: 'none',
  csrf: false,
  success: { status: 200, schema: healthResponse, description: 'Ready' },
  errors: ['unavailable'],
  async handle(context, { reply }) {
    try {
      await Promise.all([context.runtime.sessions.get('readyz'), context.runtime.database.get('readyz')]);
      return reply.send({ status: 'ready' });
    } catch {
      return sendApiError(reply, apiError('unavailable', 'A store is unreachable.'));
    }
  },
});

/** `GET /metrics` on the main port: only behind the configured bearer token. */
export const metricsRoute = defineRoute({
  id: 'metrics',
  method: 'GET',
  path: '/metrics',
  summary:
    'Prometheus metrics: needs the TESSERA_METRICS_TOKEN bearer; 404 when only a metrics port (or nothing) is set.',
  auth: 'none',
  csrf: false,
  success: { status: 200, description: 'Prometheus text format', contentType: 'text/plain' },
  errors: ['unauthenticated', 'not_found'],
  async handle(context, { request, reply }) {
    const token = context.config.metricsToken;
    // Off on the main port unless a token guards it (a listener of its own serves it otherwise).
    if (token === null) return sendApiError(reply, apiError('not_found'));
    const presented = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
    if (!constantTimeEqual(presented, token)) {
      return sendApiError(
        reply,
        apiError('unauthenticated', 'Metrics need the configured bearer token.', {
          'WWW-Authenticate': 'Bearer realm="tessera-metrics"',
        }),
      );
    }
    return context.sendMetrics(reply);
  },
});

/** `GET /openapi.json`: the document generated from these routes. */
export const openapiRoute = defineRoute({
  id: 'openapi',
  method: 'GET',
  path: '/openapi.json',
  summary: 'This document.',
  auth: 'none',
  csrf: false,
  success: { status: 200, description: 'OpenAPI 3.1' },
  errors: [],
  async handle(context, { reply }) {
    return reply.send(context.openapi);
  },
});

/** Health, readiness, metrics and the API description. */
export const OPS_ROUTES = [healthzRoute, readyzRoute, metricsRoute, openapiRoute];
