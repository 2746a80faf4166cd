import type { JSONWebKeySet } from 'jose';
import { refuse, tokenFamilyFailure, type CredentialResult } from '../errors/credential-failure.js';
import { InvalidOptionError } from '../errors/errors.js';
import type { Session, SessionContext, SessionManager } from '../session/session-manager.js';
import type { JsonObject, JsonValue, Store } from '../store/types.js';
import { secureRandom, type RandomSource } from '../../internal/crypto.js';
import { silentLogger, type Logger } from '../../internal/logger.js';
import { functionOption } from '../../internal/options.js';
import { createEmitter } from '../../internal/events.js';
import { guardStore } from '../store/define-store.js';
import {
  blocklistKey,
  blocklistTtlSeconds,
  signAccessToken,
  verifyAccessTokenLocally,
  type AccessTokenClaims,
  type AccessTokenConfig,
} from './access-token.js';
import {
  introspectAccessToken,
  introspectRefreshToken,
  introspectSessionToken,
  type IntrospectionResponse,
  type TokenTypeHint,
} from './introspect.js';
import type { SigningAlgorithm } from './jws.js';
import { createKeyRing, type KeyDocumentCodec, type KeyInfo } from './key-ring.js';
import { createRefreshTokens, parseRefreshToken, type RefreshReuseKind } from './refresh-token.js';
import { choiceOption, integerOption, lazyStringListOption, lazyStringOption, stringOption } from './token-options.js';
import { createVerifiedTokenCache } from './verified-token-cache.js';

/**
 * What access-token verification asks the store, per token:
 * - `session` — one `getSession(sid)`: sees logout (the session is deleted),
 *   revocation (one session, all of a user's, refresh reuse) and idle or
 *   absolute expiry, at once. Does not see {@link TokenService.revokeAccessToken}
 *   alone; {@link TokenService.logout} ends the session, which it sees.
 * - `blocklist` — one `get` of the token's `jti`: sees logout and
 *   `revokeAccessToken`, but not a session revoked some other way, which
 *   stays usable until the token expires (at most `accessTokenTtlSeconds`).
 * - `none` — no store round trip: revocation takes effect only at expiry.
 */
export type RevocationCheck = 'session' | 'blocklist' | 'none';

/** Every state change of the token service, delivered to `onEvent`. `at` is epoch milliseconds. */
export type TokenEvent =
  | { type: 'tokens.issued'; sessionId: string; userId: string; at: number }
  | { type: 'refresh.rotated'; sessionId: string; userId: string; at: number }
  | { type: 'refresh.reuse_detected'; kind: RefreshReuseKind; sessionId: string; userId: string; at: number }
  | { type: 'access_token.revoked'; sessionId: string; userId: string; at: number }
  | { type: 'keys.generated'; kid: string; at: number }
  | { type: 'keys.rotated'; kid: string; at: number };

