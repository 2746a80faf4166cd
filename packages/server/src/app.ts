import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { tesseraFastify, sendApiError } from 'tessera-auth/fastify';
import {
  createLoginThrottle,
  createLeasedRequestLimit,
  createRequestLimit,
  type LoginThrottle,
  type RateLimitVerdict,
  type RequestLimit,
} from 'tessera-auth';
import type { TokenService } from 'tessera-auth';
import { hmacBase64url } from './crypto.js';
import { apiError, type ApiError } from 'tessera-auth/http';
import { createHttpAuth } from 'tessera-auth/http';
import { createAccountLifecycle } from './accounts/account-lifecycle.js';
import { createSignupGuard } from './accounts/signup-guard.js';
import { createAdminKeyGuard } from './admin/admin-auth.js';
import { createAuditSink, type AuditSink } from './audit.js';
import type { ServerConfig } from './config.js';
import {
  createClientErrorHandler,
  frameworkErrors,
  loopbackOrigin,
  MAX_HEADER_BYTES,
  setSecurityHeaders,
} from './edge.js';
import { addCorsHooks } from './cors.js';
import { formBodyParser } from './form-body.js';
import { addRequestHooks, addResponseHooks } from './hooks.js';
import { createFingerprint } from './logging.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { buildOpenAPIDocument, ROUTES } from './openapi.js';
import { pagesPlugin } from './pages/pages-plugin.js';
import { registerRoutes, type RouteContext } from './routes/route.js';
import type { ServerRuntime } from './runtime.js';
import { createServerSecretsSource } from './secrets.js';
import { alignSigningAlgorithm, createServerLifetimes, createServerServices } from './services.js';
import { createStoreFailureLog, observeStore, type StoreFailureReporter } from './store-failures.js';
import type { WebhookDeliveryTiming } from './webhooks/delivery.js';
import { createServerWebhooks } from './webhooks/server-webhooks.js';

/** Options of {@link createTesseraServer}. */
export interface TesseraServerOptions {
  config: ServerConfig;
  runtime: ServerRuntime;
  logger: PinoLogger;
  /** The clock, epoch milliseconds (tests). @default Date.now */
  now?: () => number;
  /** The webhook worker's pace (tests keep retries short). @default DEFAULT_WEBHOOK_TIMING */
  webhookTiming?: Partial<WebhookDeliveryTiming>;
}

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
 * The runtime's stores (the session store holds the rate-limit counters too), each reporting its failed calls (backend, operation, driver error)
 * so that a 503 is explained once in the log. Identity is kept where the database is the session store.
 */
function observeRuntime(runtime: ServerRuntime, config: ServerConfig, report: StoreFailureReporter): ServerRuntime {
  const sessions = observeStore(runtime.sessions, runtime.sessions.name, report);
  const database =
    runtime.database === runtime.sessions ? sessions : observeStore(runtime.database, runtime.database.name, report);
  return {
    ...runtime,
    sessions,
    database,
    accounts: observeStore(runtime.accounts, config.database.kind, report),
    clients: observeStore(runtime.clients, config.database.kind, report),
    adminKeys: observeStore(runtime.adminKeys, config.database.kind, report),
  };
}

