import type { Cluster, Redis } from 'ioredis';
import {
  createInvalidationChannel,
  type ClosableSessionInvalidation,
  type InvalidationConnection,
  type InvalidationConnectionEvents,
} from '../../core/store/invalidation.js';
import type { Logger } from '../../internal/logger.js';

/** The client name of a subscriber (`CLIENT LIST` shows it): the channel, cut to characters Redis accepts. */
export const redisSubscriberName = (channel: string): string => `${channel.replace(/[^A-Za-z0-9_:.-]/g, '_')}:sub`;

/**
 * The Redis side of a store's {@link ClosableSessionInvalidation}: one
 * dedicated subscriber connection on `channel`, where the store's scripts
 * PUBLISH the ids they end. It is a duplicate of the store's client (for a
 * Cluster, of one of its nodes, taken in turn at each reconnection: a classic
 * PUBLISH reaches every node's subscribers), never reconnects by itself and
 * never resubscribes by itself: the channel is healthy exactly from the
 * confirmed SUBSCRIBE to the first `close` or `error`, and the shared channel
 * logic opens a new subscriber after that.
 */
export function redisInvalidation(
  client: Redis | Cluster,
  channel: string,
  logger: Logger,
): ClosableSessionInvalidation {
  let turn = 0;
  const base = (): Redis => {
    if (!client.isCluster) return client as Redis;
    const nodes = (client as Cluster).nodes('all');
    const node = nodes[turn++ % Math.max(nodes.length, 1)];
    if (node === undefined) throw new Error('the Redis Cluster has no known node to subscribe on');
    return node;
  };

  const connect = async (events: InvalidationConnectionEvents): Promise<InvalidationConnection> => {
    const subscriber = base().duplicate({
      lazyConnect: true,
      autoResubscribe: false,
      retryStrategy: () => null,
      enableOfflineQueue: true,
      connectionName: redisSubscriberName(channel),
    });
    subscriber.on('error', (error: unknown) => events.lost(error));
    subscriber.on('close', () => events.lost(new Error('subscriber connection closed')));
    subscriber.on('end', () => events.lost(new Error('subscriber connection ended')));
    subscriber.on('message', (from: string, message: string) => {
      if (from === channel) events.message(message);
    });
    try {
      await subscriber.connect();
      await subscriber.subscribe(channel);
    } catch (error) {
      subscriber.disconnect();
      throw error;
    }
    return {
      close: async () => {
        subscriber.disconnect();
      },
    };
  };

  return createInvalidationChannel(connect, { name: 'redis', logger });
}
