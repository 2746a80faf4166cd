import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../crypto.js';

/** An admin key as listings show it: never the key, never its hash. */
export interface AdminKey {
  /** The operator's name for the key, unique: what audit events and `admin-keys revoke` name. */
  name: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** Epoch milliseconds; `null` for a key that lasts until revoked. */
  expiresAt: number | null;
}

/** An admin key as the database keeps it: the SHA-256 of the key, never the key. */
export interface AdminKeyRecord extends AdminKey {
  keyHash: string;
}

/** Where admin keys live: the account database (table `tessera_admin_keys`). */
export interface AdminKeyStore {
  /** Inserts a key; `false` when the name is taken (atomic: of concurrent creations one wins). */
  createAdminKey(record: AdminKeyRecord): Promise<boolean>;
  /** The key whose hash is `keyHash`; `null` when there is none (revoked or never made). */
  findAdminKeyByHash(keyHash: string): Promise<AdminKeyRecord | null>;
  /** Every key, in creation order. */
  listAdminKeys(): Promise<AdminKey[]>;
  /** Deletes (revokes) the key named `name`; `false` when there is none. */
  deleteAdminKey(name: string): Promise<boolean>;
}

/** A key row as both SQL databases return it. */
export interface AdminKeyRow {
  name: string;
  key_hash: string;
  created_at: number;
  expires_at: number | null;
}

/** Maps a row to a key record; `null` for no row. */
export const adminKeyFromRow = (row: AdminKeyRow | undefined): AdminKeyRecord | null =>
  row === undefined
    ? null
    : { name: row.name, keyHash: row.key_hash, createdAt: row.created_at, expiresAt: row.expires_at ?? null };

/** What every admin key starts with, so a leaked one is recognised by secret scanners and by people. */
export const ADMIN_KEY_PREFIX = 'tessera_admin_';
const ADMIN_KEY_PATTERN = /^tessera_admin_[A-Za-z0-9_-]{43}$/;
/** The names `admin-keys create` accepts: short, printable, safe in a log line. */
export const ADMIN_KEY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * SHA-256 of an admin key, base64url. A plain hash is enough here: a key holds 256 random bits, so there is no
 * dictionary to run against a leaked hash (unlike a password, which needs argon2).
 */
export const hashAdminKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('base64url');

/** A new admin key (256 bits from the CSPRNG) and the hash to store for it. */
export function generateAdminKey(): { key: string; keyHash: string } {
  const key = ADMIN_KEY_PREFIX + randomBytes(32).toString('base64url');
  return { key, keyHash: hashAdminKey(key) };
}

/**
 * The live admin key a presented bearer value is, or `null`: not an admin key's shape, unknown (never made, or
 * revoked), or past its expiry at `now` (epoch milliseconds). Read from the database on every call, with no
 * cache, so a revocation holds for every request that starts after it.
 */
export async function verifyAdminKey(store: AdminKeyStore, presented: string, now: number): Promise<AdminKey | null> {
  if (!ADMIN_KEY_PATTERN.test(presented)) return null;
  const keyHash = hashAdminKey(presented);
  const record = await store.findAdminKeyByHash(keyHash);
  // The lookup is by hash; the comparison is still constant-time, so no timing tells how much of a hash matched.
  if (record === null || !constantTimeEqual(record.keyHash, keyHash)) return null;
  if (record.expiresAt !== null && record.expiresAt <= now) return null;
  return { name: record.name, createdAt: record.createdAt, expiresAt: record.expiresAt };
}
