import { constantTimeEqual } from '../crypto.js';
import { clientSecretMatches, CONFIGURED_CLIENT_ID, type IntrospectionClientStore } from './client-store.js';

/** A client id and secret from an `Authorization: Basic` header. */
export interface ClientCredentials {
  id: string;
  secret: string;
  /** The secret exactly as sent, before form-decoding (clients that never encoded it). */
  rawSecret: string;
}

/** `application/x-www-form-urlencoded` decoding of one value (RFC 6749 §2.3.1); `null` when malformed. */
function formDecode(value: string): string | null {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/**
 * The client credentials of an HTTP Basic header per RFC 6749 §2.3.1: the client id and secret are each
 * form-urlencoded, then joined by `:` and base64-encoded. `null` when the header is missing or malformed.
 */
export function parseBasicCredentials(header: string | undefined): ClientCredentials | null {
  const encoded = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header ?? '')?.[1];
  if (encoded === undefined) return null;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  const id = formDecode(decoded.slice(0, colon));
  const rawSecret = decoded.slice(colon + 1);
  const secret = formDecode(rawSecret);
  if (id === null || secret === null || id === '') return null;
  return { id, secret, rawSecret };
}

/** Where introspection clients come from: the registered ones and the configured secret. */
export interface IntrospectionClients {
  store: Pick<IntrospectionClientStore, 'findClient' | 'hasClients'>;
  /** `TESSERA_INTROSPECT_SECRET`; `null` when unset. */
  configuredSecret: string | null;
}

/**
 * The id of the client these credentials authenticate, or `null`. A registered client's name is checked
 * against its stored hash; any other id against the configured secret (its id is {@link CONFIGURED_CLIENT_ID};
 * others are accepted with it as before registered clients existed). Compared in constant time throughout.
 */
export async function authenticateClient(
  clients: IntrospectionClients,
  credentials: ClientCredentials | null,
): Promise<string | null> {
  if (credentials === null) return null;
  const registered = credentials.id === CONFIGURED_CLIENT_ID ? null : await clients.store.findClient(credentials.id);
  if (registered !== null) return clientSecretMatches(registered, credentials.secret) ? registered.name : null;
  const configured = clients.configuredSecret;
  if (configured === null) {
    // No such client: the same hash and comparison as a wrong secret, so the answer time names no client.
    clientSecretMatches(null, credentials.secret);
    return null;
  }
  // Both forms, so a client that never form-encoded a secret holding `%` or `+` keeps working.
  const decodedMatches = constantTimeEqual(credentials.secret, configured);
  const rawMatches = constantTimeEqual(credentials.rawSecret, configured);
  return decodedMatches || rawMatches ? CONFIGURED_CLIENT_ID : null;
}

/** Whether introspection is on: a secret is configured or a client is registered. */
export async function introspectionEnabled(clients: IntrospectionClients): Promise<boolean> {
  return clients.configuredSecret !== null || (await clients.store.hasClients());
}
