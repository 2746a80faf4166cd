import { describe, expect, it } from 'vitest';
import { isTesseraError, KeyInvalidError } from '../errors/errors.js';
import { createSessionManager } from '../session/session-manager.js';
import type { JsonValue, Store } from '../store/types.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import type { SigningAlgorithm } from './jws.js';
import { resealKeyRing } from './key-ring.js';
import { createTokenService, type TokenEvent, type TokenServiceOptions } from './token-service.js';

const T0 = 1_700_000_000_000;

function cluster() {
  let clock = T0;
  const now = (): number => clock;
  const store = createMemoryStore({ now });
  const sessions = createSessionManager(store, {
    now,
    absoluteTimeoutSeconds: 30 * 86_400,
    idleTimeoutSeconds: 86_400,
  });
  const events: TokenEvent[] = [];
  /** One instance of the service: every instance shares the store, each has its own caches. */
  const instance = (options: Partial<TokenServiceOptions> = {}, on: Store = store) =>
    createTokenService({
      sessions,
      store: on,
      issuer: 'https://auth.example.test',
      audience: 'api',
      now,
      onEvent: (event) => events.push(event),
      ...options,
    });
  const login = async () => (await sessions.createSession('user-1')).session;
  return { store, sessions, instance, login, events, advance: (ms: number) => (clock += ms) };
}

const kidOf = (token: string): string =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string }).kid;

