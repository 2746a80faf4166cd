import { createHmac } from 'node:crypto';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { secretListOption } from '../../internal/secrets.js';
import { InvalidOptionError, KeyInvalidError, StoreConflictError } from '../errors/errors.js';
import { guardStore } from '../store/define-store.js';
import type { JsonValue, KeyValueStore } from '../store/types.js';
import type { Logger } from '../../internal/logger.js';
import type { SigningAlgorithm, VerificationKey } from './jws.js';

/** The asymmetric algorithms whose keys the ring generates and publishes. */
export type AsymmetricAlgorithm = Exclude<SigningAlgorithm, 'HS256'>;

/** A key that signs, with the `kid` and `alg` its tokens carry. */
export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  key: CryptoKey;
}

/**
 * How the key ring's document is stored: it holds private keys, so a caller
 * may encrypt it at rest (the server seals it under `TESSERA_SECRETS_KEY`).
 * The key ring stores what `seal` returns and compares-and-sets on it as
 * stored, so `seal` may be randomised. `storeKey` names the document (bind
 * it into the encryption so a document moved under another name does not open).
 */
export interface KeyDocumentCodec {
  /** What to store for `document`. */
  seal(document: JsonValue, storeKey: string): JsonValue;
  /**
   * The document from what is stored (which may predate the codec: a plain
   * document). Throw (e.g. `KeyInvalidError`) to refuse one it cannot open.
   */
  open(stored: JsonValue, storeKey: string): JsonValue;
  /**
   * Whether a stored value is in the form `seal` makes now; `false` (plain
   * text, an older key) has {@link resealKeyRing} re-write it.
   * @default always true
   */
  isCurrent?(stored: JsonValue, storeKey: string): boolean;
}

/** The codec that stores the document as it is. */
const PLAIN_CODEC: KeyDocumentCodec = { seal: (document) => document, open: (stored) => stored };

/** Options of {@link createKeyRing}. */
export interface KeyRingOptions {
  store: KeyValueStore;
  /** How the document is stored. @default as plain JSON */
  codec?: KeyDocumentCodec;
  algorithm: SigningAlgorithm;
  /** HS256 only: the shared secrets, the first signs, all verify. */
  secrets?: readonly (string | Uint8Array)[];
  /** Milliseconds a retired key keeps verifying: long enough for every token it signed to expire. */
  retentionMs: number;
  /** Milliseconds after which the key set is reloaded from the store. */
  refreshIntervalMs: number;
  now: () => number;
  logger: Logger;
  onRotated?: (kid: string, at: number, generated: boolean) => void;
}

/** A key of the ring as {@link KeyRing.listKeys} describes it: names and dates, never key material. */
export interface KeyInfo {
  kid: string;
  alg: SigningAlgorithm;
  /** `current` signs new tokens; a `previous` key only verifies the tokens it signed, until `expiresAt`. */
  status: 'current' | 'previous';
  /** `null` for HS256 secrets, which have no recorded creation. */
  createdAt: Date | null;
  /** When a previous key stops verifying; `null` for the current key and for HS256 secrets. */
  expiresAt: Date | null;
}

/** The signing keys of a token service, shared by every instance on one store. */
export interface KeyRing {
  /** The key new tokens are signed with, loading or generating the key set on first use. */
  signingKey(): Promise<SigningKey>;
  /**
   * The key named `kid`, or `null` when no live key has that id. An unknown
   * id reloads the key set (at most once per {@link UNKNOWN_KID_RELOAD_MS})
   * so a rotation made by another instance is noticed.
   */
  verificationKey(kid: string): Promise<VerificationKey | null>;
  /** The public keys that verify: current and still-retained previous keys. Never private or shared key material. */
  jwks(): Promise<JSONWebKeySet>;
  /** Makes a new key the signing key; see {@link TokenService.rotateKeys}. */
  rotate(options?: { revokePrevious?: boolean }): Promise<{ kid: string }>;
  /** The keys that verify, current first, then previous ones newest first; always read afresh from the store. */
  listKeys(): Promise<KeyInfo[]>;
}

