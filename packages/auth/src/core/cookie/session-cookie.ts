import { InvalidOptionError } from '../errors/errors.js';

/** Options of {@link createSessionCookie}. */
export interface SessionCookieOptions {
  /**
   * The cookie's name without prefix. The `__Host-` prefix is added whenever
   * the cookie is `Secure`, which pins it to this host and path `/`.
   * @default "tessera"
   */
  name?: string;
  /**
   * `lax` keeps top-level navigations from other sites signed in; `strict`
   * does not.
   * @default "lax"
   */
  sameSite?: 'lax' | 'strict';
  /**
   * Drops `Secure` (and so the `__Host-` prefix) for plain-HTTP development on
   * a host other than localhost. Never in production: the cookie then travels
   * in clear text.
   * @default false
   */
  insecure?: boolean;
}

/** Reads and writes the session cookie with safe attributes; normalised once at creation. */
export interface SessionCookie {
  /** The full cookie name, e.g. `__Host-tessera`. */
  readonly name: string;
  /**
   * A `Set-Cookie` value carrying `token` until `expiresAt`; with `null`, a browser-session cookie (no
   * `Expires`/`Max-Age`) that the browser drops when it closes.
   */
  serialize(token: string, expiresAt: Date | null): string;
  /** A `Set-Cookie` value that deletes the cookie (`Max-Age=0`). */
  serializeClear(): string;
  /**
   * The session cookie's value from a `Cookie` header; `null` when absent, empty,
   * or present more than once with different values (a sign of cookie tossing).
   */
  read(cookieHeader: string | null | undefined): string | null;
}

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
// Tokens are base64url with a dot; nothing else is ever a value of ours.
const VALUE_PATTERN = /^[A-Za-z0-9_.-]{1,512}$/;

/**
 * The session cookie: `__Host-tessera`, `HttpOnly`, `Secure`, `SameSite=Lax`,
 * `Path=/`, no `Domain` — the attributes that keep it away from scripts, other
 * sites and other hosts.
 *
 * @example
 * const cookie = createSessionCookie();
 * res.setHeader('Set-Cookie', cookie.serialize(token, session.expiresAt));
 */
export function createSessionCookie(options: SessionCookieOptions = {}): SessionCookie {
  const base = options.name ?? 'tessera';
  if (typeof base !== 'string' || !NAME_PATTERN.test(base) || base.startsWith('__')) {
    throw new InvalidOptionError('"name" must be 1–64 letters, digits, "_" or "-", without a "__" prefix');
  }
  const sameSite = options.sameSite ?? 'lax';
  if (sameSite !== 'lax' && sameSite !== 'strict') {
    throw new InvalidOptionError('"sameSite" must be "lax" or "strict"');
  }
  const secure = options.insecure !== true;
  const name = secure ? `__Host-${base}` : base;
  const attributes = `Path=/; HttpOnly${secure ? '; Secure' : ''}; SameSite=${sameSite === 'lax' ? 'Lax' : 'Strict'}`;

  return Object.freeze({
    name,
    serialize(token: string, expiresAt: Date | null): string {
      if (!VALUE_PATTERN.test(token)) throw new InvalidOptionError('a session token has an unexpected shape');
      if (expiresAt === null) return `${name}=${token}; ${attributes}`;
      const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
      return `${name}=${token}; Expires=${expiresAt.toUTCString()}; Max-Age=${maxAge}; ${attributes}`;
    },
    serializeClear(): string {
      return `${name}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; ${attributes}`;
    },
    read(cookieHeader: string | null | undefined): string | null {
      if (typeof cookieHeader !== 'string' || cookieHeader.length === 0) return null;
      let found: string | null = null;
      for (const pair of cookieHeader.split(';')) {
        const eq = pair.indexOf('=');
        if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
        const value = pair.slice(eq + 1).trim();
        if (!VALUE_PATTERN.test(value)) return null;
        if (found !== null && found !== value) return null;
        found = value;
      }
      return found;
    },
  });
}
