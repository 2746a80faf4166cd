import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  createInvalidationChannel,
  type ClosableSessionInvalidation,
  type InvalidationConnection,
  type InvalidationConnectionEvents,
} from '../../core/store/invalidation.js';
import type { Logger } from '../../internal/logger.js';
import type { PostgresTables } from './migrations.js';

/** PostgreSQL's longest identifier, bytes; a longer channel name is an error for `pg_notify`. */
const MAX_IDENTIFIER_LENGTH = 63;

/**
 * The `NOTIFY` channel of a store's tables: `[<schema>.]<prefix>invalidate`,
 * or a digest of it when that is longer than an identifier may be. Built from
 * checked identifiers only, so it is safe to quote into SQL.
 */
export function postgresInvalidationChannel(tables: Pick<PostgresTables, 'schema' | 'prefix'>): string {
  const name = `${tables.schema === undefined ? '' : `${tables.schema}.`}${tables.prefix}invalidate`;
  if (name.length <= MAX_IDENTIFIER_LENGTH) return name;
  return `tessera_invalidate_${createHash('sha256').update(name).digest('hex').slice(0, 32)}`;
}

/**
 * `sql`, a statement returning changed session rows, made to also
 * `pg_notify` each row's id on `channel` in the same statement (so in the same
 * transaction: the message goes out at commit, and only if it commits).
 */
export function announceWithNotify(channel: string): (sql: string) => string {
  return (sql) =>
    `WITH changed AS (${sql}) SELECT changed.*, pg_notify('${channel}', changed.id) AS notified FROM changed`;
}

/**
 * The PostgreSQL side of a store's {@link ClosableSessionInvalidation}: a
 * dedicated connection (configured like the pool's, but outside it, so it
 * never takes a pool slot) doing `LISTEN` on the store's channel. Healthy from
 * the confirmed `LISTEN` to the connection's first `error` or `end`; the
 * shared channel logic then connects again with backoff.
 */
export function postgresInvalidation(pool: pg.Pool, channel: string, logger: Logger): ClosableSessionInvalidation {
  const connect = async (events: InvalidationConnectionEvents): Promise<InvalidationConnection> => {
    const client = new pg.Client({ ...pool.options, application_name: 'tessera-invalidation' });
    client.on('error', (error) => events.lost(error));
    client.on('end', () => events.lost(new Error('LISTEN connection ended')));
    client.on('notification', (notification) => {
      if (notification.channel === channel) events.message(notification.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${channel}"`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return { close: () => client.end().catch(() => undefined) };
  };
  return createInvalidationChannel(connect, { name: 'postgres', logger });
}