/** Options of {@link createTokenService}. */
export interface TokenServiceOptions {
  /** The session engine: the session is the token family. */
  sessions: SessionManager<JsonObject>;
  /** Where refresh tokens and the blocklist live (its KV): the same store every instance shares. */
  store: Store;
  /**
   * Where the signing keys live, when not in `store`: a durable database
   * while sessions sit in Redis, so a cache flush does not drop the keys.
   * @default store
   */
  keyStore?: Store;
  /**
   * How the signing-key document (it holds the private keys) is stored in
   * `keyStore`, e.g. encrypted under a key of yours; see {@link KeyDocumentCodec}
   * and `resealKeyRing` for a change of that key.
   * @default stored as plain JSON
   */
  keyCodec?: KeyDocumentCodec;
  /**
   * The `iss` of every access token, checked on verification: usually the
   * server's URL. A function is asked at every signing and verification (a
   * server that learns its URL only once listening); keep its answer stable.
   */
  issuer: string | (() => string);
  /**
   * The `aud` of every access token: one audience or several (tokens then
   * carry them all, and verification accepts a token naming any of them). A
   * function is asked like `issuer`'s.
   */
  audience: string | readonly string[] | (() => string | readonly string[]);
  /**
   * The signing algorithm. Asymmetric keys are generated on first use and
   * shared through the store; `HS256` takes its keys from `secrets` and
   * publishes nothing (one service only: every verifier can also sign).
   * @default "EdDSA"
   */
  algorithm?: SigningAlgorithm;
  /** HS256 only: secrets of at least 32 random bytes, the first signs and all verify (`openssl rand -base64 32`). */
  secrets?: readonly (string | Uint8Array)[];
  /**
   * Access-token lifetime, seconds (at most 86400).
   * @default 900
   */
  accessTokenTtlSeconds?: number;
  /**
   * Clock skew tolerated on `exp`, `nbf` and `iat`, seconds (0–30).
   * @default 5
   */
  leewaySeconds?: number;
  /**
   * Seconds after a refresh token's first rotation during which presenting it
   * again returns the same successor (two tabs refreshing at once). 0 turns
   * it off: every replay is reuse. At most 60.
   * @default 10
   */
  refreshGraceSeconds?: number;
  /**
   * What {@link TokenService.verifyAccessToken} asks the store; see {@link RevocationCheck}.
   * @default "session"
   */
  revocationCheck?: RevocationCheck;
  /**
   * How many verified access tokens each instance remembers (least recently
   * used out first), so a client presenting the same token again pays for its
   * signature once. Keyed by the token's SHA-256, never the token; an entry
   * is used only while its key is still live (a rotation with
   * `revokePrevious` stops it at once) and until the token's `exp`, checked
   * on every use. `revocationCheck` still runs on every verification. 0 turns
   * it off. About 1 KB per entry for a token with the standard claims.
   * @default 10000
   */
  verifiedTokenCacheSize?: number;
  /**
   * Longest token accepted, characters, refused before any parsing (512–16384).
   * @default 4096
   */
  maxTokenLength?: number;
  /**
   * Seconds between reloads of the key set from the store, so a rotation
   * made by another instance is adopted (an unknown `kid` also reloads it,
   * at most every 5 s). A retired key keeps verifying for the access-token
   * lifetime plus the leeway plus this interval.
   * @default 60
   */
  keyRefreshIntervalSeconds?: number;
  /** Extra access-token claims for a session; registered claims (`iss`, `sub`, `sid`…) are refused. Keep personal data out. */
  claims?: (session: Session) => Record<string, JsonValue>;
  /** The `client_id` introspection reports, if any. */
  clientId?: string;
  /** Receives every state change. A hook that throws is logged and otherwise ignored. */
  onEvent?: (event: TokenEvent) => void;
  /** Where problems that do not fail a request are reported. */
  logger?: Logger;
  /**
   * The clock, epoch milliseconds.
   * @default Date.now
   */
  now?: () => number;
  /** The random source for token ids and secrets. Must be a CSPRNG outside tests. */
  random?: RandomSource;
}

/** An access token and a refresh token, as handed to a client. */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  /** Seconds until the access token expires. */
  expiresIn: number;
}

/** The outcome of {@link TokenService.verifyAccessToken}: the claims, or why not (`invalid`, `expired` or `revoked`). */
export type AccessTokenVerificationResult = CredentialResult<{
  claims: AccessTokenClaims;
  /** The live session, when `revocationCheck` is `session`; otherwise `null`. */
  session: Session | null;
}>;

/** The outcome of {@link TokenService.refreshTokens}: a new pair, or why not (`invalid`, `expired`, `revoked` or `reused`). */
export type RefreshResult = CredentialResult<{ tokens: TokenPair; session: Session }>;

