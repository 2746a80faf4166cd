import { randomInt, randomUUID } from 'node:crypto';
import type { Logger } from 'tessera-auth';
import type { WebhookKeys } from './endpoints.js';
import { describeWebhookURL, webhookHeaders } from './signing.js';
import type { ClaimedDelivery, WebhookStore } from './webhook-store.js';

/** How the delivery worker paces itself. Durations are milliseconds. */
export interface WebhookDeliveryTiming {
  /** How often the outbox is read when nothing wakes the worker (events of other instances, retries due). */
  pollIntervalMs: number;
  /** One attempt's bound: connecting, sending and the receiver's answer. */
  attemptTimeoutMs: number;
  /** The wait after the first failed attempt; it doubles after each one. */
  firstRetryDelayMs: number;
  /** The longest wait between two attempts. */
  maxRetryDelayMs: number;
  /** Attempts before an event is given up for that endpoint. */
  maxAttempts: number;
  /** How long delivered and abandoned rows stay in the outbox. */
  retentionMs: number;
}

/**
 * 10 s after the first failure, doubling up to 2 hours: the 20th and last
 * attempt comes about 23 hours after the first.
 */
export const DEFAULT_WEBHOOK_TIMING: WebhookDeliveryTiming = {
  pollIntervalMs: 5_000,
  attemptTimeoutMs: 10_000,
  firstRetryDelayMs: 10_000,
  maxRetryDelayMs: 2 * 3600_000,
  maxAttempts: 20,
  retentionMs: 7 * 86_400_000,
};

/** Spare time a lease gives beyond an attempt's bound, so a slow attempt is not leased twice. */
const LEASE_MARGIN_MS = 30_000;
const PURGE_INTERVAL_MS = 3600_000;

/**
 * The wait before the next attempt after `attempts` failed ones: doubling
 * from `firstRetryDelayMs`, capped at `maxRetryDelayMs`, then spread by
 * ±20 % (from `node:crypto`) so endpoints that failed together do not retry together.
 */
export function retryDelayMs(attempts: number, timing: WebhookDeliveryTiming): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 40);
  const base = Math.min(timing.firstRetryDelayMs * 2 ** exponent, timing.maxRetryDelayMs);
  return Math.round((base * (80 + randomInt(41))) / 100);
}

/** Counts deliveries by outcome: `delivered`, `failed` (an attempt that will be retried), `abandoned`. */
export type DeliveryCounter = (outcome: 'delivered' | 'failed' | 'abandoned') => void;

/** The worker that delivers the outbox. */
export interface WebhookDispatcher {
  /** Starts the loop (once). */
  start(): void;
  /** Reads the outbox now instead of at the next poll: an event was just recorded. */
  wake(): void;
  /** Stops the loop: an attempt in flight is cut short and left due at once. Resolves when the loop has ended. */
  stop(): Promise<void>;
}

/**
 * Delivers the outbox with at-least-once semantics: each endpoint gets its
 * events one at a time, in the order they were recorded; a failed attempt
 * (no 2xx answer within the timeout) is retried with exponential backoff
 * until `maxAttempts`, then given up with a log line. Several workers (one per
 * server instance) may share the database: a row is leased before it is sent.
 */
