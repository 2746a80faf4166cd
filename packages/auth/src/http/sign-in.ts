import { InvalidOptionError } from '../core/errors/errors.js';
import { describeUserAgent } from '../core/session/client-facts.js';
import type { Session } from '../core/session/session-manager.js';
import type { JsonObject } from '../core/store/types.js';
import type { TokenPair } from '../core/token/token-service.js';
import { apiError, apiErrorForCredential, type ApiError } from './api-error.js';
import type { HttpAuthContext } from './context.js';
import type { RequestFacts } from './request-facts.js';
import type {
  AuthState,
  CredentialsAttempt,
  HttpAuth,
  HttpResult,
  LoginResult,
  OpenedSession,
  ReauthenticateResult,
  TokenResponse,
  VerifiedCredentials,
} from './types.js';

/** The flows that start, check and end sign-ins. */
export type SignInFlows<Data extends JsonObject> = Pick<
  HttpAuth<Data>,
  'login' | 'startSession' | 'verifyCredentials' | 'reauthenticate' | 'logout' | 'refresh'
>;

/** A browser session's lifetime unless the options say otherwise: 12 hours at most. */
const BROWSER_SESSION_LIFETIME = { absoluteTimeoutSeconds: 43_200 };

const toTokenResponse = (pair: TokenPair): TokenResponse => ({
  access_token: pair.accessToken,
  refresh_token: pair.refreshToken,
  token_type: pair.tokenType,
  expires_in: pair.expiresIn,
});

const TOKENS_OFF: HttpResult<never> = {
  ok: false,
  error: apiError('invalid_request', 'The token transport is not enabled.'),
};

/** Creates the session (and token pair) for `userId`; ending the old session and telling anyone are the caller's. */
async function openSession<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
  request: RequestFacts,
  state: AuthState<Data>,
  userId: string,
  options: {
    transport: 'cookie' | 'token';
    remember?: boolean | undefined;
    data?: Data | undefined;
    newDevice: boolean;
  },
): Promise<OpenedSession<Data>> {
  const { sessions, tokens, cookie, anonymous } = ctx;
  const { transport, data } = options;
  const lifetimes = ctx.options.lifetimes;
  const browserSession = transport === 'cookie' && options.remember === false;
  // Each transport's own lifetimes: a token session outlives a browser's, a browser session is shorter.
  const lifetime =
    transport === 'token'
      ? (lifetimes?.token ?? {})
      : browserSession
        ? (lifetimes?.browserSession ?? BROWSER_SESSION_LIFETIME)
        : {};
  const created = await sessions.createSession(userId, {
    ip: request.ip,
    userAgent: request.headers('user-agent') ?? null,
    ...lifetime,
    ...(browserSession ? { browserSession } : {}),
    newDevice: options.newDevice,
    ...(data === undefined ? {} : { data }),
  });
  if (transport === 'token' && tokens !== undefined) {
    const pair = toTokenResponse(await tokens.issueTokens(created.session));
    // A bearer client has no use for a cookie it might still hold from a cookie session.
    const setCookies = state.transport === 'cookie' ? [cookie.serializeClear()] : [];
    return { transport: 'token', session: created.session, tokens: pair, setCookies, state: anonymous() };
  }
  return cookieSession(ctx, created.session, created.token);
}

/** A cookie session handed to the client: its cookie, its CSRF token, and the request moved to it. */
function cookieSession<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
  session: Session<Data>,
  token: string,
): OpenedSession<Data> {
  return {
    transport: 'cookie',
    session,
    csrfToken: ctx.csrf.generateCSRFToken(session.id),
    setCookies: [ctx.sessionCookie(token, session)],
    state: { ...ctx.anonymous(), transport: 'cookie', session },
  };
}

/** `login.new_device`: a sign-in from a client without this account's device cookie. What to tell the user is the app's. */
function emitNewDevice<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
  request: RequestFacts,
  session: Session<Data>,
): void {
  ctx.emit({
    type: 'login.new_device',
    userId: session.userId,
    sessionId: session.id,
    ip: request.ip,
    device: describeUserAgent(request.headers('user-agent') ?? null),
  });
}

/**
 * The password check every flow shares: charge the throttle first (a burst
 * cannot outrun a counter that is spent before the check), then verify.
 * `succeeded` is the caller's to call once the sign-in is really done.
 */