/** Bearer tokens over the session engine. */
export interface TokenService {
  /** Issues an access token and the first refresh token for a live session (at login). */
  issueTokens(session: Session): Promise<TokenPair>;
  /**
   * Spends a refresh token and returns a new pair. A replay within the grace
   * window gets the same refresh token again; any other replay revokes the
   * session (`reason: "reused"`). Renews the session's idle timeout.
   */
  refreshTokens(refreshToken: unknown, context?: SessionContext): Promise<RefreshResult>;
  /**
   * The user an authentic refresh token was issued to, whatever became of it
   * since (spent, its session revoked or gone), for as long as its record
   * lasts (the session's absolute lifetime); `null` for anything else. Spends
   * nothing. For answers that depend on the account rather than the session,
   * e.g. refusing the refresh of a disabled account with its own error.
   */
  findRefreshTokenUser(refreshToken: unknown): Promise<string | null>;
  /**
   * Verifies an access token: at most one store round trip, per
   * `revocationCheck`. Expected failures are results with a reason; a store
   * failure throws `StoreUnavailableError`.
   */
  verifyAccessToken(accessToken: unknown): Promise<AccessTokenVerificationResult>;
  /**
   * Blocklists an authentic, unexpired access token until it expires. Only
   * `revocationCheck: "blocklist"` and introspection consult the blocklist;
   * use {@link TokenService.logout} to end the session as well.
   * `false` when the token was not valid.
   */
  revokeAccessToken(accessToken: unknown): Promise<boolean>;
  /** Logout: blocklists the access token and deletes its session, so every mode refuses it. `false` when it was not valid. */
  logout(accessToken: unknown): Promise<boolean>;
  /**
   * RFC 7662 introspection of an access token (checking both the session and
   * the blocklist), a refresh token or a cookie session token. The kind
   * `tokenTypeHint` names is looked for first; an unknown hint is ignored.
   * Changes nothing: no renewal, no `lastSeenAt` moved.
   */
  introspect(token: unknown, options?: { tokenTypeHint?: string }): Promise<IntrospectionResponse>;
  /** The JWKS document: public keys only (empty for HS256). */
  jwks(): Promise<JSONWebKeySet>;
  /**
   * Makes a new key the signing key; the previous ones keep verifying until
   * every token they signed has expired. `revokePrevious` drops them at once
   * (a leaked key): their tokens fail here immediately, and on other
   * instances within `keyRefreshIntervalSeconds`. Either way the private half
   * of every previous key is erased from the store: a retired key keeps only
   * its public half, and only while tokens it signed may still be live.
   */
  rotateKeys(options?: { revokePrevious?: boolean }): Promise<{ kid: string }>;
  /**
   * The keys that verify: the current one first, then previous ones still
   * retained, newest first. Read afresh from the store; generates the first
   * key when there is none yet, as signing would.
   */
  listKeys(): Promise<KeyInfo[]>;
}

/** The order introspection tries the kinds of token in: the hinted kind first (RFC 7662), an unknown hint ignored. */
function introspectionOrder(hint: string | undefined): TokenTypeHint[] {
  const kinds: TokenTypeHint[] = ['refresh_token', 'session_token', 'access_token'];
  const hinted = kinds.find((kind) => kind === hint);
  return hinted === undefined ? kinds : [hinted, ...kinds.filter((kind) => kind !== hinted)];
}

const ALGORITHMS: readonly SigningAlgorithm[] = ['EdDSA', 'ES256', 'RS256', 'HS256'];
const REVOCATION_CHECKS: readonly RevocationCheck[] = ['session', 'blocklist', 'none'];

/**
 * Creates the token service.
 *
 * @example
 * const tokens = createTokenService({ sessions, store, issuer: 'https://auth.example.com', audience: 'api' });
 * const { session } = await sessions.createSession(user.id);
 * const pair = await tokens.issueTokens(session);
 * const result = await tokens.verifyAccessToken(pair.accessToken);
 * if (!result.ok) return reply.code(401).send(result.reason);
 */
