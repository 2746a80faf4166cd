export {
  createCSRFProtection,
  isSafeMethod,
  type CSRFOptions,
  type CSRFProtection,
  type CSRFSecrets,
  type RequestSource,
  type RequestSourceVerdict,
} from './csrf.js';
