import { z } from 'zod';
import { API_ERROR_STATUS, type ApiErrorCode } from '../http/api-error.js';
import {
  cookieLoginResponse,
  credentialsBody,
  csrfResponse,
  errorResponse,
  healthResponse,
  introspectBody,
  introspectionResponse,
  jwksResponse,
  meResponse,
  passwordBody,
  refreshBody,
  sessionsResponse,
  tokenLoginResponse,
  tokenResponse,
} from './api-schemas.js';

/** One endpoint: how it is registered and how it is documented, from one declaration. */
export interface RouteSpec {
  id: RouteId;
  method: 'GET' | 'POST' | 'DELETE';
  /** Fastify path syntax (`:id`). */
  path: string;
  summary: string;
  /** `session`: answers 401 without a session (cookie or bearer). */
  auth: 'none' | 'session';
  /** A state-changing cookie request must carry the session's CSRF token and come from an allowed origin. */
  csrf: boolean;
  /** Refused from another site even without a session (sign-up: login CSRF and account spam). */
  sameOrigin?: boolean;
  body?: z.ZodType;
  /** The success status and its body schema (none for 204). */
  success: { status: number; schema?: z.ZodType; description: string; contentType?: string };
  errors: ApiErrorCode[];
}

export type RouteId =
  | 'signup'
  | 'login'
  | 'refresh'
  | 'logout'
  | 'me'
  | 'csrfToken'
  | 'listSessions'
  | 'revokeSession'
  | 'revokeOtherSessions'
  | 'changePassword'
  | 'jwks'
  | 'introspect'
  | 'healthz'
  | 'readyz'
  | 'metrics'
  | 'openapi';

const bodyErrors: ApiErrorCode[] = ['invalid_request', 'payload_too_large', 'unsupported_media_type'];

/** Every endpoint of the server (API.md), in the order of the contract. */
export const ROUTES: readonly RouteSpec[] = [
  {
    id: 'signup',
    method: 'POST',
    path: '/auth/signup',
    summary: 'Create an account and sign in (cookie or token transport).',
    auth: 'none',
    csrf: false,
    sameOrigin: true,
    body: credentialsBody,
    success: {
      status: 201,
      schema: z.union([cookieLoginResponse, tokenLoginResponse]),
      description: 'Signed up and in',
    },
    errors: [...bodyErrors, 'conflict', 'csrf_failed', 'rate_limited', 'unavailable', 'overloaded'],
  },
  {
    id: 'login',
    method: 'POST',
    path: '/auth/login',
    summary: 'Sign in with email and password; a fresh session every time.',
    auth: 'none',
    csrf: false,
    body: credentialsBody,
    success: { status: 200, schema: z.union([cookieLoginResponse, tokenLoginResponse]), description: 'Signed in' },
    errors: [...bodyErrors, 'invalid_credentials', 'csrf_failed', 'rate_limited', 'unavailable'],
  },
  {
    id: 'refresh',
    method: 'POST',
    path: '/auth/refresh',
    summary: 'Spend a refresh token for a new pair (the old one is spent; reuse revokes the session).',
    auth: 'none',
    csrf: false,
    body: refreshBody,
    success: { status: 200, schema: tokenResponse, description: 'A new token pair' },
    errors: [
      ...bodyErrors,
      'invalid_token',
      'session_expired',
      'session_revoked',
      'refresh_reused',
      'rate_limited',
      'unavailable',
    ],
  },
  {
    id: 'logout',
    method: 'POST',
    path: '/auth/logout',
    summary:
      'End the session, clear the cookie, blocklist the presented access token. Idempotent: 204 without a session too.',
    auth: 'none',
    csrf: true,
    sameOrigin: true,
    success: { status: 204, description: 'Signed out' },
    errors: ['csrf_failed', 'unavailable'],
  },
  {
    id: 'me',
    method: 'GET',
    path: '/auth/me',
    summary: 'The signed-in user and session.',
    auth: 'session',
    csrf: false,
    success: { status: 200, schema: meResponse, description: 'Who you are' },
    errors: ['unauthenticated', 'invalid_token', 'token_expired', 'session_expired', 'session_revoked', 'unavailable'],
  },
  {
    id: 'csrfToken',
    method: 'GET',
    path: '/auth/csrf',
    summary: 'A CSRF token for the cookie session.',
    auth: 'session',
    csrf: false,
    success: { status: 200, schema: csrfResponse, description: 'The token' },
    errors: ['unauthenticated', 'forbidden', 'unavailable'],
  },
  {
    id: 'listSessions',
    method: 'GET',
    path: '/auth/sessions',
    summary: 'Where you are signed in.',
    auth: 'session',
    csrf: false,
    success: { status: 200, schema: sessionsResponse, description: 'Your sessions' },
    errors: ['unauthenticated', 'invalid_token', 'unavailable'],
  },
  {
    id: 'revokeSession',
    method: 'DELETE',
    path: '/auth/sessions/:id',
    summary: 'Sign one of your sessions out.',
    auth: 'session',
    csrf: true,
    success: { status: 204, description: 'Revoked' },
    errors: ['unauthenticated', 'csrf_failed', 'not_found', 'unavailable'],
  },
  {
    id: 'revokeOtherSessions',
    method: 'DELETE',
    path: '/auth/sessions',
    summary: 'Sign out everywhere else.',
    auth: 'session',
    csrf: true,
    success: { status: 204, description: 'Revoked' },
    errors: ['unauthenticated', 'csrf_failed', 'unavailable'],
  },
  {
    id: 'changePassword',
    method: 'POST',
    path: '/auth/password',
    summary: 'Change the password: every other session is signed out, the current one gets a fresh id.',
    auth: 'session',
    csrf: true,
    body: passwordBody,
    success: { status: 204, description: 'Changed' },
    errors: [...bodyErrors, 'unauthenticated', 'invalid_credentials', 'csrf_failed', 'rate_limited', 'unavailable'],
  },
  {
    id: 'jwks',
    method: 'GET',
    path: '/.well-known/jwks.json',
    summary: 'Public keys that verify access tokens.',
    auth: 'none',
    csrf: false,
    success: { status: 200, schema: jwksResponse, description: 'The JWKS' },
    errors: ['unavailable'],
  },
  {
    id: 'introspect',
    method: 'POST',
    path: '/auth/introspect',
    summary: 'RFC 7662 token introspection for trusted services (HTTP Basic with the configured secret).',
    auth: 'none',
    csrf: false,
    body: introspectBody,
    success: { status: 200, schema: introspectionResponse, description: 'The token’s state' },
    errors: [...bodyErrors, 'unauthenticated', 'not_found', 'rate_limited', 'unavailable'],
  },
  {
    id: 'healthz',
    method: 'GET',
    path: '/healthz',
    summary: 'Liveness.',
    auth: 'none',
    csrf: false,
    success: { status: 200, schema: healthResponse, description: 'Alive' },
    errors: [],
  },
  {
    id: 'readyz',
    method: 'GET',
    path: '/readyz',
    summary: 'Readiness: 503 when a store is unreachable.',
    auth: 'none',
    csrf: false,
    success: { status: 200, schema: healthResponse, description: 'Ready' },
    errors: ['unavailable'],
  },
  {
    id: 'metrics',
    method: 'GET',
    path: '/metrics',
    summary:
      'Prometheus metrics: needs the TESSERA_METRICS_TOKEN bearer; 404 when only a metrics port (or nothing) is set.',
    auth: 'none',
    csrf: false,
    success: { status: 200, description: 'Prometheus text format', contentType: 'text/plain' },
    errors: ['unauthenticated', 'not_found'],
  },
  {
    id: 'openapi',
    method: 'GET',
    path: '/openapi.json',
    summary: 'This document.',
    auth: 'none',
    csrf: false,
    success: { status: 200, description: 'OpenAPI 3.1' },
    errors: [],
  },
];

