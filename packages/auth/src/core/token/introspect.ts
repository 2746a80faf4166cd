import type { AccessTokenClaims } from './access-token.js';
import type { RefreshTokenInfo } from './refresh-token.js';

/**
 * An RFC 7662 introspection response. Inactive tokens say nothing else, so
 * the endpoint never tells a caller why a token failed.
 */
export type IntrospectionResponse =
  | { active: false }
  | {
      active: true;
      /** `Bearer` for access tokens; `refresh_token` for refresh tokens (not an RFC 6749 type: Tessera's label). */
      token_type: 'Bearer' | 'refresh_token';
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
