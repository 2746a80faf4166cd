/**
 * Normalises an email address for storage and lookup: trimmed, Unicode NFC,
 * lower-cased. `null` when it is not plausibly an address (or over 254
 * characters, the SMTP limit).
 */
export function normalizeEmail(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const email = value.trim().normalize('NFC').toLowerCase();
  if (email.length > 254 || !/^[^\s@]{1,64}@[^\s@]+\.[^\s@]+$/.test(email)) return null;
  return email;
}
