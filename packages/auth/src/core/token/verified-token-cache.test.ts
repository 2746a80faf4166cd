import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { isTesseraError } from '../errors/errors.js';
import { createSessionManager } from '../session/session-manager.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import * as jws from './jws.js';
import type { SigningAlgorithm } from './jws.js';
import { createTokenService, type TokenServiceOptions } from './token-service.js';

// Counts signature verifications: the real function runs, the spy only counts the calls.
vi.mock('./jws.js', async (importOriginal) => {
  const original = await importOriginal<typeof jws>();
  return { ...original, verifyCompactJWS: vi.fn(original.verifyCompactJWS) };
});
const signatureChecks = (): number => vi.mocked(jws.verifyCompactJWS).mock.calls.length;

const T0 = 1_700_000_000_000;
const SECRET = randomBytes(32);

function cluster(algorithm: SigningAlgorithm = 'EdDSA') {
  let clock = T0;
  const now = (): number => clock;
  const store = createMemoryStore({ now });
  const sessions = createSessionManager(store, { now, absoluteTimeoutSeconds: 86_400, idleTimeoutSeconds: 86_400 });
  /** One instance: all share the store, each has its own key set and verified-token cache. */
  const instance = (options: Partial<TokenServiceOptions> = {}) =>
    createTokenService({
      sessions,
      store,
      issuer: 'https://auth.example.test',
      audience: 'api',
      algorithm,
      ...(algorithm === 'HS256' ? { secrets: [SECRET] } : {}),
      now,
      ...options,
    });
  const login = async () => (await sessions.createSession('user-1')).session;
  return { store, sessions, instance, login, advance: (ms: number) => (clock += ms) };
}

