import { SignJWT, type CryptoKey } from 'jose';
import { refuse, type CredentialFailure, type CredentialResult } from '../errors/credential-failure.js';
import { InvalidOptionError } from '../errors/errors.js';
import type { Session } from '../session/session-manager.js';
import type { JsonValue } from '../store/types.js';
import { encodeBase64url, type RandomSource } from '../../internal/crypto.js';
import { parseCompactJWS, parseJSONObject, verifyCompactJWS } from './jws.js';
import type { KeyRing } from './key-ring.js';
import { deepFreeze, type VerifiedTokenCache } from './verified-token-cache.js';

/** The claims of a Tessera access token. Custom claims from the `claims` hook sit beside these. */
export interface AccessTokenClaims {
  [claim: string]: JsonValue | undefined;
  iss: string;
  aud: string | string[];
  /** The user id. */
  sub: string;
  /** The session's public id. */
  sid: string;
  /** The token's unique id: what the blocklist names. */
  jti: string;
  /** Issued at, epoch seconds. */
  iat: number;
  /** Expires at, epoch seconds. */
  exp: number;
  /** Not before, epoch seconds (Tessera does not set it, but honours it). */
  nbf?: number;
  /** When the user last proved a credential for the session (sign-in or re-authentication), epoch seconds (RFC 9068). */
  auth_time?: number;
}

/** The `typ` header of every Tessera access token (RFC 9068). */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Claims a `claims` hook may not set: they are Tessera's to decide. */
export const REGISTERED_CLAIMS: readonly string[] = [
  'iss',
  'aud',
  'sub',
  'sid',
  'jti',
  'iat',
  'exp',
  'nbf',
  'auth_time',
];

/** Shared settings of signing and local verification. */
export interface AccessTokenConfig {
  keyRing: KeyRing;
  /** The `iss` tokens carry and verification requires, asked at every use. */
  issuer: () => string;
  /** The audiences: tokens carry them all (one as a string); verification requires one of them. */
  audiences: () => readonly string[];
  ttlSeconds: number;
  leewaySeconds: number;
  maxTokenLength: number;
  now: () => number;
  random: RandomSource;
  claims?: (session: Session) => Record<string, JsonValue>;
  /** Verified tokens, by the SHA-256 of the token; none when caching is off. */
  cache?: VerifiedTokenCache;
}

// Ids Tessera issues are base64url; anything else is refused before it reaches a map or a store key.
const KID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const SID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const JTI_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const JTI_BYTES = 16;

/** Signs an access token for a live session; returns the token and its claims. */
export async function signAccessToken(
  config: AccessTokenConfig,
  session: Session,
): Promise<{ token: string; claims: AccessTokenClaims }> {
  const custom = config.claims?.(session) ?? {};
  if (typeof custom !== 'object' || custom === null || Array.isArray(custom)) {
    throw new InvalidOptionError('The "claims" hook must return a plain object');
  }
  for (const name of Object.keys(custom)) {
    if (REGISTERED_CLAIMS.includes(name)) {
      throw new InvalidOptionError(`The "claims" hook may not set the registered claim "${name}"`);
    }
  }
  const iat = Math.floor(config.now() / 1000);
  // Never outlive the session's absolute limit, even where verification does not look the session up.
  const exp = Math.max(iat, Math.min(iat + config.ttlSeconds, Math.floor(session.absoluteExpiresAt.getTime() / 1000)));
  const audiences = config.audiences();
  const claims: AccessTokenClaims = {
    ...custom,
    iss: config.issuer(),
    aud: audiences.length === 1 ? (audiences[0] as string) : [...audiences],
    sub: session.userId,
    sid: session.id,
    jti: encodeBase64url(config.random(JTI_BYTES)),
    iat,
    exp,
    auth_time: Math.floor(session.authenticatedAt.getTime() / 1000),
  };
  const key = await config.keyRing.signingKey();
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYPE })
    .sign(key.key);
  return { token, claims };
}

const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** RFC 7515 lets `typ` omit the `application/` prefix and compares it case-insensitively. */
function isAccessTokenType(typ: string | undefined): boolean {
  const normalized = typ?.toLowerCase();
  return normalized === ACCESS_TOKEN_TYPE || normalized === `application/${ACCESS_TOKEN_TYPE}`;
}

/**
 * The time checks, run on every verification, cached or not: `iat` and
 * `nbf` not in the future and `exp` not past, each with the leeway. `null`
 * when they pass.
 */
function checkTimes(
  config: AccessTokenConfig,
  claims: Readonly<AccessTokenClaims>,
): { ok: false; reason: CredentialFailure } | null {
  const nowSeconds = config.now() / 1000;
  const leeway = config.leewaySeconds;
  if (claims.iat > nowSeconds + leeway || (claims.nbf !== undefined && claims.nbf > nowSeconds + leeway)) {
    return refuse('invalid');
  }
  if (claims.exp <= nowSeconds - leeway) return refuse('expired');
  return null;
}

