import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The server's Prometheus metrics, on a registry of its own (several servers in one process stay apart). */
export interface ServerMetrics {
  registry: Registry;
  logins: Counter<'outcome'>;
  refreshes: Counter<'outcome'>;
  reuseDetections: Counter;
  revocations: Counter<'reason'>;
  sessionsCreated: Counter<'transport'>;
  /** Present when the session store can count its live sessions (not Redis). */
  activeSessions: Gauge | null;
  requestDuration: Histogram<'method' | 'route' | 'status'>;
  storeErrors: Counter<'route'>;
  /** Webhook delivery attempts by outcome: `delivered`, `failed` (to be retried), `abandoned` (given up). */
  webhookDeliveries: Counter<'outcome'>;
}

/**
 * Creates the metrics. `countActiveSessions`, when given, is asked at scrape
 * time for the number of live sessions.
 */
export function createServerMetrics(countActiveSessions?: () => Promise<number>): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  return {
    registry,
    logins: new Counter({
      name: 'tessera_logins_total',
      help: 'Login attempts by outcome (success, invalid_credentials, rate_limited).',
      labelNames: ['outcome'],
      registers,
    }),
    refreshes: new Counter({
      name: 'tessera_refreshes_total',
      help: 'Refresh-token uses by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    reuseDetections: new Counter({
      name: 'tessera_refresh_reuse_detected_total',
      help: 'Refresh tokens replayed outside the grace window (each revoked a session).',
      registers,
    }),
    revocations: new Counter({
      name: 'tessera_sessions_revoked_total',
      help: 'Sessions revoked, by reason.',
      labelNames: ['reason'],
      registers,
    }),
    sessionsCreated: new Counter({
      name: 'tessera_sessions_created_total',
      help: 'Sessions created, by transport.',
      labelNames: ['transport'],
      registers,
    }),
    activeSessions:
      countActiveSessions === undefined
        ? null
        : new Gauge({
            name: 'tessera_active_sessions',
            help: 'Live sessions (not expired, not revoked) at scrape time.',
            registers,
            async collect() {
              this.set(await countActiveSessions());
            },
          }),
    requestDuration: new Histogram({
      name: 'tessera_http_request_duration_seconds',
      help: 'HTTP request latency by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    storeErrors: new Counter({
      name: 'tessera_store_errors_total',
      help: 'Requests answered 503 because a store could not answer (failed closed), by route.',
      labelNames: ['route'],
      registers,
    }),
    webhookDeliveries: new Counter({
      name: 'tessera_webhook_deliveries_total',
      help: 'Webhook delivery attempts by outcome (delivered, failed: to be retried, abandoned: given up).',
      labelNames: ['outcome'],
      registers,
    }),
  };
}