describe('key ring', () => {
  it.each<SigningAlgorithm>(['EdDSA', 'ES256', 'RS256'])(
    'generates a %s key on first use and signs with it',
    async (algorithm) => {
      const { instance, login } = cluster();
      const tokens = instance({ algorithm });
      const pair = await tokens.issueTokens(await login());
      const { keys } = await tokens.jwks();
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatchObject({ kid: kidOf(pair.accessToken), alg: algorithm, use: 'sig' });
      expect((await tokens.verifyAccessToken(pair.accessToken)).ok).toBe(true);
    },
  );

  it('publishes public keys only: no d, p, q, dp, dq, qi or k in the JWKS', async () => {
    const { instance, login } = cluster();
    for (const algorithm of ['EdDSA', 'ES256', 'RS256'] as const) {
      const tokens = instance({ algorithm }, createMemoryStore());
      await tokens.issueTokens(await login());
      for (const key of (await tokens.jwks()).keys) {
        for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(secret);
      }
    }
  });

  it('shares one key set between instances on one store, even when they start at once', async () => {
    const { instance, login } = cluster();
    const first = instance();
    const second = instance();
    const session = await login();
    const [a, b] = await Promise.all([first.issueTokens(session), second.issueTokens(session)]);
    expect(kidOf(a.accessToken)).toBe(kidOf(b.accessToken));
    expect(await first.jwks()).toEqual(await second.jwks());
    expect((await second.verifyAccessToken(a.accessToken)).ok).toBe(true);
    expect((await first.verifyAccessToken(b.accessToken)).ok).toBe(true);
  });

  it('rotates without downtime: old tokens verify until they expire, then the old key leaves the JWKS', async () => {
    const { instance, login, advance, events } = cluster();
    const first = instance();
    const second = instance();
    const session = await login();
    const old = await first.issueTokens(session);
    await second.verifyAccessToken(old.accessToken);
    const oldKid = kidOf(old.accessToken);

    const { kid } = await first.rotateKeys();
    expect(kid).not.toBe(oldKid);
    expect(events).toContainEqual(expect.objectContaining({ type: 'keys.rotated', kid }));
    const fresh = await first.issueTokens(session);
    expect(kidOf(fresh.accessToken)).toBe(kid);
    // The other instance has not reloaded yet: the unknown kid makes it.
    expect((await second.verifyAccessToken(fresh.accessToken)).ok).toBe(true);
    expect((await second.jwks()).keys.map((key) => key.kid).sort()).toEqual([kid, oldKid].sort());
    expect((await first.verifyAccessToken(old.accessToken)).ok).toBe(true);
    expect((await second.verifyAccessToken(old.accessToken)).ok).toBe(true);

    // Retention: access-token TTL + leeway + key refresh interval.
    advance((900 + 5 + 60) * 1000);
    expect((await first.jwks()).keys.map((key) => key.kid)).toEqual([kid]);
    expect((await second.jwks()).keys.map((key) => key.kid)).toEqual([kid]);
    expect((await first.verifyAccessToken(old.accessToken)).reason).not.toBeUndefined();
    expect((await first.verifyAccessToken(fresh.accessToken)).reason).toBe('expired');
  });

  it('a stale instance adopts a rotation within the refresh interval and signs with the new key', async () => {
    const { instance, login, advance } = cluster();
    const first = instance();
    const second = instance();
    const session = await login();
    await second.issueTokens(session);
    const { kid } = await first.rotateKeys();
    advance(60_000);
    expect(kidOf((await second.issueTokens(session)).accessToken)).toBe(kid);
  });

  it('lists the keys that verify, current first, with dates and no key material', async () => {
    const { instance, login, advance } = cluster();
    const first = instance();
    const second = instance();
    const listed = await first.listKeys();
    expect(listed).toEqual([
      { kid: expect.any(String), alg: 'EdDSA', status: 'current', createdAt: new Date(T0), expiresAt: null },
    ]);
    const oldKid = listed[0]!.kid;
    await second.issueTokens(await login());
    advance(1000);
    const { kid } = await first.rotateKeys();
    // The other instance has not reloaded: listing reads the store afresh.
    expect(await second.listKeys()).toEqual([
      { kid, alg: 'EdDSA', status: 'current', createdAt: new Date(T0 + 1000), expiresAt: null },
      {
        kid: oldKid,
        alg: 'EdDSA',
        status: 'previous',
        createdAt: new Date(T0),
        expiresAt: new Date(T0 + 1000 + (900 + 5 + 60) * 1000),
      },
    ]);
    for (const key of await second.listKeys())
      expect(Object.keys(key).sort()).toEqual(['alg', 'createdAt', 'expiresAt', 'kid', 'status']);
    advance((900 + 5 + 60) * 1000);
    expect((await first.listKeys()).map((key) => key.kid)).toEqual([kid]);
  });

  it('drops previous keys at once with revokePrevious (a leaked key)', async () => {
    const { instance, login } = cluster();
    const tokens = instance();
    const old = await tokens.issueTokens(await login());
    const { kid } = await tokens.rotateKeys({ revokePrevious: true });
    expect((await tokens.verifyAccessToken(old.accessToken)).reason).toBe('invalid');
    expect((await tokens.jwks()).keys.map((key) => key.kid)).toEqual([kid]);
  });

  /** Every `d` (private key part) in the stored key-set document, and in any first-version chain document left. */
  const storedPrivateParts = async (store: Store): Promise<string[]> => {
    const found: string[] = [];
    const keys = ['token:keyring', ...Array.from({ length: 10 }, (_, i) => `token:keys:v${i + 1}`)];
    for (const key of keys) {
      const document = (await store.get(key)) as { keys: { privateJwk: { d?: string } | null }[] } | null;
      for (const stored of document?.keys ?? []) {
        if (stored.privateJwk?.d !== undefined) found.push(stored.privateJwk.d);
      }
    }
    return found;
  };

  it('erases the private half of a rotated key from the store, keeping the public half while its tokens live', async () => {
    const { instance, login, store, advance } = cluster();
    const tokens = instance();
    const old = await tokens.issueTokens(await login());
    const [oldPrivate] = await storedPrivateParts(store);
    expect(oldPrivate).toEqual(expect.any(String));
    const { kid } = await tokens.rotateKeys();
    const after = await storedPrivateParts(store);
    expect(after).toHaveLength(1);
    expect(after).not.toContain(oldPrivate);
    expect(((await store.get('token:keyring')) as { version: number }).version).toBe(2);
    // Another instance still verifies the old token with the public half, and signs with the new key.
    const other = instance();
    expect((await other.verifyAccessToken(old.accessToken)).ok).toBe(true);
    expect(kidOf((await other.issueTokens(await login())).accessToken)).toBe(kid);
    advance((900 + 5 + 60) * 1000 + 1);
    expect((await instance().jwks()).keys.map((key) => key.kid)).toEqual([kid]);
  });

  it('erases a revoked key entirely: no document in the store still holds its private half', async () => {
    const { instance, login, store } = cluster();
    const tokens = instance();
    await tokens.issueTokens(await login());
    await tokens.rotateKeys();
    const before = await storedPrivateParts(store);
    await tokens.rotateKeys({ revokePrevious: true });
    const after = await storedPrivateParts(store);
    expect(after).toHaveLength(1);
    for (const d of before) expect(after).not.toContain(d);
  });

  it('erases every retired private half under racing rotations on several instances', async () => {
    const { instance, login, store } = cluster();
    const first = instance();
    await first.issueTokens(await login());
    await Promise.all([first.rotateKeys(), instance().rotateKeys(), instance().rotateKeys({ revokePrevious: true })]);
    expect(await storedPrivateParts(store)).toHaveLength(1);
    const signer = instance();
    const pair = await signer.issueTokens(await login());
    expect((await instance().verifyAccessToken(pair.accessToken)).ok).toBe(true);
  });

  it('concurrent rotations on two instances never lose a key', async () => {
    const { instance, login } = cluster();
    const first = instance();
    const second = instance();
    const old = await first.issueTokens(await login());
    const [a, b] = await Promise.all([first.rotateKeys(), second.rotateKeys()]);
    expect(a.kid).not.toBe(b.kid);
    const third = instance();
    const kids = (await third.jwks()).keys.map((key) => key.kid);
    expect(kids).toEqual(expect.arrayContaining([kidOf(old.accessToken), a.kid, b.kid]));
    expect((await third.verifyAccessToken(old.accessToken)).ok).toBe(true);
  });

  it('concurrent rotations on five instances: each one that returns is in the key set, none overwritten', async () => {
    const { instance, login } = cluster();
    const old = await instance().issueTokens(await login());
    const rotated = await Promise.all(Array.from({ length: 5 }, () => instance().rotateKeys()));
    const kids = (await instance().jwks()).keys.map((key) => key.kid);
    expect(kids).toEqual(expect.arrayContaining([kidOf(old.accessToken), ...rotated.map((r) => r.kid)]));
    expect(kids).toHaveLength(6);
  });

  it('migrates a key store of the first version (a chain of documents) forward, keeping its keys', async () => {
    const { instance, login, store } = cluster();
    const before = instance();
    const old = await before.issueTokens(await login());
    await before.rotateKeys();
    const signedLater = await before.issueTokens(await login());
    // The first version's layout: `token:keys:v<N>` documents and a `token:keys:head` hint, which may lag.
    const document = (await store.get('token:keyring')) as { keys: JsonValue[] };
    await store.delete('token:keyring');
    await store.set('token:keys:v2', { version: 2, keys: [] });
    await store.set('token:keys:v3', { version: 3, keys: document.keys });
    await store.set('token:keys:head', 2);

    // Several instances start at once: they agree on one migrated document.
    const instances = Array.from({ length: 5 }, () => instance());
    const listed = await Promise.all(instances.map((tokens) => tokens.listKeys()));
    for (const keys of listed) expect(keys.map((key) => key.kid)).toEqual(listed[0]!.map((key) => key.kid));
    expect(listed[0]).toHaveLength(2);
    expect(listed[0]![0]!.kid).toBe(kidOf(signedLater.accessToken));
    expect((await instances[1]!.verifyAccessToken(old.accessToken)).ok).toBe(true);
    expect(kidOf((await instances[2]!.issueTokens(await login())).accessToken)).toBe(kidOf(signedLater.accessToken));
    // The chain held a private key: it is gone, and the one document holds the keys.
    for (const key of ['token:keys:head', 'token:keys:v2', 'token:keys:v3']) expect(await store.get(key)).toBeNull();
    expect(await storedPrivateParts(store)).toHaveLength(1);
    expect(((await store.get('token:keyring')) as { version: number }).version).toBe(3);
  });

  it('stores the key document through a codec, and keeps compare-and-set working on randomised sealed values', async () => {
    const { instance, login, store } = cluster();
    let sealedCount = 0;
    const codec = {
      seal: (document: JsonValue) => ({
        sealed: Buffer.from(JSON.stringify(document)).toString('base64'),
        nonce: `${++sealedCount}-${Math.floor(performance.now() * 1000)}`,
      }),
      open: (stored: JsonValue) => {
        const sealed = (stored as { sealed?: string }).sealed;
        return sealed === undefined
          ? stored
          : (JSON.parse(Buffer.from(sealed, 'base64').toString('utf8')) as JsonValue);
      },
      isCurrent: (stored: JsonValue) => (stored as { sealed?: string }).sealed !== undefined,
    };
    // A store written before the codec: plain. Re-sealing turns it into the codec's form, once.
    const plain = instance();
    const old = await plain.issueTokens(await login());
    expect(await resealKeyRing(store, codec)).toBe(1);
    expect(await resealKeyRing(store, codec)).toBe(0);
    expect(await storedPrivateParts(store)).toEqual([]);
    const rotated = await Promise.all(Array.from({ length: 4 }, () => instance({ keyCodec: codec }).rotateKeys()));
    const kids = (await instance({ keyCodec: codec }).jwks()).keys.map((key) => key.kid);
    expect(kids).toEqual(expect.arrayContaining([kidOf(old.accessToken), ...rotated.map((r) => r.kid)]));
    expect(kids).toHaveLength(5);
    expect(JSON.stringify(await store.get('token:keyring'))).not.toContain('privateJwk');
  });

  it('refuses a codec without seal and open', () => {
    const { instance } = cluster();
    expect(() => instance({ keyCodec: { seal: (value: JsonValue) => value } as never })).toThrow(/"keyCodec"/);
  });

  it('fails closed on a corrupt stored key set', async () => {
    const { instance, login, store } = cluster();
    await store.set('token:keyring', { version: 1, keys: [{ kid: 'x' }] });
    const error: unknown = await instance()
      .issueTokens(await login())
      .catch((caught: unknown) => caught);
    expect(isTesseraError(error) && error.code).toBe('ERR_KEY_INVALID');
    expect(error).toBeInstanceOf(KeyInvalidError);
  });

  describe('HS256', () => {
    const secret = 'q3Yb8m0oV1c2ZfT9xKpL4rN7sW6uHjE5aGdB0iCyXvM=';

    it('refuses short or low-entropy secrets, saying how to make one, and never echoing it', () => {
      const { instance } = cluster();
      for (const secrets of [
        undefined,
        [],
        ['short'],
        ['a'.repeat(64)],
        ['password'.repeat(5)],
        [new Uint8Array(32)],
      ]) {
        let message = '';
        try {
          instance({ algorithm: 'HS256', secrets });
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message).toContain('openssl rand -base64 32');
        expect(message).not.toContain('password');
      }
      expect(() => instance({ secrets: [secret] })).toThrow('"secrets" is only for "algorithm": "HS256"');
    });

    it('signs with the first secret, verifies with all, and publishes nothing', async () => {
      const { instance, login } = cluster();
      const old = instance({ algorithm: 'HS256', secrets: [secret] });
      const pair = await old.issueTokens(await login());
      const rotated = instance({ algorithm: 'HS256', secrets: [Buffer.alloc(32, 0).map((_, i) => i * 7 + 1), secret] });
      expect((await rotated.verifyAccessToken(pair.accessToken)).ok).toBe(true);
      expect(await rotated.jwks()).toEqual({ keys: [] });
      await expect(rotated.rotateKeys()).rejects.toThrow(/new secret first/);
      expect((await rotated.listKeys()).map(({ alg, status, createdAt }) => ({ alg, status, createdAt }))).toEqual([
        { alg: 'HS256', status: 'current', createdAt: null },
        { alg: 'HS256', status: 'previous', createdAt: null },
      ]);
      const other = instance({ algorithm: 'HS256', secrets: [Buffer.alloc(32, 0).map((_, i) => i * 5 + 3)] });
      expect((await other.verifyAccessToken(pair.accessToken)).reason).toBe('invalid');
    });
  });
});
