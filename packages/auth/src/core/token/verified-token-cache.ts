import { createHash } from 'node:crypto';
import type { CryptoKey } from 'jose';
import type { JsonValue } from '../store/types.js';
import type { AccessTokenClaims } from './access-token.js';

/** What a verified access token left in the cache: its claims and the key that verified its signature. */
export interface VerifiedToken {
  /** Deeply frozen: every caller that presents the token gets this same object. */
  claims: Readonly<AccessTokenClaims>;
  /** The `kid` of the token's header, asked of the key ring again on every hit. */
  kid: string;
  /** The key that verified the signature: a hit counts only while the ring still answers this key for `kid`. */
  key: CryptoKey;
}

/**
 * A bounded least-recently-used map from the SHA-256 of an access token to
 * what verifying it established, so a client that presents the same token
 * again does not pay for its signature again. The token itself is never
 * kept: only its digest, which does not let anyone present it. Only what
 * the signature and the key establish lives here; the time checks, the
 * key's liveness and every revocation check are the caller's, on every hit.
 */
export interface VerifiedTokenCache {
  /** The cache key of `token`: its SHA-256, base64url. */
  digest(token: string): string;
  /** The entry for a digest, made the most recently used; `undefined` when absent. */
  get(digest: string): VerifiedToken | undefined;
  /** Stores an entry, evicting the least recently used one beyond the bound. */
  set(digest: string, entry: VerifiedToken): void;
  delete(digest: string): void;
  readonly size: number;
}

/** A cache of at most `maxEntries` verified tokens (at least 1). */
export function createVerifiedTokenCache(maxEntries: number): VerifiedTokenCache {
  // A Map iterates in insertion order: re-inserting on every hit keeps the least recently used first.
  const entries = new Map<string, VerifiedToken>();
  return {
    digest: (token) => createHash('sha256').update(token, 'utf8').digest('base64url'),
    get(digest) {
      const entry = entries.get(digest);
      if (entry !== undefined) {
        entries.delete(digest);
        entries.set(digest, entry);
      }
      return entry;
    },
    set(digest, entry) {
      entries.delete(digest);
      entries.set(digest, entry);
      if (entries.size > maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done !== true) entries.delete(oldest.value);
      }
    },
    delete(digest) {
      entries.delete(digest);
    },
    get size() {
      return entries.size;
    },
  };
}

/** Freezes a JSON value and everything in it, so a caller cannot change what the next caller is handed. */
export function deepFreeze<T extends JsonValue | AccessTokenClaims>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) {
      if (child !== undefined) deepFreeze(child);
    }
  }
  return value;
}
