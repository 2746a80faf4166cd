import { randomBytes, type KeyObject } from 'node:crypto';
import type { Logger } from 'tessera-auth';
import type { SecretsKey } from '../secrets-at-rest.js';
import { createWebhookDispatcher, type DeliveryCounter, type WebhookDeliveryTiming } from './delivery.js';
import { createWebhookKeys } from './endpoints.js';
import { webhookFromAuditEvent, type AuditEventLike } from './events.js';
import type { WebhookStore } from './webhook-store.js';

/** The endpoints of the environment: `TESSERA_WEBHOOK_URLS`, signed with `TESSERA_WEBHOOK_SECRET`. */
export interface ConfiguredWebhooks {
  urls: readonly string[];
  /** `null` exactly when there are no URLs. */
  secret: KeyObject | null;
}

/** The server's webhooks: the audit subscriber that fills the outbox, and the worker that empties it. */
export interface ServerWebhooks {
  /** Records the webhook an audit event becomes, if any, for every endpoint (returns at once; the write follows). */
  record(event: AuditEventLike): void;
  /** Starts delivering. */
  start(): void;
  /** Waits for the events being recorded, then stops the worker. */
  stop(): Promise<void>;
}

/** A `webhook-id`: unique per event, the same for each endpoint and each attempt. */
const newMessageId = (): string => `msg_${randomBytes(18).toString('base64url')}`;

/**
 * Webhooks for one server process. Events are written to the outbox one
 * after the other, in the order they happened in this process, so each
 * endpoint receives them in that order; a failed write is logged (the event
 * is lost for webhooks, never for the request that caused it).
 */
export function createServerWebhooks(options: {
  store: WebhookStore;
  configured: ConfiguredWebhooks;
  kek: SecretsKey | null;
  logger: Logger;
  count?: DeliveryCounter;
  timing?: Partial<WebhookDeliveryTiming>;
  now?: () => number;
}): ServerWebhooks {
  const { store, configured, logger } = options;
  const now = options.now ?? Date.now;
  const dispatcher = createWebhookDispatcher({
    store,
    keys: createWebhookKeys({ store, kek: options.kek, configured }),
    logger,
    ...(options.count === undefined ? {} : { count: options.count }),
    ...(options.timing === undefined ? {} : { timing: options.timing }),
    now,
  });
  let writes: Promise<void> = Promise.resolve();
  return {
    record(event) {
      const payload = webhookFromAuditEvent(event, now());
      if (payload === null) return;
      const message = {
        messageId: newMessageId(),
        eventType: payload.type,
        body: JSON.stringify(payload),
        createdAt: now(),
      };
      writes = writes
        .then(() => store.enqueue(message, configured.urls))
        .then(
          (rows) => {
            if (rows > 0) dispatcher.wake();
          },
          (error: unknown) => {
            logger.error(
              { err: error, event: 'webhook.not_recorded', type: payload.type, messageId: message.messageId },
              'a webhook event could not be written to the outbox',
            );
          },
        );
    },
    start: () => dispatcher.start(),
    async stop() {
      await writes;
      await dispatcher.stop();
    },
  };
}
