import { silentLogger, type Logger } from '../../internal/logger.js';

/**
 * What a {@link SessionInvalidation} tells a subscriber. Every call is
 * synchronous and must not throw.
 */
export interface SessionInvalidationListener {
  /** These sessions changed (revoked, deleted, rotated away, data replaced) on some instance. */
  invalidate(ids: readonly string[]): void;
  /** Something changed that the message could not name: forget everything. */
  invalidateAll(): void;
  /** The channel is subscribed again: messages published from now on arrive. */
  up(): void;
  /** The channel lost its subscription: messages may be missed until the next {@link up}. */
  down(): void;
}

/**
 * A store's broadcast of session changes, so an instance that keeps
 * validated sessions in memory drops them when another instance (or the CLI)
 * revokes them. The store publishes from inside its own mutations, so every
 * writer publishes, whether or not it caches.
 *
 * A subscriber may trust its cache only while {@link healthy} is `true`:
 * between a `down` and the next `up` messages can be lost, so a cache must be
 * emptied and bypassed (fail closed).
 */
export interface SessionInvalidation {
  /**
   * Adds a listener; the channel connects on the first one. Returns the
   * function that removes it.
   */
  subscribe(listener: SessionInvalidationListener): () => void;
  /** Whether the channel is subscribed now, so no message published from now on can be missed. */
  healthy(): boolean;
}

/** What {@link createInvalidationChannel} hands a connection: where its messages and its failure go. */
export interface InvalidationConnectionEvents {
  /** A message: session ids separated by spaces. */
  message(payload: string): void;
  /** The connection failed or closed; the channel reconnects with a new one. Later calls are ignored. */
  lost(error?: unknown): void;
}

/** One live subscription of a backend (a Redis subscriber, a PostgreSQL `LISTEN` connection). */
export interface InvalidationConnection {
  /** Ends the subscription and releases its connection. */
  close(): Promise<void>;
}

/** Options of {@link createInvalidationChannel}. */
export interface InvalidationChannelOptions {
  /** The store's name, for logs. */
  name: string;
  /** Where connection failures are reported. */
  logger?: Logger;
  /**
   * Milliseconds to wait before reconnection attempt `attempt` (1, 2, …).
   * @default 100 ms doubling up to 2 s
   */
  reconnectDelay?: (attempt: number) => number;
}

/** A {@link SessionInvalidation} its store can shut down. */
export interface ClosableSessionInvalidation extends SessionInvalidation {
  /** Ends the subscription for good: listeners get `down`, and no reconnection follows. */
  close(): Promise<void>;
}

const defaultReconnectDelay = (attempt: number): number => Math.min(100 * 2 ** (attempt - 1), 2000);

/** Session ids are base64url; anything else in a message means it cannot be trusted to name what changed. */
const MESSAGE = /^[A-Za-z0-9_-]+( [A-Za-z0-9_-]+)*$/;

/**
 * The backend-neutral half of a store's {@link SessionInvalidation}: the
 * listeners, the health flag, and reconnection with backoff. The backend
 * only opens one subscription at a time with `connect`, which resolves once
 * the subscription is confirmed by the server (only then is the channel
 * healthy) and reports a failure through `events.lost`.
 *
 * The channel connects on the first `subscribe`, so a store nobody caches
 * from (the CLI) never opens the extra connection.
 */
export function createInvalidationChannel(
  connect: (events: InvalidationConnectionEvents) => Promise<InvalidationConnection>,
  options: InvalidationChannelOptions,
): ClosableSessionInvalidation {
  const logger = options.logger ?? silentLogger;
  const reconnectDelay = options.reconnectDelay ?? defaultReconnectDelay;
  const listeners = new Set<SessionInvalidationListener>();
  let started = false;
  let closed = false;
  let isUp = false;
  let attempt = 0;
  let generation = 0;
  let connection: InvalidationConnection | null = null;
  let timer: NodeJS.Timeout | null = null;

  const tell = (call: (listener: SessionInvalidationListener) => void): void => {
    for (const listener of [...listeners]) {
      try {
        call(listener);
      } catch (error) {
        logger.warn({ store: options.name, error: String(error) }, 'session invalidation listener failed');
      }
    }
  };

  const deliver = (payload: string): void => {
    if (MESSAGE.test(payload)) {
      const ids = payload.split(' ');
      tell((listener) => listener.invalidate(ids));
    } else {
      tell((listener) => listener.invalidateAll());
    }
  };

  const release = (): void => {
    const current = connection;
    connection = null;
    current?.close().catch(() => undefined);
  };

  const lose = (mine: number, error: unknown): void => {
    if (mine !== generation || closed) return;
    generation++;
    release();
    if (isUp) {
      isUp = false;
      logger.warn({ store: options.name, error: String(error) }, 'session invalidation channel down');
      tell((listener) => listener.down());
    }
    schedule();
  };

  const open = async (): Promise<void> => {
    timer = null;
    const mine = ++generation;
    try {
      const opened = await connect({
        message: (payload) => {
          if (mine === generation && isUp) deliver(payload);
        },
        lost: (error) => lose(mine, error),
      });
      if (mine !== generation || closed) {
        await opened.close().catch(() => undefined);
        return;
      }
      connection = opened;
      attempt = 0;
      isUp = true;
      tell((listener) => listener.up());
    } catch (error) {
      lose(mine, error);
    }
  };

  const schedule = (): void => {
    if (closed || timer !== null) return;
    attempt++;
    timer = setTimeout(() => void open(), reconnectDelay(attempt));
    timer.unref();
  };

  return {
    subscribe(listener) {
      listeners.add(listener);
      if (!started && !closed) {
        started = true;
        void open();
      }
      return () => {
        listeners.delete(listener);
      };
    },
    healthy: () => isUp && !closed,
    async close() {
      if (closed) return;
      closed = true;
      generation++;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      const current = connection;
      connection = null;
      if (isUp) {
        isUp = false;
        tell((listener) => listener.down());
      }
      await current?.close().catch(() => undefined);
    },
  };
}
