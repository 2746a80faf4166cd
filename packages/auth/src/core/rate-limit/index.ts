export {
  createLoginThrottle,
  createRequestLimit,
  type CounterStore,
  type LoginAttemptVerdict,
  type LoginThrottle,
  type LoginThrottleOptions,
  type RateLimitVerdict,
  type RequestLimit,
  type RequestLimitOptions,
} from './rate-limit.js';
export { createLeasedRequestLimit, type LeasedRequestLimitOptions } from './leased-limit.js';