async function checkCredentials<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
  request: RequestFacts,
  attempt: CredentialsAttempt,
  onFailure: () => void,
): Promise<HttpResult<{ userId: string; deviceId: string | null; succeeded: () => Promise<void> }>> {
  const { devices, emit } = ctx;
  if (typeof attempt.account !== 'string' || typeof attempt.verify !== 'function') {
    throw new InvalidOptionError('a login attempt needs "account" (a string) and "verify" (a function)');
  }
  const deviceId = devices.read(request.headers('cookie'), attempt.account);
  let succeeded = async (): Promise<void> => undefined;
  if (ctx.loginThrottle !== null) {
    const verdict = await ctx.loginThrottle.attempt(attempt.account, request.ip, { device: deviceId });
    if (!verdict.allowed) {
      emit({ type: 'rate_limit.exceeded', limit: 'login', ip: request.ip });
      const seconds = verdict.retryAfterSeconds;
      const message = `Too many failed sign-in attempts; try again in ${seconds} seconds.`;
      return { ok: false, error: apiError('rate_limited', message, { 'Retry-After': String(seconds) }) };
    }
    succeeded = verdict.succeeded;
  }
  const userId = await attempt.verify();
  if (userId === null) {
    onFailure();
    return { ok: false, error: apiError('invalid_credentials') };
  }
  return { ok: true, value: { userId, deviceId, succeeded } };
}

/**
 * Runs `confirm` on the new session: `true`, or the error to answer with (401 `invalid_credentials` for `false`).
 * A session that is not confirmed was never handed out, so it is deleted.
 */
async function confirmed<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
  confirm: (() => Promise<boolean | ApiError>) | undefined,
  sessionId: string,
): Promise<true | ApiError> {
  if (confirm === undefined) return true;
  let verdict: boolean | ApiError = false;
  try {
    verdict = await confirm();
  } finally {
    if (verdict !== true) await ctx.sessions.deleteSession(sessionId);
  }
  return verdict === false ? apiError('invalid_credentials') : verdict;
}

/**
 * Login, sign-up's first session and the password re-check. Each takes a
 * password or starts a session, so each refuses a request from another site
 * itself (login CSRF): no caller can forget it.
 */
function createCredentialFlows<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
  verifyRequestSource: (request: RequestFacts) => ApiError | null,
): Pick<HttpAuth<Data>, 'login' | 'startSession' | 'verifyCredentials' | 'reauthenticate'> {
  const { sessions, tokens, devices, emit, guarded } = ctx;

  /** The request-source check and the transport's availability: what every sign-in refuses before doing anything. */
  const refuse = (request: RequestFacts, transport: 'cookie' | 'token' = 'cookie'): HttpResult<never> | null => {
    const refused = verifyRequestSource(request);
    if (refused !== null) return { ok: false, error: refused };
    return transport === 'token' && tokens === undefined ? TOKENS_OFF : null;
  };

  const endPreviousSession = async (state: AuthState<Data>): Promise<void> => {
    if (state.session !== null) await sessions.deleteSession(state.session.id);
  };

  return {
    login: (request, state, attempt) =>
      guarded<LoginResult<Data>>(async () => {
        const transport = attempt.transport ?? 'cookie';
        const refused = refuse(request, transport);
        if (refused !== null) return refused;
        const failed = (): void => emit({ type: 'login.failed', account: attempt.account, ip: request.ip });
        const checked = await checkCredentials(ctx, request, attempt, failed);
        if (!checked.ok) return checked;
        const { userId, deviceId } = checked.value;
        const newDevice = deviceId === null;
        const opened = await openSession(ctx, request, state, userId, {
          transport,
          remember: attempt.remember,
          data: attempt.data,
          newDevice,
        });
        const confirm = attempt.confirm;
        const verdict = await confirmed(ctx, confirm && (() => confirm(opened.session)), opened.session.id);
        if (verdict !== true) {
          // A refusal of the caller's own (an account disabled) came after the right password: not a failed guess.
          if (verdict.code === 'invalid_credentials') failed();
          return { ok: false, error: verdict };
        }
        await endPreviousSession(state);
        await checked.value.succeeded();
        emit({ type: 'login.succeeded', userId, sessionId: opened.session.id, ip: request.ip, newDevice });
        if (newDevice) emitNewDevice(ctx, request, opened.session);
        // A browser's sign-in makes (or keeps) its device known; the token transport sets no cookies.
        const deviceCookies = transport === 'cookie' ? [devices.serialize(attempt.account, deviceId).setCookie] : [];
        return { ok: true, value: { ...opened, setCookies: [...opened.setCookies, ...deviceCookies], newDevice } };
      }),

    startSession: (request, state, userId, options = {}) =>
      guarded<LoginResult<Data>>(async () => {
        const transport = options.transport ?? 'cookie';
        const refused = refuse(request, transport);
        if (refused !== null) return refused;
        await endPreviousSession(state);
        const opened = await openSession(ctx, request, state, userId, {
          transport,
          remember: options.remember,
          data: options.data,
          newDevice: true,
        });
        emit({ type: 'login.succeeded', userId, sessionId: opened.session.id, ip: request.ip, newDevice: true });
        emitNewDevice(ctx, request, opened.session);
        const { account } = options;
        const deviceCookies =
          transport === 'cookie' && account !== undefined ? [devices.serialize(account).setCookie] : [];
        return {
          ok: true,
          value: { ...opened, setCookies: [...opened.setCookies, ...deviceCookies], newDevice: true },
        };
      }),

    verifyCredentials: (request, attempt) =>
      guarded<VerifiedCredentials>(async () => {
        const refused = refuse(request);
        if (refused !== null) return refused;
        const checked = await checkCredentials(ctx, request, attempt, () => undefined);
        if (!checked.ok) return checked;
        const { userId, deviceId, succeeded } = checked.value;
        await succeeded();
        // A known device's cookie starts its lifetime again; an unknown client is not given one here.
        const setCookies = deviceId === null ? [] : [devices.serialize(attempt.account, deviceId).setCookie];
        return { ok: true, value: { userId, newDevice: deviceId === null, setCookies } };
      }),

    reauthenticate: (request, state, attempt) =>
      guarded<ReauthenticateResult<Data>>(async () => {
        const session = state.session;
        if (session === null) return { ok: false, error: apiError('unauthenticated') };
        const transport = state.transport === 'bearer' ? 'token' : 'cookie';
        // A bearer token is no ambient credential: only a cookie request can be forged by another site.
        const refused = transport === 'cookie' ? verifyRequestSource(request) : null;
        if (refused !== null) return { ok: false, error: refused };
        if (transport === 'token' && tokens === undefined) return TOKENS_OFF;
        // A password that is good for another account proves nothing about this session.
        const verify = async (): Promise<string | null> =>
          (await attempt.verify()) === session.userId ? session.userId : null;
        const failed = (): void => emit({ type: 'login.failed', account: attempt.account, ip: request.ip });
        const checked = await checkCredentials(ctx, request, { account: attempt.account, verify }, failed);
        if (!checked.ok) return checked;
        const rotated = await sessions.rotateSession(session.id, { reauthenticated: true });
        if (rotated === null) return { ok: false, error: apiError('session_revoked') };
        await checked.value.succeeded();
        emit({ type: 'reauthenticated', userId: session.userId, sessionId: rotated.session.id, ip: request.ip });
        if (transport === 'cookie') return { ok: true, value: cookieSession(ctx, rotated.session, rotated.token) };
        if (tokens === undefined) return TOKENS_OFF;
        const raw = ctx.bearerTokens.get(state);
        // The old session id is gone, and with it the old pair; the blocklist covers "blocklist" verification too.
        if (raw !== undefined) await tokens.revokeAccessToken(raw);
        const pair = toTokenResponse(await tokens.issueTokens(rotated.session));
        return {
          ok: true,
          value: { transport: 'token', session: rotated.session, tokens: pair, setCookies: [], state: ctx.anonymous() },
        };
      }),
  };
}