/** An unknown `kid` reloads the key set at most this often, so a flood of forged ids cannot flood the store. */
export const UNKNOWN_KID_RELOAD_MS = 5000;

const MIN_DISTINCT_SECRET_BYTES = 16;
const MAX_VERSION_PROBES = 3;
const MAX_WRITE_ATTEMPTS = 5;

/** One key as the store keeps it. */
interface StoredKey {
  kid: string;
  alg: AsymmetricAlgorithm;
  createdAt: number;
  retiredAt: number | null;
  /** Erased (`null`) when the key is retired: a key that only verifies has no use for its private half. */
  privateJwk: JWK | null;
  publicJwk: JWK;
}

interface KeySetDocument {
  /** One more at every change: names the document in messages, and makes every change a new value. */
  version: number;
  keys: StoredKey[];
}

/** The document as read: what is stored (the compare-and-set's expected value) and what it says. */
interface ReadDocument {
  stored: JsonValue | null;
  document: KeySetDocument | null;
}

interface LoadedKey {
  kid: string;
  alg: SigningAlgorithm;
  createdAt: number;
  /** When the key stops verifying; `null` while it is current. */
  expiresAt: number | null;
  verifyKey: CryptoKey;
  signKey: CryptoKey | null;
  publicJwk: JWK | null;
}

const ASYMMETRIC_ALGORITHMS: readonly string[] = ['EdDSA', 'ES256', 'RS256'];

/** The store key of the key ring's one document. */
const DOCUMENT_KEY = 'token:keyring';
/**
 * The first layout: an append-only chain of documents `token:keys:v<N>`
 * (each written once with `setIfAbsent`) and a `token:keys:head` hint. Read
 * once to migrate a database made by that version forward.
 */
const LEGACY_HEAD_KEY = 'token:keys:head';
const legacyVersionKey = (version: number): string => `token:keys:v${version}`;

function isStoredKey(value: unknown): value is StoredKey {
  if (typeof value !== 'object' || value === null) return false;
  const key = value as Record<string, unknown>;
  return (
    typeof key.kid === 'string' &&
    typeof key.alg === 'string' &&
    ASYMMETRIC_ALGORITHMS.includes(key.alg) &&
    typeof key.createdAt === 'number' &&
    (key.retiredAt === null || typeof key.retiredAt === 'number') &&
    typeof key.privateJwk === 'object' &&
    (key.privateJwk !== null || key.retiredAt !== null) &&
    typeof key.publicJwk === 'object' &&
    key.publicJwk !== null
  );
}

/** `version`: the one a legacy chain document must carry; `null` for the current document (any). */
function parseKeySet(value: JsonValue | null, version: number | null): KeySetDocument | null {
  if (value === null) return null;
  const document = value as unknown as Partial<KeySetDocument>;
  if (
    typeof value !== 'object' ||
    Array.isArray(value) ||
    !Number.isSafeInteger(document.version) ||
    (version !== null && document.version !== version) ||
    !Array.isArray(document.keys) ||
    !document.keys.every(isStoredKey)
  ) {
    // Fail closed: a key set we cannot read must not be silently replaced by a new one.
    throw new KeyInvalidError(
      `The stored signing key set${version === null ? '' : ` (version ${version})`} is corrupt`,
    );
  }
  return document as KeySetDocument;
}

function codecOption(codec: KeyDocumentCodec | undefined): KeyDocumentCodec {
  if (codec === undefined) return PLAIN_CODEC;
  if (typeof codec?.seal !== 'function' || typeof codec.open !== 'function') {
    throw new InvalidOptionError('"keyCodec" must have "seal" and "open" functions');
  }
  return codec;
}

/** The latest document of a first-version chain, or `null` when there is none. */
async function readLegacyChain(store: KeyValueStore, codec: KeyDocumentCodec): Promise<KeySetDocument | null> {
  const readVersion = async (version: number): Promise<KeySetDocument | null> => {
    const key = legacyVersionKey(version);
    const stored = await store.get(key);
    return parseKeySet(stored === null ? null : codec.open(stored, key), version);
  };
  const head = await store.get(LEGACY_HEAD_KEY);
  let version = typeof head === 'number' && Number.isSafeInteger(head) && head >= 1 ? head : 1;
  let document = await readVersion(version);
  // The head was only a hint (a writer could die before writing it): it may lag, or name a pruned version.
  for (let probe = 0; document === null && head !== null && probe < MAX_VERSION_PROBES; probe++) {
    document = await readVersion(++version);
  }
  if (document === null) return null;
  for (;;) {
    const next = await readVersion(document.version + 1);
    if (next === null) return document;
    document = next;
  }
}

