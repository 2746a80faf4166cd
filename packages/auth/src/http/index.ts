export {
  API_ERROR_STATUS,
  apiError,
  apiErrorBody,
  apiErrorFromException,
  isApiError,
  type ApiError,
  type ApiErrorCode,
  type AuthFailure,
  type Credential,
} from './api-error.js';
export {
  bindHttpAuth,
  type FrameworkHooks,
  type LogoutResult,
  type StartSessionOptions,
  type TesseraBinding,
} from './binding.js';
export {
  createHttpAuth,
  headerReader,
  type AuthState,
  type CredentialsAttempt,
  type HeaderReader,
  type HttpAuth,
  type HttpAuthEvent,
  type HttpAuthOptions,
  type HttpResult,
  type LoginAttempt,
  type LoginResult,
  type RequestFacts,
  type TokenResponse,
  type VerifiedCredentials,
} from './http-auth.js';
