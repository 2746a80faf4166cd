import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { refuse, tokenFamilyFailure, type CredentialResult } from '../errors/credential-failure.js';
import type { Session, SessionContext, SessionManager } from '../session/session-manager.js';
import type { JsonObject, JsonValue, KeyValueStore } from '../store/types.js';
import { constantTimeEqual, encodeBase64url, sha256Base64url, type RandomSource } from '../../internal/crypto.js';
import type { Logger } from '../../internal/logger.js';
import { guardStore } from '../store/define-store.js';

/** Which kind of replay revealed a stolen refresh token. */
export type RefreshReuseKind = 'after_grace' | 'ancestor';

/** Settings of the refresh-token engine. */
export interface RefreshTokenConfig {
  store: KeyValueStore;
  sessions: SessionManager<JsonObject>;
  graceMs: number;
  now: () => number;
  random: RandomSource;
  logger: Logger;
  onRotated: (session: Session) => void;
  onReuse: (kind: RefreshReuseKind, sessionId: string, userId: string) => void;
}

/** The outcome of rotating a refresh token. */
export type RefreshRotationResult = CredentialResult<{
  refreshToken: string;
  session: Session;
  /** `true` when this was a replay within the grace window, answered with the successor already issued. */
  replayed: boolean;
}>;

/** What introspection may say of a refresh token. */
export interface RefreshTokenInfo {
  sessionId: string;
  userId: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

const ID_BYTES = 16;
const SECRET_BYTES = 32;
const IV_BYTES = 12;
// A different id length from session tokens (26), so neither kind can be mistaken for the other.
const TOKEN_PATTERN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const SEAL_INFO = 'tessera.refresh.successor.v1';

/** The record of an issued refresh token: never the secret, only its SHA-256. */
interface RefreshRecord {
  hash: string;
  sid: string;
  uid: string;
  /** Epoch milliseconds: the session's absolute limit. */
  exp: number;
}

/** The spent marker of a rotated token: written once, by the one rotation that won. */
interface SpentMarker {
  /** When the token was first rotated, epoch milliseconds: the grace window's fixed anchor. */
  at: number;
  /** The successor's id (not secret). */
  next: string;
  /** The successor token, sealed under a key only a holder of the spent token can derive. */
  sealed: string;
}

const recordKey = (id: string): string => `token:rt:${id}`;
const spentKey = (id: string): string => `token:rt-spent:${id}`;

function parseRecord(value: JsonValue | null): RefreshRecord | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { hash, sid, uid, exp } = value;
  if (typeof hash !== 'string' || typeof sid !== 'string' || typeof uid !== 'string' || typeof exp !== 'number') {
    return null;
  }
  return { hash, sid, uid, exp };
}

function parseMarker(value: JsonValue | null): SpentMarker | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { at, next, sealed } = value;
  if (typeof at !== 'number' || typeof next !== 'string' || typeof sealed !== 'string') return null;
  return { at, next, sealed };
}

/** Splits a refresh token into id and secret; `null` unless it has the exact shape Tessera issues. */
export function parseRefreshToken(token: unknown): { id: string; secret: string } | null {
  if (typeof token !== 'string' || token.length !== 66) return null;
  const match = TOKEN_PATTERN.exec(token);
  return match === null ? null : { id: match[1] as string, secret: match[2] as string };
}

/**
 * The key that seals a token's successor: HKDF-SHA-256 of the token's own
 * 256-bit secret, bound to its id. The store holds only the secret's hash, so
 * a store dump cannot open a sealed successor; a replay by a holder of the
 * spent token can, which is exactly who the grace window is for.
 */
function sealingKey(secret: string, id: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'base64url'), id, SEAL_INFO, 32));
}