/** Logout and refresh: the flows that end or renew a session. */
function createSessionFlows<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
): Pick<HttpAuth<Data>, 'logout' | 'refresh'> {
  const { sessions, tokens, cookie, emit, anonymous, guarded } = ctx;
  return {
    logout: (state) =>
      guarded<{ setCookies: string[]; state: AuthState<Data> }>(async () => {
        // A bearer that does not verify is refused, whatever cookie rides along: a 204 would tell the client it
        // signed out while the session it meant lives on.
        if (state.failure?.credential === 'access_token') {
          return { ok: false, error: apiErrorForCredential('access_token', state.failure.reason) };
        }
        const setCookies = state.transport === 'bearer' ? [] : [cookie.serializeClear()];
        const rawAccessToken = ctx.bearerTokens.get(state);
        if (state.session !== null) {
          // The token service's logout blocklists the access token until it expires and deletes its session.
          if (rawAccessToken !== undefined && tokens !== undefined) await tokens.logout(rawAccessToken);
          else await sessions.deleteSession(state.session.id);
          emit({ type: 'logout', userId: state.session.userId, sessionId: state.session.id });
        }
        return { ok: true, value: { setCookies, state: anonymous() } };
      }),

    refresh: (request, refreshToken) =>
      guarded<TokenResponse>(async () => {
        if (tokens === undefined) return TOKENS_OFF;
        if (typeof refreshToken !== 'string' || refreshToken === '') {
          return { ok: false, error: apiError('invalid_request', 'Send refresh_token in the JSON body.') };
        }
        const result = await tokens.refreshTokens(refreshToken, {
          ip: request.ip,
          userAgent: request.headers('user-agent') ?? null,
        });
        if (result.ok) return { ok: true, value: toTokenResponse(result.tokens) };
        return { ok: false, error: apiErrorForCredential('refresh_token', result.reason) };
      }),
  };
}

/** Login, sign-up's first session, the password re-check, logout and refresh. */
export function createSignInFlows<Data extends JsonObject>(
  ctx: HttpAuthContext<Data>,
  verifyRequestSource: (request: RequestFacts) => ApiError | null,
): SignInFlows<Data> {
  return { ...createCredentialFlows(ctx, verifyRequestSource), ...createSessionFlows(ctx) };
}
