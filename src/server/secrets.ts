import { createHmac, randomBytes } from 'node:crypto';
import { StoreUnavailableError } from '../core/errors/errors.js';
import type { JsonValue, SessionStore } from '../core/store/types.js';

const SECRETS_KEY = 'server:secrets';
const ROOT_BYTES = 32;

/** Keys the server derives from its persisted root secrets. */
export interface ServerSecrets {
  /** CSRF secrets: the first signs, all verify (the previous root keeps open pages working after a rotation). */
  csrf: Buffer[];
  /** Keys the fingerprints in logs, so a fingerprint cannot be recomputed from a guessed value. */
  fingerprint: Buffer;
  /** Keys the account and IP names in rate-limit counters. */
  rateLimit: Buffer;
}

interface SecretsDocument {
  version: 1;
  /** base64url roots, newest first. */
  roots: string[];
}

function isSecretsDocument(value: JsonValue | null): value is SecretsDocument & { [key: string]: JsonValue } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const roots = (value as { roots?: unknown }).roots;
  return (
    (value as { version?: unknown }).version === 1 &&
    Array.isArray(roots) &&
    roots.length > 0 &&
    roots.every((root) => typeof root === 'string' && Buffer.from(root, 'base64url').length === ROOT_BYTES)
  );
}

const derive = (root: Buffer, label: string): Buffer => createHmac('sha256', root).update(`tessera:${label}`).digest();

function toSecrets(document: SecretsDocument): ServerSecrets {
  const roots = document.roots.map((root) => Buffer.from(root, 'base64url'));
  const newest = roots[0] as Buffer;
  return {
    csrf: roots.map((root) => derive(root, 'csrf')),
    fingerprint: derive(newest, 'fingerprint'),
    rateLimit: derive(newest, 'rate-limit'),
  };
}

const newRoot = (): string => randomBytes(ROOT_BYTES).toString('base64url');

/**
 * The server's secrets, generated on first start and persisted in the
 * database, so a restart and every instance sharing the database use the same
 * ones. There is no built-in default: a fresh database gets fresh randomness.
 * Concurrent first starts converge on one document (`setIfAbsent`).
 */
export async function loadServerSecrets(store: SessionStore): Promise<ServerSecrets> {
  let document = await store.get(SECRETS_KEY);
  if (document === null) {
    await store.setIfAbsent(SECRETS_KEY, { version: 1, roots: [newRoot()] });
    document = await store.get(SECRETS_KEY);
  }
  if (!isSecretsDocument(document)) {
    throw new StoreUnavailableError(`The persisted server secrets ("${SECRETS_KEY}") are unreadable`);
  }
  return toSecrets(document);
}
