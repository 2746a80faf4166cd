import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * CORS for the origins in `TESSERA_ALLOWED_ORIGINS`: a listed origin gets its own origin back with
 * credentials allowed, and its preflight answered; any other origin gets no CORS header at all, so the
 * browser keeps its answers from the page. Never `*`: credentials are always allowed.
 */

/** What a listed origin may send: the methods the API uses and the headers its two transports need. */
const ALLOW_METHODS = 'GET, POST, DELETE';
const ALLOW_HEADERS = 'Content-Type, X-CSRF-Token, Authorization';
/** Headers a page may read from an answer besides the CORS-safelisted ones. */
const EXPOSE_HEADERS = 'Retry-After, WWW-Authenticate';
/** Seconds a browser may reuse a preflight answer (Chromium caps it at 7200). */
const PREFLIGHT_MAX_AGE = '600';

/** Appends `Origin` to the reply's `Vary`, keeping what is there. */
function varyOnOrigin(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  const existing = typeof vary === 'string' ? vary : '';
  if (!/(^|,\s*)origin(\s*,|$)/i.test(existing))
    reply.header('Vary', existing === '' ? 'Origin' : `${existing}, Origin`);
}

/**
 * Adds the CORS hooks: an `onRequest` hook (after the `Host` check) that answers a listed origin's
 * preflight (204) and marks every answer to a listed origin; `Vary: Origin` on every answer, since
 * what a response carries depends on it. Nothing is added when no origin is listed.
 */
export function addCorsHooks(app: FastifyInstance, allowedOrigins: readonly string[]): void {
  if (allowedOrigins.length === 0) return;
  const listed = new Set(allowedOrigins);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    varyOnOrigin(reply);
    const origin = request.headers.origin;
    if (origin === undefined || !listed.has(origin)) return undefined;
    reply.header('Access-Control-Allow-Origin', origin);
    reply.header('Access-Control-Allow-Credentials', 'true');
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
    if (!preflight) {
      reply.header('Access-Control-Expose-Headers', EXPOSE_HEADERS);
      return undefined;
    }
    reply.header('Access-Control-Allow-Methods', ALLOW_METHODS);
    reply.header('Access-Control-Allow-Headers', ALLOW_HEADERS);
    reply.header('Access-Control-Max-Age', PREFLIGHT_MAX_AGE);
    return reply.code(204).send();
  });
}