/** `http://host:port` of a listening server, with an IPv6 host in brackets. */
export function listeningURL(app: FastifyInstance, host: string, fallbackPort: number): string {
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : fallbackPort;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Builds the Tessera server: every endpoint of docs/api.md on Fastify, through the
 * Fastify adapter and the HTTP layer the library users get.
 */
export async function createTesseraServer(options: TesseraServerOptions): Promise<TesseraServer> {
  const { config, logger } = options;
  const now = options.now ?? Date.now;
  const runtime = observeRuntime(options.runtime, config, createStoreFailureLog(logger, { now }));
  // Re-read once a minute, so a `tessera secrets rotate` reaches every instance without a restart.
  const secretsSource = await createServerSecretsSource(runtime.database, { now, logger });
  const secrets = secretsSource.current();
  const countLive = runtime.sessions.countLiveSessions?.bind(runtime.sessions);
  const metrics = createServerMetrics(countLive);
  const logAudit = createAuditSink(logger, createFingerprint(secrets.fingerprint), metrics);
  // Webhooks subscribe to the audit events: delivered by a worker that runs from `ready` until `close`.
  const webhooks = createServerWebhooks({
    store: runtime.webhooks,
    configured: config.webhooks,
    kek: config.secretsKey,
    logger,
    count: (outcome) => metrics.webhookDeliveries.inc({ outcome }),
    ...(options.webhookTiming === undefined ? {} : { timing: options.webhookTiming }),
    now,
  });
  const audit: AuditSink = (event) => {
    logAudit(event);
    webhooks.record(event);
  };

  /** The origin users reach: configured, or the address this server bound (asked per request, once listening). */
  const publicOrigin = (): string => config.publicURL ?? listeningURL(app, config.host, config.port);
  const { sessions, tokens } = createServerServices(config, runtime, { logger, onEvent: audit, now, publicOrigin });
  const rotatedTo = await alignSigningAlgorithm(config, tokens);
  if (rotatedTo !== null) {
    logger.info(
      { event: 'keys.algorithm_changed', algorithm: config.signingAlgorithm, kid: rotatedTo },
      `TESSERA_SIGNING_ALG changed: now signing with a new ${config.signingAlgorithm} key; the previous key verifies until its tokens expire`,
    );
  }
  const budgets = createBudgets(config, runtime, secrets.rateLimit, logger);
  const auth = createHttpAuth({
    sessions,
    tokens,
    csrfSecrets: () => secretsSource.current().csrf,
    allowedOrigins: config.allowedOrigins,
    // Never the request's Host: a DNS-rebinding page picks that. Without a public URL the Host check allows loopback names only.
    ownOrigin: (request) => config.publicURL ?? loopbackOrigin(request.headers('host') ?? '', publicOrigin()),
    ...(budgets.sessionRequestLimit === null ? {} : { sessionRequestLimit: budgets.sessionRequestLimit }),
    cookie: { insecure: config.insecureDevelopment },
    lifetimes: createServerLifetimes(config),
    now,
    loginThrottle: budgets.loginThrottle,
    onEvent: audit,
    logger,
  });

  const app = createFastify(config, logger);
  app.addHook('onReady', async () => webhooks.start());
  // After the listener closed: the events of the last requests are written, then the worker stops.
  app.addHook('onClose', async () => webhooks.stop());
  const routes = addRequestHooks(app, { publicOrigin, secretsSource });
  addCorsHooks(app, config.allowedOrigins);
  // JSON only: Fastify's text/plain parser would let a form-less cross-site POST through as a "simple request".
  app.removeContentTypeParser('text/plain');
  // Forms only where RFC 7662 asks for them; every other route answers a form 415.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    formBodyParser(
      ROUTES.filter((route) => route.bodyTypes?.includes('application/x-www-form-urlencoded')).map((r) => r.path),
    ),
  );
  await app.register(tesseraFastify, { auth });
  const overloadedReplies = new WeakSet<FastifyReply>();
  addResponseHooks(app, { logger, metrics, routes, overloadedReplies });

  const adminKeyGuard = createAdminKeyGuard({ adminKeys: runtime.adminKeys, audit, now });
  const sendMetrics = async (reply: FastifyReply) =>
    reply.header('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  registerRoutes(app, ROUTES, {
    config,
    runtime,
    logger,
    now,
    metrics,
    sessions,
    tokens,
    auth,
    tessera: app.tessera,
    ...budgets,
    audit,
    lifecycle: createAccountLifecycle({ accounts: runtime.accounts, sessions, audit, now }),
    requireAdminKey: adminKeyGuard.preHandler,
    adminKeyOf: adminKeyGuard.adminKeyOf,
    overloaded: (reply, message) => {
      overloadedReplies.add(reply);
      return sendApiError(reply, apiError('overloaded', message, { 'Retry-After': '2' }));
    },
    sendMetrics,
    openapi: buildOpenAPIDocument(),
  });
  await app.register(pagesPlugin);

  return {
    app,
    routes: routes.list,
    tokens,
    metrics,
    metricsApp: await createMetricsApp(config, logger, sendMetrics),
    publicOrigin,
  };
}

/** The rate-limit budgets of the server, and how the routes spend them. */
interface ServerBudgets extends Pick<
  RouteContext,
  'signupGuard' | 'refreshLimit' | 'introspectLimit' | 'keyOf' | 'limited'
> {
  /** One budget of password guesses per account (or known device) and IP, spent by logins and password changes alike. */
  loginThrottle: LoginThrottle;
  /** `TESSERA_SESSION_RATE_LIMIT` per session and minute; `null` when off. */
  sessionRequestLimit: RequestLimit | null;
}

function createBudgets(
  config: ServerConfig,
  runtime: ServerRuntime,
  keySecret: Uint8Array,
  logger: PinoLogger,
): ServerBudgets {
  // The counters live beside the sessions: one atomic increment per budget, on whichever backend that is.
  const store = runtime.sessions;
  const limit = (name: string, points: number) => createRequestLimit({ store, points, durationSeconds: 60, name });
  return {
    loginThrottle: createLoginThrottle({
      store,
      keySecret,
      maxAttemptsPerAccount: config.loginMaxAttempts,
      maxAttemptsPerIP: config.loginMaxAttemptsPerIP,
    }),
    // Leased: an instance spends a chunk of a session's budget locally, about one increment per tenth of it.
    sessionRequestLimit:
      config.sessionRateLimit > 0
        ? createLeasedRequestLimit({ store, points: config.sessionRateLimit, durationSeconds: 60, name: 'session' })
        : null,
    signupGuard: createSignupGuard({
      store,
      keySecret,
      maxPerIP: config.signupMaxPerIP,
      maxPerEmail: config.signupMaxPerEmail,
    }),
    refreshLimit: limit('refresh-ip', config.refreshRateLimit),
    introspectLimit: limit('introspect-client', config.introspectRateLimit),
    // Counter keys for client IPs are keyed hashes: a dump of the counters names no one.
    keyOf: (purpose, value) => hmacBase64url(keySecret, `${purpose}:${value}`).slice(0, 32),
    limited: (verdict: RateLimitVerdict, name: string): ApiError | null => {
      if (verdict.allowed) return null;
      logger.info({ event: 'rate_limit.exceeded', limit: name }, 'auth event');
      return apiError('rate_limited', `Too many requests; try again in ${verdict.retryAfterSeconds} seconds.`, {
        'Retry-After': String(verdict.retryAfterSeconds),
      });
    },
  };
}

/** The main listener's Fastify instance, before any hook or route. */
function createFastify(config: ServerConfig, logger: PinoLogger): FastifyInstance {
  const trusted = config.trustProxy;
  return Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Fastify's own request lines include the URL verbatim (query strings too): ours never do.
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
