import { z } from 'zod';
import { API_ERROR_STATUS, type ApiErrorCode } from 'tessera-auth/http';
import { errorResponse } from './api-schemas.js';
import { ACCOUNT_ROUTES } from './routes/account-routes.js';
import { ADMIN_ROUTES } from './routes/admin-routes.js';
import { OPS_ROUTES } from './routes/ops-routes.js';
import type { RouteDefinition } from './routes/route.js';
import { SESSION_ROUTES } from './routes/session-routes.js';
import { TOKEN_ROUTES } from './routes/token-routes.js';

/** One endpoint's spec: how it is registered and how it is documented (a route file pairs it with its handler). */
export interface RouteSpec {
  id: RouteId;
  method: 'GET' | 'POST' | 'DELETE';
  /** Fastify path syntax (`:id`). */
  path: string;
  summary: string;
  /**
   * `session`: answers 401 without a session (cookie or bearer). `admin`: answers 401 without a live admin key
   * (`Authorization: Bearer <admin key>`); cookies are never looked at.
   */
  auth: 'none' | 'session' | 'admin';
  /** A state-changing cookie request must carry the session's CSRF token and come from an allowed origin. */
  csrf: boolean;
  /** Refused from another site even without a session (sign-up: login CSRF and account spam). */
  sameOrigin?: boolean;
  /**
   * A sensitive action: the session's last sign-in or re-authentication must be within TESSERA_REAUTH_MAX_AGE,
   * otherwise 403 `reauth_required` (with `error.maxAgeSeconds`). Implies `auth: "session"`.
   */
  recentAuth?: true;
  body?: z.ZodType;
  /** The media types the body may come in. @default ["application/json"] */
  bodyTypes?: readonly ('application/json' | 'application/x-www-form-urlencoded')[];
  /** Query parameters the route reads, all strings. */
  query?: { name: string; required: boolean; description: string }[];
  /** The success status and its body schema (none for 204). */
  success: {
    status: number;
    schema?: z.ZodType;
    description: string;
    contentType?: string;
    /** A different answer to a bearer request. */
    bearer?: { status: number; schema: z.ZodType; description: string };
  };
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
  | 'reauthenticate'
  | 'deleteAccount'
  | 'adminFindUser'
  | 'adminListUserSessions'
  | 'adminRevokeUserSessions'
  | 'adminRevokeSession'
  | 'adminDisableUser'
  | 'adminEnableUser'
  | 'adminDeleteUser'
  | 'adminRevokeEverySession'
  | 'jwks'
  | 'introspect'
  | 'healthz'
  | 'readyz'
  | 'metrics'
  | 'openapi';

/**
 * Every endpoint of the server (docs/api.md), in the order of the contract: each route file's specs with their
 * handlers, registered by `registerRoutes` and documented by {@link buildOpenAPIDocument}.
 */
export const ROUTES: readonly RouteDefinition[] = [
  ...SESSION_ROUTES,
  ...ACCOUNT_ROUTES,
  ...TOKEN_ROUTES,
  ...OPS_ROUTES,
  ...ADMIN_ROUTES,
];

const jsonSchema = (schema: z.ZodType): Record<string, unknown> => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
};

/** A route's request body: the same schema under each media type it accepts. */
const requestBody = (body: z.ZodType, types: RouteSpec['bodyTypes'] = ['application/json']) => ({
  required: true,
  content: Object.fromEntries(types.map((type) => [type, { schema: jsonSchema(body) }])),
});

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
    const bearer = route.success.bearer;
    if (bearer !== undefined) {
      responses[bearer.status] = {
        description: bearer.description,
        content: { 'application/json': { schema: jsonSchema(bearer.schema) } },
      };
    }
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
      ...(route.id === 'introspect' ? { security: [{ introspection: [] }] } : {}),
      ...(route.auth === 'admin' ? { security: [{ adminKey: [] }] } : {}),
      ...(route.path.includes(':id') || route.query !== undefined
        ? {
            parameters: [
              ...(route.path.includes(':id')
                ? [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]
                : []),
              ...(route.query ?? []).map(({ name, required, description }) => ({
                name,
                in: 'query',
                required,
                description,
                schema: { type: 'string' },
              })),
            ],
          }
        : {}),
      ...(route.body === undefined ? {} : { requestBody: requestBody(route.body, route.bodyTypes) }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera',
      version: '0.1.0',
      description: 'Session management server: see the HTTP reference (docs/api.md in the repository).',
    },
    paths,
    components: {
      schemas: { Error: jsonSchema(errorResponse) },
      securitySchemes: {
        cookie: { type: 'apiKey', in: 'cookie', name: '__Host-tessera' },
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        introspection: {
          type: 'http',
          scheme: 'basic',
          description:
            'An introspection client (tessera clients create) or the TESSERA_INTROSPECT_SECRET client (id "default"); id and secret form-urlencoded per RFC 6749 §2.3.1',
        },
        metrics: { type: 'http', scheme: 'bearer', description: 'TESSERA_METRICS_TOKEN' },
        adminKey: { type: 'http', scheme: 'bearer', description: 'An admin key from `tessera admin-keys create`' },
      },
    },
  };
}
