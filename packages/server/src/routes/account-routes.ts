import { z } from 'zod';
import { sendApiError } from 'tessera-auth/fastify';
import { apiError } from 'tessera-auth/http';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../accounts/password.js';
import {
  csrfResponse,
  meResponse,
  passwordBody,
  reauthenticateBody,
  sessionsResponse,
  tokenResponse,
} from '../api-schemas.js';
import { BODY_ERRORS } from './errors.js';
import { defineRoute } from './route.js';
import { currentAccount, publicSession, publicSessionEntry, publicUser, sessionOf, tokenAnswer } from './views.js';

/** `GET /auth/me`: the signed-in user and session. */
export const meRoute = defineRoute({
  id: 'me',
  method: 'GET',
  path: '/auth/me',
  summary: 'The signed-in user and session.',
  auth: 'session',
  csrf: false,
  success: { status: 200, schema: meResponse, description: 'Who you are' },
  errors: ['unauthenticated', 'invalid_token', 'token_expired', 'session_expired', 'session_revoked', 'unavailable'],
  async handle(context, { request, reply }) {
    const account = await currentAccount(context, request);
    const session = request.tessera.session;
    if (account === null || session === null) return sendApiError(reply, apiError('unauthenticated'));
    return reply.send({ user: publicUser(account), session: publicSession(session) });
  },
});

/** `GET /auth/csrf`: the cookie session's CSRF token. */
export const csrfTokenRoute = defineRoute({
  id: 'csrfToken',
  method: 'GET',
  path: '/auth/csrf',
  summary: 'A CSRF token for the cookie session.',
  auth: 'session',
  csrf: false,
  success: { status: 200, schema: csrfResponse, description: 'The token' },
  errors: ['unauthenticated', 'forbidden', 'unavailable'],
  async handle(context, { request, reply }) {
    const token = context.tessera.csrfToken(request);
    if (token === null) return sendApiError(reply, apiError('forbidden', 'CSRF tokens are for cookie sessions only.'));
    return reply.send({ csrfToken: token });
  },
});

/** `GET /auth/sessions`: where the user is signed in. */
export const listSessionsRoute = defineRoute({
  id: 'listSessions',
  method: 'GET',
  path: '/auth/sessions',
  summary: 'Where you are signed in.',
  auth: 'session',
  csrf: false,
  success: { status: 200, schema: sessionsResponse, description: 'Your sessions' },
  errors: ['unauthenticated', 'invalid_token', 'unavailable'],
  async handle(context, { request, reply }) {
    const session = sessionOf(request);
    const list = await context.sessions.listUserSessions(session.userId, { currentSessionId: session.id });
    return reply.send({ sessions: list.map(publicSessionEntry) });
  },
});

/** `DELETE /auth/sessions/:id`: signs one of the user's sessions out. */
export const revokeSessionRoute = defineRoute({
  id: 'revokeSession',
  method: 'DELETE',
  path: '/auth/sessions/:id',
  summary: 'Sign one of your sessions out.',
  auth: 'session',
  csrf: true,
  recentAuth: true,
  success: { status: 204, description: 'Revoked' },
  errors: ['unauthenticated', 'csrf_failed', 'reauth_required', 'not_found', 'unavailable'],
  async handle(context, { request, reply }) {
    const session = sessionOf(request);
    const { id } = request.params as { id: string };
    if (!(await context.sessions.revokeUserSession(session.userId, id)))
      return sendApiError(reply, apiError('not_found'));
    return reply.code(204).send();
  },
});

/** `DELETE /auth/sessions`: signs out everywhere else. */
export const revokeOtherSessionsRoute = defineRoute({
  id: 'revokeOtherSessions',
  method: 'DELETE',
  path: '/auth/sessions',
  summary: 'Sign out everywhere else.',
  auth: 'session',
  csrf: true,
  recentAuth: true,
  success: { status: 204, description: 'Revoked' },
  errors: ['unauthenticated', 'csrf_failed', 'reauth_required', 'unavailable'],
  async handle(context, { request, reply }) {
    const session = sessionOf(request);
    const revoked = await context.sessions.revokeUserSessions(session.userId, { exceptSessionId: session.id });
    context.audit({
      type: 'user.sessions_revoked',
      userId: session.userId,
      sessionId: session.id,
      sessionIds: revoked,
    });
    return reply.code(204).send();
  },
});