/** A full verification: the claims and, when it passed, the key that verified the signature. */
type FullVerification =
  | { result: CredentialResult<{ claims: AccessTokenClaims }>; verified: null }
  | { result: { ok: true; claims: AccessTokenClaims }; verified: { kid: string; key: CryptoKey } };

async function verifyFully(config: AccessTokenConfig, token: unknown): Promise<FullVerification> {
  const invalid = { result: refuse('invalid'), verified: null } as const;
  const parsed = parseCompactJWS(token, config.maxTokenLength);
  if (parsed === null) return invalid;
  const { kid, typ } = parsed.header;
  if (kid === undefined || !KID_PATTERN.test(kid) || !isAccessTokenType(typ)) return invalid;
  const key = await config.keyRing.verificationKey(kid);
  if (key === null) return invalid;
  const payload = await verifyCompactJWS(parsed, key);
  if (payload === null) return invalid;

  const claims = parseJSONObject(Buffer.from(payload).toString('utf8'));
  if (claims === null) return invalid;
  const { iss, aud, sub, sid, jti, iat, exp, nbf } = claims;
  if (iss !== config.issuer()) return invalid;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.every((entry) => typeof entry === 'string')) return invalid;
  const accepted = config.audiences();
  if (!audiences.some((entry) => accepted.includes(entry as string))) return invalid;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) return invalid;
  if (typeof sid !== 'string' || !SID_PATTERN.test(sid)) return invalid;
  if (typeof jti !== 'string' || !JTI_PATTERN.test(jti)) return invalid;
  if (!isTime(iat) || !isTime(exp) || (nbf !== undefined && !isTime(nbf))) return invalid;
  // Tessera never signs a longer life than its configured one: a longer one is a key used outside this service.
  if (exp - iat > config.ttlSeconds + config.leewaySeconds) return invalid;

  // Frozen whether or not it is cached, so the claims behave the same either way.
  const verifiedClaims = deepFreeze(claims as AccessTokenClaims);
  const refused = checkTimes(config, verifiedClaims);
  if (refused !== null) return { result: refused, verified: null };
  return { result: { ok: true, claims: verifiedClaims }, verified: { kid, key: key.key } };
}

/**
 * Verifies an access token without asking the store about revocation: shape
 * and size, header, `kid`, signature with the key's own algorithm, `typ`,
 * `iss`, `aud`, `exp`/`nbf`/`iat` with the leeway, and a lifetime (`exp − iat`) no longer than
 * the configured one plus the leeway. Only an authentic token
 * can be reported `expired`; everything else is `invalid`. The claims are
 * deeply frozen.
 *
 * With `config.cache`, a token verified before (the very same string: its
 * SHA-256 is the cache key) skips the parsing and the signature, but not the
 * rest: its `kid` must still name the same live key in the key ring (a key
 * revoked by a rotation stops its cached tokens at once), and the time
 * checks run again with the clock of now.
 */
export async function verifyAccessTokenLocally(
  config: AccessTokenConfig,
  token: unknown,
): Promise<CredentialResult<{ claims: AccessTokenClaims }>> {
  const { cache } = config;
  // Oversized or non-string input is refused by the full path before any hashing.
  if (cache === undefined || typeof token !== 'string' || token.length > config.maxTokenLength) {
    return (await verifyFully(config, token)).result;
  }
  const digest = cache.digest(token);
  const hit = cache.get(digest);
  if (hit !== undefined) {
    const key = await config.keyRing.verificationKey(hit.kid);
    if (key !== null && key.key === hit.key) {
      const refused = checkTimes(config, hit.claims);
      if (refused === null) return { ok: true, claims: hit.claims };
      // Expired for good (the clock does not go back far): the entry has no further use.
      cache.delete(digest);
      return refused;
    }
    // The key was revoked or replaced: the token gets the full verification, which refuses it.
    cache.delete(digest);
  }
  const { result, verified } = await verifyFully(config, token);
  if (verified !== null) cache.set(digest, { claims: result.claims as AccessTokenClaims, ...verified });
  return result;
}

/** The KV key that blocklists one access token. */
export function blocklistKey(jti: string): string {
  return `token:at-revoked:${jti}`;
}

/**
 * Seconds a blocklist entry for `claims` must live: until the token would be
 * refused anyway. Verification accepts a token up to `exp` plus the leeway,
 * so the entry must outlive `exp` by the leeway too, and no longer.
 */
export function blocklistTtlSeconds(config: AccessTokenConfig, claims: AccessTokenClaims): number {
  return Math.max(1, Math.ceil(claims.exp + config.leewaySeconds - config.now() / 1000));
}
