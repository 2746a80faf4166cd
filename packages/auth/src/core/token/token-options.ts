import { InvalidOptionError } from '../errors/errors.js';

/** Reads an optional integer option within `[min, max]`, throwing a message that names it and the rule. */
export function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`"${name}" must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** Reads a required non-empty string option of at most `maxLength` characters. */
export function stringOption(name: string, value: unknown, maxLength = 1024): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new InvalidOptionError(`"${name}" must be a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

/**
 * Reads a string option that may also be a function returning it, asked at
 * every use (a server that learns its own URL only once listening). A
 * function's answer is checked like a string's, when it is asked.
 */
export function lazyStringOption(name: string, value: unknown, maxLength = 1024): () => string {
  if (typeof value !== 'function') {
    const fixed = stringOption(name, value, maxLength);
    return () => fixed;
  }
  const read = value as () => unknown;
  return () => stringOption(name, read(), maxLength);
}

/**
 * Reads a list option given as one string, a non-empty array of strings, or
 * a function returning either, asked at every use.
 */
export function lazyStringListOption(name: string, value: unknown, maxLength = 1024): () => readonly string[] {
  const check = (given: unknown): readonly string[] => {
    if (!Array.isArray(given)) return [stringOption(name, given, maxLength)];
    if (given.length === 0 || given.length > 16) {
      throw new InvalidOptionError(`"${name}" must be a string or a list of 1 to 16 strings`);
    }
    return Object.freeze(given.map((entry: unknown) => stringOption(name, entry, maxLength)));
  };
  if (typeof value !== 'function') {
    const fixed = check(value);
    return () => fixed;
  }
  const read = value as () => unknown;
  return () => check(read());
}

/** Reads an optional option that must be one of `choices`. */
export function choiceOption<T extends string>(name: string, value: unknown, fallback: T, choices: readonly T[]): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new InvalidOptionError(
      `"${name}" must be one of ${choices.map((choice) => `"${choice}"`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  // Never echo a string: a misplaced secret would end up in a log.
  if (typeof value === 'string') return 'a string';
  return typeof value;
}
