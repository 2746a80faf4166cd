import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { KeyInvalidError, StoreConflictError } from 'tessera-auth/errors';
import type { JsonValue, KeyDocumentCodec, Store } from 'tessera-auth';
import { resealKeyRing } from 'tessera-auth';

/** The store key of the server's root secrets document. */
export const SERVER_SECRETS_STORE_KEY = 'server:secrets';

/**
 * A key-encryption key (KEK): 32 bytes for AES-256-GCM, and a short id derived
 * from it that is stored beside what it encrypts, so a wrong key is named as
 * such instead of decrypting to garbage. The bytes are a `KeyObject`, which
 * never shows its material in a log or `JSON.stringify`.
 */
export interface SecretsKey {
  /** 11 base64url characters: an HMAC of the key, which reveals nothing about it. */
  id: string;
  key: KeyObject;
}

const KEY_BYTES = 32;
const MIN_DISTINCT_BYTES = 16;
const HOW_TO_MAKE_ONE = 'generate one with: openssl rand -base64 32';
const SEALED_FORMAT = 'tessera.sealed.v1';

/**
 * Reads a KEK from its text form: 32 random bytes as base64 (or base64url) or
 * as 64 hex digits, surrounding whitespace ignored. Returns the message for an
 * operator, naming `variable`, when the text is not such a key (never echoing it).
 */
export function parseSecretsKey(text: string, variable: string): SecretsKey | string {
  const trimmed = text.trim();
  let bytes: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) bytes = Buffer.from(trimmed, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) bytes = Buffer.from(trimmed, 'base64');
  if (bytes?.length !== KEY_BYTES) {
    return `${variable} must be ${KEY_BYTES} random bytes, base64-encoded (44 characters) or hex (64 digits): ${HOW_TO_MAKE_ONE}`;
  }
  if (new Set(bytes).size < MIN_DISTINCT_BYTES) {
    return `${variable} is too weak (it is not random): ${HOW_TO_MAKE_ONE}`;
  }
  const id = createHmac('sha256', bytes).update('tessera:secrets-key-id').digest('base64url').slice(0, 11);
  return { id, key: createSecretKey(bytes) };
}

/**
 * The KEK the environment names: `<name>` itself, or the file `<name>_FILE`
 * names (its whole content, whitespace trimmed). `null` when neither is set;
 * a message naming the variable when the key is bad, unreadable, or both are set.
 */
export function readSecretsKey(
  name: string,
  value: string | undefined,
  file: string | undefined,
): SecretsKey | null | string {
  const given = value !== undefined && value !== '';
  const givenFile = file !== undefined && file !== '';
  if (given && givenFile) return `Set ${name} or ${name}_FILE, not both`;
  if (given) return parseSecretsKey(value, name);
  if (!givenFile) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return `${name}_FILE must name a readable file holding the key (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}: ${file})`;
  }
  return parseSecretsKey(text, `${name}_FILE (${file})`);
}

/**
 * Whether a store key names a document the store wrapper seals: the root
 * secrets. The signing keys are sealed by the token service itself, through
 * the codec of {@link secretsKeyCodec}.
 */
export function isSecretStoreKey(key: string): boolean {
  return key === SERVER_SECRETS_STORE_KEY;
}

/** A document as it is stored when sealed: everything base64url. */
interface SealedDocument {
  format: typeof SEALED_FORMAT;
  /** The id of the KEK that wrapped `dataKey`. */
  kek: string;
  /** The document's own random key, AES-256-GCM under the KEK: IV ‖ ciphertext ‖ tag. */
  dataKey: string;
  /** The JSON document, AES-256-GCM under the data key: IV ‖ ciphertext ‖ tag. */
  data: string;
}

function isSealed(value: JsonValue | null): value is SealedDocument & { [key: string]: JsonValue } {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    value.format === SEALED_FORMAT &&
    typeof value.kek === 'string' &&
    typeof value.dataKey === 'string' &&
    typeof value.data === 'string'
  );
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

function encrypt(key: KeyObject | Buffer, plaintext: Buffer, aad: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

function decrypt(key: KeyObject | Buffer, sealed: string, aad: string): Buffer {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new Error('too short');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]);
}

/**
 * Seals a document under `kek`, envelope style: a fresh data key encrypts the
 * document, the KEK encrypts the data key. Both are bound to the store key
 * (as associated data), so a sealed document moved under another name does not open.
 */
export function sealDocument(kek: SecretsKey, storeKey: string, value: JsonValue): JsonValue {
  const dataKey = randomBytes(KEY_BYTES);
  try {
    return {
      format: SEALED_FORMAT,
      kek: kek.id,
      dataKey: encrypt(kek.key, dataKey, `tessera:data-key:${kek.id}:${storeKey}`),
      data: encrypt(dataKey, Buffer.from(JSON.stringify(value), 'utf8'), `tessera:document:${storeKey}`),
    };
  } finally {
    dataKey.fill(0);
  }
}

const SET_THE_KEY = 'TESSERA_SECRETS_KEY (or TESSERA_SECRETS_KEY_FILE)';

/**
 * Opens what the store holds under `storeKey`: a sealed document is decrypted
 * with `kek`, a plain one is returned as is (a database from before the KEK).
 * A document sealed under no key or another key, or altered, throws
 * `ERR_KEY_INVALID` with a message that says which key it needs.
 */
