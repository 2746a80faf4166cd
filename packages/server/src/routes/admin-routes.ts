import type { FastifyRequest } from 'fastify';
import { sendApiError } from 'tessera-auth/fastify';
import { apiError } from 'tessera-auth/http';
import type { AccountActor } from '../accounts/account-lifecycle.js';
import type { Account } from '../accounts/account-store.js';
import { normalizeEmail } from '../accounts/email.js';
import { adminSessionsResponse, adminUserResponse } from '../api-schemas.js';
import { defineRoute, type RouteContext } from './route.js';
import { publicSessionEntry, publicUser } from './views.js';

const ADMIN_ERRORS = ['unauthenticated', 'invalid_token', 'unavailable'] as const;

/** The admin key of the request, as the account lifecycle's events name it. */
const actorOf = (context: RouteContext, request: FastifyRequest): AccountActor => ({
  by: 'admin_key',
  adminKey: context.adminKeyOf(request).name,
});

/** The account named by the `:id` path parameter; `null` when there is none. */
const accountOf = (context: RouteContext, request: FastifyRequest): Promise<Account | null> =>
  context.runtime.accounts.findAccountById((request.params as { id: string }).id);

/** `GET /admin/users?email=`: one account by email. */
export const adminFindUserRoute = defineRoute({
  id: 'adminFindUser',
  method: 'GET',
  path: '/admin/users',
  summary: 'Find an account by email.',
  auth: 'admin',
  query: [{ name: 'email', required: true, description: 'The account email; compared case-insensitively.' }],
  csrf: false,
  success: { status: 200, schema: adminUserResponse, description: 'The account' },
  errors: [...ADMIN_ERRORS, 'invalid_request', 'not_found'],
  async handle(context, { request, reply }) {
    const { email: value } = request.query as { email?: unknown };
    const email = typeof value === 'string' ? normalizeEmail(value) : null;
    if (email === null) {
      return sendApiError(reply, apiError('invalid_request', 'Send a valid email address as the "email" parameter.'));
    }
    const account = await context.runtime.accounts.findAccountByEmail(email);
    const adminKey = context.adminKeyOf(request).name;
    context.audit({ type: 'admin.user_looked_up', adminKey, userId: account?.id ?? null });
    if (account === null) return sendApiError(reply, apiError('not_found', 'No account has this email.'));
    const disabledAt = account.disabledAt === null ? null : new Date(account.disabledAt).toISOString();
    return reply.send({ user: { ...publicUser(account), disabledAt } });
  },
});

/** `GET /admin/users/:id/sessions`: where a user is signed in. */
export const adminListUserSessionsRoute = defineRoute({
  id: 'adminListUserSessions',
  method: 'GET',
  path: '/admin/users/:id/sessions',
  summary: "A user's live sessions, as GET /auth/sessions lists them (without `current`).",
  auth: 'admin',
  csrf: false,
  success: { status: 200, schema: adminSessionsResponse, description: 'The sessions' },
  errors: [...ADMIN_ERRORS, 'not_found'],
  async handle(context, { request, reply }) {
    const account = await accountOf(context, request);
    if (account === null) return sendApiError(reply, apiError('not_found', 'No such account.'));
    const list = await context.sessions.listUserSessions(account.id);
    context.audit({ type: 'admin.sessions_listed', adminKey: context.adminKeyOf(request).name, userId: account.id });
    return reply.send({
      sessions: list.map((entry) => {
        const { current: _current, ...shown } = publicSessionEntry(entry);
        return shown;
      }),
    });
  },
});

/** `DELETE /admin/users/:id/sessions`: signs a user out everywhere. */
export const adminRevokeUserSessionsRoute = defineRoute({
  id: 'adminRevokeUserSessions',
  method: 'DELETE',
  path: '/admin/users/:id/sessions',
  summary: 'Revoke every session and token family of a user.',
  auth: 'admin',
  csrf: false,
  success: { status: 204, description: 'Revoked' },
  errors: [...ADMIN_ERRORS, 'not_found'],
  async handle(context, { request, reply }) {
    const account = await accountOf(context, request);
    if (account === null) return sendApiError(reply, apiError('not_found', 'No such account.'));
    await context.lifecycle.revokeAccountSessions(account.id, actorOf(context, request));
    return reply.code(204).send();
  },
});

