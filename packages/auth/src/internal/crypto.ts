import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** A source of cryptographically secure random bytes. Injectable so tests are deterministic. */
export type RandomSource = (byteLength: number) => Uint8Array;

export const secureRandom: RandomSource = (byteLength) => randomBytes(byteLength);

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** SHA-256 of a UTF-8 string, base64url encoded (43 characters). */
export function sha256Base64url(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** HMAC-SHA-256 of a UTF-8 string under `key`, base64url encoded. */
export function hmacBase64url(key: Uint8Array | string, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('base64url');
}

/**
 * Compares two strings in time that depends only on their length, so an
 * attacker cannot learn a secret's prefix from response timings.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) {
    // Compare against itself so the work done does not depend on where the strings differ.
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

/**
 * A short, stable, non-reversible fingerprint of an id or token for logs: the
 * first 12 characters of its SHA-256. Lets an operator correlate log lines
 * without the log ever holding the value itself.
 */
export function fingerprint(value: string): string {
  return sha256Base64url(value).slice(0, 12);
}
