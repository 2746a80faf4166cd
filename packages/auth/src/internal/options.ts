import { InvalidOptionError } from '../core/errors/errors.js';

/** Reads an optional positive integer option, throwing a message that names it and the rule. */
export function positiveIntegerOption(name: string, value: unknown, fallback: number): number;
export function positiveIntegerOption(name: string, value: unknown, fallback: undefined): number | undefined;
export function positiveIntegerOption(name: string, value: unknown, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(`"${name}" must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

/** Reads an optional function option. */
export function functionOption<T extends (...args: never[]) => unknown>(name: string, value: unknown, fallback: T): T;
export function functionOption<T extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
  fallback: undefined,
): T | undefined;
export function functionOption<T extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
  fallback: T | undefined,
): T | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw new InvalidOptionError(`"${name}" must be a function, got ${describe(value)}`);
  return value as T;
}

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (typeof value === 'string') return 'a string';
  return typeof value;
}

/** Reads a required positive integer option. */
export function requiredPositiveIntegerOption(name: string, value: unknown): number {
  if (value === undefined) throw new InvalidOptionError(`"${name}" is required`);
  return positiveIntegerOption(name, value, 0);
}
