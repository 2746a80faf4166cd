import { createHash } from 'node:crypto';
import { encodeBase64url, type RandomSource } from '../../internal/crypto.js';

/** Characters of the shard tag at the start of every session id. */
export const SHARD_TAG_LENGTH = 4;
const RANDOM_ID_BYTES = 16;
const SECRET_BYTES = 32;
const ID_LENGTH = SHARD_TAG_LENGTH + 22;
const SECRET_LENGTH = 43;
const TOKEN_PATTERN = /^([A-Za-z0-9_-]{26})\.([A-Za-z0-9_-]{43})$/;
const ID_PATTERN = /^[A-Za-z0-9_-]{26}$/;

/**
 * The shard tag of a user: 4 base64url characters of SHA-256(userId). Every
 * session id of the user starts with it, so a partitioned store (Redis
 * Cluster) can keep one user's sessions and index in one hash slot. It is
 * public, like the id, and says nothing a holder of the id could not already
 * learn from the session itself.
 */
export function sessionShardTag(userId: string): string {
  return createHash('sha256').update(userId, 'utf8').digest('base64url').slice(0, SHARD_TAG_LENGTH);
}

/** A new session id for `userId`: its shard tag plus 128 random bits. */
export function generateSessionId(userId: string, random: RandomSource): string {
  return sessionShardTag(userId) + encodeBase64url(random(RANDOM_ID_BYTES));
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
