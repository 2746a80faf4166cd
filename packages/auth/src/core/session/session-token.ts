import { InvalidOptionError } from '../errors/errors.js';
import { encodeBase64url, type RandomSource } from '../../internal/crypto.js';

/** Characters of a session id: 26 base64url characters (tokens issued by every version have this shape). */
const ID_LENGTH = 26;
/** Random bytes drawn for an id: 160 bits, of which the id keeps at least 132 (26 − 4 prefix characters × 6 bits, minus rounding). */
const RANDOM_ID_BYTES = 20;
const SECRET_BYTES = 32;
const SECRET_LENGTH = 43;
const TOKEN_PATTERN = /^([A-Za-z0-9_-]{26})\.([A-Za-z0-9_-]{43})$/;
const ID_PATTERN = /^[A-Za-z0-9_-]{26}$/;
const PREFIX_PATTERN = /^[A-Za-z0-9_-]{0,4}$/;

/**
 * A new session id: `prefix` (what the store asks for through its optional
 * `sessionIdPrefix` hook, at most 4 base64url characters; none by default)
 * followed by random base64url characters, 26 in all.
 */
export function generateSessionId(prefix: string, random: RandomSource): string {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new InvalidOptionError('"sessionIdPrefix" must return at most 4 base64url characters');
  }
  return prefix + encodeBase64url(random(RANDOM_ID_BYTES)).slice(0, ID_LENGTH - prefix.length);
}

/** A new 256-bit secret, base64url. */
export function generateSessionSecret(random: RandomSource): string {
  return encodeBase64url(random(SECRET_BYTES));
}

/** Joins an id and a secret into the token handed to the client. */
export function formatSessionToken(id: string, secret: string): string {
  return `${id}.${secret}`;
}

/**
 * Splits a token into its id and secret; `null` when it does not have the exact
 * shape Tessera issues. Only the id of a well-formed token ever reaches a store.
 * The shape is unchanged since the first version, so its tokens still parse.
 */
export function parseSessionToken(token: unknown): { id: string; secret: string } | null {
  if (typeof token !== 'string' || token.length !== ID_LENGTH + 1 + SECRET_LENGTH) return null;
  const match = TOKEN_PATTERN.exec(token);
  if (match === null) return null;
  return { id: match[1] as string, secret: match[2] as string };
}

/**
 * Whether `value` has the shape of a session id Tessera issues (26 base64url
 * characters). Anything else cannot name a session, so it never reaches a store:
 * a NUL or other junk from a URL is "not found", not a database error.
 */
export function isSessionId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}
