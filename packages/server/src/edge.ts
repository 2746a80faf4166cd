import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { sendApiError } from 'tessera-auth/fastify';
import { apiError, apiErrorBody, type ApiError } from 'tessera-auth/http';
import type { Logger } from 'tessera-auth';

/**
 * The server's HTTP edge: what every response carries, and the answers to requests that never reach a
 * route (a foreign `Host`, an unknown method, a URL or header block too large, an unparsable request),
 * each in the API's error shape.
 */

/** URLs longer than this are refused with 414 before routing; Node refuses a whole head over 16 KiB (431). */
export const MAX_URL_LENGTH = 8 * 1024;

/** The largest request head (request line plus headers) Node's parser accepts. */
export const MAX_HEADER_BYTES = 16 * 1024;

const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Paths load balancers probe by IP address: answered whatever the `Host`. */
const PROBES = new Set(['/healthz', '/readyz']);

/** The path of a request URL, without its query string. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * The security headers of every response. A handler's own `Cache-Control` stands (pages revalidate, the
 * JWKS is cacheable); everything else is `no-store`, errors included.
 */
export function setSecurityHeaders(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Referrer-Policy', 'no-referrer');
  if (pathOf(request.url).startsWith('/auth') || !reply.hasHeader('cache-control')) {
    reply.header('Cache-Control', 'no-store');
  }
  const type = String(reply.getHeader('content-type') ?? '');
  if (type.startsWith('text/html')) {
    reply.header('Content-Security-Policy', PAGE_CSP);
    reply.header('X-Frame-Options', 'DENY');
    // A page opened by another site gets no handle on it (and it none on the opener).
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
  }
  if (request.protocol === 'https') reply.header('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
}

/** `hostname` and `port` of a `Host` header value; `null` for anything that is not a plain host[:port]. */
function parseHost(host: string): { hostname: string; port: string } | null {
  // Letters, digits, dots, dashes, an IPv6 literal and a port: no userinfo, path or spaces to confuse a URL parser.
  if (!/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host)) return null;
  const url = URL.canParse(`http://${host}`) ? new URL(`http://${host}`) : null;
  return url === null ? null : { hostname: url.hostname, port: url.port };
}

/** Loopback names: a page elsewhere cannot make a browser send one of these as its `Host`. */
export function isLoopbackHostname(hostname: string): boolean {
  const name = hostname.toLowerCase();
  return name === 'localhost' || name === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(name);
}

const defaultPort = (protocol: string): string => (protocol === 'https:' ? '443' : '80');

/**
 * Whether a request's `Host` names this server: the public URL's host and port, or a loopback name. A
 * DNS-rebinding page sends its own name, which is neither.
 */
export function isOwnHost(host: string, publicOrigin: string): boolean {
  const parsed = parseHost(host);
  if (parsed === null) return false;
  if (isLoopbackHostname(parsed.hostname)) return true;
  const own = new URL(publicOrigin);
  return (
    parsed.hostname === own.hostname &&
    (parsed.port === '' ? defaultPort(own.protocol) : parsed.port) === (own.port || defaultPort(own.protocol))
  );
}

/**
 * The server's own origin for a request, when no public URL is configured (a loopback `HOST`): the loopback
 * name the request used at the bound port, so `http://localhost:3000` and `http://127.0.0.1:3000` both work.
 * Only loopback names get here: the `Host` check has refused every other.
 */
export function loopbackOrigin(host: string, boundOrigin: string): string {
  const parsed = parseHost(host);
  const bound = new URL(boundOrigin);
  if (parsed === null || !isLoopbackHostname(parsed.hostname) || parsed.port !== bound.port) return boundOrigin;
  return `${bound.protocol}//${parsed.hostname}:${bound.port}`;
}

/** Options of {@link edgeRequestCheck}. */
export interface EdgeCheckOptions {
  /** The origin users reach, asked per request (the port may be known only once listening). */
  publicOrigin: () => string;
  /** True once the server is shutting down. */
  closing: () => boolean;
}

/**
 * An onRequest hook, first of all: refuses while shutting down (503), an over-long URL (414), a missing
 * `Host` (400) and a `Host` that is not this server's (421), except on the load balancers' probes.
 */
