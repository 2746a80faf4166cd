import { InvalidOptionError } from '../errors/errors.js';

/**
 * Checks a TTL argument and returns it in milliseconds; `undefined` stays
 * `undefined` (no expiry). Stores call it so a bad TTL fails loudly instead of
 * storing a value forever.
 */
export function ttlMilliseconds(ttlSeconds: number | undefined): number | undefined {
  if (ttlSeconds === undefined) return undefined;
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new InvalidOptionError(`"ttlSeconds" must be a positive number, got ${String(ttlSeconds)}`);
  }
  return Math.ceil(ttlSeconds * 1000);
}
