import { createHmac, randomBytes } from 'node:crypto';
import { StoreConflictError, StoreUnavailableError } from 'tessera-auth/errors';
import type { JsonValue, Store } from 'tessera-auth';
import type { Logger } from 'tessera-auth';
import { SERVER_SECRETS_STORE_KEY } from './secrets-at-rest.js';

const SECRETS_KEY = SERVER_SECRETS_STORE_KEY;
const ROOT_BYTES = 32;
/** Compare-and-set attempts of one rotation before it gives up to concurrent ones. */
const MAX_ROTATION_ATTEMPTS = 5;

/** Seconds a retired root secret keeps verifying the CSRF tokens it signed, so pages already open keep working. */
export const CSRF_OVERLAP_SECONDS = 86_400;

/** Seconds after which a running server re-reads its secrets from the database. */
export const SECRETS_REFRESH_SECONDS = 60;

/** Keys the server derives from its persisted root secrets. */
export interface ServerSecrets {
  /** CSRF secrets: the current root's signs, all verify (a retired root's for {@link CSRF_OVERLAP_SECONDS}). */
  csrf: Buffer[];
  /** Keys the fingerprints in logs, so a fingerprint cannot be recomputed from a guessed value. Stable across rotations. */
  fingerprint: Buffer;
  /** Keys the account and IP names in rate-limit counters. Stable across rotations, so no throttle is reset. */
  rateLimit: Buffer;
}

interface Root {
  /** base64url, {@link ROOT_BYTES} bytes. */
  secret: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** When a rotation retired it; `null` for the current root. */
  retiredAt: number | null;
}

/**
 * The persisted document. `roots` are newest first; `stable` keys what must
 * not change when a root is rotated (rate-limit counter names, log
 * fingerprints), so a rotation does not hand every throttled client a fresh budget.
 */
interface SecretsDocument {
  version: 2;
  roots: Root[];
  stable: string;
}

const isSecret = (value: unknown): value is string =>
  typeof value === 'string' && Buffer.from(value, 'base64url').length === ROOT_BYTES;

const isRoot = (value: unknown): value is Root => {
  if (typeof value !== 'object' || value === null) return false;
  const root = value as Record<string, unknown>;
  return (
    isSecret(root.secret) &&
    typeof root.createdAt === 'number' &&
    (root.retiredAt === null || typeof root.retiredAt === 'number')
  );
};

/** The document, read from either version; `null` when it is unreadable. */
function parseDocument(value: JsonValue | null): SecretsDocument | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { version, roots, stable } = value as Record<string, unknown>;
  if (version === 1 && Array.isArray(roots) && roots.length > 0 && roots.every(isSecret)) {
    // Version 1 derived everything from its newest root, which therefore stays the stable one.
    const newest = roots[0] as string;
    return { version: 2, roots: [{ secret: newest, createdAt: 0, retiredAt: null }], stable: newest };
  }
  if (
    version === 2 &&
    isSecret(stable) &&
    Array.isArray(roots) &&
    roots.every(isRoot) &&
    (roots[0] as Root | undefined)?.retiredAt === null
  ) {
    return { version: 2, roots: roots as Root[], stable };
  }
  return null;
}

const derive = (root: string, label: string): Buffer =>
  createHmac('sha256', Buffer.from(root, 'base64url')).update(`tessera:${label}`).digest();

const newSecret = (): string => randomBytes(ROOT_BYTES).toString('base64url');

/** Whether a root still verifies CSRF tokens at `at`. */
const verifiesAt = (root: Root, at: number): boolean =>
  root.retiredAt === null || root.retiredAt + CSRF_OVERLAP_SECONDS * 1000 > at;

function toSecrets(document: SecretsDocument, at: number): ServerSecrets {
  return {
    csrf: document.roots.filter((root) => verifiesAt(root, at)).map((root) => derive(root.secret, 'csrf')),
    fingerprint: derive(document.stable, 'fingerprint'),
    rateLimit: derive(document.stable, 'rate-limit'),
  };
}

/**
 * Reads the document, creating it on first start; concurrent first starts
 * converge on one (compare-and-set from absent). `stored` is the value as
 * read, for a compare-and-set that replaces it.
 */
async function readDocument(store: Store, at: number): Promise<{ stored: JsonValue; document: SecretsDocument }> {
  let stored = await store.get(SECRETS_KEY);
  if (stored === null) {
    const secret = newSecret();
    const fresh: SecretsDocument = { version: 2, roots: [{ secret, createdAt: at, retiredAt: null }], stable: secret };
    await store.compareAndSet(SECRETS_KEY, null, fresh as unknown as JsonValue);
    stored = await store.get(SECRETS_KEY);
  }
  const document = parseDocument(stored);
  if (stored === null || document === null) {
    throw new StoreUnavailableError(`The persisted server secrets ("${SECRETS_KEY}") are unreadable`);
  }
  return { stored, document };
}

