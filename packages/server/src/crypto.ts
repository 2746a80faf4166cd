import { createHmac, timingSafeEqual } from 'node:crypto';

/** HMAC-SHA-256 of a UTF-8 string under `key`, base64url encoded. */
export function hmacBase64url(key: Uint8Array | string, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('base64url');
}

/** Compares two strings in time that depends only on their length (a wrong guess teaches no prefix). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) {
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}
