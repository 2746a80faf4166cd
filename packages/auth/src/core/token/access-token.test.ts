import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSessionManager, type Session } from '../session/session-manager.js';
import type { JsonValue, Store } from '../store/types.js';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import type { SigningAlgorithm } from './jws.js';
import { createTokenService, type TokenServiceOptions } from './token-service.js';

const ISSUER = 'https://auth.example.test';
const AUDIENCE = 'api';
const T0 = 1_700_000_000_000;

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Counts store round trips, so tests can hold verification to its budget. */
function countingStore(inner: Store): Store & { calls: string[] } {
  const calls: string[] = [];
  return new Proxy(inner, {
    get(target, property, receiver) {
      if (property === 'calls') return calls;
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Store & { calls: string[] };
}

async function setup(options: Partial<TokenServiceOptions> = {}) {
  let clock = T0;
  const now = (): number => clock;
  const store = countingStore(createMemoryStore({ now }));
  const sessions = createSessionManager(store, { now });
  const tokens = createTokenService({ sessions, store, issuer: ISSUER, audience: AUDIENCE, now, ...options });
  const { session } = await sessions.createSession('user-1');
  const pair = await tokens.issueTokens(session);
  const [, payload] = pair.accessToken.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, JsonValue>;
  const header = JSON.parse(Buffer.from(pair.accessToken.split('.')[0]!, 'base64url').toString('utf8')) as {
    alg: SigningAlgorithm;
    kid: string;
    typ: string;
  };

  /** Signs any header and payload with the service's own private key, as only an insider could. */
  const signAsService = async (h: Record<string, unknown>, p: Record<string, unknown>): Promise<string> => {
    const document = (await store.get('token:keyring')) as { keys: { privateJwk: Record<string, string> }[] };
    const privateKey = createPrivateKey({ key: document.keys[0]!.privateJwk, format: 'jwk' });
    return signWith(privateKey, header.alg, h, p);
  };
  const publicKey = async (): Promise<KeyObject> =>
    createPublicKey({ key: (await tokens.jwks()).keys[0] as Record<string, string>, format: 'jwk' });

  return {
    store,
    sessions,
    tokens,
    session: session as Session,
    pair,
    claims,
    header,
    signAsService,
    publicKey,
    advance: (ms: number) => (clock += ms),
  };
}

function signWith(
  key: KeyObject,
  alg: SigningAlgorithm,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const signature =
    alg === 'EdDSA'
      ? sign(null, Buffer.from(input), key)
      : alg === 'ES256'
        ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
        : sign('sha256', Buffer.from(input), key);
  return `${input}.${signature.toString('base64url')}`;
}

const hs256 = (secret: Uint8Array | string, header: Record<string, unknown>, payload: Record<string, unknown>) => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
};

describe('access tokens: issuing', () => {
  it('carries typ at+jwt, kid and alg, and exactly the registered claims', async () => {
    const { header, claims, session, pair } = await setup();
    expect(header).toEqual({ alg: 'EdDSA', kid: expect.any(String), typ: 'at+jwt' });
    expect(Object.keys(claims).sort()).toEqual(['aud', 'auth_time', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub']);
    expect(claims).toMatchObject({ iss: ISSUER, aud: AUDIENCE, sub: 'user-1', sid: session.id });
    // RFC 9068: when the user authenticated, in seconds, from the session.
    expect(claims.auth_time).toBe(Math.floor(session.authenticatedAt.getTime() / 1000));
    expect(claims.exp).toBe(T0 / 1000 + 900);
    expect(pair).toMatchObject({ tokenType: 'Bearer', expiresIn: 900 });
  });

  it('adds custom claims from the hook but never lets it set a registered one', async () => {
    const { claims } = await setup({ claims: (session) => ({ role: 'admin', tenant: session.userId.length }) });
    expect(claims).toMatchObject({ role: 'admin', tenant: 6, sub: 'user-1' });
    await expect(setup({ claims: () => ({ sub: 'someone-else' }) })).rejects.toThrow(
      'The "claims" hook may not set the registered claim "sub"',
    );
  });

  it('never outlives the session: exp is capped at the absolute limit', async () => {
    let clock = T0;
    const store = createMemoryStore({ now: () => clock });
    const sessions = createSessionManager(store, {
      now: () => clock,
      idleTimeoutSeconds: 300,
      absoluteTimeoutSeconds: 600,
      renewalIntervalSeconds: 60,
    });
    const tokens = createTokenService({ sessions, store, issuer: ISSUER, audience: AUDIENCE, now: () => clock });
    const { session } = await sessions.createSession('user-1');
    clock += 200_000;
    const pair = await tokens.issueTokens(session);
    expect(pair.expiresIn).toBe(400);
  });
});

describe('access tokens: verification', () => {
  it('accepts its own token with one store round trip (session check) and returns the session', async () => {
    const { tokens, pair, store, session } = await setup();
    store.calls.length = 0;
    const result = await tokens.verifyAccessToken(pair.accessToken);
    expect(result.claims?.sid).toBe(session.id);
    expect(result.session?.id).toBe(session.id);
    expect(store.calls).toEqual(['getSession']);
  });

  it('makes no round trip with revocationCheck "none", one get with "blocklist"', async () => {
    const none = await setup({ revocationCheck: 'none' });
    none.store.calls.length = 0;
    expect((await none.tokens.verifyAccessToken(none.pair.accessToken)).ok).toBe(true);
    expect(none.store.calls).toEqual([]);
    const blocklist = await setup({ revocationCheck: 'blocklist' });
    blocklist.store.calls.length = 0;
    expect((await blocklist.tokens.verifyAccessToken(blocklist.pair.accessToken)).ok).toBe(true);
    expect(blocklist.store.calls).toEqual(['get']);
  });

  it('reports expiry after exp plus the leeway, and not before', async () => {
    const { tokens, pair, advance } = await setup();
    advance(900_000 + 4_000);
    expect((await tokens.verifyAccessToken(pair.accessToken)).ok).toBe(true);
    advance(1_000);
    expect(await tokens.verifyAccessToken(pair.accessToken)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses a token not yet valid (nbf or iat in the future beyond the leeway)', async () => {
    const { tokens, signAsService, header, claims } = await setup();
    const nbf = await signAsService(header, { ...claims, nbf: T0 / 1000 + 60 });
    const iat = await signAsService(header, { ...claims, iat: T0 / 1000 + 60 });
    const withinLeeway = await signAsService(header, { ...claims, nbf: T0 / 1000 + 4 });
    expect((await tokens.verifyAccessToken(nbf)).reason).toBe('invalid');
    expect((await tokens.verifyAccessToken(iat)).reason).toBe('invalid');
    expect((await tokens.verifyAccessToken(withinLeeway)).ok).toBe(true);
  });

  it('refuses a correctly signed token whose lifetime (exp − iat) exceeds the configured one plus the leeway', async () => {
    const { tokens, signAsService, header, claims } = await setup();
    const iat = T0 / 1000;
    const at = (exp: number) => signAsService(header, { ...claims, iat, exp });
    expect((await tokens.verifyAccessToken(await at(iat + 900 + 5))).ok).toBe(true);
    expect((await tokens.verifyAccessToken(await at(iat + 900 + 6))).reason).toBe('invalid');
    expect((await tokens.verifyAccessToken(await at(iat + 86_400 * 365))).reason).toBe('invalid');
    // Backdated: issued long ago, yet "valid" for a year from then.
    const backdated = await signAsService(header, { ...claims, iat: iat - 3600, exp: iat + 86_400 * 365 });
    expect((await tokens.verifyAccessToken(backdated)).reason).toBe('invalid');
  });

  it('refuses a wrong iss, aud or typ even when the signature is ours', async () => {
    const { tokens, signAsService, header, claims } = await setup();
    expect((await tokens.verifyAccessToken(await signAsService(header, claims))).ok).toBe(true);
    const cases = [
      await signAsService(header, { ...claims, iss: 'https://evil.example' }),
      await signAsService(header, { ...claims, aud: 'other-api' }),
      await signAsService(header, { ...claims, aud: ['other-api'] }),
      await signAsService({ ...header, typ: 'JWT' }, claims),
      await signAsService({ alg: header.alg, kid: header.kid }, claims),
      await signAsService(header, { ...claims, sid: 123 }),
      await signAsService(header, { ...claims, exp: '9999999999' }),
    ];
    for (const token of cases) expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
    expect(
      (await tokens.verifyAccessToken(await signAsService(header, { ...claims, aud: ['other', AUDIENCE] }))).claims,
    ).not.toBeNull();
    expect(
      (await tokens.verifyAccessToken(await signAsService({ ...header, typ: 'application/AT+JWT' }, claims))).claims,
    ).not.toBeNull();
  });

  it('answers invalid, never throws, for any non-token input', async () => {
    const { tokens } = await setup();
    for (const input of [undefined, null, 42, {}, [], '', 'a.b', 'a.b.c', '...', 'Bearer x.y.z']) {
      expect((await tokens.verifyAccessToken(input)).reason).toBe('invalid');
    }
  });
});

describe('access tokens: attacks', () => {
  let fetchCalls = 0;
  beforeEach(() => {
    fetchCalls = 0;
    vi.stubGlobal('fetch', () => {
      fetchCalls++;
      throw new Error('verification must never fetch anything');
    });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    expect(fetchCalls).toBe(0);
  });

  it('refuses alg "none" in every spelling, with or without a signature', async () => {
    const { tokens, header, claims } = await setup();
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${b64({ ...header, alg })}.${b64(claims)}`;
      for (const token of [`${unsigned}.`, unsigned, `${unsigned}.${b64('x')}`]) {
        expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
      }
    }
  });

  it('refuses HS256 signed with the public key as PEM (with and without newline), JWK text or DER', async () => {
    const { tokens, header, claims, publicKey } = await setup();
    const key = await publicKey();
    const pem = key.export({ type: 'spki', format: 'pem' }) as string;
    const secrets: (string | Uint8Array)[] = [
      pem,
      pem.trimEnd(),
      JSON.stringify(key.export({ format: 'jwk' })),
      JSON.stringify((await tokens.jwks()).keys[0]),
      key.export({ type: 'spki', format: 'der' }),
    ];
    for (const secret of secrets) {
      const forged = hs256(secret, { ...header, alg: 'HS256' }, claims);
      expect((await tokens.verifyAccessToken(forged)).reason).toBe('invalid');
    }
  });

  it('ignores key material in the token: embedded jwk, jku, x5u, x5c are refused and never fetched', async () => {
    const { tokens, header, claims, signAsService } = await setup();
    const attacker = generateKeyPairSync('ed25519');
    const attackerJwk = attacker.publicKey.export({ format: 'jwk' });
    const forged = [
      signWith(attacker.privateKey, 'EdDSA', { ...header, jwk: attackerJwk }, claims),
      signWith(attacker.privateKey, 'EdDSA', { alg: 'EdDSA', typ: 'at+jwt', jwk: attackerJwk }, claims),
      signWith(attacker.privateKey, 'EdDSA', header, claims),
      signWith(attacker.privateKey, 'EdDSA', { ...header, jku: 'https://attacker.example/jwks.json' }, claims),
      signWith(attacker.privateKey, 'EdDSA', { ...header, x5u: 'https://attacker.example/cert.pem' }, claims),
      // Even our own signature does not make these parameters acceptable.
      await signAsService({ ...header, jku: 'https://attacker.example/jwks.json' }, claims),
      await signAsService({ ...header, x5u: 'https://attacker.example/cert.pem' }, claims),
      await signAsService({ ...header, x5c: ['MIIB'] }, claims),
    ];
    for (const token of forged) expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
  });

  it('refuses crit and b64:false, even when signed with our key', async () => {
    const { tokens, header, claims, signAsService } = await setup();
    const crit = await signAsService({ ...header, crit: ['exp'], exp: 1 }, claims);
    const b64false = await signAsService({ ...header, b64: false, crit: ['b64'] }, claims);
    const b64only = await signAsService({ ...header, b64: false }, claims);
    for (const token of [crit, b64false, b64only]) {
      expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
    }
  });

  it('validates kid before any lookup: traversal, SQL, huge, non-string and missing kids', async () => {
    const { tokens, header, claims, signAsService, store } = await setup();
    const kids: unknown[] = ['../../../etc/passwd', "' OR '1'='1", 'a'.repeat(2000), 42, null, { $ne: '' }, ['x'], ''];
    for (const kid of kids) {
      const token = await signAsService({ ...header, kid }, claims);
      store.calls.length = 0;
      expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
      expect(store.calls).toEqual([]);
    }
    const { kid: _kid, ...noKid } = header;
    expect((await tokens.verifyAccessToken(await signAsService(noKid, claims))).reason).toBe('invalid');
  });

  it('reloads the key set for an unknown well-formed kid at most once per 5 seconds', async () => {
    const { tokens, header, claims, signAsService, store, advance } = await setup();
    const forged = await Promise.all(
      Array.from({ length: 20 }, (_, i) => signAsService({ ...header, kid: `unknown-${i}` }, claims)),
    );
    const late = await signAsService({ ...header, kid: 'unknown-x' }, claims);
    store.calls.length = 0;
    for (const token of forged) expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
    const firstBurst = store.calls.length;
    expect(firstBurst).toBeGreaterThan(0);
    expect(firstBurst).toBeLessThanOrEqual(3);
    advance(5_000);
    await tokens.verifyAccessToken(late);
    expect(store.calls.length).toBeGreaterThan(firstBurst);
  });

  it('refuses the ECDSA psychic signature (r = s = 0) and other degenerate ES256 signatures', async () => {
    const { tokens, header, claims } = await setup({ algorithm: 'ES256' });
    expect(header.alg).toBe('ES256');
    const input = `${b64(header)}.${b64(claims)}`;
    const signatures = [Buffer.alloc(64), Buffer.alloc(32), Buffer.alloc(72), Buffer.from('MAYCAQACAQA=', 'base64')];
    for (const signature of signatures) {
      expect((await tokens.verifyAccessToken(`${input}.${signature.toString('base64url')}`)).reason).toBe('invalid');
    }
  });

  it('refuses stripped, truncated or swapped signatures and tampered payloads', async () => {
    const { tokens, pair, claims, session } = await setup();
    const [h, p, s] = pair.accessToken.split('.') as [string, string, string];
    const other = (await tokens.issueTokens(session)).accessToken.split('.')[2]!;
    const tampered = [
      `${h}.${p}.`,
      `${h}.${p}`,
      `${h}.${p}.${s.slice(0, -2)}`,
      `${h}.${p}.${s.slice(0, 43)}`,
      `${h}.${p}.${other}`,
      `${h}.${b64({ ...claims, sub: 'admin' })}.${s}`,
      `${h}.${b64({ ...claims, exp: (claims.exp as number) + 3600 })}.${s}`,
      `${h}.${p}.${s}=`,
    ];
    for (const token of tampered) expect((await tokens.verifyAccessToken(token)).reason).toBe('invalid');
  });

  it('refuses a token over the size limit before parsing or asking the store', async () => {
    const { tokens, header, claims, signAsService, store } = await setup();
    const big = await signAsService(header, { ...claims, pad: 'x'.repeat(5000) });
    store.calls.length = 0;
    expect((await tokens.verifyAccessToken(big)).reason).toBe('invalid');
    expect(store.calls).toEqual([]);
  });

  it('never takes a refresh token for an access token, nor the reverse', async () => {
    const { tokens, pair, sessions, session } = await setup();
    expect((await tokens.verifyAccessToken(pair.refreshToken)).reason).toBe('invalid');
    expect((await tokens.refreshTokens(pair.accessToken)).reason).toBe('invalid');
    // Nor a session token for either.
    const { token: sessionToken } = await sessions.createSession('user-1');
    expect((await tokens.verifyAccessToken(sessionToken)).reason).toBe('invalid');
    expect((await tokens.refreshTokens(sessionToken)).reason).toBe('invalid');
    expect((await sessions.getSession(session.id)).ok).toBe(true);
  });
});