describe('verified-token cache', () => {
  for (const algorithm of ['EdDSA', 'HS256'] as const) {
    it(`${algorithm}: a reused token pays for its signature once; with verifiedTokenCacheSize 0, every time`, async () => {
      const { instance, login } = cluster(algorithm);
      const cached = instance();
      const uncached = instance({ verifiedTokenCacheSize: 0 });
      const { accessToken } = await cached.issueTokens(await login());

      const before = signatureChecks();
      for (let i = 0; i < 10; i++) expect((await cached.verifyAccessToken(accessToken)).ok).toBe(true);
      expect(signatureChecks() - before).toBe(1);

      const middle = signatureChecks();
      for (let i = 0; i < 10; i++) expect((await uncached.verifyAccessToken(accessToken)).ok).toBe(true);
      expect(signatureChecks() - middle).toBe(10);
    });
  }

  it('never serves a forged variant of a cached token: shared prefix, truncated, flipped byte, tampered payload', async () => {
    const { instance, login } = cluster();
    const tokens = instance();
    const session = await login();
    const { accessToken } = await tokens.issueTokens(session);
    const other = (await tokens.issueTokens(session)).accessToken;
    expect((await tokens.verifyAccessToken(accessToken)).ok).toBe(true);

    const [h, p, s] = accessToken.split('.') as [string, string, string];
    const signature = Buffer.from(s, 'base64url');
    const flipped = (index: number): string => {
      const copy = Buffer.from(signature);
      copy[index] = (copy[index] as number) ^ 0x01;
      return `${h}.${p}.${copy.toString('base64url')}`;
    };
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    const forged = [
      `${h}.${p}.${other.split('.')[2]!}`,
      accessToken.slice(0, -1),
      accessToken.slice(0, -2),
      `${h}.${p}`,
      `${h}.${p}.`,
      flipped(0),
      flipped(31),
      flipped(63),
      `${accessToken}A`,
      `${accessToken}=`,
      `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url')}.${s}`,
    ];
    for (const token of forged) {
      expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
      // Twice: a refused token is never remembered either.
      expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
    }
    expect((await tokens.verifyAccessToken(accessToken)).ok).toBe(true);
  });

  it('re-checks expiry on every hit with the injected clock, then forgets the expired token', async () => {
    const { instance, login, advance } = cluster();
    const tokens = instance({ accessTokenTtlSeconds: 60, leewaySeconds: 5 });
    const { accessToken } = await tokens.issueTokens(await login());
    expect((await tokens.verifyAccessToken(accessToken)).ok).toBe(true);
    const before = signatureChecks();
    advance(64_999);
    expect((await tokens.verifyAccessToken(accessToken)).ok).toBe(true);
    advance(1);
    expect(await tokens.verifyAccessToken(accessToken)).toEqual({ ok: false, reason: 'expired' });
    expect(signatureChecks() - before).toBe(0);
    // The entry is gone: the next attempt goes the full way, and is refused there too.
    expect(await tokens.verifyAccessToken(accessToken)).toEqual({ ok: false, reason: 'expired' });
    expect(signatureChecks() - before).toBe(1);
  });

  it('a rotation with revokePrevious stops a cached token at once; a plain rotation keeps it cached', async () => {
    const { instance, login } = cluster();
    const tokens = instance();
    const kept = await tokens.issueTokens(await login());
    expect((await tokens.verifyAccessToken(kept.accessToken)).ok).toBe(true);
    await tokens.rotateKeys();
    const before = signatureChecks();
    expect((await tokens.verifyAccessToken(kept.accessToken)).ok).toBe(true);
    expect(signatureChecks() - before).toBe(0);

    const leaked = await tokens.issueTokens(await login());
    expect((await tokens.verifyAccessToken(leaked.accessToken)).ok).toBe(true);
    expect((await tokens.verifyAccessToken(leaked.accessToken)).ok).toBe(true);
    await tokens.rotateKeys({ revokePrevious: true });
    expect((await tokens.verifyAccessToken(leaked.accessToken)).reason).toBe('invalid');
    expect((await tokens.verifyAccessToken(kept.accessToken)).reason).toBe('invalid');
  });

  it('another instance stops serving a cached token as soon as it has adopted a revoking rotation', async () => {
    const { instance, login, advance } = cluster();
    const rotating = instance();
    const serving = instance();
    const { accessToken } = await rotating.issueTokens(await login());
    expect((await serving.verifyAccessToken(accessToken)).ok).toBe(true);
    await rotating.rotateKeys({ revokePrevious: true });
    advance(60_000);
    // listKeys reloads the key set now, as the background reload would within keyRefreshIntervalSeconds.
    await serving.listKeys();
    expect((await serving.verifyAccessToken(accessToken)).reason).toBe('invalid');
  });

  it('holds at most verifiedTokenCacheSize tokens, the least recently used leaving first', async () => {
    const { instance, login } = cluster();
    const tokens = instance({ verifiedTokenCacheSize: 2 });
    const session = await login();
    const [a, b, c] = await Promise.all([1, 2, 3].map(async () => (await tokens.issueTokens(session)).accessToken));
    const checksFor = async (token: string | undefined): Promise<number> => {
      const before = signatureChecks();
      expect((await tokens.verifyAccessToken(token)).ok).toBe(true);
      return signatureChecks() - before;
    };
    expect(await checksFor(a)).toBe(1);
    expect(await checksFor(b)).toBe(1);
    expect(await checksFor(a)).toBe(0);
    expect(await checksFor(c)).toBe(1); // evicts b, the least recently used
    expect(await checksFor(a)).toBe(0);
    expect(await checksFor(c)).toBe(0);
    expect(await checksFor(b)).toBe(1);
  });

  it('hands out frozen claims, so no caller can change what the next one is told', async () => {
    const { instance, login } = cluster();
    const tokens = instance({ claims: () => ({ roles: ['reader'] }) });
    const { accessToken } = await tokens.issueTokens(await login());
    const first = await tokens.verifyAccessToken(accessToken);
    expect(Object.isFrozen(first.claims)).toBe(true);
    expect(() => {
      (first.claims as unknown as { sub: string }).sub = 'admin';
    }).toThrow(TypeError);
    expect(() => {
      (first.claims!.roles as string[]).push('admin');
    }).toThrow(TypeError);
    const second = await tokens.verifyAccessToken(accessToken);
    expect(second.claims).toMatchObject({ sub: 'user-1', roles: ['reader'] });
  });

  it('refuses a cached token once revoked, in every revocation mode', async () => {
    const { instance, login, sessions } = cluster();
    const bySession = instance();
    const byBlocklist = instance({ revocationCheck: 'blocklist' });

    const revoked = await bySession.issueTokens(await login());
    expect((await bySession.verifyAccessToken(revoked.accessToken)).ok).toBe(true);
    const { sid } = (await bySession.verifyAccessToken(revoked.accessToken)).claims!;
    await sessions.revokeSession(sid);
    expect((await bySession.verifyAccessToken(revoked.accessToken)).reason).toBe('revoked');

    const loggedOut = await bySession.issueTokens(await login());
    expect((await bySession.verifyAccessToken(loggedOut.accessToken)).ok).toBe(true);
    expect(await bySession.logout(loggedOut.accessToken)).toBe(true);
    expect((await bySession.verifyAccessToken(loggedOut.accessToken)).reason).toBe('revoked');

    const blocked = await byBlocklist.issueTokens(await login());
    expect((await byBlocklist.verifyAccessToken(blocked.accessToken)).ok).toBe(true);
    expect(await byBlocklist.revokeAccessToken(blocked.accessToken)).toBe(true);
    expect((await byBlocklist.verifyAccessToken(blocked.accessToken)).reason).toBe('revoked');
    expect(await byBlocklist.introspect(blocked.accessToken)).toEqual({ active: false });
  });

  it('refuses a size that is not an integer from 0 to 1000000', () => {
    const { instance } = cluster();
    for (const size of [-1, 1.5, 1_000_001, '10' as never]) {
      let caught: unknown;
      try {
        instance({ verifiedTokenCacheSize: size });
      } catch (error) {
        caught = error;
      }
      expect(isTesseraError(caught) && caught.code).toBe('ERR_INVALID_OPTION');
      expect((caught as Error).message).toContain('"verifiedTokenCacheSize" must be an integer from 0 to 1000000');
    }
  });
});
