import { apiError, type ApiError } from './api-error.js';
import type { AuthFailure } from './types.js';

// Every translation of a core failure reason into what the client is told lives here, in one place.

const BEARER_CHALLENGE = { 'WWW-Authenticate': 'Bearer error="invalid_token"' };

/** Why a session cookie did not validate, as an {@link AuthFailure}; `null` when the cookie was simply unknown. */
export function sessionFailure(reason: string | null | undefined): AuthFailure | null {
  return reason === 'expired' ? 'session_expired' : reason === 'revoked' ? 'session_revoked' : null;
}

/** Why an access token did not verify, as an {@link AuthFailure}. */
export function accessTokenFailure(reason: string | null | undefined): AuthFailure {
  return reason === 'expired' ? 'token_expired' : 'invalid_token';
}

/** The 401 for a request without a session, by why its credentials failed (a bearer failure carries the challenge). */
export function unauthenticatedError(failure: AuthFailure | null): ApiError {
  switch (failure) {
    case 'invalid_token':
      return apiError('invalid_token', undefined, BEARER_CHALLENGE);
    case 'token_expired':
      return apiError('token_expired', undefined, BEARER_CHALLENGE);
    case 'session_expired':
      return apiError('session_expired');
    case 'session_revoked':
      return apiError('session_revoked');
    default:
      return apiError('unauthenticated');
  }
}

/** The 401 for a refresh token that was not spent. */
export function refreshFailureError(reason: 'invalid' | 'expired' | 'revoked' | 'reused'): ApiError {
  const code = (
    {
      invalid: 'invalid_token',
      expired: 'session_expired',
      revoked: 'session_revoked',
      reused: 'refresh_reused',
    } as const
  )[reason];
  return apiError(code, undefined, BEARER_CHALLENGE);
}
