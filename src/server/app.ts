import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { z } from 'zod';
import { tesseraFastify, sendApiError } from '../adapters/fastify/fastify-adapter.js';
import { createLoginThrottle, createRequestLimit, type RateLimitVerdict } from '../core/rate-limit/rate-limit.js';
import type { Session, SessionEvent } from '../core/session/session-manager.js';
import type { JsonObject } from '../core/store/types.js';
import type { TokenEvent, TokenService } from '../core/token/token-service.js';
import { constantTimeEqual, hmacBase64url } from '../internal/crypto.js';
import { apiError, apiErrorFromException, type ApiError } from '../http/api-error.js';
import { createHttpAuth, type HttpAuthEvent, type LoginResult } from '../http/http-auth.js';
import type { Account } from './accounts/account-store.js';
import { normalizeEmail } from './accounts/email.js';
import { checkPasswordPolicy, hashPassword, verifyPassword, verifyPasswordForNoOne } from './accounts/password.js';
import { createSignupGuard } from './accounts/signup-guard.js';
import { credentialsBody, describeBodyError, introspectBody, passwordBody, refreshBody } from './api-schemas.js';
import type { ServerConfig } from './config.js';
import {
  createClientErrorHandler,
  createRouteTable,
  edgeRequestCheck,
  frameworkErrors,
  loopbackOrigin,
  MAX_HEADER_BYTES,
  setSecurityHeaders,
} from './edge.js';
import { createFingerprint } from './logging.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { buildOpenAPIDocument, ROUTES, type RouteId } from './openapi.js';
import { pagesPlugin } from './pages/pages-plugin.js';
import type { ServerRuntime } from './runtime.js';
import { createServerSecretsSource } from './secrets.js';
import { createServerServices } from './services.js';
import { createStoreFailureLog, observeStore, type StoreFailureReporter } from './store-failures.js';

/** Options of {@link createTesseraServer}. */
export interface TesseraServerOptions {
  config: ServerConfig;
  runtime: ServerRuntime;
  logger: PinoLogger;
  /** The clock, epoch milliseconds (tests). @default Date.now */
  now?: () => number;
}

/** The server's own audit event: a password was changed (the session is the one that changed it). */
type PasswordChangedEvent = { type: 'password.changed'; userId: string; sessionId: string };

/** A built server: the Fastify app (not yet listening) and the services behind it. */
export interface TesseraServer {
  app: FastifyInstance;
  /** `METHOD path` of every route registered, for the OpenAPI sync test. */
  routes: string[];
  tokens: TokenService;
  metrics: ServerMetrics;
  /** `/metrics` on a listener of its own (`TESSERA_METRICS_PORT`), not yet listening; `null` when not configured. */
  metricsApp: FastifyInstance | null;
  /** The origin users reach: `TESSERA_PUBLIC_URL`, or the address bound (once listening). */
  publicOrigin(): string;
}

const BODY_LIMIT_BYTES = 16 * 1024;

/**
 * The runtime's stores and rate limiters, each reporting its failed calls (backend, operation, driver error)
 * so that a 503 is explained once in the log. Identity is kept where the database is the session store.
 */
function observeRuntime(runtime: ServerRuntime, config: ServerConfig, report: StoreFailureReporter): ServerRuntime {
  const sessions = observeStore(runtime.sessions, runtime.sessions.name, report);
  const database =
    runtime.database === runtime.sessions ? sessions : observeStore(runtime.database, runtime.database.name, report);
  const limiterBackend = config.sessionStore.kind === 'database' ? config.database.kind : config.sessionStore.kind;
  return {
    ...runtime,
    sessions,
    database,
    accounts: observeStore(runtime.accounts, config.database.kind, report),
    rateLimiters: (options) => observeStore(runtime.rateLimiters(options), limiterBackend, report),
  };
}

/** `http://host:port` of a listening server, with an IPv6 host in brackets. */
export function listeningURL(app: FastifyInstance, host: string, fallbackPort: number): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : fallbackPort;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

const iso = (date: Date): string => date.toISOString();

const publicUser = (account: Account) => ({
  id: account.id,
  email: account.email,
  createdAt: new Date(account.createdAt).toISOString(),
});

