import type { AccessTokenClaims } from './access-token.js';
import type { Session } from '../session/session-manager.js';
import type { RefreshTokenInfo } from './refresh-token.js';

/**
 * What kind of token a caller says it holds (RFC 7662 `token_type_hint`):
 * looked for first. `session_token` is Tessera's name for a cookie session's
 * token. Any other value is ignored, as RFC 7662 allows.
 */
export type TokenTypeHint = 'access_token' | 'refresh_token' | 'session_token';

/**
 * An RFC 7662 introspection response. Inactive tokens say nothing else, so
 * the endpoint never tells a caller why a token failed.
 */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      /**
       * `Bearer` for access tokens; `refresh_token` for refresh tokens and
       * `session_token` for cookie session tokens (Tessera's labels, not RFC 6749 types).
       */
      token_type: 'Bearer' | 'refresh_token' | 'session_token';
      sub: string;
      sid: string;
      /** Epoch seconds. */
      exp: number;
      /** Epoch seconds; access tokens only. */
      iat?: number;
      iss: string;
      aud?: string | string[];
      jti?: string;
      client_id?: string;
    };

/** The response for an access token that passed verification, revocation included. */
export function introspectAccessToken(claims: AccessTokenClaims, clientId?: string): IntrospectionResponse {
  return {
    active: true,
    token_type: 'Bearer',
    sub: claims.sub,
    sid: claims.sid,
    exp: claims.exp,
    iat: claims.iat,
    iss: claims.iss,
    aud: claims.aud,
    jti: claims.jti,
    ...(clientId === undefined ? {} : { client_id: clientId }),
  };
}

/** The response for a live, unspent refresh token. */
export function introspectRefreshToken(
  info: RefreshTokenInfo,
  issuer: string,
  clientId?: string,
): IntrospectionResponse {
  return {
    active: true,
    token_type: 'refresh_token',
    sub: info.userId,
    sid: info.sessionId,
    exp: Math.floor(info.expiresAt / 1000),
    iss: issuer,
    ...(clientId === undefined ? {} : { client_id: clientId }),
  };
}

/** The response for a live session token: its session's user and public id, and when it ends unless used. */
export function introspectSessionToken(session: Session, issuer: string, clientId?: string): IntrospectionResponse {
  return {
    active: true,
    token_type: 'session_token',
    sub: session.userId,
    sid: session.id,
    exp: Math.floor(session.expiresAt.getTime() / 1000),
    iat: Math.floor(session.createdAt.getTime() / 1000),
    iss: issuer,
    ...(clientId === undefined ? {} : { client_id: clientId }),
  };
}
