import { authenticateClient, introspectionEnabled, parseBasicCredentials } from '../clients/client-auth.js';
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

/** `POST /auth/introspect`: RFC 7662, for registered clients and the holder of the configured secret. */
export const introspectRoute = defineRoute({
  id: 'introspect',
  method: 'POST',
  path: '/auth/introspect',
  summary:
    'RFC 7662 token introspection for registered clients (`tessera clients create`) and the TESSERA_INTROSPECT_SECRET client (id "default"), with HTTP Basic per RFC 6749 §2.3.1. Form or JSON body. Access, refresh and cookie session tokens; changes nothing. 404 while no client exists.',
  auth: 'none',
  csrf: false,
  body: introspectBody,
  bodyTypes: ['application/x-www-form-urlencoded', 'application/json'],
  success: { status: 200, schema: introspectionResponse, description: 'The token’s state' },
  errors: [...BODY_ERRORS, 'unauthenticated', 'not_found', 'rate_limited', 'unavailable'],
  async before(context, request) {
    const clients = { store: context.runtime.clients, configuredSecret: context.config.introspectSecret };
    const client = await authenticateClient(clients, parseBasicCredentials(request.headers.authorization));
    if (client === null) {
      if (!(await introspectionEnabled(clients))) return apiError('not_found');
      return apiError('unauthenticated', 'Introspection needs a client id and secret (HTTP Basic).', {
        'WWW-Authenticate': 'Basic realm="tessera-introspect", charset="UTF-8"',
      });
    }
    // A generous budget per client: a resource server may introspect on every request.
    return context.limited(
      await context.introspectLimit.consume(context.keyOf('introspect-client', client)),
      'introspect',
    );
  },
  async handle(context, { reply, body }) {
    const hint = body.token_type_hint;
    return reply.send(await context.tokens.introspect(body.token, hint === undefined ? {} : { tokenTypeHint: hint }));
  },
});

/** The token service's public endpoints. */
export const TOKEN_ROUTES = [jwksRoute, introspectRoute];
