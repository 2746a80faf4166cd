export {
  InvalidOptionError,
  isTesseraError,
  StoreUnavailableError,
  TesseraError,
  type TesseraErrorCode,
} from './errors.js';
