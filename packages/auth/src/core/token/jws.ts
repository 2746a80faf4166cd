import { createHmac, KeyObject, timingSafeEqual, verify } from 'node:crypto';
import type { CryptoKey } from 'jose';

/** The algorithms Tessera signs with. The key decides which one a token must carry. */
export type SigningAlgorithm = 'EdDSA' | 'ES256' | 'RS256' | 'HS256';

/** A key able to verify one algorithm, and only that one. */
export interface VerificationKey {
  kid: string;
  alg: SigningAlgorithm;
  key: CryptoKey;
}

/** The protected header of a compact JWS, restricted to the parameters Tessera issues. */
export interface ProtectedHeader {
  alg: string;
  kid?: string;
  typ?: string;
}

/** A compact JWS whose shape and header passed {@link parseCompactJWS}; not yet verified. */
export interface ParsedCompactJWS {
  token: string;
  header: ProtectedHeader;
}

const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/*
 * Tessera only ever verifies tokens it issued, whose header is exactly {alg, kid, typ}.
 * Anything else marks a token as not ours, and rejecting it closes whole attack
 * classes at once: `jwk`/`jku`/`x5u`/`x5c` (key material or URLs chosen by the
 * sender), `crit` and `b64` (processing rules chosen by the sender), `zip`, `enc`.
 */
const ALLOWED_HEADER_PARAMETERS = new Set(['alg', 'kid', 'typ']);

/** Parses JSON text holding an object; `null` for anything else. */
export function parseJSONObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** Decodes a base64url segment holding a JSON object; `null` for anything else. */
export function decodeJSONSegment(segment: string): Record<string, unknown> | null {
  return parseJSONObject(Buffer.from(segment, 'base64url').toString('utf8'));
}

/**
 * Checks the shape of a compact JWS and decodes its protected header, before
 * any key lookup or cryptography: `null` when `token` is not a string of at
 * most `maxLength` characters with three non-empty base64url segments (so a
 * stripped signature, a JWE or an opaque refresh token fails here), or when
 * its header is not a JSON object of only `alg`, `kid` and `typ`, all strings.
 */
export function parseCompactJWS(token: unknown, maxLength: number): ParsedCompactJWS | null {
  // The length check comes first so an oversized token costs nothing to refuse.
  if (typeof token !== 'string' || token.length > maxLength) return null;
  const match = COMPACT_JWS.exec(token);
  if (match === null) return null;
  const header = decodeJSONSegment(match[1] as string);
  if (header === null) return null;
  for (const name of Object.keys(header)) {
    if (!ALLOWED_HEADER_PARAMETERS.has(name)) return null;
  }
  const { alg, kid, typ } = header;
  if (typeof alg !== 'string') return null;
  if (kid !== undefined && typeof kid !== 'string') return null;
  if (typ !== undefined && typeof typ !== 'string') return null;
  return { token, header: { alg, ...(kid === undefined ? {} : { kid }), ...(typ === undefined ? {} : { typ }) } };
}

// Node's KeyObject for each imported key, made once: node:crypto verifies synchronously,
// about twice as fast as the WebCrypto path, with the same OpenSSL underneath.
const keyObjects = new WeakMap<CryptoKey, KeyObject>();

function keyObjectOf(key: CryptoKey): KeyObject {
  let keyObject = keyObjects.get(key);
  if (keyObject === undefined) {
    keyObject = KeyObject.from(key as unknown as Parameters<typeof KeyObject.from>[0]);
    keyObjects.set(key, keyObject);
  }
  return keyObject;
}

function verifySignature(alg: SigningAlgorithm, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  switch (alg) {
    case 'EdDSA':
      return signature.length === 64 && verify(null, data, key, signature);
    case 'ES256':
      // JWS ECDSA signatures are r‖s (IEEE P1363), never DER; an all-zero r or s is refused by OpenSSL.
      return signature.length === 64 && verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    case 'RS256':
      return verify('sha256', data, key, signature);
    case 'HS256': {
      const expected = createHmac('sha256', key).update(data).digest();
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    }
  }
}

/**
 * Verifies the signature of a parsed JWS with `key` and returns the payload
 * bytes; `null` when it does not verify. The key's algorithm is the only one
 * accepted: a header naming another (`none`, `HS256` against a public key) is
 * refused before any cryptography, whatever its spelling.
 */
export async function verifyCompactJWS(parsed: ParsedCompactJWS, key: VerificationKey): Promise<Uint8Array | null> {
  if (parsed.header.alg !== key.alg) return null;
  const [header, payload, signature] = parsed.token.split('.') as [string, string, string];
  const signatureBytes = Buffer.from(signature, 'base64url');
  const payloadBytes = Buffer.from(payload, 'base64url');
  // Only canonical base64url: a second spelling of the same bytes is not the token that was signed.
  if (signatureBytes.toString('base64url') !== signature || payloadBytes.toString('base64url') !== payload) return null;
  try {
    const data = Buffer.from(`${header}.${payload}`, 'ascii');
    return verifySignature(key.alg, keyObjectOf(key.key), data, signatureBytes) ? payloadBytes : null;
  } catch {
    // Every failure to verify is the same answer: not authentic.
    return null;
  }
}
