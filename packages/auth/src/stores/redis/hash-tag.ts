import { createHash } from 'node:crypto';

/** Characters of the hash tag at the start of every session id the Redis store hands out. */
export const REDIS_TAG_LENGTH = 4;

/**
 * The Redis hash tag of a user: 4 base64url characters of SHA-256(userId).
 * The Redis store asks the engine (through its `sessionIdPrefix` hook) to
 * start every session id of the user with it, so on a Cluster one user's
 * sessions and index share a hash slot. It is public, like the id, and says
 * nothing a holder of the id could not already learn from the session itself.
 * Same derivation as the first version's `sessionShardTag`, so the keys of
 * sessions stored by it are found unchanged.
 */
export function redisUserTag(userId: string): string {
  return createHash('sha256').update(userId, 'utf8').digest('base64url').slice(0, REDIS_TAG_LENGTH);
}