const jsonSchema = (schema: z.ZodType): Record<string, unknown> => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
};

/** The OpenAPI 3.1 document, generated from {@link ROUTES} and the zod schemas that validate requests. */
export function buildOpenAPIDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const responses: Record<string, unknown> = {
      [route.success.status]: {
        description: route.success.description,
        ...(route.success.schema === undefined
          ? route.success.contentType === undefined
            ? {}
            : { content: { [route.success.contentType]: { schema: { type: 'string' } } } }
          : { content: { 'application/json': { schema: jsonSchema(route.success.schema) } } }),
      },
    };
    // Session routes spend the per-session budget when TESSERA_SESSION_RATE_LIMIT is set.
    const errors: ApiErrorCode[] =
      route.auth === 'session' && !route.errors.includes('rate_limited')
        ? [...route.errors, 'rate_limited']
        : route.errors;
    for (const code of errors) {
      const status = String(API_ERROR_STATUS[code]);
      const existing = responses[status] as { description: string } | undefined;
      responses[status] = {
        description: existing === undefined ? code : `${existing.description}, ${code}`,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = {
      operationId: route.id,
      summary: route.summary,
      ...(route.auth === 'session' ? { security: [{ cookie: [] }, { bearer: [] }] } : {}),
      ...(route.id === 'metrics' ? { security: [{ metrics: [] }] } : {}),
      ...(route.path.includes(':id')
        ? { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }] }
        : {}),
      ...(route.body === undefined
        ? {}
        : { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(route.body) } } } }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Tessera', version: '0.1.0', description: 'Session management server: see API.md.' },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorResponse) },
      securitySchemes: {
        cookie: { type: 'apiKey', in: 'cookie', name: '__Host-tessera' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        introspection: { type: 'http', scheme: 'basic' },
        metrics: { type: 'http', scheme: 'bearer', description: 'TESSERA_METRICS_TOKEN' },
      },
    },
  };
}