export function createWebhookDispatcher(options: {
  store: WebhookStore;
  keys: WebhookKeys;
  logger: Logger;
  count?: DeliveryCounter;
  timing?: Partial<WebhookDeliveryTiming>;
  now?: () => number;
}): WebhookDispatcher {
  const { store, keys, logger } = options;
  const timing: WebhookDeliveryTiming = { ...DEFAULT_WEBHOOK_TIMING, ...options.timing };
  const now = options.now ?? Date.now;
  const count = options.count ?? (() => undefined);
  const owner = randomUUID();
  const leaseMs = timing.attemptTimeoutMs + LEASE_MARGIN_MS;
  const stopping = new AbortController();
  let loop: Promise<void> | null = null;
  let pendingWake = false;
  let wakeUp: (() => void) | null = null;
  let lastPurge = 0;
  let failingSince: number | null = null;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (pendingWake || stopping.signal.aborted) {
        pendingWake = false;
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wakeUp = done;
    });

  async function attempt(delivery: ClaimedDelivery): Promise<void> {
    const where = describeWebhookURL(delivery.endpoint);
    const key = await keys.keyOf(delivery.endpoint);
    if (key === null) {
      await store.markFailed(delivery.id, owner, { at: now(), nextAttemptAt: null, error: 'endpoint removed' });
      logger.warn(
        { event: 'webhook.abandoned', endpoint: where, messageId: delivery.messageId, type: delivery.eventType },
        'webhook given up: its endpoint is no longer configured',
      );
      count('abandoned');
      return;
    }
    let error: string;
    try {
      const response = await fetch(delivery.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tessera-Webhooks/1',
          ...webhookHeaders(key, delivery.messageId, Math.floor(now() / 1000), delivery.body),
        },
        body: delivery.body,
        redirect: 'manual',
        signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(timing.attemptTimeoutMs)]),
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) {
        await store.markDelivered(delivery.id, owner, now());
        count('delivered');
        logger.debug(
          { event: 'webhook.delivered', endpoint: where, messageId: delivery.messageId },
          'webhook delivered',
        );
        return;
      }
      error = `HTTP ${response.status}`;
    } catch (cause) {
      error = stopping.signal.aborted ? 'shutdown' : describeFailure(cause);
    }
    const attempts = delivery.attempts + 1;
    const at = now();
    if (stopping.signal.aborted) {
      // Cut short by a shutdown: due again at once, for whichever instance runs next.
      await store.markFailed(delivery.id, owner, { at, nextAttemptAt: at, error });
      return;
    }
    const giveUp = attempts >= timing.maxAttempts;
    const nextAttemptAt = giveUp ? null : at + retryDelayMs(attempts, timing);
    await store.markFailed(delivery.id, owner, { at, nextAttemptAt, error });
    const line = { endpoint: where, messageId: delivery.messageId, type: delivery.eventType, attempts, error };
    if (giveUp) {
      count('abandoned');
      logger.warn({ event: 'webhook.abandoned', ...line }, `webhook given up after ${attempts} attempts`);
    } else {
      count('failed');
      logger.info(
        { event: 'webhook.failed', ...line, retryAt: new Date(nextAttemptAt ?? at).toISOString() },
        'webhook attempt failed; it will be retried',
      );
    }
  }

  /** One pass: lease what is due and send it; returns how many rows it leased. */
  async function pass(): Promise<number> {
    const at = now();
    if (at - lastPurge >= PURGE_INTERVAL_MS) {
      lastPurge = at;
      await store.purge(at - timing.retentionMs);
    }
    const due = await store.claim({ owner, now: at, leaseMs });
    await Promise.all(
      due.map((delivery) =>
        attempt(delivery).catch((error: unknown) => {
          logger.error({ err: error, endpoint: describeWebhookURL(delivery.endpoint) }, 'webhook attempt failed');
        }),
      ),
    );
    return due.length;
  }

  async function run(): Promise<void> {
    while (!stopping.signal.aborted) {
      let leased = 0;
      try {
        leased = await pass();
        if (failingSince !== null) logger.info({ event: 'webhook.outbox_recovered' }, 'webhook outbox readable again');
        failingSince = null;
      } catch (error) {
        if (failingSince === null) {
          failingSince = now();
          logger.warn({ err: error, event: 'webhook.outbox_failed' }, 'webhook outbox unreadable; retrying');
        }
      }
      // Something was sent: more may be queued behind it, so look again at once.
      if (leased === 0) await sleep(timing.pollIntervalMs);
    }
  }

  return {
    start() {
      loop ??= run();
    },
    wake() {
      if (wakeUp === null) pendingWake = true;
      else wakeUp();
    },
    async stop() {
      stopping.abort();
      wakeUp?.();
      await loop;
    },
  };
}

/** A transport failure in a few words (the error's name and code, never a response body). */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return 'failed';
  if (error.name === 'TimeoutError') return 'timed out';
  const cause = error.cause instanceof Error ? error.cause : null;
  const code = (cause as NodeJS.ErrnoException | null)?.code;
  return code ?? cause?.message ?? error.message;
}
