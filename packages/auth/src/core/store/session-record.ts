import type { JsonObject, SessionRecord } from './types.js';

/** How one record field is stored: its column, its kind, and whether records older than the field lack it. */
export interface SessionFieldSpec {
  /** The SQL column (snake_case). */
  readonly column: string;
  /** `text`/`number` are required; `?` allows `null`; `json` is an object kept as JSON text. */
  readonly kind: 'text' | 'text?' | 'number' | 'number?' | 'json';
  /** Added after the first schema: a stored record without it reads it as `null`. */
  readonly addedLater?: true;
}

/**
 * THE list of session record fields, in column order. Every store encodes and
 * decodes records through it (SQL rows, Redis hashes, JSON), so adding a field
 * to {@link SessionRecord} means one entry here (the type forces it) plus a
 * schema migration per SQL dialect.
 */
export const SESSION_FIELDS: { readonly [Field in keyof SessionRecord]-?: SessionFieldSpec } = {
  id: { column: 'id', kind: 'text' },
  secretHash: { column: 'secret_hash', kind: 'text' },
  userId: { column: 'user_id', kind: 'text' },
  createdAt: { column: 'created_at', kind: 'number' },
  lastSeenAt: { column: 'last_seen_at', kind: 'number' },
  idleExpiresAt: { column: 'idle_expires_at', kind: 'number' },
  absoluteExpiresAt: { column: 'absolute_expires_at', kind: 'number' },
  expiresAt: { column: 'expires_at', kind: 'number' },
  revokedAt: { column: 'revoked_at', kind: 'number?' },
  ip: { column: 'ip', kind: 'text?' },
  userAgent: { column: 'user_agent', kind: 'text?' },
  signInIp: { column: 'sign_in_ip', kind: 'text?', addedLater: true },
  signInUserAgent: { column: 'sign_in_user_agent', kind: 'text?', addedLater: true },
  authenticatedAt: { column: 'authenticated_at', kind: 'number?', addedLater: true },
  idleTimeoutMs: { column: 'idle_timeout_ms', kind: 'number?', addedLater: true },
  cookieLifetime: { column: 'cookie_lifetime', kind: 'text?', addedLater: true },
  newDeviceUntil: { column: 'new_device_until', kind: 'number?', addedLater: true },
  data: { column: 'data', kind: 'json' },
};

/** The record's field names, in column order. */
export const SESSION_FIELD_NAMES = Object.keys(SESSION_FIELDS) as (keyof SessionRecord)[];

/** The SQL columns, in field order. */
export const SESSION_COLUMNS = SESSION_FIELD_NAMES.map((field) => SESSION_FIELDS[field].column);

/** A value as an SQL driver takes and gives it. */
export type SqlValue = string | number | null;

const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fitsKind(kind: SessionFieldSpec['kind'], value: unknown): boolean {
  switch (kind) {
    case 'text':
      return typeof value === 'string';
    case 'text?':
      return value === null || typeof value === 'string';
    case 'number':
      return isFiniteNumber(value);
    case 'number?':
      return value === null || isFiniteNumber(value);
    case 'json':
      return isJsonObject(value);
  }
}

/**
 * Checks that a value read from a backend has the shape of a
 * {@link SessionRecord}. Every store's reads pass through it (in
 * `defineStore`), so a corrupt or foreign record reads as absent instead of
 * reaching the session engine.
 */
export function isSessionRecord(value: unknown): value is SessionRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return SESSION_FIELD_NAMES.every((field) => fitsKind(SESSION_FIELDS[field].kind, record[field]));
}

/** Fills the fields a record older than them lacks; leaves anything else as it is for the check. */
function withLaterFields(record: Record<string, unknown>): Record<string, unknown> {
  for (const field of SESSION_FIELD_NAMES) {
    if (SESSION_FIELDS[field].addedLater === true && record[field] === undefined) record[field] = null;
  }
  return record;
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A record as JSON text (memory store). */
export function sessionRecordToJson(record: SessionRecord): string {
  return JSON.stringify(record);
}

/** A candidate record from JSON text; check it with {@link isSessionRecord}. */
export function sessionRecordFromJson(text: string): unknown {
  const value = parseJson(text);
  return isJsonObject(value) ? withLaterFields({ ...value }) : value;
}

/**
 * Parses a JSON text into a session record; `null` when the text is not JSON or
 * not a record.
 */
export function parseSessionRecord(text: string): SessionRecord | null {
  const value = sessionRecordFromJson(text);
  return isSessionRecord(value) ? value : null;
}

/** One field's value as its SQL column holds it (`json` as text). */
export function encodeSessionField<Field extends keyof SessionRecord>(
  field: Field,
  value: SessionRecord[Field],
): SqlValue {
  return SESSION_FIELDS[field].kind === 'json' ? JSON.stringify(value) : (value as SqlValue);
}

/** A record as an SQL row: column → value, in column order. */
export function sessionRecordToRow(record: SessionRecord): SqlValue[] {
  return SESSION_FIELD_NAMES.map((field) => encodeSessionField(field, record[field]));
}

/** A candidate record from an SQL row keyed by column; check it with {@link isSessionRecord}. */
export function sessionRecordFromRow(row: Record<string, unknown>): unknown {
  const record: Record<string, unknown> = {};
  for (const field of SESSION_FIELD_NAMES) {
    const { column, kind } = SESSION_FIELDS[field];
    record[field] = kind === 'json' ? parseJson(row[column]) : row[column];
  }
  return withLaterFields(record);
}

/**
 * A record as text fields (Redis hash): `userId` raw, so a script can build
 * the user's index key from it; every other field as its JSON text.
 */
export function sessionRecordToTextFields(record: SessionRecord): string[] {
  const fields: string[] = [];
  for (const field of SESSION_FIELD_NAMES) {
    if (field === 'id') continue;
    fields.push(field, field === 'userId' ? record.userId : JSON.stringify(record[field]));
  }
  return fields;
}

/** A candidate record from text fields written by {@link sessionRecordToTextFields}. */
export function sessionRecordFromTextFields(id: string, hash: Record<string, string>): unknown {
  const record: Record<string, unknown> = { id };
  for (const field of SESSION_FIELD_NAMES) {
    if (field === 'id') continue;
    const text = hash[field];
    record[field] = field === 'userId' || text === undefined ? text : parseJson(text);
  }
  return withLaterFields(record);
}

/**
 * `partial` merged into `data`, top-level keys only: each key replaces that key's value, a `null` removes
 * it. The one definition of a data merge; SQL and Redis stores do the same inside the database.
 */
export function mergeJsonObject(data: JsonObject, partial: JsonObject): JsonObject {
  // Entries, not assignments: a key such as `__proto__` stays a plain key.
  const kept = Object.entries(data).filter(([key]) => !Object.hasOwn(partial, key));
  const added = Object.entries(partial).filter(([, value]) => value !== null);
  return Object.fromEntries([...kept, ...added]) as JsonObject;
}

/** Oldest first: by `createdAt`, then by id. The one order of a user's sessions, eviction's tie-break included. */
export function compareSessionAge(a: SessionRecord, b: SessionRecord): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
