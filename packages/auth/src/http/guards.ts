import { isSafeMethod } from '../core/csrf/csrf.js';
import type { JsonObject } from '../core/store/types.js';
import { InvalidOptionError } from '../core/errors/errors.js';
import { positiveIntegerOption } from '../internal/options.js';
import { apiError, apiErrorForCredential, reauthRequiredError, type ApiError } from './api-error.js';
import type { HttpAuthContext } from './context.js';
import type { RequestFacts } from './request-facts.js';
import type { HttpAuth, RecentAuthOptions } from './types.js';

/** The checks a request passes before a handler runs. */
export type RequestGuards<Data extends JsonObject> = Pick<
  HttpAuth<Data>,
  'verifyCSRF' | 'verifyRequestSource' | 'requireAuth' | 'requireRecentAuth' | 'limitRequest' | 'csrfToken'
>;

/** The `maxAgeSeconds` of a step-up check, refused at the call that sets it up, never per request. */
export function recentAuthMaxAge(options: RecentAuthOptions): number {
  return positiveIntegerOption('maxAgeSeconds', options?.maxAgeSeconds, undefined) ?? missingMaxAge();
}

function missingMaxAge(): never {
  throw new InvalidOptionError('"maxAgeSeconds" must be a positive integer');
}

/** CSRF and request source, the session requirement and the per-session request budget. */
export function createGuards<Data extends JsonObject>(ctx: HttpAuthContext<Data>): RequestGuards<Data> {
  const { csrf, emit } = ctx;

  const verifyRequestSource = (request: RequestFacts): ApiError | null => {
    const source = csrf.checkRequestSource({
      method: request.method,
      origin: request.headers('origin'),
      secFetchSite: request.headers('sec-fetch-site'),
      ownOrigin: ctx.ownOrigin(request),
    });
    if (source === null) return null;
    emit({ type: 'csrf.rejected', reason: source, ip: request.ip });
    return apiError('csrf_failed', 'This request came from another site.');
  };

  const requireAuth: HttpAuth<Data>['requireAuth'] = (state) => {
    if (state.session !== null) return null;
    return state.failure === null
      ? apiError('unauthenticated')
      : apiErrorForCredential(state.failure.credential, state.failure.reason);
  };

  return {
    verifyRequestSource,
    requireAuth,

    verifyCSRF(request, state) {
      const override =
        request.headers('x-http-method-override') ??
        request.headers('x-http-method') ??
        request.headers('x-method-override');
      if (state.transport !== 'cookie' || state.session === null || isSafeMethod(request.method, override)) return null;
      const refused = verifyRequestSource(request);
      if (refused !== null) return refused;
      const token = request.headers('x-csrf-token') ?? request.csrfField;
      if (token === undefined || token === '') {
        emit({ type: 'csrf.rejected', reason: 'missing_token', ip: request.ip });
        return apiError('csrf_failed', 'Send the CSRF token in the X-CSRF-Token header.');
      }
      if (!csrf.verifyCSRFToken(state.session.id, token)) {
        emit({ type: 'csrf.rejected', reason: 'bad_token', ip: request.ip });
        return apiError('csrf_failed', 'The CSRF token is not valid for this session.');
      }
      return null;
    },

    requireRecentAuth(state, options) {
      const maxAgeSeconds = recentAuthMaxAge(options);
      if (state.session === null) return requireAuth(state);
      const age = ctx.now() - state.session.authenticatedAt.getTime();
      return age <= maxAgeSeconds * 1000 ? null : reauthRequiredError(maxAgeSeconds);
    },

    async limitRequest(request, state) {
      const limit = ctx.options.sessionRequestLimit;
      const sessionId = state.session?.id;
      if (limit === undefined || sessionId === undefined) return null;
      const result = await ctx.guarded(async () => ({ ok: true as const, value: await limit.consume(sessionId) }));
      if (!result.ok) return result.error;
      if (result.value.allowed) return null;
      emit({ type: 'rate_limit.exceeded', limit: 'session', ip: request.ip });
      return apiError('rate_limited', 'Too many requests for this session; wait and try again.', {
        'Retry-After': String(result.value.retryAfterSeconds),
      });
    },

    csrfToken: (state) =>
      state.transport === 'cookie' && state.session !== null ? csrf.generateCSRFToken(state.session.id) : null,
  };
}
