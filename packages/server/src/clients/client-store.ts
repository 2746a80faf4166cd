import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../crypto.js';

/**
 * Introspection clients: the services allowed to ask `POST /auth/introspect`
 * about a token, each with a name (its RFC 6749 client id) and a secret that
 * is stored only as a hash.
 */

/** A registered introspection client as the database keeps it: never the secret. */
export interface IntrospectionClient {
  /** The client id it authenticates with (HTTP Basic user name). */
  name: string;
  /** SHA-256 of the secret, base64url: the secret is 256 random bits, so a fast hash is enough. */
  secretHash: string;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** Where introspection clients live: the server's database, beside the accounts. */
export interface IntrospectionClientStore {
  /** Registers a client; `false` when the name is taken. */
  createClient(client: IntrospectionClient): Promise<boolean>;
  findClient(name: string): Promise<IntrospectionClient | null>;
  /** Every client, oldest first. */
  listClients(): Promise<IntrospectionClient[]>;
  /** Removes a client: its secret stops working at once. `false` when there was none. */
  deleteClient(name: string): Promise<boolean>;
  /** Whether any client is registered (the endpoint is off while none is and no secret is configured). */
  hasClients(): Promise<boolean>;
}

/** A client row as both SQL databases return it. */
export interface ClientRow {
  name: string;
  secret_hash: string;
  created_at: number;
}

/** Maps a row to a client; `null` for no row. */
export const clientFromRow = (row: ClientRow | undefined): IntrospectionClient | null =>
  row === undefined ? null : { name: row.name, secretHash: row.secret_hash, createdAt: Number(row.created_at) };

/**
 * The client id of the one `TESSERA_INTROSPECT_SECRET` client. Registered
 * clients may not take it. (For compatibility, the secret also works with a
 * client id that names no registered client.)
 */
export const CONFIGURED_CLIENT_ID = 'default';

/** Client names: 1 to 64 letters, digits, `.`, `_` and `-` (unchanged by the form-encoding of HTTP Basic). */
const CLIENT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** Why `name` cannot name a new client, or `null` when it can. */
export function clientNameProblem(name: string): string | null {
  if (!CLIENT_NAME.test(name)) return 'a client name is 1 to 64 letters, digits, ".", "_" or "-"';
  if (name === CONFIGURED_CLIENT_ID) return `"${CONFIGURED_CLIENT_ID}" is the TESSERA_INTROSPECT_SECRET client's id`;
  return null;
}

/** The stored form of a client secret. */
export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}

/** A new client secret (256 random bits, base64url) and its hash, for `tessera clients create`. */
export function newClientSecret(): { secret: string; secretHash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, secretHash: hashClientSecret(secret) };
}

/** A hash no secret has, compared against when the client is unknown, so that costs the same as a wrong secret. */
const NO_CLIENT_HASH = hashClientSecret('\u0000no client');

/** Whether `secret` is the client's, in constant time; an unknown client (`null`) is never a match. */
export function clientSecretMatches(client: IntrospectionClient | null, secret: string): boolean {
  const matches = constantTimeEqual(hashClientSecret(secret), client?.secretHash ?? NO_CLIENT_HASH);
  return client !== null && matches;
}
