import { resolve } from 'node:path';
import { scheduleCleanup } from 'tessera-auth';
import { createTesseraServer, listeningURL } from './app.js';
import { ConfigurationError, loadServerConfig } from './config.js';
import { createServerLogger } from './logging.js';
import { openServerRuntime } from './runtime.js';

/** A running server, and how to stop it gracefully. */
export interface RunningServer {
  /** `http://host:port` it listens on. */
  url: string;
  /** `http://host:port` of the metrics listener (`TESSERA_METRICS_PORT`); `null` without one. */
  metricsUrl: string | null;
  /** The origin users reach (`TESSERA_PUBLIC_URL`, or the loopback address bound): the pages live under it. */
  publicUrl: string;
  /** Where the data lives, for people (no credentials): the database and the sessions' store. */
  data: {
    /** `sqlite <absolute path>` or `postgres`. */
    database: string;
    /** `the database` when the sessions live there too, else e.g. `redis host:port`. */
    sessions: string;
    /** The database was empty before this start: its schema, signing keys and secrets were just created. */
    created: boolean;
  };
  /** Stops accepting connections, finishes requests in flight, then closes the stores. */
  stop(): Promise<void>;
}

/**
 * Starts the server from the environment: validates the configuration (a bad
 * value throws a message naming the variable and the rule), opens the stores,
 * listens, sweeps expired data hourly, and shuts down gracefully on SIGTERM
 * or SIGINT when `handleSignals` is set.
 */
export async function startServer(
  env: NodeJS.ProcessEnv = process.env,
  options: { handleSignals?: boolean } = {},
): Promise<RunningServer> {
  const loaded = loadServerConfig(env);
  if (!loaded.ok) throw new ConfigurationError(loaded.errors);
  const config = loaded.config;
  const logger = createServerLogger(config.logLevel);
  if (config.secretsKey === null) {
    logger.warn(
      { event: 'secrets.unencrypted' },
      'TESSERA_SECRETS_KEY is not set: the signing keys and root secrets are stored unencrypted in the database. Set it (openssl rand -base64 32) to encrypt them at rest.',
    );
  }
  const runtime = await openServerRuntime(config, logger);
  let server: Awaited<ReturnType<typeof createTesseraServer>> | undefined;
  try {
    server = await createTesseraServer({ config, runtime, logger });
    await server.app.listen({ port: config.port, host: config.host });
    if (server.metricsApp !== null && config.metricsPort !== null) {
      await server.metricsApp.listen({ port: config.metricsPort, host: config.metricsHost });
    }
  } catch (error) {
    await server?.app.close();
    await server?.metricsApp?.close();
    await runtime.close();
    throw error;
  }
  const cleanups = [...new Set([runtime.sessions, runtime.database])].map((store) =>
    scheduleCleanup(store, {
      intervalSeconds: 3600,
      logger,
      onResult: (removed) => logger.info({ event: 'cleanup', store: store.name, removed }, 'expired data swept'),
    }),
  );
  const running = server;
  const url = listeningURL(running.app, config.host, config.port);
  const metricsUrl =
    running.metricsApp === null ? null : listeningURL(running.metricsApp, config.metricsHost, config.metricsPort ?? 0);
  logger.info(
    {
      event: 'server.started',
      url,
      publicUrl: running.publicOrigin(),
      metricsUrl,
      database: runtime.describe.database,
      sessions: runtime.describe.sessions,
    },
    `Tessera listening on ${url}`,
  );

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      logger.info({ event: 'server.stopping' }, 'shutting down: finishing requests in flight');
      await Promise.all([running.app.close(), running.metricsApp?.close()]);
      await Promise.all(cleanups.map((cleanup) => cleanup.stop()));
      await runtime.close();
      logger.info({ event: 'server.stopped' }, 'stopped');
    })());
  if (options.handleSignals === true) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        stop().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      });
    }
  }
  const database =
    config.database.kind === 'sqlite' &&
    config.database.path !== ':memory:' &&
    !config.database.path.startsWith('file:')
      ? `sqlite ${resolve(config.database.path)}`
      : runtime.describe.database;
  const created = runtime.migrations.length > 0 && runtime.migrations.every(({ applied }) => applied.includes(1));
  return {
    url,
    metricsUrl,
    publicUrl: running.publicOrigin(),
    data: { database, sessions: runtime.describe.sessions, created },
    stop,
  };
}