export function openDocument(kek: SecretsKey | null, storeKey: string, stored: JsonValue | null): JsonValue | null {
  if (!isSealed(stored)) return stored;
  if (kek === null) {
    throw new KeyInvalidError(
      `The signing keys and secrets in the database are encrypted (key id ${stored.kek}): set ${SET_THE_KEY} to the key they were encrypted with`,
    );
  }
  if (stored.kek !== kek.id) {
    throw new KeyInvalidError(
      `The signing keys and secrets in the database were encrypted with another key (id ${stored.kek}), not ${SET_THE_KEY} (id ${kek.id})`,
    );
  }
  let dataKey: Buffer | null = null;
  try {
    dataKey = decrypt(kek.key, stored.dataKey, `tessera:data-key:${kek.id}:${storeKey}`);
    return JSON.parse(decrypt(dataKey, stored.data, `tessera:document:${storeKey}`).toString('utf8')) as JsonValue;
  } catch (error) {
    throw new KeyInvalidError(
      `The encrypted document "${storeKey}" does not decrypt with key id ${kek.id}: it was altered or is corrupt`,
      { cause: error },
    );
  } finally {
    dataKey?.fill(0);
  }
}

/**
 * The token service's key codec (`keyCodec`): the signing-key document is
 * sealed under `sealWith` (in plain text when `null`) and opened with
 * `openWith`, or with `sealWith` when that is the key it is sealed under (a
 * rekey that already reached it); a plain document (from before the KEK)
 * opens as it is. `isCurrent` tells `resealKeyRing` which stored form to re-write.
 */
export function secretsKeyCodec(openWith: SecretsKey | null, sealWith: SecretsKey | null): KeyDocumentCodec {
  return {
    seal: (document, storeKey) => (sealWith === null ? document : sealDocument(sealWith, storeKey, document)),
    open: (stored, storeKey) => {
      const kek = isSealed(stored) && sealWith !== null && stored.kek === sealWith.id ? sealWith : openWith;
      return openDocument(kek, storeKey, stored) ?? stored;
    },
    isCurrent: (stored) => (isSealed(stored) ? sealWith !== null && stored.kek === sealWith.id : sealWith === null),
  };
}

/**
 * The database store as the server uses it: the root secrets document
 * ({@link isSecretStoreKey}) is sealed under `kek` on the way in and
 * opened on the way out; everything else passes through untouched. With no
 * KEK they are written in plain text, and a sealed one fails to open with a
 * message naming the variable to set.
 *
 * Sealing at the store boundary keeps the secrets code unaware of
 * encryption, and covers every writer of the document at once.
 */
export function sealSecretsAtRest(inner: Store, kek: SecretsKey | null): Store {
  const seal = (key: string, value: JsonValue): JsonValue =>
    kek !== null && isSecretStoreKey(key) ? sealDocument(kek, key, value) : value;
  const open = (key: string, stored: JsonValue | null): JsonValue | null =>
    isSecretStoreKey(key) ? openDocument(kek, key, stored) : stored;
  // Every other member (the session methods, optional hooks such as sessionIdPrefix) passes through as it is.
  return {
    ...inner,
    get: async (key) => open(key, await inner.get(key)),
    set: (key, value, ttlSeconds) => inner.set(key, seal(key, value), ttlSeconds),
    setIfAbsent: (key, value, ttlSeconds) => inner.setIfAbsent(key, seal(key, value), ttlSeconds),
    getAndDelete: async (key) => open(key, await inner.getAndDelete(key)),
    // A sealed value is never stored twice the same (fresh data key and IVs): the comparison is made on what was
    // opened, and the store's own compare-and-set, on the sealed text just read, keeps the whole step atomic.
    compareAndSet: async (key, expected, next, ttlSeconds) => {
      if (!isSecretStoreKey(key)) return inner.compareAndSet(key, expected, next, ttlSeconds);
      const stored = await inner.get(key);
      if (JSON.stringify(open(key, stored)) !== JSON.stringify(expected)) return false;
      return inner.compareAndSet(key, stored, seal(key, next), ttlSeconds);
    },
  };
}

const MAX_RESEAL_ATTEMPTS = 5;

/** Re-writes the root secrets document sealed under `to`, unless it already is; compare-and-set on what was read. */
async function resealServerSecrets(raw: Store, from: SecretsKey | null, to: SecretsKey | null): Promise<number> {
  for (let attempt = 0; attempt < MAX_RESEAL_ATTEMPTS; attempt++) {
    const stored = await raw.get(SERVER_SECRETS_STORE_KEY);
    if (stored === null) return 0;
    const alreadyThere = isSealed(stored) ? to !== null && stored.kek === to.id : to === null;
    if (alreadyThere) return 0;
    const plain = openDocument(from, SERVER_SECRETS_STORE_KEY, stored) ?? stored;
    const next = to === null ? plain : sealDocument(to, SERVER_SECRETS_STORE_KEY, plain);
    if (await raw.compareAndSet(SERVER_SECRETS_STORE_KEY, stored, next)) {
      return 1;
    }
  }
  throw new StoreConflictError('Re-sealing the server secrets kept losing to concurrent rotations; try again');
}

/**
 * Re-writes every document holding private key material (the root secrets,
 * the signing keys) so it is sealed under `to` (`null`: in plain text),
 * reading it with `from`. Documents already in that form are left alone, so
 * at start-up (`from` = `to`) this only seals what a database from before the
 * KEK holds in plain text. Returns how many documents it re-wrote.
 *
 * Each document is replaced by compare-and-set on the value read, so a
 * rotation made meanwhile is never undone (and no erased key comes back): the
 * rotated document is re-sealed instead.
 */
export async function resealSecrets(raw: Store, from: SecretsKey | null, to: SecretsKey | null): Promise<number> {
  const secrets = await resealServerSecrets(raw, from, to);
  return secrets + (await resealKeyRing(raw, secretsKeyCodec(from, to)));
}
