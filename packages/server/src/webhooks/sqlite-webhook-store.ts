import type { Database } from 'better-sqlite3';
import { migrateSQLite } from 'tessera-auth/stores/sqlite';
import {
  toClaimed,
  toEndpoint,
  type ClaimedRow,
  type EndpointRow,
  type PendingCount,
  type WebhookStore,
} from './webhook-store.js';
import { sqliteCalls } from '../database-calls.js';

/** The migration history table of the webhook tables. */
export const SQLITE_WEBHOOKS_HISTORY = 'tessera_webhooks_migrations';

const PENDING = 'delivered_at IS NULL AND abandoned_at IS NULL';

/** The webhook tables in the server's SQLite database (migrated on creation). */
export function createSQLiteWebhookStore(db: Database): WebhookStore {
  migrateSQLite(db, SQLITE_WEBHOOKS_HISTORY, [
    {
      version: 1,
      name: 'create webhook endpoints and outbox',
      sql: `CREATE TABLE tessera_webhook_endpoints (
              url TEXT PRIMARY KEY,
              secret TEXT NOT NULL,
              created_at INTEGER NOT NULL
            ) STRICT;
            CREATE TABLE tessera_webhook_outbox (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              message_id TEXT NOT NULL,
              endpoint TEXT NOT NULL,
              event_type TEXT NOT NULL,
              body TEXT NOT NULL,
              created_at INTEGER NOT NULL,
              attempts INTEGER NOT NULL DEFAULT 0,
              next_attempt_at INTEGER NOT NULL,
              lease_owner TEXT,
              lease_until INTEGER,
              delivered_at INTEGER,
              abandoned_at INTEGER,
              last_error TEXT
            ) STRICT;
            CREATE INDEX tessera_webhook_outbox_pending ON tessera_webhook_outbox (endpoint, id) WHERE ${PENDING};`,
    },
  ]);
  const insertEndpoint = db.prepare<[string, string, number]>(
    'INSERT INTO tessera_webhook_endpoints (url, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (url) DO NOTHING',
  );
  const allEndpoints = db.prepare<[], EndpointRow>('SELECT * FROM tessera_webhook_endpoints ORDER BY created_at, url');
  const endpointByURL = db.prepare<[string], EndpointRow>('SELECT * FROM tessera_webhook_endpoints WHERE url = ?');
  const deleteEndpoint = db.prepare<[string]>('DELETE FROM tessera_webhook_endpoints WHERE url = ?');
  const dropPending = db.prepare<[string]>(`DELETE FROM tessera_webhook_outbox WHERE endpoint = ? AND ${PENDING}`);
  const replaceSecret = db.prepare<[string, string, string]>(
    'UPDATE tessera_webhook_endpoints SET secret = ? WHERE url = ? AND secret = ?',
  );
  const insertRow = db.prepare<[string, string, string, string, number, number]>(
    `INSERT INTO tessera_webhook_outbox (message_id, endpoint, event_type, body, created_at, next_attempt_at)
     VALUES (?, ?, ?, ?, ?, ?)`,
  );
  const storedURLs = db.prepare<[], { url: string }>('SELECT url FROM tessera_webhook_endpoints ORDER BY url');
  // One statement: SQLite runs it alone, so two processes on one file never lease the same row.
  const claimHeads = db.prepare<[string, number, number, number], ClaimedRow>(
    `UPDATE tessera_webhook_outbox SET lease_owner = ?, lease_until = ?
     WHERE id IN (SELECT MIN(id) FROM tessera_webhook_outbox WHERE ${PENDING} GROUP BY endpoint)
       AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
     RETURNING id, message_id, endpoint, event_type, body, attempts`,
  );
  const delivered = db.prepare<[number, number, string]>(
    `UPDATE tessera_webhook_outbox SET delivered_at = ?, attempts = attempts + 1, lease_owner = NULL, lease_until = NULL,
       last_error = NULL WHERE id = ? AND lease_owner = ? AND ${PENDING}`,
  );
  const failed = db.prepare<[number | null, number | null, string, number, string]>(
    `UPDATE tessera_webhook_outbox SET attempts = attempts + 1, next_attempt_at = COALESCE(?, next_attempt_at),
       abandoned_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL
     WHERE id = ? AND lease_owner = ? AND ${PENDING}`,
  );
  const purgeRows = db.prepare<[number, number]>(
    'DELETE FROM tessera_webhook_outbox WHERE delivered_at < ? OR abandoned_at < ?',
  );
  const pendingCounts = db.prepare<[], PendingCount>(
    `SELECT endpoint, COUNT(*) AS pending FROM tessera_webhook_outbox WHERE ${PENDING} GROUP BY endpoint ORDER BY endpoint`,
  );

  const guard = sqliteCalls(db, 'The webhook tables failed');

  const enqueueRows = db.transaction(
    (message: Parameters<WebhookStore['enqueue']>[0], endpoints: readonly string[]) => {
      const targets = new Set([...endpoints, ...storedURLs.all().map((row) => row.url)]);
      for (const endpoint of targets) {
        insertRow.run(
          message.messageId,
          endpoint,
          message.eventType,
          message.body,
          message.createdAt,
          message.createdAt,
        );
      }
      return targets.size;
    },
  );
  const removeEndpoint = db.transaction((url: string) => {
    if (deleteEndpoint.run(url).changes === 0) return null;
    return dropPending.run(url).changes;
  });

  return {
    addEndpoint: (endpoint) =>
      guard(() => insertEndpoint.run(endpoint.url, endpoint.sealedSecret, endpoint.createdAt).changes === 1),
    listEndpoints: () => guard(() => allEndpoints.all().map(toEndpoint), true),
    findEndpoint: (url) =>
      guard(() => {
        const row = endpointByURL.get(url);
        return row === undefined ? null : toEndpoint(row);
      }, true),
    removeEndpoint: (url) => guard(() => removeEndpoint.immediate(url)),
    replaceEndpointSecret: (url, expected, next) => guard(() => replaceSecret.run(next, url, expected).changes === 1),
    enqueue: (message, endpoints) => guard(() => enqueueRows.immediate(message, endpoints)),
    claim: ({ owner, now, leaseMs }) => guard(() => toClaimed(claimHeads.all(owner, now + leaseMs, now, now))),
    markDelivered: (id, owner, at) =>
      guard(() => {
        delivered.run(at, id, owner);
      }),
    markFailed: (id, owner, failure) =>
      guard(() => {
        const abandonedAt = failure.nextAttemptAt === null ? failure.at : null;
        failed.run(failure.nextAttemptAt, abandonedAt, failure.error, id, owner);
      }),
    purge: (before) => guard(() => purgeRows.run(before, before).changes),
    countPending: () => guard(() => pendingCounts.all(), true),
  };
}