/** `DELETE /admin/sessions/:id`: revokes one session, whoever's it is. */
export const adminRevokeSessionRoute = defineRoute({
  id: 'adminRevokeSession',
  method: 'DELETE',
  path: '/admin/sessions/:id',
  summary: 'Revoke one session (its access and refresh tokens with it).',
  auth: 'admin',
  csrf: false,
  success: { status: 204, description: 'Revoked' },
  errors: [...ADMIN_ERRORS, 'not_found'],
  async handle(context, { request, reply }) {
    const { id } = request.params as { id: string };
    const found = await context.sessions.getSession(id);
    if (!found.ok || !(await context.sessions.revokeSession(id))) {
      return sendApiError(reply, apiError('not_found', 'No live session has this id.'));
    }
    const adminKey = context.adminKeyOf(request).name;
    context.audit({ type: 'admin.session_revoked', adminKey, sessionId: id, userId: found.session.userId });
    return reply.code(204).send();
  },
});

/** `POST /admin/users/:id/disable`: no sign-in, no refresh, no live session. */
export const adminDisableUserRoute = defineRoute({
  id: 'adminDisableUser',
  method: 'POST',
  path: '/admin/users/:id/disable',
  summary: 'Disable an account: every session revoked; login and refresh then get 403 account_disabled.',
  auth: 'admin',
  csrf: false,
  success: { status: 204, description: 'Disabled' },
  errors: [...ADMIN_ERRORS, 'not_found'],
  async handle(context, { request, reply }) {
    const { id } = request.params as { id: string };
    if (!(await context.lifecycle.disableAccount(id, actorOf(context, request)))) {
      return sendApiError(reply, apiError('not_found', 'No such account.'));
    }
    return reply.code(204).send();
  },
});

/** `POST /admin/users/:id/enable`: the account may sign in again. */
export const adminEnableUserRoute = defineRoute({
  id: 'adminEnableUser',
  method: 'POST',
  path: '/admin/users/:id/enable',
  summary: 'Enable a disabled account (its revoked sessions stay revoked).',
  auth: 'admin',
  csrf: false,
  success: { status: 204, description: 'Enabled' },
  errors: [...ADMIN_ERRORS, 'not_found'],
  async handle(context, { request, reply }) {
    const { id } = request.params as { id: string };
    if (!(await context.lifecycle.enableAccount(id, actorOf(context, request)))) {
      return sendApiError(reply, apiError('not_found', 'No such account.'));
    }
    return reply.code(204).send();
  },
});

/** `DELETE /admin/users/:id`: revokes everything, then deletes the account. */
export const adminDeleteUserRoute = defineRoute({
  id: 'adminDeleteUser',
  method: 'DELETE',
  path: '/admin/users/:id',
  summary: 'Delete an account after revoking every session; its email can sign up again.',
  auth: 'admin',
  csrf: false,
  success: { status: 204, description: 'Deleted' },
  errors: [...ADMIN_ERRORS, 'not_found'],
  async handle(context, { request, reply }) {
    const { id } = request.params as { id: string };
    if (!(await context.lifecycle.deleteAccount(id, actorOf(context, request)))) {
      return sendApiError(reply, apiError('not_found', 'No such account.'));
    }
    return reply.code(204).send();
  },
});

/** `DELETE /admin/sessions`: the emergency stop. */
export const adminRevokeEverySessionRoute = defineRoute({
  id: 'adminRevokeEverySession',
  method: 'DELETE',
  path: '/admin/sessions',
  summary: 'Emergency: revoke every session of every user (each access and refresh token with it).',
  auth: 'admin',
  csrf: false,
  success: { status: 204, description: 'Revoked' },
  errors: [...ADMIN_ERRORS],
  async handle(context, { request, reply }) {
    await context.lifecycle.revokeEverySession(actorOf(context, request));
    return reply.code(204).send();
  },
});

/** The admin API: operators and backends with an admin key. */
export const ADMIN_ROUTES = [
  adminFindUserRoute,
  adminListUserSessionsRoute,
  adminRevokeUserSessionsRoute,
  adminRevokeSessionRoute,
  adminDisableUserRoute,
  adminEnableUserRoute,
  adminDeleteUserRoute,
  adminRevokeEverySessionRoute,
];
