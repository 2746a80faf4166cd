import { constantTimeEqual } from '../crypto.js';
import { apiError } from 'tessera-auth/http';
import { introspectBody, introspectionResponse, jwksResponse } from '../api-schemas.js';
import { BODY_ERRORS } from './errors.js';
import { defineRoute } from './route.js';

/** `GET /.well-known/jwks.json`: the public keys that verify access tokens. */
export const jwksRoute = defineRoute({
  id: 'jwks',
  method: 'GET',
  path: '/.well-known/jwks.json',
  summary: 'Public keys that verify access tokens.',
  auth: 'none',
  csrf: false,
  success: { status: 200, schema: jwksResponse, description: 'The JWKS' },
  errors: ['unavailable'],
  async handle(context, { reply }) {
    return reply.header('Cache-Control', 'public, max-age=300').send(await context.tokens.jwks());
  },
});

/** `POST /auth/introspect`: RFC 7662, for the holder of the introspection secret. */
export const introspectRoute = defineRoute({
  id: 'introspect',
  method: 'POST',
  path: '/auth/introspect',
  summary: 'RFC 7662 token introspection for trusted services (HTTP Basic with the configured secret).',
  auth: 'none',
  csrf: false,
  body: introspectBody,
  success: { status: 200, schema: introspectionResponse, description: 'The token’s state' },
  errors: [...BODY_ERRORS, 'unauthenticated', 'not_found', 'rate_limited', 'unavailable'],
  async before(context, request) {
    const secret = context.config.introspectSecret;
    if (secret === null) return apiError('not_found');
    const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(request.headers.authorization ?? '')?.[1];
    const password =
      basic === undefined ? '' : Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':');
    if (!constantTimeEqual(password, secret)) {
      return apiError('unauthenticated', 'Introspection needs the client secret (HTTP Basic).', {
        'WWW-Authenticate': 'Basic realm="tessera-introspect"',
      });
    }
    // One client (the secret's holder) with a generous budget: a resource server may introspect on every request.
    const client = context.keyOf('introspect-client', secret);
    return context.limited(await context.introspectLimit.consume(client), 'introspect');
  },
  async handle(context, { reply, body }) {
    return reply.send(await context.tokens.introspect(body.token));
  },
});

/** The token service's public endpoints. */
export const TOKEN_ROUTES = [jwksRoute, introspectRoute];
