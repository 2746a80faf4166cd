/** C0 and C1 control characters, NUL and DEL included: never part of an address, and PostgreSQL refuses NUL outright. */
export const CONTROL_CHARACTERS = /\p{Cc}/u;

/**
 * Normalises an email address for storage and lookup: trimmed, Unicode NFC,
 * lower-cased. `null` when it is not plausibly an address, holds a control
 * character, or is over 254 characters (the SMTP limit).
 */
export function normalizeEmail(value: unknown): string | null {
  if (typeof value !== 'string' || CONTROL_CHARACTERS.test(value)) return null;
  const email = value.trim().normalize('NFC').toLowerCase();
  if (email.length > 254 || !/^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/.test(email)) return null;
  return email;
}