const publicSession = (session: Session) => ({
  id: session.id,
  createdAt: iso(session.createdAt),
  lastSeenAt: iso(session.lastSeenAt),
  expiresAt: iso(session.expiresAt),
  idleExpiresAt: iso(session.idleExpiresAt),
});

/**
 * Builds the Tessera server: every endpoint of API.md on Fastify, through the
 * Fastify adapter and the HTTP layer the library users get.
 */
export async function createTesseraServer(options: TesseraServerOptions): Promise<TesseraServer> {
  const { config, logger } = options;
  const now = options.now ?? Date.now;
  const runtime = observeRuntime(options.runtime, config, createStoreFailureLog(logger, { now }));
  // Re-read once a minute, so a `tessera secrets rotate` reaches every instance without a restart.
  const secretsSource = await createServerSecretsSource(runtime.database, { now, logger });
  const secrets = secretsSource.current();
  const fingerprint = createFingerprint(secrets.fingerprint);
  const countLive = runtime.sessions.countLiveSessions?.bind(runtime.sessions);
  const metrics = createServerMetrics(countLive);

  /** Every auth event becomes one structured log line; ids and account names become keyed fingerprints. */
  const audit = (event: SessionEvent | TokenEvent | HttpAuthEvent | PasswordChangedEvent): void => {
    const line: Record<string, unknown> = { event: event.type };
    for (const [key, value] of Object.entries(event)) {
      if (key === 'type') continue;
      if (key === 'account') {
        // The email someone tried: never raw in a log, yet the same account always gives the same fingerprint.
        line.account_fp = typeof value === 'string' ? fingerprint(`account:${value}`) : null;
      } else if (key === 'sessionId' || key === 'previousSessionId' || key === 'sid' || key === 'jti') {
        line[key.replace(/Id$/, '') + '_fp'] = typeof value === 'string' ? fingerprint(value) : value;
      } else if (key === 'ip' && typeof value === 'string') {
        line.ip = value;
      } else if (typeof value !== 'object' || value === null) {
        line[key] = value;
      }
    }
    logger.info(line, 'auth event');
    switch (event.type) {
      case 'session.revoked':
        metrics.revocations.inc({ reason: event.reason });
        break;
      case 'refresh.reuse_detected':
        metrics.reuseDetections.inc();
        break;
      case 'login.failed':
        metrics.logins.inc({ outcome: 'invalid_credentials' });
        break;
      case 'rate_limit.exceeded':
        if (event.limit === 'login') metrics.logins.inc({ outcome: 'rate_limited' });
        break;
      case 'login.succeeded':
        metrics.logins.inc({ outcome: 'success' });
        break;
      default:
        break;
    }
  };

  const { sessions, tokens } = createServerServices(config, runtime, { logger, onEvent: audit, now });
  // One budget of password guesses per account (or known device) and IP, spent by logins and password changes alike.
  const loginThrottle = createLoginThrottle({
    limiters: runtime.rateLimiters,
    keySecret: secrets.rateLimit,
    maxAttemptsPerAccount: config.loginMaxAttempts,
    maxAttemptsPerIP: config.loginMaxAttemptsPerIP,
  });
  const limit = (name: string, points: number) =>
    createRequestLimit({ limiters: runtime.rateLimiters, points, durationSeconds: 60, name });
  const refreshLimit = limit('refresh-ip', config.refreshRateLimit);
  const introspectLimit = limit('introspect-client', config.introspectRateLimit);
  /** The origin users reach: configured, or the address this server bound (asked per request, once listening). */
  const publicOrigin = (): string => config.publicURL ?? listeningURL(app, config.host, config.port);
  /** Replies that answered 503 `overloaded` (a full work queue): busy, not a store outage. */
  const overloadedReplies = new WeakSet<FastifyReply>();
  const overloaded = (reply: FastifyReply, message: string): FastifyReply => {
    overloadedReplies.add(reply);
    return sendApiError(reply, apiError('overloaded', message, { 'Retry-After': '2' }));
  };
  const signupGuard = createSignupGuard({
    limiters: runtime.rateLimiters,
    keySecret: secrets.rateLimit,
    maxPerIP: config.signupMaxPerIP,
    maxPerEmail: config.signupMaxPerEmail,
  });
  const auth = createHttpAuth({
    sessions,
    tokens,
    csrfSecrets: () => secretsSource.current().csrf,
    allowedOrigins: config.allowedOrigins,
    // Never the request's Host: a DNS-rebinding page picks that. Without a public URL the Host check allows loopback names only.
    ownOrigin: (request) => config.publicURL ?? loopbackOrigin(request.headers('host') ?? '', publicOrigin()),
    ...(config.sessionRateLimit > 0 ? { sessionRequestLimit: limit('session', config.sessionRateLimit) } : {}),
    cookie: { insecure: config.insecureDevelopment },
    loginThrottle,
    onEvent: audit,
    logger,
  });

  const trusted = config.trustProxy;
  let closing = false;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's own request lines include the URL verbatim (query strings too): ours, below, never do.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // X-Forwarded-For / -Proto / -Host count only from these proxy addresses, or from this many hops.
    trustProxy: typeof trusted === 'number' ? (_address: string, hop: number) => hop < trusted : trusted,
    // Our own onRequest check answers 503 while closing, in the API's error shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // A request without Host reaches the Host check (400 in the API's shape) instead of Node's bare 400.
    http: { maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: false },
    clientErrorHandler: createClientErrorHandler(logger),
    frameworkErrors,
    genReqId: () => randomUUID(),
  });

  const routes: string[] = [];
  const routeTable = createRouteTable();
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    routeTable.add(route.url, methods);
    for (const method of methods) if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  // First of all hooks: a foreign Host or an over-long URL is refused before any credential is looked at.
  app.addHook('onRequest', edgeRequestCheck({ publicOrigin, closing: () => closing }));

  app.addHook('onRequest', async (request) => {
    // Only /auth needs the CSRF secrets, and a health check must not wait on the database.
    if (request.url.startsWith('/auth')) await secretsSource.refreshIfStale();
  });

  // JSON only: Fastify's text/plain parser would let a form-less cross-site POST through as a "simple request".
  app.removeContentTypeParser('text/plain');
  await app.register(tesseraFastify, { auth });

  app.setErrorHandler((error, request, reply) => {
    try {
      return app.tessera.errorHandler(error as FastifyError, request, reply);
    } catch {
      const unavailable = apiErrorFromException(error);
      if (unavailable !== null) return sendApiError(reply, unavailable);
      // Never a credential: no body, no headers, the route pattern rather than the path (which may hold an id).
      logger.error({ err: error, method: request.method, route: request.routeOptions.url ?? null }, 'request failed');
      return sendApiError(reply, apiError('internal_error'));
    }
  });
  app.setNotFoundHandler((request, reply) => {
    const allowed = routeTable.allowed(request.url);
    if (allowed.length === 0) return sendApiError(reply, apiError('not_found'));
    return sendApiError(reply, apiError('method_not_allowed', undefined, { Allow: allowed.join(', ') }));
  });

  app.addHook('onSend', async (request, reply, payload) => {
    setSecurityHeaders(request, reply);
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    // A 503 is a store that could not answer (HTTP layer or error handler), unless it is a full queue's `overloaded`.
    if (reply.statusCode === 503 && !overloadedReplies.has(reply)) metrics.storeErrors.inc({ route });
    metrics.requestDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    logger.info(
      {
        reqId: request.id,
        method: request.method,
        // The route pattern (/auth/sessions/:id), never the path: a path may hold a session id or a token.
        route: request.routeOptions.url ?? null,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });

  /** Counter keys for client IPs are keyed hashes: a dump of the counters names no one. */
  const keyOf = (purpose: string, value: string): string =>
    hmacBase64url(secrets.rateLimit, `${purpose}:${value}`).slice(0, 32);
  /** The 429 for a spent budget, logged once per refusal; `null` when the request may go on. */
  const limited = (verdict: RateLimitVerdict, name: string): ApiError | null => {
    if (verdict.allowed) return null;
    logger.info({ event: 'rate_limit.exceeded', limit: name }, 'auth event');
    return apiError('rate_limited', `Too many requests; try again in ${verdict.retryAfterSeconds} seconds.`, {
      'Retry-After': String(verdict.retryAfterSeconds),
    });
  };
  const sendMetrics = async (reply: FastifyReply) =>
    reply.header('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());

  /** Validates a JSON body; answers 400 naming the field (never echoing a value) and returns null when bad. */
  const parseBody = <T>(schema: z.ZodType<T>, request: FastifyRequest, reply: FastifyReply): T | null => {
    const result = schema.safeParse(request.body ?? {});
    if (result.success) return result.data;
    sendApiError(reply, apiError('invalid_request', describeBodyError(result.error)));
    return null;
  };

  /** The request's session on a route behind `requireAuth`, which has already refused requests without one. */
  const sessionOf = (request: FastifyRequest): Session => {
    const session = request.tessera.session;
    if (session === null) throw new Error('a session route ran without requireAuth');
    return session;
  };

  const currentAccount = async (request: FastifyRequest): Promise<Account | null> => {
    const userId = request.tessera.session?.userId;
    return userId === undefined ? null : runtime.accounts.findAccountById(userId);
  };

  /** Signs in through the adapter and answers as API.md says: cookie → `{user, session, csrfToken}`; token → the pair and `user`. */
  const loginAnswer = async (
    reply: FastifyReply,
    attempt: Parameters<FastifyReply['tesseraLogin']>[0],
    verifiedAccount: () => Account | null,
    status: number,
  ) => {
    const result = await reply.tesseraLogin(attempt);
    const account = verifiedAccount();
    if (result === null) return reply;
    if (account === null) throw new Error('a login succeeded without a verified account');
    metrics.sessionsCreated.inc({ transport: result.transport });
    if (result.transport === 'token') return reply.code(status).send({ ...result.tokens, user: publicUser(account) });
    return reply
      .code(status)
      .send({ user: publicUser(account), session: publicSession(result.session), csrfToken: result.csrfToken });
  };

  const { csrf, requireAuth } = app.tessera;
  const handlers: Record<RouteId, (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>> = {
    async signup(request, reply) {
      const body = parseBody(credentialsBody, request, reply);
      if (body === null) return reply;
      const email = normalizeEmail(body.email);
      if (email === null)
        return sendApiError(reply, apiError('invalid_request', '"email" is not a valid email address.'));
      // Both budgets are spent before any hashing, whether or not the email is taken: no free oracle, no free CPU.
      const throttled = (limit: 'signup_ip' | 'signup_email', verdict: RateLimitVerdict): FastifyReply | null => {
        if (verdict.allowed) return null;
        logger.info({ event: 'rate_limit.exceeded', limit, ip: request.ip }, 'auth event');
        const seconds = String(verdict.retryAfterSeconds);
        const message = `Too many sign-ups; try again in ${seconds} seconds.`;
        return sendApiError(reply, apiError('rate_limited', message, { 'Retry-After': seconds }));
      };
      const byIP = throttled('signup_ip', await signupGuard.consumeIP(request.ip));
      if (byIP !== null) return byIP;
      const byEmail = throttled('signup_email', await signupGuard.consumeEmail(email));
      if (byEmail !== null) return byEmail;
      // A place in the hash queue before the strength check: a flood gets its 503 without spending that CPU either.
      const slot = signupGuard.reserveHash();
      if (slot === null) return overloaded(reply, 'Too many sign-ups at once; try again shortly.');
      let passwordHash: string;
      try {
        const policy = checkPasswordPolicy(body.password, { email });
        if (policy !== null) {
          slot.release();
          // Refused before the email is looked up or a hash is made: the attempt goes back to the email's budget.
          await signupGuard.refundEmail(email);
          return sendApiError(reply, apiError('invalid_request', `"password": ${policy}`));
        }
        passwordHash = await slot.run(() => hashPassword(body.password));
      } finally {
        slot.release();
      }
      const account = await runtime.accounts.createAccount({ id: randomUUID(), email, passwordHash, createdAt: now() });
      if (account === null)
        return sendApiError(reply, apiError('conflict', 'An account with this email already exists.'));
      logger.info({ event: 'account.created', userId: account.id }, 'auth event');
      // A sign-up whose session cannot start (store down) leaves no account behind, so a retry can succeed.
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
        });
      } catch (error) {
        await rollBack();
        throw error;
      }
      if (started === null) {
        await rollBack();
        return reply;
      }
      metrics.sessionsCreated.inc({ transport: started.transport });
      const user = publicUser(account);
      if (started.transport === 'token') return reply.code(201).send({ ...started.tokens, user });
      return reply.code(201).send({ user, session: publicSession(started.session), csrfToken: started.csrfToken });
    },

    async login(request, reply) {
      const body = parseBody(credentialsBody, request, reply);
      if (body === null) return reply;
      const email = normalizeEmail(body.email) ?? body.email.trim().toLowerCase();
      let account: Account | null = null;
      return loginAnswer(
        reply,
        {
          account: email,
          transport: body.transport ?? 'cookie',
          // Unknown emails spend the same argon2 time and get the same answer as wrong passwords.
          verify: async () => {
            account = await runtime.accounts.findAccountByEmail(email);
            if (account === null) return verifyPasswordForNoOne(body.password).then(() => null);
            return (await verifyPassword(account.passwordHash, body.password)) ? account.id : null;
          },
          // Runs once the new session exists: the hash just verified must still be the account's. argon2 hashes
          // are salted, so any password change changes it; see changePassword for why this closes the race.
          confirm: async () => {
            const verified = account as Account | null;
            if (verified === null) return false;
            account = await runtime.accounts.findAccountById(verified.id);
            return account !== null && account.passwordHash === verified.passwordHash;
          },
        },
        () => account,
        200,
      );
    },

    async refresh(request, reply) {
      const refused = limited(await refreshLimit.consume(keyOf('refresh-ip', request.ip ?? 'unknown')), 'refresh');
      if (refused !== null) return sendApiError(reply, refused);
      const body = parseBody(refreshBody, request, reply);
      if (body === null) return reply;
      const pair = await reply.tesseraRefresh(body.refresh_token);
      metrics.refreshes.inc({ outcome: pair === null ? 'refused' : 'rotated' });
      return pair === null ? reply : reply.send(pair);
    },

    async logout(_request, reply) {
      if (!(await reply.tesseraLogout())) return reply;
      return reply.code(204).send();
    },

    async me(request, reply) {
      const account = await currentAccount(request);
      const session = request.tessera.session;
      if (account === null || session === null) return sendApiError(reply, apiError('unauthenticated'));
      return reply.send({ user: publicUser(account), session: publicSession(session) });
    },

    async csrfToken(request, reply) {
      const token = app.tessera.csrfToken(request);
      if (token === null)
        return sendApiError(reply, apiError('forbidden', 'CSRF tokens are for cookie sessions only.'));
      return reply.send({ csrfToken: token });
    },

    async listSessions(request, reply) {
      const session = sessionOf(request);
      const list = await sessions.listUserSessions(session.userId, { currentSessionId: session.id });
      return reply.send({
        sessions: list.map((entry) => ({
          id: entry.id,
          createdAt: iso(entry.createdAt),
          lastSeenAt: iso(entry.lastSeenAt),
          ip: entry.ip,
          userAgent: entry.userAgent,
          current: entry.current,
        })),
      });
    },

    async revokeSession(request, reply) {
      const session = sessionOf(request);
      const { id } = request.params as { id: string };
      if (!(await sessions.revokeUserSession(session.userId, id))) return sendApiError(reply, apiError('not_found'));
      return reply.code(204).send();
    },

    async revokeOtherSessions(request, reply) {
      const session = sessionOf(request);
      await sessions.revokeUserSessions(session.userId, { exceptSessionId: session.id });
      return reply.code(204).send();
    },

    async changePassword(request, reply) {
      const body = parseBody(passwordBody, request, reply);
      if (body === null) return reply;
      const session = sessionOf(request);
      const account = await currentAccount(request);
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
      await runtime.accounts.setPasswordHash(account.id, await hashPassword(body.newPassword));
      await sessions.revokeUserSessions(account.id, { exceptSessionId: session.id, reason: 'password_changed' });
      if (request.tessera.transport === 'cookie') {
        // A privilege change: the current session moves to a fresh id (its CSRF token changes with it).
        const rotated = await sessions.rotateSession(session.id);
        if (rotated === null) return sendApiError(reply, apiError('session_revoked'));
        reply.header('set-cookie', auth.cookie.serialize(rotated.token, rotated.session.expiresAt));
      }
      audit({ type: 'password.changed', userId: account.id, sessionId: session.id });
      return reply.code(204).send();
    },

    async jwks(_request, reply) {
      return reply.header('Cache-Control', 'public, max-age=300').send(await tokens.jwks());
    },

    async introspect(request, reply) {
      if (config.introspectSecret === null) return sendApiError(reply, apiError('not_found'));
      const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(request.headers.authorization ?? '')?.[1];
      const password =
        basic === undefined ? '' : Buffer.from(basic, 'base64').toString('utf8').split(':').slice(1).join(':');
      if (!constantTimeEqual(password, config.introspectSecret)) {
        return sendApiError(
          reply,
          apiError('unauthenticated', 'Introspection needs the client secret (HTTP Basic).', {
            'WWW-Authenticate': 'Basic realm="tessera-introspect"',
          }),
        );
      }
      // One client (the secret's holder) with a generous budget: a resource server may introspect on every request.
      const client = keyOf('introspect-client', config.introspectSecret);
      const refused = limited(await introspectLimit.consume(client), 'introspect');
      if (refused !== null) return sendApiError(reply, refused);
      const body = parseBody(introspectBody, request, reply);
      if (body === null) return reply;
      return reply.send(await tokens.introspect(body.token));
    },

    async healthz(_request, reply) {
      return reply.send({ status: 'ok' });
    },

    async readyz(_request, reply) {
      try {
        await Promise.all([runtime.sessions.get('readyz'), runtime.database.get('readyz')]);
        return reply.send({ status: 'ready' });
      } catch {
        return sendApiError(reply, apiError('unavailable', 'A store is unreachable.'));
      }
    },

    async metrics(request, reply) {
      // Off on the main port unless a token guards it (a listener of its own serves it otherwise).
      if (config.metricsToken === null) return sendApiError(reply, apiError('not_found'));
      const presented = /^Bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1] ?? '';
      if (!constantTimeEqual(presented, config.metricsToken)) {
        return sendApiError(
          reply,
          apiError('unauthenticated', 'Metrics need the configured bearer token.', {
            'WWW-Authenticate': 'Bearer realm="tessera-metrics"',
          }),
        );
      }
      return sendMetrics(reply);
    },

    async openapi(_request, reply) {
      return reply.send(openapi);
    },
  };

  const openapi = buildOpenAPIDocument();
  for (const route of ROUTES) {
    const preHandler = [
      ...(route.sameOrigin === true ? [app.tessera.sameOrigin] : []),
      ...(route.auth === 'session' ? [requireAuth] : []),
      ...(route.csrf ? [csrf] : []),
      ...(route.auth === 'session' ? [app.tessera.rateLimit] : []),
    ];
    app.route({ method: route.method, url: route.path, preHandler, handler: handlers[route.id] });
  }
  await app.register(pagesPlugin);

  return {
    app,
    routes,
    tokens,
    metrics,
    metricsApp: await createMetricsApp(config, logger, sendMetrics),
    publicOrigin,
  };
}

