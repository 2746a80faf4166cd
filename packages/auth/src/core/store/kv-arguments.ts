import { InvalidOptionError } from '../errors/errors.js';
import { ttlMilliseconds } from './ttl.js';

/**
 * Checks the arguments of `increment`: `by` a safe integer, `ttlSeconds`
 * required and positive. Returns the TTL in milliseconds.
 */
export function incrementArguments(by: number, ttlSeconds: number): number {
  if (typeof by !== 'number' || !Number.isSafeInteger(by)) {
    throw new InvalidOptionError(`"by" must be a safe integer, got ${String(by)}`);
  }
  const ttlMs = ttlMilliseconds(ttlSeconds);
  if (ttlMs === undefined) throw new InvalidOptionError('"ttlSeconds" is required');
  return ttlMs;
}

/** The JSON text a value is stored and compared as. */
export const jsonText = (value: unknown): string => JSON.stringify(value);

/** A stored counter that is not an integer: someone else's value under the key. */
export function notACounter(key: string): InvalidOptionError {
  return new InvalidOptionError(`increment: the value under "${key}" is not an integer`);
}
