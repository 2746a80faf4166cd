export {
  createLoginThrottle,
  createRequestLimit,
  memoryRateLimiters,
  type LoginAttemptVerdict,
  type LoginThrottle,
  type LoginThrottleOptions,
  type RateLimiterFactory,
  type RateLimitVerdict,
  type RequestLimit,
  type RequestLimitOptions,
} from './rate-limit.js';
