import type { FastifyRequest } from 'fastify';

/** The error Fastify raises for a content type it has no parser for: answered 415 in the API's shape. */
function unsupportedMediaType(): Error {
  return Object.assign(new Error('Unsupported media type'), {
    code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
    statusCode: 415,
  });
}

/** A malformed body: answered 400 in the API's shape. */
function malformedBody(): Error {
  return Object.assign(new Error('The form body is malformed'), {
    code: 'FST_ERR_CTP_INVALID_CONTENT',
    statusCode: 400,
  });
}

/**
 * A Fastify content-type parser for `application/x-www-form-urlencoded`, for the given route patterns only
 * (every other route stays JSON-only: 415). Each field becomes a string; a field sent twice becomes a list,
 * which the route's schema refuses (RFC 7662 allows each parameter once).
 */
export function formBodyParser(routes: readonly string[]) {
  const allowed = new Set(routes);
  return (request: FastifyRequest, body: string, done: (error: Error | null, body?: unknown) => void): void => {
    if (!allowed.has(request.routeOptions.url ?? '')) {
      done(unsupportedMediaType());
      return;
    }
    if (/%(?![0-9A-Fa-f]{2})/.test(body)) {
      done(malformedBody());
      return;
    }
    const fields: Record<string, string | string[]> = {};
    for (const [name, value] of new URLSearchParams(body)) {
      const seen = fields[name];
      fields[name] = seen === undefined ? value : [...[seen].flat(), value];
    }
    done(null, fields);
  };
}