export function createTokenService(options: TokenServiceOptions): TokenService {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options must be an object');
  const { sessions } = options;
  if (typeof sessions?.touchSession !== 'function') {
    throw new InvalidOptionError('"sessions" must be a session manager (createSessionManager)');
  }
  if (typeof options.store?.setIfAbsent !== 'function') throw new InvalidOptionError('"store" must be a Store');
  const store = guardStore(options.store);
  const issuer = lazyStringOption('issuer', options.issuer);
  const audiences = lazyStringListOption('audience', options.audience);
  const algorithm = choiceOption('algorithm', options.algorithm, 'EdDSA', ALGORITHMS);
  const ttlSeconds = integerOption('accessTokenTtlSeconds', options.accessTokenTtlSeconds, 900, 1, 86_400);
  const leewaySeconds = integerOption('leewaySeconds', options.leewaySeconds, 5, 0, 30);
  const graceSeconds = integerOption('refreshGraceSeconds', options.refreshGraceSeconds, 10, 0, 60);
  const revocationCheck = choiceOption('revocationCheck', options.revocationCheck, 'session', REVOCATION_CHECKS);
  const maxTokenLength = integerOption('maxTokenLength', options.maxTokenLength, 4096, 512, 16_384);
  const cacheSize = integerOption('verifiedTokenCacheSize', options.verifiedTokenCacheSize, 10_000, 0, 1_000_000);
  const refreshSeconds = integerOption('keyRefreshIntervalSeconds', options.keyRefreshIntervalSeconds, 60, 1, 3600);
  const clientId = options.clientId === undefined ? undefined : stringOption('clientId', options.clientId, 256);
  const claimsHook = functionOption<(session: Session) => Record<string, JsonValue>>(
    'claims',
    options.claims,
    undefined,
  );
  const onEvent = functionOption<(event: TokenEvent) => void>('onEvent', options.onEvent, undefined);
  const now = functionOption<() => number>('now', options.now, Date.now);
  const random = functionOption<RandomSource>('random', options.random, secureRandom);
  const logger = options.logger ?? silentLogger;

  const emit = createEmitter(onEvent, logger, 'token');

  const keyStore = options.keyStore ?? options.store;
  if (typeof keyStore?.setIfAbsent !== 'function') throw new InvalidOptionError('"keyStore" must be a Store');
  const keyRing = createKeyRing({
    store: guardStore(keyStore),
    ...(options.keyCodec === undefined ? {} : { codec: options.keyCodec }),
    algorithm,
    secrets: options.secrets,
    // A stale instance may sign with a retired key for up to one refresh interval after the rotation.
    retentionMs: (ttlSeconds + leewaySeconds + refreshSeconds) * 1000,
    refreshIntervalMs: refreshSeconds * 1000,
    now,
    logger,
    onRotated: (kid, at, generated) => emit({ type: generated ? 'keys.generated' : 'keys.rotated', kid, at }),
  });

  const accessConfig: AccessTokenConfig = {
    keyRing,
    issuer,
    audiences,
    ttlSeconds,
    leewaySeconds,
    maxTokenLength,
    now,
    random,
    ...(claimsHook === undefined ? {} : { claims: claimsHook }),
    ...(cacheSize === 0 ? {} : { cache: createVerifiedTokenCache(cacheSize) }),
  };

  const refreshTokens = createRefreshTokens({
    store,
    sessions,
    graceMs: graceSeconds * 1000,
    now,
    random,
    logger,
    onRotated: (session) => emit({ type: 'refresh.rotated', sessionId: session.id, userId: session.userId, at: now() }),
    onReuse: (kind, sessionId, userId) => emit({ type: 'refresh.reuse_detected', kind, sessionId, userId, at: now() }),
  });

  const issueAccessToken = async (session: Session): Promise<{ accessToken: string; expiresIn: number }> => {
    const { token, claims } = await signAccessToken(accessConfig, session);
    return { accessToken: token, expiresIn: Math.max(0, claims.exp - claims.iat) };
  };

  const isBlocklisted = async (jti: string): Promise<boolean> => (await store.get(blocklistKey(jti))) !== null;

  const blocklist = async (claims: AccessTokenClaims): Promise<void> => {
    await store.set(blocklistKey(claims.jti), 1, blocklistTtlSeconds(accessConfig, claims));
    emit({ type: 'access_token.revoked', sessionId: claims.sid, userId: claims.sub, at: now() });
  };

  /** The live session a token names, or why not: it must also belong to the token's subject. */
  const checkSession = async (claims: AccessTokenClaims): Promise<CredentialResult<{ session: Session }>> => {
    const result = await sessions.getSession(claims.sid);
    if (!result.ok) return refuse(tokenFamilyFailure(result.reason));
    if (result.session.userId !== claims.sub) return refuse('invalid');
    return { ok: true, session: result.session };
  };

  /** Introspection per kind of token: the answer, or `null` when the token does not have that kind's shape. */
  const introspectAs: Record<TokenTypeHint, (token: unknown) => Promise<IntrospectionResponse | null>> = {
    async refresh_token(token) {
      if (parseRefreshToken(token) === null) return null;
      const info = await refreshTokens.inspect(token);
      return info === null ? { active: false } : introspectRefreshToken(info, issuer(), clientId);
    },
    async session_token(token) {
      const result = await sessions.inspectSessionToken(token);
      if (!result.ok) return result.reason === 'malformed' ? null : { active: false };
      return introspectSessionToken(result.session, issuer(), clientId);
    },
    async access_token(token) {
      const local = await verifyAccessTokenLocally(accessConfig, token);
      if (!local.ok) return null;
      const claims = local.claims;
      // Introspection is the authoritative answer, so it pays for both checks, in parallel.
      const [checked, blocked] = await Promise.all([checkSession(claims), isBlocklisted(claims.jti)]);
      return !checked.ok || blocked ? { active: false } : introspectAccessToken(claims, clientId);
    },
  };

  const service: TokenService = {
    async issueTokens(session) {
      const refreshToken = await refreshTokens.issue(session);
      const { accessToken, expiresIn } = await issueAccessToken(session);
      emit({ type: 'tokens.issued', sessionId: session.id, userId: session.userId, at: now() });
      return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn };
    },

    async refreshTokens(refreshToken, context) {
      const rotated = await refreshTokens.rotate(refreshToken, context);
      if (!rotated.ok) return refuse(rotated.reason);
      const { accessToken, expiresIn } = await issueAccessToken(rotated.session);
      return {
        ok: true,
        tokens: { accessToken, refreshToken: rotated.refreshToken, tokenType: 'Bearer', expiresIn },
        session: rotated.session,
      };
    },

    async findRefreshTokenUser(refreshToken) {
      return refreshTokens.owner(refreshToken);
    },

    async verifyAccessToken(accessToken) {
      const local = await verifyAccessTokenLocally(accessConfig, accessToken);
      if (!local.ok) return local;
      const { claims } = local;
      switch (revocationCheck) {
        case 'session': {
          const checked = await checkSession(claims);
          return checked.ok ? { ok: true, claims, session: checked.session } : checked;
        }
        case 'blocklist':
          return (await isBlocklisted(claims.jti)) ? refuse('revoked') : { ok: true, claims, session: null };
        case 'none':
          return { ok: true, claims, session: null };
      }
    },

    async revokeAccessToken(accessToken) {
      const local = await verifyAccessTokenLocally(accessConfig, accessToken);
      if (!local.ok) return false;
      await blocklist(local.claims);
      return true;
    },

    async logout(accessToken) {
      const local = await verifyAccessTokenLocally(accessConfig, accessToken);
      if (!local.ok) return false;
      await blocklist(local.claims);
      await sessions.deleteSession(local.claims.sid);
      return true;
    },

    async introspect(token, introspectOptions = {}) {
      const kinds = introspectionOrder(introspectOptions.tokenTypeHint);
      for (const kind of kinds) {
        const answer = await introspectAs[kind](token);
        if (answer !== null) return answer;
      }
      return { active: false };
    },

    async jwks() {
      return keyRing.jwks();
    },

    async rotateKeys(rotateOptions) {
      return keyRing.rotate(rotateOptions);
    },

    async listKeys() {
      return keyRing.listKeys();
    },
  };
  return Object.freeze(service);
}
