import type { JsonObject, SessionRecord } from './types.js';

const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isNullableString = (value: unknown): value is string | null => value === null || typeof value === 'string';

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks that a value read from a backend has the shape of a
 * {@link SessionRecord}. Stores call it on every read so a corrupt or foreign
 * record reads as absent instead of reaching the session engine.
 */
export function isSessionRecord(value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.id === 'string' &&
    typeof record.secretHash === 'string' &&
    typeof record.userId === 'string' &&
    isFiniteNumber(record.createdAt) &&
    isFiniteNumber(record.lastSeenAt) &&
    isFiniteNumber(record.idleExpiresAt) &&
    isFiniteNumber(record.absoluteExpiresAt) &&
    isFiniteNumber(record.expiresAt) &&
    (record.revokedAt === null || isFiniteNumber(record.revokedAt)) &&
    isNullableString(record.ip) &&
    isNullableString(record.userAgent) &&
    isJsonObject(record.data)
  );
}

/**
 * Parses a JSON text into a session record; `null` when the text is not JSON or
 * not a record.
 */
export function parseSessionRecord(text: string): SessionRecord | null {
  try {
    const value: unknown = JSON.parse(text);
    return isSessionRecord(value) ? value : null;
  } catch {
    return null;
  }
}