export function edgeRequestCheck(options: EdgeCheckOptions) {
  // Hosts already found to be ours (per public origin), so the common request parses no URL. Only answers
  // that let a request through are kept, and only a few: a client choosing Host values cannot grow it.
  const ownHosts = new Set<string>();
  const isOwn = (host: string): boolean => {
    const origin = options.publicOrigin();
    const key = `${origin} ${host}`;
    if (ownHosts.has(key)) return true;
    if (!isOwnHost(host, origin)) return false;
    if (ownHosts.size < 16) ownHosts.add(key);
    return true;
  };
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (options.closing()) {
      reply.header('Connection', 'close');
      return sendApiError(reply, apiError('unavailable', 'The server is shutting down.', { 'Retry-After': '5' }));
    }
    if (request.url.length > MAX_URL_LENGTH) return sendApiError(reply, apiError('uri_too_long'));
    if (PROBES.has(pathOf(request.url))) return undefined;
    if (request.host === '') return sendApiError(reply, apiError('invalid_request', 'Send a Host header.'));
    if (!isOwn(request.host)) return sendApiError(reply, apiError('misdirected_request'));
    return undefined;
  };
}

/** Routes by path pattern, to tell "no such path" (404) from "not with this method" (405, with `Allow`). */
export function createRouteTable() {
  const table = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  return {
    add(path: string, methods: readonly string[]): void {
      const escaped = path
        .split('/')
        .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
        .join('/');
      const entry = table.get(path) ?? { pattern: new RegExp(`^${escaped}$`), methods: new Set<string>() };
      for (const method of methods) entry.methods.add(method);
      table.set(path, entry);
    },
    /** The methods a path answers to, sorted; empty when no route has the path. */
    allowed(url: string): string[] {
      const path = pathOf(url);
      const methods = new Set<string>();
      for (const { pattern, methods: routeMethods } of table.values()) {
        if (pattern.test(path)) for (const method of routeMethods) methods.add(method);
      }
      return [...methods].sort();
    },
  };
}

/**
 * Fastify's `frameworkErrors`: a malformed URL (400) or an over-long path parameter (414), answered in the
 * API's shape rather than Fastify's (which names the framework and echoes the path).
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const answer =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? apiError('uri_too_long')
      : error.code === 'FST_ERR_BAD_URL'
        ? apiError('invalid_request', 'The URL is malformed.')
        : apiError('internal_error');
  setSecurityHeaders(request, reply);
  sendApiError(reply, answer);
}

/** Whether the bytes Node had when the head overflowed are one request line that never ended: a URL too long. */
function isRequestLineOverflow(raw: unknown): boolean {
  if (!Buffer.isBuffer(raw)) return false;
  const end = raw.indexOf('\r\n');
  return /^[A-Z]+ \//.test(raw.subarray(0, 16).toString('latin1')) && (end === -1 || end > MAX_URL_LENGTH);
}

/** The answer to a request Node's parser refused before Fastify saw it; `null` when there is no one to answer. */
export function clientErrorAnswer(error: NodeJS.ErrnoException & { rawPacket?: unknown }): ApiError | null {
  switch (error.code) {
    case 'ECONNRESET':
      return null;
    case 'HPE_HEADER_OVERFLOW':
      return isRequestLineOverflow(error.rawPacket) ? apiError('uri_too_long') : apiError('headers_too_large');
    case 'HPE_INVALID_METHOD':
      return apiError('method_not_allowed');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return apiError('invalid_request', 'The request did not arrive in time.');
    default:
      return apiError('invalid_request', 'The request could not be parsed.');
  }
}

/**
 * Fastify's `clientErrorHandler` (Node's `clientError` event): writes the API error with the security
 * headers straight to the socket, then closes it. Nothing of the request is echoed or logged.
 */
export function createClientErrorHandler(logger: Logger) {
  return (error: NodeJS.ErrnoException & { rawPacket?: unknown }, socket: Socket): void => {
    const answer = clientErrorAnswer(error);
    if (answer === null || socket.destroyed) return;
    logger.debug({ event: 'http.client_error', code: error.code ?? null, status: answer.status }, 'client error');
    if (socket.writable) {
      const body = JSON.stringify(apiErrorBody(answer));
      const head = [
        `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? ''}`,
        'Content-Type: application/json; charset=utf-8',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'X-Content-Type-Options: nosniff',
        'Referrer-Policy: no-referrer',
        'Cache-Control: no-store',
        'Connection: close',
        ...Object.entries(answer.headers).map(([name, value]) => `${name}: ${value}`),
      ];
      socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
    } else {
      socket.destroy();
    }
  };
}
