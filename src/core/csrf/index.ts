export {
  createCSRFProtection,
  isSafeMethod,
  type CSRFOptions,
  type CSRFProtection,
  type RequestSource,
  type RequestSourceVerdict,
} from './csrf.js';
