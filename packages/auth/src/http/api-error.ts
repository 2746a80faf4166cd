import type { CredentialFailure } from '../core/errors/credential-failure.js';
import { isTesseraError } from '../core/errors/errors.js';

/** The error codes of the HTTP contract (docs/api.md), each with one status. */
export const API_ERROR_STATUS = {
  invalid_request: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  invalid_token: 401,
  token_expired: 401,
  session_expired: 401,
  session_revoked: 401,
  refresh_reused: 401,
  csrf_failed: 403,
  forbidden: 403,
  reauth_required: 403,
  account_disabled: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  uri_too_long: 414,
  unsupported_media_type: 415,
  misdirected_request: 421,
  rate_limited: 429,
  headers_too_large: 431,
  internal_error: 500,
  unavailable: 503,
  overloaded: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

const DEFAULT_MESSAGES: Record<ApiErrorCode, string> = {
  invalid_request: 'The request is malformed.',
  unauthenticated: 'Sign in first.',
  invalid_credentials: 'The email or password is wrong.',
  invalid_token: 'The token is not valid.',
  token_expired: 'The token has expired.',
  session_expired: 'Your session has expired; sign in again.',
  session_revoked: 'This session was signed out; sign in again.',
  refresh_reused: 'This refresh token was already used; the session has been signed out for safety.',
  csrf_failed: 'The request failed the cross-site request forgery check.',
  forbidden: 'You may not do this.',
  reauth_required: 'Confirm your password to do this.',
  account_disabled: 'This account is disabled.',
  not_found: 'Not found.',
  method_not_allowed: 'This method is not allowed here.',
  conflict: 'That conflicts with what exists.',
  payload_too_large: 'The request body is too large.',
  uri_too_long: 'The request URL is too long.',
  unsupported_media_type: 'Send the body as application/json.',
  misdirected_request: 'This server does not answer for that host name.',
  rate_limited: 'Too many attempts; wait and try again.',
  headers_too_large: 'The request headers are too large.',
  internal_error: 'Something went wrong.',
  unavailable: 'The service is temporarily unavailable; try again shortly.',
  overloaded: 'The service is busy; try again shortly.',
};

/** An HTTP error answer: status, stable code, a message for people, and headers to send. */
export interface ApiError {
  status: number;
  code: ApiErrorCode;
  message: string;
  headers: Record<string, string>;
  /** `reauth_required` only: how recent, in seconds, the session's last authentication must be. */
  maxAgeSeconds?: number;
}

/** Builds the answer for `code`, with the status docs/api.md fixes for it. Messages never hold a credential. */
export function apiError(code: ApiErrorCode, message?: string, headers: Record<string, string> = {}): ApiError {
  return { status: API_ERROR_STATUS[code], code, message: message ?? DEFAULT_MESSAGES[code], headers };
}

/**
 * 403 `reauth_required`: the session's last authentication is older than `maxAgeSeconds`; the body
 * says how recent it must be (`error.maxAgeSeconds`), so a client can ask for the password and retry.
 */
export function reauthRequiredError(maxAgeSeconds: number): ApiError {
  return { ...apiError('reauth_required'), maxAgeSeconds };
}

/** The JSON body of an error answer: `{"error": {"code", "message"}}`, plus `maxAgeSeconds` for `reauth_required`. */
export function apiErrorBody(error: ApiError): {
  error: { code: ApiErrorCode; message: string; maxAgeSeconds?: number };
} {
  const { code, message, maxAgeSeconds } = error;
  return { error: maxAgeSeconds === undefined ? { code, message } : { code, message, maxAgeSeconds } };
}

/** The credential a failure is about: the same reason means different answers for a cookie and a token. */
export type Credential = 'session' | 'access_token' | 'refresh_token';

/** A presented credential that did not authenticate, and why. */
export interface AuthFailure {
  credential: Exclude<Credential, 'refresh_token'>;
  reason: CredentialFailure;
}

/**
 * The one table from a credential failure to its answer (docs/api.md). A session
 * cookie that is not ours or names no session is no credential at all
 * (`unauthenticated`); a token that is gone, for whatever reason, is
 * `invalid_token`, except when it merely expired.
 */
const CREDENTIAL_FAILURE_CODES: { readonly [C in Credential]: Readonly<Record<CredentialFailure, ApiErrorCode>> } = {
  session: {
    malformed: 'unauthenticated',
    not_found: 'unauthenticated',
    invalid: 'unauthenticated',
    expired: 'session_expired',
    revoked: 'session_revoked',
    reused: 'session_revoked',
  },
  access_token: {
    malformed: 'invalid_token',
    not_found: 'invalid_token',
    invalid: 'invalid_token',
    expired: 'token_expired',
    revoked: 'invalid_token',
    reused: 'invalid_token',
  },
  refresh_token: {
    malformed: 'invalid_token',
    not_found: 'invalid_token',
    invalid: 'invalid_token',
    expired: 'session_expired',
    revoked: 'session_revoked',
    reused: 'refresh_reused',
  },
};

/**
 * The answer for a credential that did not authenticate. Token failures carry
 * the RFC 6750 challenge `WWW-Authenticate: Bearer error="invalid_token"`.
 */
export function apiErrorForCredential(credential: Credential, reason: CredentialFailure): ApiError {
  const headers: Record<string, string> =
    credential === 'session' ? {} : { 'WWW-Authenticate': 'Bearer error="invalid_token"' };
  return apiError(CREDENTIAL_FAILURE_CODES[credential][reason], undefined, headers);
}

/**
 * Maps an operational failure to its answer: a store that is down is 503
 * `unavailable` (fail closed). `null` for anything else, which the caller
 * should treat as a bug (500) rather than guess.
 */
export function apiErrorFromException(error: unknown): ApiError | null {
  if (isTesseraError(error) && error.code === 'ERR_STORE_UNAVAILABLE') {
    return apiError('unavailable', undefined, { 'Retry-After': '5' });
  }
  return null;
}

/** Type guard for {@link ApiError} values travelling through adapters. */
export function isApiError(value: unknown): value is ApiError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ApiError).code === 'string' &&
    (value as ApiError).code in API_ERROR_STATUS &&
    typeof (value as ApiError).status === 'number'
  );
}

/**
 * The answer for a framework's own body-parsing failure, by the status it
 * chose: 400 (bad JSON) → `invalid_request`, 413 → `payload_too_large`, 415 →
 * `unsupported_media_type`; `null` for any other status.
 */
export function apiErrorForBodyFailure(status: number): ApiError | null {
  switch (status) {
    case 400:
      return apiError('invalid_request', 'The request body could not be parsed.');
    case 413:
      return apiError('payload_too_large');
    case 415:
      return apiError('unsupported_media_type');
    default:
      return null;
  }
}