/** `POST /auth/password`: every other session is signed out, the current one gets a fresh id. */
export const changePasswordRoute = defineRoute({
  id: 'changePassword',
  method: 'POST',
  path: '/auth/password',
  summary:
    'Change the password: every other session is signed out, the current one gets a fresh id (cookie: 204 with a new cookie; bearer: 200 with a new pair).',
  auth: 'session',
  csrf: true,
  body: passwordBody,
  success: {
    status: 204,
    description: 'Changed: a new cookie (fetch the new CSRF token from GET /auth/csrf)',
    bearer: { status: 200, schema: tokenResponse, description: 'Changed over bearer: a new token pair' },
  },
  errors: [...BODY_ERRORS, 'unauthenticated', 'invalid_credentials', 'csrf_failed', 'rate_limited', 'unavailable'],
  async handle(context, { request, reply, body }) {
    const { sessions } = context;
    const session = sessionOf(request);
    const account = await currentAccount(context, request);
    if (account === null) return sendApiError(reply, apiError('unauthenticated'));
    const policy = checkPasswordPolicy(body.newPassword, { email: account.email });
    if (policy !== null) return sendApiError(reply, apiError('invalid_request', `"newPassword": ${policy}`));
    // The login throttle's budget (per account or known device, and per IP), charged before the check:
    // 429 when spent, 401 invalid_credentials for a wrong current password.
    const verified = await reply.tesseraVerifyCredentials({
      account: account.email,
      verify: async () => ((await verifyPassword(account.passwordHash, body.currentPassword)) ? account.id : null),
    });
    if (verified === null) return reply;
    // The new hash is written BEFORE the other sessions are revoked, and every login re-reads the hash after
    // creating its session (its `confirm`). A login that checked the old password and re-read the old hash
    // created its session before that read, so before this write, so before the revocation below, which ends
    // it; one that re-reads after this write sees a new hash and deletes its own session unanswered. Either
    // way, once this answers, no session or token pair from the old password is usable. (Revoking first would
    // leave a window in which a login with the old password creates its session after the revocation.)
    await context.runtime.accounts.setPasswordHash(account.id, await hashPassword(body.newPassword));
    await sessions.revokeUserSessions(account.id, { exceptSessionId: session.id, reason: 'password_changed' });
    // A privilege change: the current session moves to a fresh id (a cookie's CSRF token changes with it, a
    // bearer's pair stops working), and the password just proved counts as a re-authentication.
    const rotated = await sessions.rotateSession(session.id, { reauthenticated: true });
    if (rotated === null) return sendApiError(reply, apiError('session_revoked'));
    context.audit({ type: 'password.changed', userId: account.id, sessionId: session.id });
    if (request.tessera.transport === 'bearer') {
      return reply.code(200).send(tokenAnswer(await context.tokens.issueTokens(rotated.session)));
    }
    const expiresAt = rotated.session.browserSession ? null : rotated.session.expiresAt;
    reply.header('set-cookie', context.auth.cookie.serialize(rotated.token, expiresAt));
    return reply.code(204).send();
  },
});

/** `POST /auth/reauthenticate`: proves the password again for sensitive actions; the session gets a fresh id. */
export const reauthenticateRoute = defineRoute({
  id: 'reauthenticate',
  method: 'POST',
  path: '/auth/reauthenticate',
  summary:
    'Prove the password again: the sign-in counts as recent for sensitive actions, and the session gets a fresh id (cookie: a new cookie and CSRF token; bearer: a new pair).',
  auth: 'session',
  csrf: true,
  body: reauthenticateBody,
  success: {
    status: 200,
    schema: z.union([csrfResponse, tokenResponse]),
    description: 'Re-authenticated: the new CSRF token (cookie) or token pair (bearer)',
  },
  errors: [
    ...BODY_ERRORS,
    'unauthenticated',
    'invalid_credentials',
    'csrf_failed',
    'rate_limited',
    'session_revoked',
    'unavailable',
  ],
  async handle(context, { request, reply, body }) {
    const account = await currentAccount(context, request);
    if (account === null) return sendApiError(reply, apiError('unauthenticated'));
    // The login throttle's budget, charged before the check, exactly as for a login.
    const result = await reply.tesseraReauthenticate({
      account: account.email,
      verify: async () => ((await verifyPassword(account.passwordHash, body.password)) ? account.id : null),
    });
    if (result === null) return reply;
    return reply.send(result.transport === 'token' ? result.tokens : { csrfToken: result.csrfToken });
  },
});

/** `DELETE /auth/account`: the user deletes their own account. */
export const deleteAccountRoute = defineRoute({
  id: 'deleteAccount',
  method: 'DELETE',
  path: '/auth/account',
  summary: 'Delete your account: every session is revoked first; the cookie is cleared.',
  auth: 'session',
  csrf: true,
  recentAuth: true,
  success: { status: 204, description: 'Deleted' },
  errors: ['unauthenticated', 'invalid_token', 'csrf_failed', 'reauth_required', 'unavailable'],
  async handle(context, { request, reply }) {
    const session = sessionOf(request);
    await context.lifecycle.deleteAccount(session.userId, { by: 'user' });
    if (request.tessera.transport === 'cookie') reply.header('set-cookie', context.auth.cookie.serializeClear());
    return reply.code(204).send();
  },
});

/** The signed-in user's own account and sessions. */
export const ACCOUNT_ROUTES = [
  meRoute,
  csrfTokenRoute,
  listSessionsRoute,
  revokeSessionRoute,
  revokeOtherSessionsRoute,
  changePasswordRoute,
  reauthenticateRoute,
  deleteAccountRoute,
];
