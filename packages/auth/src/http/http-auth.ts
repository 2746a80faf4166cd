import type { JsonObject } from '../core/store/types.js';
import { createAuthenticate } from './authenticate.js';
import { createHttpAuthContext } from './context.js';
import { createGuards } from './guards.js';
import { createSignInFlows } from './sign-in.js';
import type { HttpAuth, HttpAuthOptions } from './types.js';

export { csrfFieldOf, headerReader, type HeaderReader, type RequestFacts } from './request-facts.js';
export type {
  AuthFailure,
  AuthState,
  CredentialsAttempt,
  HttpAuth,
  HttpAuthEvent,
  HttpAuthOptions,
  HttpResult,
  LoginAttempt,
  LoginResult,
  ReauthenticateResult,
  RecentAuthOptions,
  SessionLifetimes,
  TokenResponse,
  VerifiedCredentials,
} from './types.js';

/**
 * The HTTP layer: cookie and bearer transports, CSRF, login throttling and the
 * login/logout flows, with every outcome mapped to docs/api.md's statuses and codes.
 * Frameworks only translate requests and responses to and from it.
 */
export function createHttpAuth<Data extends JsonObject = JsonObject>(options: HttpAuthOptions<Data>): HttpAuth<Data> {
  const ctx = createHttpAuthContext(options);
  const guards = createGuards(ctx);
  return Object.freeze({
    cookie: ctx.cookie,
    authenticate: createAuthenticate(ctx),
    ...guards,
    ...createSignInFlows(ctx, guards.verifyRequestSource),
  });
}