/**
 * The listener of its own for `/metrics` (`TESSERA_METRICS_PORT`): that one path, no credentials (it binds
 * loopback unless told otherwise), every other answer in the API's error shape.
 */
async function createMetricsApp(
  config: ServerConfig,
  logger: PinoLogger,
  sendMetrics: (reply: FastifyReply) => Promise<FastifyReply>,
): Promise<FastifyInstance | null> {
  if (config.metricsPort === null) return null;
  const metricsApp = Fastify({
    loggerInstance: logger.child({ listener: 'metrics' }) as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: 'idle',
    http: { maxHeaderSize: MAX_HEADER_BYTES },
    clientErrorHandler: createClientErrorHandler(logger),
    frameworkErrors,
  });
  metricsApp.get('/metrics', async (_request, reply) => sendMetrics(reply));
  metricsApp.setNotFoundHandler((_request, reply) => sendApiError(reply, apiError('not_found')));
  metricsApp.setErrorHandler((error, _request, reply) => {
    logger.error({ err: error, listener: 'metrics' }, 'metrics request failed');
    return sendApiError(reply, apiError('internal_error'));
  });
  metricsApp.addHook('onSend', async (request, reply, payload) => {
    setSecurityHeaders(request, reply);
    return payload;
  });
  return metricsApp;
}