function seal(plaintext: string, secret: string, id: string, random: RandomSource): string {
  const iv = random(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', sealingKey(secret, id), iv);
  cipher.setAAD(Buffer.from(id, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [encodeBase64url(iv), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

function open(sealed: string, secret: string, id: string): string | null {
  const [iv, body, tag] = sealed.split('.');
  if (iv === undefined || body === undefined || tag === undefined) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', sealingKey(secret, id), Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(id, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

const ttlSeconds = (expiresAt: number, at: number): number => Math.max(1, Math.ceil((expiresAt - at) / 1000));

/**
 * The refresh-token engine. A token is `<id>.<secret>`, its record keyed by
 * id and holding the secret's SHA-256, bound to one session: the session is
 * the token family, so revoking it kills every refresh and access token of
 * the family at once.
 *
 * Every use rotates. Racing rotations of one token each prepare a successor,
 * and `setIfAbsent` on the token's spent marker picks exactly one winner; the
 * marker carries the winner's successor, sealed (see {@link sealingKey}), so
 * losers within the grace window hand out that same successor instead of
 * minting their own.
 */
export function createRefreshTokens(config: RefreshTokenConfig) {
  const { sessions, now, random } = config;
  const store = guardStore(config.store);

  const mint = (): { id: string; secret: string; token: string } => {
    const id = encodeBase64url(random(ID_BYTES));
    const secret = encodeBase64url(random(SECRET_BYTES));
    return { id, secret, token: `${id}.${secret}` };
  };

  const writeRecord = async (id: string, secret: string, session: Session, at: number): Promise<void> => {
    const exp = session.absoluteExpiresAt.getTime();
    const record: RefreshRecord = { hash: sha256Base64url(secret), sid: session.id, uid: session.userId, exp };
    // Refresh tokens die with the session's absolute limit; the idle limit is checked on every use.
    await store.set(recordKey(id), { ...record }, ttlSeconds(exp, at));
  };

  /** The record of a presented token, only when the secret matches: knowing an id alone gets nothing. */
  const authenticate = async (
    token: unknown,
  ): Promise<{ id: string; secret: string; record: RefreshRecord } | null> => {
    const parsed = parseRefreshToken(token);
    if (parsed === null) return null;
    const record = parseRecord(await store.get(recordKey(parsed.id)));
    if (record === null || !constantTimeEqual(sha256Base64url(parsed.secret), record.hash)) return null;
    return { ...parsed, record };
  };

  return {
    /** Issues the first refresh token of a session. */
    async issue(session: Session): Promise<string> {
      const { id, secret, token } = mint();
      await writeRecord(id, secret, session, now());
      return token;
    },

    /** Spends `token` and returns its successor; see the engine's description for races and replays. */
    async rotate(token: unknown, context: SessionContext = {}): Promise<RefreshRotationResult> {
      const presented = await authenticate(token);
      // A wrong secret must never count as reuse: anyone who learned an id could then revoke its session.
      if (presented === null) return refuse('invalid');
      const { id, secret, record } = presented;

      const checked = await sessions.touchSession(record.sid, context);
      if (!checked.ok) return refuse(tokenFamilyFailure(checked.reason));
      const session = checked.session;
      if (session.userId !== record.uid) return refuse('invalid');

      const at = now();
      const successor = mint();
      // The successor's record goes first: once the marker names it, it must already work.
      await writeRecord(successor.id, successor.secret, session, at);
      const marker: SpentMarker = { at, next: successor.id, sealed: seal(successor.token, secret, id, random) };
      const won = await store.setIfAbsent(spentKey(id), { ...marker }, ttlSeconds(record.exp, at));
      if (won) {
        config.onRotated(session);
        return { ok: true, refreshToken: successor.token, session, replayed: false };
      }

      // Lost the race, or a replay: our successor is an orphan nobody holds the secret of.
      try {
        await store.delete(recordKey(successor.id));
      } catch (error) {
        config.logger.warn({ err: error }, 'deleting an unused refresh token record failed');
      }
      const spent = parseMarker(await store.get(spentKey(id)));
      if (spent === null) return refuse('invalid');
      const successorSpent = (await store.get(spentKey(spent.next))) !== null;
      // The window is anchored at the first rotation and no replay moves it.
      const withinGrace = at - spent.at < config.graceMs;
      if (successorSpent || !withinGrace) {
        const kind: RefreshReuseKind = successorSpent ? 'ancestor' : 'after_grace';
        await sessions.revokeSession(session.id, 'refresh_reused');
        config.onReuse(kind, session.id, session.userId);
        return refuse('reused');
      }
      const successorToken = open(spent.sealed, secret, id);
      if (successorToken === null) return refuse('invalid');
      return { ok: true, refreshToken: successorToken, session, replayed: true };
    },

    /** The user an authentic token was issued to while its record lasts, spent or not, live session or not. */
    async owner(token: unknown): Promise<string | null> {
      return (await authenticate(token))?.record.uid ?? null;
    },

    /** What a refresh token stands for, without spending it; `null` when it is not live and unspent. */
    async inspect(token: unknown): Promise<RefreshTokenInfo | null> {
      const presented = await authenticate(token);
      if (presented === null) return null;
      const { id, record } = presented;
      const [spent, checked] = await Promise.all([store.get(spentKey(id)), sessions.getSession(record.sid)]);
      if (spent !== null || !checked.ok || checked.session.userId !== record.uid) return null;
      return { sessionId: record.sid, userId: record.uid, expiresAt: record.exp };
    },
  };
}

/** The refresh-token engine made by {@link createRefreshTokens}. */
export type RefreshTokens = ReturnType<typeof createRefreshTokens>;
