import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendApiError } from 'tessera-auth/fastify';
import type { RateLimitVerdict } from 'tessera-auth';
import type { JsonObject } from 'tessera-auth';
import { apiError } from 'tessera-auth/http';
import type { LoginResult } from 'tessera-auth/http';
import type { Account } from '../accounts/account-store.js';
import { normalizeEmail } from '../accounts/email.js';
import { checkPasswordPolicy, hashPassword, verifyPassword, verifyPasswordForNoOne } from '../accounts/password.js';
import {
  cookieLoginResponse,
  credentialsBody,
  refreshBody,
  tokenLoginResponse,
  tokenResponse,
} from '../api-schemas.js';
import { BODY_ERRORS } from './errors.js';
import { defineRoute, type RouteContext } from './route.js';
import { loginAnswer, publicSession, publicUser } from './views.js';

type Credentials = z.infer<typeof credentialsBody>;

/** `POST /auth/signup`: an account and its first session. */
export const signupRoute = defineRoute({
  id: 'signup',
  method: 'POST',
  path: '/auth/signup',
  summary: 'Create an account and sign in (cookie or token transport).',
  auth: 'none',
  csrf: false,
  sameOrigin: true,
  body: credentialsBody,
  success: {
    status: 201,
    schema: z.union([cookieLoginResponse, tokenLoginResponse]),
    description: 'Signed up and in',
  },
  errors: [...BODY_ERRORS, 'conflict', 'csrf_failed', 'rate_limited', 'unavailable', 'overloaded'],
  async handle(context, { request, reply, body }) {
    const email = normalizeEmail(body.email);
    if (email === null)
      return sendApiError(reply, apiError('invalid_request', '"email" is not a valid email address.'));
    const passwordHash = await signupPasswordHash(context, request, reply, email, body.password);
    if (passwordHash === null) return reply;
    const account = await context.runtime.accounts.createAccount({
      id: randomUUID(),
      email,
      passwordHash,
      createdAt: context.now(),
      disabledAt: null,
    });
    if (account === null)
      return sendApiError(reply, apiError('conflict', 'An account with this email already exists.'));
    context.logger.info({ event: 'account.created', userId: account.id }, 'auth event');
    const started = await startFirstSession(context, reply, account, body);
    if (started === null) return reply;
    context.metrics.sessionsCreated.inc({ transport: started.transport });
    const user = publicUser(account);
    if (started.transport === 'token') return reply.code(201).send({ ...started.tokens, user });
    return reply.code(201).send({ user, session: publicSession(started.session), csrfToken: started.csrfToken });
  },
});

/**
 * The sign-up's budgets, queue place and password check, then the hash; `null` once the reply has answered
 * (429, 503 `overloaded`, 400 for a weak password).
 */
async function signupPasswordHash(
  context: RouteContext,
  request: FastifyRequest,
  reply: FastifyReply,
  email: string,
  password: string,
): Promise<string | null> {
  const { signupGuard, logger } = context;
  // Both budgets are spent before any hashing, whether or not the email is taken: no free oracle, no free CPU.
  const throttled = (limit: 'signup_ip' | 'signup_email', verdict: RateLimitVerdict): boolean => {
    if (verdict.allowed) return false;
    logger.info({ event: 'rate_limit.exceeded', limit, ip: request.ip }, 'auth event');
    const seconds = String(verdict.retryAfterSeconds);
    const message = `Too many sign-ups; try again in ${seconds} seconds.`;
    sendApiError(reply, apiError('rate_limited', message, { 'Retry-After': seconds }));
    return true;
  };
  if (throttled('signup_ip', await signupGuard.consumeIP(request.ip))) return null;
  if (throttled('signup_email', await signupGuard.consumeEmail(email))) return null;
  // A place in the hash queue before the strength check: a flood gets its 503 without spending that CPU either.
  const slot = signupGuard.reserveHash();
  if (slot === null) {
    context.overloaded(reply, 'Too many sign-ups at once; try again shortly.');
    return null;
  }
  try {
    const policy = checkPasswordPolicy(password, { email });
    if (policy !== null) {
      slot.release();
      // Refused before the email is looked up or a hash is made: the attempt goes back to the email's budget.
      await signupGuard.refundEmail(email);
      sendApiError(reply, apiError('invalid_request', `"password": ${policy}`));
      return null;
    }
    return await slot.run(() => hashPassword(password));
  } finally {
    slot.release();
  }
}