/**
 * Reads the key ring's document. A store that has none but holds a
 * first-version chain has it migrated forward first: its latest document
 * becomes the one document (compare-and-set from absent, so concurrent
 * instances agree), and the chain, which still holds private keys, is erased.
 */
async function readDocument(
  store: KeyValueStore,
  codec: KeyDocumentCodec,
): Promise<ReadDocument & { migrated: boolean }> {
  const stored = await store.get(DOCUMENT_KEY);
  if (stored !== null) {
    return { stored, document: parseKeySet(codec.open(stored, DOCUMENT_KEY), null), migrated: false };
  }
  const legacy = await readLegacyChain(store, codec);
  if (legacy === null) return { stored: null, document: null, migrated: false };
  const sealed = codec.seal(legacy as unknown as JsonValue, DOCUMENT_KEY);
  const won = await store.compareAndSet(DOCUMENT_KEY, null, sealed);
  if (won) {
    for (const version of [legacy.version, legacy.version - 1, legacy.version - 2]) {
      if (version >= 1) await store.delete(legacyVersionKey(version));
    }
    await store.delete(LEGACY_HEAD_KEY);
    return { stored: sealed, document: legacy, migrated: true };
  }
  const again = await store.get(DOCUMENT_KEY);
  if (again === null) throw new KeyInvalidError('The signing key set vanished while it was being migrated');
  return { stored: again, document: parseKeySet(codec.open(again, DOCUMENT_KEY), null), migrated: false };
}

/** Replaces the document read with one holding `keys`, unless it changed since: `null` when another writer won. */
async function writeDocument(
  store: KeyValueStore,
  codec: KeyDocumentCodec,
  read: ReadDocument,
  keys: StoredKey[],
): Promise<KeySetDocument | null> {
  const next: KeySetDocument = { version: (read.document?.version ?? 0) + 1, keys };
  const sealed = codec.seal(next as unknown as JsonValue, DOCUMENT_KEY);
  const won = await store.compareAndSet(DOCUMENT_KEY, read.stored, sealed);
  return won ? next : null;
}

/**
 * Re-writes the signing keys a token service keeps in `store` so they are
 * stored the way `codec` seals now, where {@link KeyDocumentCodec.isCurrent}
 * says they are not (a plain document after encryption was turned on, or one
 * sealed under a previous key: `codec.open` must still open it). Migrates a
 * first-version key store on the way. Compare-and-set: a rotation made
 * meanwhile is never undone; its document is re-sealed instead. Returns how
 * many documents it wrote (0 or 1).
 */
export async function resealKeyRing(target: KeyValueStore, codec: KeyDocumentCodec): Promise<number> {
  const store = guardStore(target);
  const checked = codecOption(codec);
  for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
    // Checked before anything is opened: the form it is in now may be one only the new key opens.
    const stored = await store.get(DOCUMENT_KEY);
    if (stored !== null && checked.isCurrent?.(stored, DOCUMENT_KEY) !== false) return 0;
    const read = await readDocument(store, checked);
    if (read.migrated) return 1;
    if (read.stored === null || read.document === null) return 0;
    if (checked.isCurrent?.(read.stored, DOCUMENT_KEY) !== false) return 0;
    const sealed = checked.seal(read.document as unknown as JsonValue, DOCUMENT_KEY);
    if (await store.compareAndSet(DOCUMENT_KEY, read.stored, sealed)) {
      return 1;
    }
  }
  throw new StoreConflictError('Re-sealing the signing keys kept losing to concurrent rotations; try again');
}

