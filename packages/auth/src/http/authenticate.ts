import type { Session } from '../core/session/session-manager.js';
import { parseSessionToken } from '../core/session/session-token.js';
import type { JsonObject } from '../core/store/types.js';
import { apiError, type AuthFailure } from './api-error.js';
import type { HttpAuthContext } from './context.js';
import { hasCredentialInURL } from './request-facts.js';
import type { AuthState, HttpAuth } from './types.js';

const BEARER = /^Bearer +([A-Za-z0-9_.~+/=-]+) *$/i;
const INVALID_BEARER: AuthFailure = { credential: 'access_token', reason: 'invalid' };

/** {@link HttpAuth.authenticate}: the bearer token or the session cookie, never a credential in the URL. */
export function createAuthenticate<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
): HttpAuth<Data>['authenticate'] {
  const { sessions, tokens, cookie, anonymous } = ctx;
  /**
   * Starts the per-session budget's store work for a session id, so it overlaps the session read (with a
   * client that pipelines, both travel in one round trip). Nothing is spent: `limitRequest` spends, and only
   * for a request whose session is valid.
   */
  const prepareLimit = (sessionId: string): void => ctx.options.sessionRequestLimit?.prepare?.(sessionId);

  const authenticateBearer = async (token: string): Promise<AuthState<Data>> => {
    if (tokens === undefined) return anonymous(INVALID_BEARER);
    const verified = await tokens.verifyAccessToken(token);
    if (!verified.ok) return anonymous({ credential: 'access_token', reason: verified.reason });
    // A signed token's session id: the budget's lease overlaps the session read when one is still to come.
    prepareLimit(verified.claims.sid);
    // With revocationCheck "session" the token service has already read the session: no second round trip.
    const session = (verified.session ??
      (await sessions.getSession(verified.claims.sid)).session ??
      null) as Session<Data> | null;
    if (session === null || session.userId !== verified.claims.sub) return anonymous(INVALID_BEARER);
    const state: AuthState<Data> = {
      transport: 'bearer',
      session,
      failure: null,
      accessToken: verified.claims,
      setCookies: [],
    };
    ctx.bearerTokens.set(state, token);
    return state;
  };

  const authenticateCookie = async (cookieHeader: string | undefined, ip: string | null, userAgent: string | null) => {
    const token = cookie.read(cookieHeader);
    if (token === null) {
      // A cookie of ours that we cannot read (garbage, or tossed duplicates) is cleared, not trusted.
      const present = cookieHeader?.includes(`${cookie.name}=`) === true;
      return anonymous(null, present ? [cookie.serializeClear()] : []);
    }
    // Only a well-formed token names a session id; anything else reaches neither the store nor the budget.
    const parsed = parseSessionToken(token);
    if (parsed !== null) prepareLimit(parsed.id);
    const result = await sessions.validateSessionToken(token, { ip, userAgent });
    if (!result.ok) return anonymous({ credential: 'session', reason: result.reason }, [cookie.serializeClear()]);
    const state: AuthState<Data> = {
      transport: 'cookie',
      session: result.session,
      failure: null,
      accessToken: null,
      setCookies: result.renewed ? [ctx.sessionCookie(token, result.session)] : [],
    };
    return state;
  };

  return (request) =>
    ctx.guarded<AuthState<Data>>(async () => {
      if (hasCredentialInURL(request.url)) {
        const message =
          'Credentials are never accepted in a URL; send them in the Authorization header or the session cookie.';
        return { ok: false, error: apiError('invalid_request', message) };
      }
      const authorization = request.headers('authorization');
      if (authorization !== undefined && /^bearer\b/i.test(authorization)) {
        const token = BEARER.exec(authorization)?.[1];
        return {
          ok: true,
          value:
            token === undefined
              ? anonymous({ credential: 'access_token', reason: 'malformed' })
              : await authenticateBearer(token),
        };
      }
      const userAgent = request.headers('user-agent') ?? null;
      return { ok: true, value: await authenticateCookie(request.headers('cookie'), request.ip, userAgent) };
    });
}