/** The new account's first session; a sign-up whose session cannot start (store down) leaves no account behind. */
async function startFirstSession(
  context: RouteContext,
  reply: FastifyReply,
  account: Account,
  body: Credentials,
): Promise<LoginResult<JsonObject> | null> {
  const { runtime, logger } = context;
  // Without the account, a retry can succeed.
  const rollBack = async (): Promise<void> => {
    try {
      await runtime.accounts.deleteAccount(account.id);
      logger.info({ event: 'account.signup_rolled_back', userId: account.id }, 'auth event');
    } catch (error) {
      logger.error({ err: error, userId: account.id }, 'a failed sign-up could not remove its account');
    }
  };
  let started: LoginResult<JsonObject> | null;
  try {
    started = await reply.tesseraStartSession(account.id, {
      transport: body.transport ?? 'cookie',
      account: account.email,
      ...(body.remember === undefined ? {} : { remember: body.remember }),
    });
  } catch (error) {
    await rollBack();
    throw error;
  }
  if (started === null) await rollBack();
  return started;
}

/** `POST /auth/login`: a fresh session every time. */
export const loginRoute = defineRoute({
  id: 'login',
  method: 'POST',
  path: '/auth/login',
  summary: 'Sign in with email and password; a fresh session every time.',
  auth: 'none',
  csrf: false,
  body: credentialsBody,
  success: { status: 200, schema: z.union([cookieLoginResponse, tokenLoginResponse]), description: 'Signed in' },
  errors: [...BODY_ERRORS, 'invalid_credentials', 'csrf_failed', 'account_disabled', 'rate_limited', 'unavailable'],
  async handle(context, { reply, body }) {
    const { accounts } = context.runtime;
    const email = normalizeEmail(body.email) ?? body.email.trim().toLowerCase();
    let account: Account | null = null;
    return loginAnswer(
      context,
      reply,
      {
        account: email,
        transport: body.transport ?? 'cookie',
        ...(body.remember === undefined ? {} : { remember: body.remember }),
        // Unknown emails spend the same argon2 time and get the same answer as wrong passwords.
        verify: async () => {
          account = await accounts.findAccountByEmail(email);
          if (account === null) return verifyPasswordForNoOne(body.password).then(() => null);
          return (await verifyPassword(account.passwordHash, body.password)) ? account.id : null;
        },
        // Runs once the new session exists: the hash just verified must still be the account's. argon2 hashes
        // are salted, so any password change changes it; see changePassword for why this closes the race.
        // A disabled account is refused here too, after the password check, so a wrong password still gets 401
        // and the same time (the state tells a guesser nothing); see the account lifecycle for the race.
        confirm: async () => {
          const verified = account as Account | null;
          if (verified === null) return false;
          account = await accounts.findAccountById(verified.id);
          if (account === null || account.passwordHash !== verified.passwordHash) return false;
          return account.disabledAt === null ? true : apiError('account_disabled');
        },
      },
      () => account,
      200,
    );
  },
});

/** `POST /auth/refresh`: spends a refresh token for a new pair. */
export const refreshRoute = defineRoute({
  id: 'refresh',
  method: 'POST',
  path: '/auth/refresh',
  summary: 'Spend a refresh token for a new pair (the old one is spent; reuse revokes the session).',
  auth: 'none',
  csrf: false,
  body: refreshBody,
  success: { status: 200, schema: tokenResponse, description: 'A new token pair' },
  errors: [
    ...BODY_ERRORS,
    'invalid_token',
    'session_expired',
    'session_revoked',
    'refresh_reused',
    'account_disabled',
    'rate_limited',
    'unavailable',
  ],
  async before(context, request) {
    const key = context.keyOf('refresh-ip', request.ip ?? 'unknown');
    return context.limited(await context.refreshLimit.consume(key), 'refresh');
  },
  async handle(context, { reply, body }) {
    // A disabled account's sessions are revoked; its refresh tokens get their own answer rather than "revoked".
    const owner = await context.tokens.findRefreshTokenUser(body.refresh_token);
    if (owner !== null && ((await context.runtime.accounts.findAccountById(owner))?.disabledAt ?? null) !== null) {
      context.metrics.refreshes.inc({ outcome: 'refused' });
      return sendApiError(reply, apiError('account_disabled'));
    }
    const pair = await reply.tesseraRefresh(body.refresh_token);
    context.metrics.refreshes.inc({ outcome: pair === null ? 'refused' : 'rotated' });
    return pair === null ? reply : reply.send(pair);
  },
});

/** `POST /auth/logout`: idempotent, 204 without a session too. */
export const logoutRoute = defineRoute({
  id: 'logout',
  method: 'POST',
  path: '/auth/logout',
  summary:
    'End the session, clear the cookie, blocklist the presented access token. Idempotent: 204 without a session too.',
  auth: 'none',
  csrf: true,
  sameOrigin: true,
  success: { status: 204, description: 'Signed out' },
  errors: ['csrf_failed', 'unavailable'],
  async handle(_context, { reply }) {
    if (!(await reply.tesseraLogout())) return reply;
    return reply.code(204).send();
  },
});

/** Signing up, in, refreshing and out. */
export const SESSION_ROUTES = [signupRoute, loginRoute, refreshRoute, logoutRoute];
