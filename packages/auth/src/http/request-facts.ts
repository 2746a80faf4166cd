/** Reads a request header by lower-case name. Node's `IncomingHttpHeaders` and Web `Headers` both fit through {@link headerReader}. */
export type HeaderReader = (name: string) => string | undefined;

/** What the HTTP layer needs to know about a request; adapters fill it in. */
export interface RequestFacts {
  method: string;
  /** The path and query string as received. */
  url: string;
  headers: HeaderReader;
  /** The client IP, as the framework resolved it (with its proxy trust settings). */
  ip: string | null;
  /** This server's origin as the browser sees it, e.g. `https://auth.example.com`. */
  origin: string;
  /** The `_csrf` field of a form body, when the adapter parsed one. */
  csrfField?: string | undefined;
}

/** Query parameters that would carry a credential: refused, so no token ever travels in a URL or a log of one. */
const CREDENTIAL_PARAMS = new Set([
  'access_token',
  'refresh_token',
  'token',
  'id_token',
  'session',
  'session_token',
  'sessionid',
  'csrf',
  '_csrf',
  'csrf_token',
  'password',
  'passwd',
  'current_password',
  'currentpassword',
  'new_password',
  'newpassword',
  'client_secret',
  'api_key',
  'apikey',
]);

/** The `_csrf` field of a parsed form body, when there is one. */
export function csrfFieldOf(body: unknown): string | undefined {
  const field = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['_csrf'] : undefined;
  return typeof field === 'string' ? field : undefined;
}

/** Adapts Node's header object (`req.headers`) to a {@link HeaderReader}; repeated headers are joined with `, `. */
export function headerReader(headers: Record<string, string | string[] | undefined>): HeaderReader {
  return (name) => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
}

/** Whether the query string names a credential parameter. */
export function hasCredentialInURL(url: string): boolean {
  const query = url.indexOf('?');
  if (query === -1) return false;
  for (const name of new URLSearchParams(url.slice(query + 1)).keys()) {
    if (CREDENTIAL_PARAMS.has(name.toLowerCase())) return true;
  }
  return false;
}
