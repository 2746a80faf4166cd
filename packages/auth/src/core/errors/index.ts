export { type CredentialFailure, type CredentialResult } from './credential-failure.js';
export {
  InvalidOptionError,
  isTesseraError,
  KeyInvalidError,
  StoreConflictError,
  StoreUnavailableError,
  TesseraError,
  type TesseraErrorCode,
  type TesseraLibraryError,
} from './errors.js';