async function generateStoredKey(alg: AsymmetricAlgorithm, at: number): Promise<StoredKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'RS256' ? { modulusLength: 2048 } : {}),
  });
  const privateJwk = await exportJWK(privateKey);
  const publicJwk = await exportJWK(publicKey);
  // The RFC 7638 thumbprint: a kid derived from the public key, so it cannot collide or leak anything.
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, alg, createdAt: at, retiredAt: null, privateJwk, publicJwk };
}

/**
 * The key ring. Asymmetric keys are generated on first use and kept in the
 * store's KV as one document, changed only with `compareAndSet` on the value
 * last read: of instances racing to change it (first start, concurrent
 * rotations) exactly one wins and the others re-read and adopt its keys, so no
 * instance ever overwrites a key another one has already signed with. Only
 * the current key has its private half: a rotation erases the retired key's,
 * and `revokePrevious` the whole key. The document goes through the `codec`
 * on its way in and out (encryption at rest).
 */
export function createKeyRing(options: KeyRingOptions): KeyRing {
  const { store, algorithm, retentionMs, refreshIntervalMs, now, logger } = options;
  const codec = codecOption(options.codec);

  if (algorithm === 'HS256')
    return createSecretKeyRing(
      // A crude entropy floor on top of the length: HS256 secrets are the only keys people type in.
      secretListOption('secrets', options.secrets, {
        minDistinctBytes: MIN_DISTINCT_SECRET_BYTES,
        requiredFor: '"algorithm" is "HS256"',
      }),
    );
  if (options.secrets !== undefined) {
    throw new InvalidOptionError(
      '"secrets" is only for "algorithm": "HS256"; asymmetric keys are generated and stored',
    );
  }

  let keys = new Map<string, LoadedKey>();
  let current: LoadedKey | null = null;
  let loadedAt: number | null = null;
  let lastUnknownReloadAt = -Infinity;
  let inflight: Promise<void> | null = null;

  const apply = async (document: KeySetDocument): Promise<void> => {
    const at = now();
    const next = new Map<string, LoadedKey>();
    let signing: LoadedKey | null = null;
    for (const stored of document.keys) {
      const expiresAt = stored.retiredAt === null ? null : stored.retiredAt + retentionMs;
      if (expiresAt !== null && expiresAt <= at) continue;
      const cached = keys.get(stored.kid);
      // Imported keys are reused across reloads: importing costs several verifications' worth.
      const verifyKey = cached?.verifyKey ?? (await importJWK(stored.publicJwk, stored.alg, { extractable: false }));
      const isCurrent = stored.retiredAt === null && (signing === null || stored.createdAt > signing.createdAt);
      // A retired key's private half is dropped from memory too, not only from the store.
      const signKey =
        stored.retiredAt !== null || stored.privateJwk === null
          ? null
          : (cached?.signKey ?? (await importJWK(stored.privateJwk, stored.alg, { extractable: false })));
      const loaded: LoadedKey = {
        kid: stored.kid,
        alg: stored.alg,
        createdAt: stored.createdAt,
        expiresAt,
        verifyKey: verifyKey as CryptoKey,
        signKey: signKey as CryptoKey | null,
        publicJwk: { ...stored.publicJwk, kid: stored.kid, alg: stored.alg, use: 'sig' },
      };
      next.set(stored.kid, loaded);
      if (isCurrent) signing = loaded;
    }
    if (signing === null) {
      throw new KeyInvalidError(`The stored signing key set (version ${document.version}) has no current key`);
    }
    keys = next;
    current = signing;
    loadedAt = at;
  };

  const reload = async (): Promise<void> => {
    const read = await readDocument(store, codec);
    if (read.document !== null) return apply(read.document);
    const at = now();
    const generated = await generateStoredKey(algorithm, at);
    const written = await writeDocument(store, codec, read, [generated]);
    if (written !== null) options.onRotated?.(generated.kid, at, true);
    // Another instance generated first: adopt its key.
    const document = written ?? (await readDocument(store, codec)).document;
    if (document === null) throw new KeyInvalidError('The signing key set vanished while loading');
    await apply(document);
  };

  /** One reload at a time per instance: concurrent callers share it. */
  const refresh = (): Promise<void> => {
    inflight ??= reload().finally(() => {
      inflight = null;
    });
    return inflight;
  };

  const isStale = (): boolean => loadedAt === null || now() - loadedAt >= refreshIntervalMs;

  const live = (key: LoadedKey): boolean => key.expiresAt === null || key.expiresAt > now();

  return {
    async signingKey() {
      // Signing waits for a fresh key set: a stale instance would sign with a key
      // that another instance has retired, and `retentionMs` allows for that only
      // up to one refresh interval.
      if (isStale()) await refresh();
      const key = current as LoadedKey | null;
      if (key === null || key.signKey === null) throw new KeyInvalidError('No signing key is loaded');
      return { kid: key.kid, alg: key.alg, key: key.signKey };
    },

    async verificationKey(kid) {
      if (loadedAt === null) await refresh();
      else if (isStale()) {
        // In the background: verification keeps its one-round-trip budget.
        refresh().catch((error: unknown) => logger.warn({ err: error }, 'reloading the signing keys failed'));
      }
      let key = keys.get(kid);
      if (key === undefined && now() - lastUnknownReloadAt >= UNKNOWN_KID_RELOAD_MS) {
        lastUnknownReloadAt = now();
        await refresh();
        key = keys.get(kid);
      }
      if (key === undefined || !live(key)) return null;
      return { kid: key.kid, alg: key.alg, key: key.verifyKey };
    },

    async jwks() {
      if (isStale()) await refresh();
      return {
        keys: [...keys.values()].filter(live).flatMap((key) => (key.publicJwk === null ? [] : [key.publicJwk])),
      };
    },

    async rotate(rotateOptions = {}) {
      for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
        const read = await readDocument(store, codec);
        const at = now();
        const generated = await generateStoredKey(algorithm, at);
        const kept = (rotateOptions.revokePrevious === true ? [] : (read.document?.keys ?? []))
          .map((key) => ({ ...key, retiredAt: key.retiredAt ?? at, privateJwk: null }))
          .filter((key) => (key.retiredAt as number) + retentionMs > at);
        const written = await writeDocument(store, codec, read, [...kept, generated]);
        if (written !== null) {
          await apply(written);
          options.onRotated?.(generated.kid, at, false);
          return { kid: generated.kid };
        }
      }
      throw new StoreConflictError('Key rotation kept losing to concurrent rotations; try again');
    },

    async listKeys() {
      // An operator asking is worth a round trip: a cached set could miss another instance's rotation.
      await refresh();
      const signing = current as LoadedKey | null;
      return [...keys.values()]
        .filter(live)
        .sort((a, b) => Number(b === signing) - Number(a === signing) || b.createdAt - a.createdAt)
        .map((key) => ({
          kid: key.kid,
          alg: key.alg,
          status: key === signing ? 'current' : 'previous',
          createdAt: new Date(key.createdAt),
          expiresAt: key.expiresAt === null ? null : new Date(key.expiresAt),
        }));
    },
  };
}

