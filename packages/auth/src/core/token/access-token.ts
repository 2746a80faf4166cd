import { SignJWT } from 'jose';
import { refuse, type CredentialResult } from '../errors/credential-failure.js';
import { InvalidOptionError } from '../errors/errors.js';
import type { Session } from '../session/session-manager.js';
import type { JsonValue } from '../store/types.js';
import { encodeBase64url, type RandomSource } from '../../internal/crypto.js';
import { parseCompactJWS, parseJSONObject, verifyCompactJWS } from './jws.js';
import type { KeyRing } from './key-ring.js';

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
}

/** The `typ` header of every Tessera access token (RFC 9068). */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Claims a `claims` hook may not set: they are Tessera's to decide. */
export const REGISTERED_CLAIMS: readonly string[] = ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp', 'nbf'];

/** Shared settings of signing and local verification. */
export interface AccessTokenConfig {
  keyRing: KeyRing;
  issuer: string;
  audience: string;
  ttlSeconds: number;
  leewaySeconds: number;
  maxTokenLength: number;
  now: () => number;
  random: RandomSource;
  claims?: (session: Session) => Record<string, JsonValue>;
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
  const claims: AccessTokenClaims = {
    ...custom,
    iss: config.issuer,
    aud: config.audience,
    sub: session.userId,
    sid: session.id,
    jti: encodeBase64url(config.random(JTI_BYTES)),
    iat,
    exp,
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
 * Verifies an access token without asking the store about revocation: shape
 * and size, header, `kid`, signature with the key's own algorithm, `typ`,
 * `iss`, `aud`, `exp`/`nbf`/`iat` with the leeway, and a lifetime (`exp − iat`) no longer than
 * the configured one plus the leeway. Only an authentic token
 * can be reported `expired`; everything else is `invalid`.
 */
export async function verifyAccessTokenLocally(
  config: AccessTokenConfig,
  token: unknown,
): Promise<CredentialResult<{ claims: AccessTokenClaims }>> {
  const invalid = refuse('invalid');
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
  if (iss !== config.issuer) return invalid;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(config.audience) || !audiences.every((entry) => typeof entry === 'string')) return invalid;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) return invalid;
  if (typeof sid !== 'string' || !SID_PATTERN.test(sid)) return invalid;
  if (typeof jti !== 'string' || !JTI_PATTERN.test(jti)) return invalid;
  if (!isTime(iat) || !isTime(exp) || (nbf !== undefined && !isTime(nbf))) return invalid;

  const nowSeconds = config.now() / 1000;
  const leeway = config.leewaySeconds;
  if (iat > nowSeconds + leeway || (nbf !== undefined && nbf > nowSeconds + leeway)) return invalid;
  // Tessera never signs a longer life than its configured one: a longer one is a key used outside this service.
  if (exp - iat > config.ttlSeconds + leeway) return invalid;
  if (exp <= nowSeconds - leeway) return refuse('expired');
  return { ok: true, claims: claims as AccessTokenClaims };
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
