/**
 * Access-token verification throughput, side by side with jose and fast-jwt
 * on the same token and key: `npx tsx bench/access-token-verify.ts [seconds]`.
 * One token presented again and again, as a client does until it expires:
 * Tessera with its verified-token cache (the default) and without it
 * (`verifiedTokenCacheSize: 0`, the signature verified every time), the
 * session check on the memory store.
 */
import { createPublicKey, createSecretKey, webcrypto } from 'node:crypto';
import { createVerifier } from 'fast-jwt';
import { importJWK, jwtVerify, type CryptoKey } from 'jose';
import { createSessionManager } from 'tessera-auth';
import { createTokenService } from 'tessera-auth';
import { createMemoryStore } from 'tessera-auth/stores/memory';

const seconds = Number(process.argv[2] ?? 2);
const issuer = 'https://auth.example.test';
const audience = 'api';

/** ops/s of the reference (jose) for the algorithm being measured, for the ratio column. */
let reference = 0;

async function measure(name: string, run: () => Promise<unknown> | unknown): Promise<number> {
  for (let i = 0; i < 5000; i++) await run();
  let operations = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(seconds * 1e9);
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 100; i++) await run();
    operations += 100;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = operations / elapsed;
  const ratio = reference > 0 ? `  ${(rate / reference).toFixed(2)}× jose` : '';
  console.log(`${name.padEnd(44)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} ops/s${ratio}`);
  return rate;
}

/** A fresh HS256 secret for this run (never a constant: the bench must not teach a fixed secret). */
const secret = Buffer.from(webcrypto.getRandomValues(new Uint8Array(32)));

for (const algorithm of ['EdDSA', 'ES256', 'HS256'] as const) {
  const store = createMemoryStore();
  const sessions = createSessionManager(store);
  const make = (revocationCheck: 'none' | 'session', verifiedTokenCacheSize?: number) =>
    createTokenService({
      ...(verifiedTokenCacheSize === undefined ? {} : { verifiedTokenCacheSize }),
      sessions,
      store,
      issuer,
      audience,
      algorithm,
      revocationCheck,
      ...(algorithm === 'HS256' ? { secrets: [secret] } : {}),
    });
  const local = make('none');
  const withSession = make('session');
  // The same token without the verified-token cache: every verification pays for the signature.
  const localUncached = make('none', 0);
  const withSessionUncached = make('session', 0);
  const { session } = await sessions.createSession('user-1');
  const { accessToken } = await local.issueTokens(session);
  let joseKey: CryptoKey | Uint8Array;
  let fastKey: string | Buffer;
  if (algorithm === 'HS256') {
    joseKey = new Uint8Array(secret);
    fastKey = createSecretKey(secret).export();
  } else {
    const jwk = (await local.jwks()).keys[0]!;
    joseKey = (await importJWK(jwk, algorithm)) as CryptoKey;
    fastKey = createPublicKey({ key: jwk as Record<string, string>, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    }) as string;
  }
  const fastVerify = createVerifier({
    key: fastKey,
    algorithms: [algorithm],
    allowedIss: issuer,
    allowedAud: audience,
  });

  const check = async (result: Promise<{ ok: boolean }>): Promise<void> => {
    if (!(await result).ok) throw new Error('verification failed');
  };
  console.log(`\n${algorithm} (Node ${process.version}, ${seconds} s each)`);
  reference = 0;
  reference = await measure('jose jwtVerify (imported key)', () =>
    jwtVerify(accessToken, joseKey, { algorithms: [algorithm], issuer, audience, typ: 'at+jwt' }),
  );
  await measure('tessera verifyAccessToken, none, no cache', () => check(localUncached.verifyAccessToken(accessToken)));
  await measure('tessera verifyAccessToken, none (reused token)', () => check(local.verifyAccessToken(accessToken)));
  await measure('tessera verifyAccessToken, session, no cache', () =>
    check(withSessionUncached.verifyAccessToken(accessToken)),
  );
  await measure('tessera verifyAccessToken, session (reused token)', () =>
    check(withSession.verifyAccessToken(accessToken)),
  );
  await measure('fast-jwt createVerifier (sync, no cache)', () => fastVerify(accessToken));
  await store.close();
}
