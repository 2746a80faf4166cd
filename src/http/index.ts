export {
  API_ERROR_STATUS,
  apiError,
  apiErrorBody,
  apiErrorFromException,
  isApiError,
  type ApiError,
  type ApiErrorCode,
} from './api-error.js';
export {
  createHttpAuth,
  headerReader,
  type AuthFailure,
  type AuthState,
  type HeaderReader,
  type HttpAuth,
  type HttpAuthEvent,
  type HttpAuthOptions,
  type HttpResult,
  type LoginResult,
  type RequestFacts,
  type TokenResponse,
} from './http-auth.js';
