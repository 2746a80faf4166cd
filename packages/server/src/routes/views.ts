import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Session, SessionInfo, TokenPair } from 'tessera-auth';
import type { Account } from '../accounts/account-store.js';
import type { RouteContext } from './route.js';

const iso = (date: Date): string => date.toISOString();

/** An account as the API shows it: id, email, creation time (never the hash). */
export const publicUser = (account: Account) => ({
  id: account.id,
  email: account.email,
  createdAt: new Date(account.createdAt).toISOString(),
});

/**
 * A session as the API shows it: id and its times, ISO 8601. `expiresAt` is the absolute end (creation plus
 * the absolute lifetime), `idleExpiresAt` the end if unused from now.
 */
export const publicSession = (session: Session) => ({
  id: session.id,
  createdAt: iso(session.createdAt),
  lastSeenAt: iso(session.lastSeenAt),
  expiresAt: iso(session.absoluteExpiresAt),
  idleExpiresAt: iso(session.idleExpiresAt),
});

/** A token pair as the API answers it (the OAuth token response's field names). */
export const tokenAnswer = (pair: TokenPair) => ({
  access_token: pair.accessToken,
  refresh_token: pair.refreshToken,
  token_type: pair.tokenType,
  expires_in: pair.expiresIn,
});

/** A session listing entry as the API shows it: the latest and the sign-in IP and user agent, and the new-device mark. */
export const publicSessionEntry = (entry: SessionInfo) => ({
  id: entry.id,
  createdAt: iso(entry.createdAt),
  lastSeenAt: iso(entry.lastSeenAt),
  ip: entry.ip,
  userAgent: entry.userAgent,
  signInIp: entry.signInIp,
  signInUserAgent: entry.signInUserAgent,
  newDevice: entry.newDevice,
  current: entry.current,
});

/** The request's session on a route behind `requireAuth`, which has already refused requests without one. */
export function sessionOf(request: FastifyRequest): Session {
  const session = request.tessera.session;
  if (session === null) throw new Error('a session route ran without requireAuth');
  return session;
}

/** The account of the request's session, `null` without one (or once the account is gone). */
export async function currentAccount(context: RouteContext, request: FastifyRequest): Promise<Account | null> {
  const userId = request.tessera.session?.userId;
  return userId === undefined ? null : context.runtime.accounts.findAccountById(userId);
}

/** Signs in through the adapter and answers as docs/api.md says: cookie → `{user, session, csrfToken}`; token → the pair and `user`. */
export async function loginAnswer(
  context: RouteContext,
  reply: FastifyReply,
  attempt: Parameters<FastifyReply['tesseraLogin']>[0],
  verifiedAccount: () => Account | null,
  status: number,
): Promise<FastifyReply> {
  const result = await reply.tesseraLogin(attempt);
  const account = verifiedAccount();
  if (result === null) return reply;
  if (account === null) throw new Error('a login succeeded without a verified account');
  context.metrics.sessionsCreated.inc({ transport: result.transport });
  if (result.transport === 'token') return reply.code(status).send({ ...result.tokens, user: publicUser(account) });
  return reply
    .code(status)
    .send({ user: publicUser(account), session: publicSession(result.session), csrfToken: result.csrfToken });
}