async function loadDocument(store: Store, at: number): Promise<SecretsDocument> {
  return (await readDocument(store, at)).document;
}

/**
 * The server's secrets, generated on first start and persisted in the
 * database, so a restart and every instance sharing the database use the same
 * ones. There is no built-in default: a fresh database gets fresh randomness.
 */
export async function loadServerSecrets(store: Store, now: () => number = Date.now): Promise<ServerSecrets> {
  return toSecrets(await loadDocument(store, now()), now());
}

/** What {@link rotateServerSecrets} did. */
export interface SecretsRotation {
  rotatedAt: Date;
  /** Until when CSRF tokens signed under the previous root keep verifying. */
  previousVerifiesUntil: Date;
}

/**
 * Makes a new root secret current. CSRF tokens signed under the previous one
 * keep verifying for {@link CSRF_OVERLAP_SECONDS}; roots retired longer ago are
 * erased. The rate-limit and fingerprint keys do not change. Running servers
 * adopt the new root within {@link SECRETS_REFRESH_SECONDS}.
 *
 * The document is replaced by compare-and-set on the value read: a
 * concurrent rotation that got there first is re-read and built upon, so no
 * root a server may already use is overwritten. After a few such losses in a
 * row a rotation fails with `ERR_STORE_CONFLICT`.
 */
export async function rotateServerSecrets(store: Store, now: () => number = Date.now): Promise<SecretsRotation> {
  for (let attempt = 0; attempt < MAX_ROTATION_ATTEMPTS; attempt++) {
    const at = now();
    const { stored, document: current } = await readDocument(store, at);
    const roots: Root[] = [
      { secret: newSecret(), createdAt: at, retiredAt: null },
      ...current.roots
        .map((root) => ({ ...root, retiredAt: root.retiredAt ?? at }))
        .filter((root) => verifiesAt(root, at)),
    ];
    const next: SecretsDocument = { version: 2, roots, stable: current.stable };
    const won = await store.compareAndSet(SECRETS_KEY, stored, next as unknown as JsonValue);
    if (won) return { rotatedAt: new Date(at), previousVerifiesUntil: new Date(at + CSRF_OVERLAP_SECONDS * 1000) };
  }
  throw new StoreConflictError('Concurrent secrets rotations kept winning over this one; try again');
}

/** The server's secrets as a running server holds them: re-read from the database once a minute. */
export interface ServerSecretsSource {
  /** The secrets now: a retired root stops verifying CSRF tokens when its overlap ends, reload or not. */
  current(): ServerSecrets;
  /**
   * Re-reads the secrets when the last read is {@link SECRETS_REFRESH_SECONDS}
   * old. One read at a time; a failed read keeps the secrets it had (and logs).
   */
  refreshIfStale(): Promise<void>;
}

/** Loads the secrets (creating them on first start) and keeps them fresh; see {@link ServerSecretsSource}. */
export async function createServerSecretsSource(
  store: Store,
  options: { now?: () => number; logger: Logger },
): Promise<ServerSecretsSource> {
  const now = options.now ?? Date.now;
  let document = await loadDocument(store, now());
  let loadedAt = now();
  let cached: { document: SecretsDocument; csrfCount: number; secrets: ServerSecrets } | null = null;
  let inflight: Promise<void> | null = null;

  const reload = async (): Promise<void> => {
    try {
      document = await loadDocument(store, now());
    } catch (error) {
      options.logger.warn({ err: error }, 'reloading the server secrets failed; keeping the ones loaded');
    } finally {
      // A failed read is retried after the interval too, not on every request.
      loadedAt = now();
    }
  };

  return {
    current() {
      const at = now();
      const csrfCount = document.roots.filter((root) => verifiesAt(root, at)).length;
      // The same object while nothing changed, so the CSRF layer can reuse what it derived from it.
      if (cached === null || cached.document !== document || cached.csrfCount !== csrfCount) {
        cached = { document, csrfCount, secrets: toSecrets(document, at) };
      }
      return cached.secrets;
    },
    refreshIfStale() {
      if (now() - loadedAt < SECRETS_REFRESH_SECONDS * 1000) return Promise.resolve();
      inflight ??= reload().finally(() => {
        inflight = null;
      });
      return inflight;
    },
  };
}
