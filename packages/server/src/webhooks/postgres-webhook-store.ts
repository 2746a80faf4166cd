import type pg from 'pg';
import { runPostgresMigrations } from 'tessera-auth/stores/postgres';
import {
  toClaimed,
  toEndpoint,
  type ClaimedRow,
  type EndpointRow,
  type PendingCount,
  type WebhookStore,
} from './webhook-store.js';
import { postgresQueries } from '../database-calls.js';

const PENDING = 'delivered_at IS NULL AND abandoned_at IS NULL';

/** Applies the webhook tables' migrations (idempotent, safe under concurrent starts). */
export function migratePostgresWebhooks(pool: pg.Pool): Promise<number[]> {
  return runPostgresMigrations(pool, { schema: undefined, migrations: '"tessera_webhooks_migrations"' }, [
    {
      version: 1,
      name: 'create webhook endpoints and outbox',
      sql: `CREATE TABLE tessera_webhook_endpoints (
              url text PRIMARY KEY,
              secret text NOT NULL,
              created_at double precision NOT NULL
            );
            CREATE TABLE tessera_webhook_outbox (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              message_id text NOT NULL,
              endpoint text NOT NULL,
              event_type text NOT NULL,
              body text NOT NULL,
              created_at double precision NOT NULL,
              attempts integer NOT NULL DEFAULT 0,
              next_attempt_at double precision NOT NULL,
              lease_owner text,
              lease_until double precision,
              delivered_at double precision,
              abandoned_at double precision,
              last_error text
            );
            CREATE INDEX tessera_webhook_outbox_pending ON tessera_webhook_outbox (endpoint, id) WHERE ${PENDING}`,
    },
  ]);
}

/** The webhook tables in the server's PostgreSQL database (run {@link migratePostgresWebhooks} first). */
export function createPostgresWebhookStore(pool: pg.Pool): WebhookStore {
  const query = postgresQueries(pool, 'The webhook tables failed');
  return {
    async addEndpoint(endpoint) {
      const result = await query(
        'INSERT INTO tessera_webhook_endpoints (url, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (url) DO NOTHING',
        [endpoint.url, endpoint.sealedSecret, endpoint.createdAt],
      );
      return result.rowCount === 1;
    },
    async listEndpoints() {
      const result = await query<EndpointRow>('SELECT * FROM tessera_webhook_endpoints ORDER BY created_at, url', []);
      return result.rows.map(toEndpoint);
    },
    async findEndpoint(url) {
      const result = await query<EndpointRow>('SELECT * FROM tessera_webhook_endpoints WHERE url = $1', [url]);
      const row = result.rows[0];
      return row === undefined ? null : toEndpoint(row);
    },
    async removeEndpoint(url) {
      // One statement: the endpoint and its pending rows go together.
      const result = await query<{ removed: number; dropped: number }>(
        `WITH removed AS (DELETE FROM tessera_webhook_endpoints WHERE url = $1 RETURNING url),
              dropped AS (DELETE FROM tessera_webhook_outbox WHERE endpoint IN (SELECT url FROM removed) AND ${PENDING} RETURNING id)
         SELECT (SELECT COUNT(*) FROM removed)::int AS removed, (SELECT COUNT(*) FROM dropped)::int AS dropped`,
        [url],
      );
      const row = result.rows[0];
      return row === undefined || row.removed === 0 ? null : row.dropped;
    },
    async replaceEndpointSecret(url, expected, next) {
      const result = await query('UPDATE tessera_webhook_endpoints SET secret = $1 WHERE url = $2 AND secret = $3', [
        next,
        url,
        expected,
      ]);
      return result.rowCount === 1;
    },
    async enqueue(message, endpoints) {
      const result = await query(
        `INSERT INTO tessera_webhook_outbox (message_id, endpoint, event_type, body, created_at, next_attempt_at)
         SELECT $1, url, $2, $3, $4, $4
         FROM (SELECT unnest($5::text[]) AS url UNION SELECT url FROM tessera_webhook_endpoints) AS targets
         ORDER BY url`,
        [message.messageId, message.eventType, message.body, message.createdAt, [...endpoints]],
      );
      return result.rowCount ?? 0;
    },
    async claim({ owner, now, leaseMs }) {
      // Two workers may pick the same head row; the second waits for the first's row lock, then re-checks the
      // conditions on the row as the first left it (leased, or delivered) and skips it.
      const result = await query<ClaimedRow>(
        `UPDATE tessera_webhook_outbox SET lease_owner = $1, lease_until = $2
         WHERE id IN (SELECT DISTINCT ON (endpoint) id FROM tessera_webhook_outbox WHERE ${PENDING} ORDER BY endpoint, id)
           AND ${PENDING} AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
         RETURNING id, message_id, endpoint, event_type, body, attempts`,
        [owner, now + leaseMs, now],
      );
      return toClaimed(result.rows);
    },
    async markDelivered(id, owner, at) {
      await query(
        `UPDATE tessera_webhook_outbox SET delivered_at = $1, attempts = attempts + 1, lease_owner = NULL,
           lease_until = NULL, last_error = NULL WHERE id = $2 AND lease_owner = $3 AND ${PENDING}`,
        [at, id, owner],
      );
    },
    async markFailed(id, owner, failure) {
      await query(
        `UPDATE tessera_webhook_outbox SET attempts = attempts + 1, next_attempt_at = COALESCE($1, next_attempt_at),
           abandoned_at = $2, last_error = $3, lease_owner = NULL, lease_until = NULL
         WHERE id = $4 AND lease_owner = $5 AND ${PENDING}`,
        [failure.nextAttemptAt, failure.nextAttemptAt === null ? failure.at : null, failure.error, id, owner],
      );
    },
    async purge(before) {
      const result = await query('DELETE FROM tessera_webhook_outbox WHERE delivered_at < $1 OR abandoned_at < $1', [
        before,
      ]);
      return result.rowCount ?? 0;
    },
    async countPending() {
      const result = await query<PendingCount>(
        `SELECT endpoint, COUNT(*)::int AS pending FROM tessera_webhook_outbox WHERE ${PENDING} GROUP BY endpoint ORDER BY endpoint`,
        [],
      );
      return result.rows;
    },
  };
}