/** HS256: the secrets are the keys. Nothing is stored and nothing is published. */
function createSecretKeyRing(secrets: Uint8Array[]): KeyRing {
  const loaded = Promise.all(
    secrets.map(async (secret) => ({
      // An HMAC of a fixed label: names the secret without revealing anything about it.
      kid: `hs-${createHmac('sha256', secret).update('tessera.kid').digest('base64url').slice(0, 16)}`,
      key: await globalThis.crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, [
        'sign',
        'verify',
      ]),
    })),
  );
  return {
    async signingKey() {
      const [first] = await loaded;
      return { kid: (first as { kid: string }).kid, alg: 'HS256', key: (first as { key: CryptoKey }).key };
    },
    async verificationKey(kid) {
      const found = (await loaded).find((entry) => entry.kid === kid);
      return found === undefined ? null : { kid, alg: 'HS256', key: found.key };
    },
    async jwks() {
      return { keys: [] };
    },
    async rotate() {
      throw new InvalidOptionError('HS256 keys come from "secrets": rotate by putting a new secret first in the list');
    },
    async listKeys() {
      return (await loaded).map((entry, index) => ({
        kid: entry.kid,
        alg: 'HS256',
        status: index === 0 ? 'current' : 'previous',
        createdAt: null,
        expiresAt: null,
      }));
    },
  };
}
