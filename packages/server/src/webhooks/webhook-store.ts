/** An endpoint added with `tessera webhooks add`, as the database keeps it. */
export interface StoredWebhookEndpoint {
  url: string;
  /** The signing secret as stored: JSON text of the sealed document (or of the plain secret without a KEK). */
  sealedSecret: string;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** One event for one endpoint, as the delivery worker claimed it. */
export interface ClaimedDelivery {
  /** The outbox row's id: rows of one endpoint are delivered in this order. */
  id: number;
  /** The `webhook-id`: one per event, the same for every endpoint and every attempt. */
  messageId: string;
  endpoint: string;
  eventType: string;
  /** The exact JSON body, fixed when the event was recorded. */
  body: string;
  /** Attempts made before this one. */
  attempts: number;
}

/** An event to record: what every endpoint will receive. */
export interface OutboxMessage {
  messageId: string;
  eventType: string;
  body: string;
  /** Epoch milliseconds. */
  createdAt: number;
}

/** What happened to an attempt that did not deliver. */
export interface FailedAttempt {
  /** Epoch milliseconds. */
  at: number;
  /** When to try again; `null`: give up (the row is kept, marked abandoned). */
  nextAttemptAt: number | null;
  /** Why, for the row (a status code or an error name; never a response body). */
  error: string;
}

/** Pending (not yet delivered, not abandoned) rows of one endpoint. */
export interface PendingCount {
  endpoint: string;
  pending: number;
}

/**
 * The webhook tables of the server's database (SQLite or PostgreSQL): the
 * endpoints added by the CLI, and the outbox of events to deliver (one row
 * per event and endpoint).
 */
export interface WebhookStore {
  /** Adds an endpoint; `false` when one with this URL exists. */
  addEndpoint(endpoint: StoredWebhookEndpoint): Promise<boolean>;
  listEndpoints(): Promise<StoredWebhookEndpoint[]>;
  findEndpoint(url: string): Promise<StoredWebhookEndpoint | null>;
  /** Removes an endpoint and drops its pending rows; `null` when there is none, else how many rows it dropped. */
  removeEndpoint(url: string): Promise<number | null>;
  /** Replaces an endpoint's stored secret if it is still `expected` (re-encryption under a new key). */
  replaceEndpointSecret(url: string, expected: string, next: string): Promise<boolean>;
  /**
   * Records an event for `endpoints` and for every stored endpoint, in one
   * write (a URL in both gets one row). Returns how many rows it wrote.
   */
  enqueue(message: OutboxMessage, endpoints: readonly string[]): Promise<number>;
  /**
   * Leases, for `leaseMs`, the oldest pending row of each endpoint whose
   * next attempt is due and that no live lease holds: one at a time per
   * endpoint, so an endpoint receives its events in order. Concurrent
   * workers never lease the same row while a lease lives.
   */
  claim(options: { owner: string; now: number; leaseMs: number }): Promise<ClaimedDelivery[]>;
  markDelivered(id: number, owner: string, at: number): Promise<void>;
  markFailed(id: number, owner: string, failure: FailedAttempt): Promise<void>;
  /** Deletes delivered and abandoned rows older than `before` (epoch ms); returns how many. */
  purge(before: number): Promise<number>;
  /** Pending rows per endpoint, for listings. */
  countPending(): Promise<PendingCount[]>;
}

/** An outbox row as both SQL databases return a claimed one. */
export interface ClaimedRow {
  id: number | string;
  message_id: string;
  endpoint: string;
  event_type: string;
  body: string;
  attempts: number;
}

/** Maps a claimed row, oldest first. */
export const toClaimed = (rows: ClaimedRow[]): ClaimedDelivery[] =>
  rows
    .map((row) => ({
      id: Number(row.id),
      messageId: row.message_id,
      endpoint: row.endpoint,
      eventType: row.event_type,
      body: row.body,
      attempts: Number(row.attempts),
    }))
    .sort((a, b) => a.id - b.id);

/** An endpoint row as both SQL databases return it. */
export interface EndpointRow {
  url: string;
  secret: string;
  created_at: number;
}

export const toEndpoint = (row: EndpointRow): StoredWebhookEndpoint => ({
  url: row.url,
  sealedSecret: row.secret,
  createdAt: Number(row.created_at),
});
