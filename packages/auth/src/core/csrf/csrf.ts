import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../errors/errors.js';
import { secureRandom, type RandomSource } from '../../internal/crypto.js';
import { secretListResolver, type SecretList } from '../../internal/secrets.js';

/** Options of {@link createCSRFProtection}. */
export interface CSRFOptions {
  /**
   * Server secrets, each at least 32 bytes (a string counts its UTF-8 bytes).
   * The first signs; all verify, so a secret can be rotated in without
   * breaking pages already open. A function is asked for the current list on
   * every use, so secrets can change without a restart; return the same array
   * while nothing changed (what is derived from a list is kept until it does).
   */
  secrets: CSRFSecrets;
  /** Origins (`https://app.example.com`) allowed on state-changing cookie requests, besides the server's own. */
  allowedOrigins?: readonly string[];
  /** The random source for masks. Must be a CSPRNG outside tests. */
  random?: RandomSource;
}

/** An ordered list of CSRF secrets, or a function returning the current one. */
export type CSRFSecrets = SecretList;

/** Facts about a request that decide whether it may come from where it comes from. */
export interface RequestSource {
  method: string;
  /** The `Origin` header, if any. */
  origin?: string | null | undefined;
  /** The `Sec-Fetch-Site` header, if any. */
  secFetchSite?: string | null | undefined;
  /** `X-HTTP-Method-Override` / `X-HTTP-Method` / `X-Method-Override`, if any: a request that asks to be treated as unsafe is. */
  methodOverride?: string | null | undefined;
  /** This server's origin as the browser sees it, e.g. `https://auth.example.com`. */
  ownOrigin: string;
}

/** Why a request's source was refused; `null` when it is acceptable. */
export type RequestSourceVerdict = null | 'cross_site' | 'origin_null' | 'origin_not_allowed';

/** CSRF tokens bound to sessions, and the Fetch Metadata / `Origin` check. */
export interface CSRFProtection {
  /**
   * A CSRF token for the session, masked with fresh random bytes each call so
   * its bytes differ in every response (no BREACH-style leak through
   * compression) while all of them verify.
   */
  generateCSRFToken(sessionId: string): string;
  /** Whether `token` is a CSRF token of this session under any configured secret. Constant time. */
  verifyCSRFToken(sessionId: string, token: unknown): boolean;
  /** Whether a request may come from where it says it comes from. Checks every method; callers decide when to ask. */
  checkRequestSource(source: RequestSource): RequestSourceVerdict;
}

const TOKEN_BYTES = 32;
const MASKED_LENGTH = Math.ceil((TOKEN_BYTES * 2 * 4) / 3);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Whether a request changes nothing by its method: GET, HEAD or OPTIONS, and
 * no method-override header asks for anything else.
 */
export function isSafeMethod(method: string, methodOverride?: string | null): boolean {
  const override = methodOverride?.trim().toUpperCase();
  return (
    SAFE_METHODS.has(method.toUpperCase()) && (override === undefined || override === '' || SAFE_METHODS.has(override))
  );
}

function normalizeOrigin(origin: string): string | null {
  try {
    const url = new URL(origin);
    return url.origin === 'null' ? null : url.origin;
  } catch {
    return null;
  }
}

/**
 * CSRF protection for cookie sessions: a token derived from a server secret and
 * the session id (HMAC-SHA-256, nothing stored per request), and a check of
 * `Sec-Fetch-Site` and `Origin`.
 */
export function createCSRFProtection(options: CSRFOptions): CSRFProtection {
  const keys = secretListResolver('secrets', options.secrets);
  const random = options.random ?? secureRandom;
  const allowed = new Set<string>();
  for (const origin of options.allowedOrigins ?? []) {
    const normalized = normalizeOrigin(origin);
    if (normalized === null || normalized !== origin.replace(/\/$/, '')) {
      throw new InvalidOptionError(
        `"allowedOrigins" entries must be origins like https://app.example.com, got ${origin}`,
      );
    }
    allowed.add(normalized);
  }

  const derive = (key: Buffer, sessionId: string): Buffer =>
    createHmac('sha256', key).update(`tessera.csrf.v1:${sessionId}`, 'utf8').digest();

  return Object.freeze({
    generateCSRFToken(sessionId: string): string {
      const raw = derive(keys()[0] as Buffer, sessionId);
      const mask = Buffer.from(random(TOKEN_BYTES));
      const masked = Buffer.alloc(TOKEN_BYTES);
      for (let i = 0; i < TOKEN_BYTES; i++) masked[i] = (raw[i] as number) ^ (mask[i] as number);
      return Buffer.concat([mask, masked]).toString('base64url');
    },

    verifyCSRFToken(sessionId: string, token: unknown): boolean {
      if (typeof token !== 'string' || token.length !== MASKED_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return false;
      const bytes = Buffer.from(token, 'base64url');
      if (bytes.length !== TOKEN_BYTES * 2) return false;
      const raw = Buffer.alloc(TOKEN_BYTES);
      for (let i = 0; i < TOKEN_BYTES; i++) raw[i] = (bytes[i] as number) ^ (bytes[i + TOKEN_BYTES] as number);
      let valid = false;
      // Check every key, not just until the first match, so timing says nothing about which one signed.
      for (const key of keys()) valid = timingSafeEqual(raw, derive(key, sessionId)) || valid;
      return valid;
    },

    checkRequestSource(source: RequestSource): RequestSourceVerdict {
      if (source.secFetchSite?.toLowerCase() === 'cross-site') return 'cross_site';
      const origin = source.origin;
      if (origin === undefined || origin === null || origin === '') {
        // No Origin: a same-origin navigation in an older browser, or not a browser at all (no ambient cookie).
        return source.secFetchSite?.toLowerCase() === 'same-site' ? 'origin_not_allowed' : null;
      }
      if (origin === 'null') return 'origin_null';
      const normalized = normalizeOrigin(origin);
      if (normalized === null) return 'origin_not_allowed';
      if (normalized === normalizeOrigin(source.ownOrigin) || allowed.has(normalized)) return null;
      return 'origin_not_allowed';
    },
  });
}
