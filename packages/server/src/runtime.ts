import BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import type { KeyDocumentCodec, Store } from 'tessera-auth';
import type { Logger } from 'tessera-auth';
import { createMemoryStore } from 'tessera-auth/stores/memory';
import { connectPostgres, createPostgresStore } from 'tessera-auth/stores/postgres';
import { migratePostgres } from 'tessera-auth/stores/postgres';
import { connectRedis, connectRedisCluster } from 'tessera-auth/stores/redis';
import { createRedisStore } from 'tessera-auth/stores/redis';
import { createSQLiteStore } from 'tessera-auth/stores/sqlite';
import type { AccountStore } from './accounts/account-store.js';
import type { AdminKeyStore } from './admin/admin-keys.js';
import { createPostgresAdminKeyStore } from './admin/postgres-admin-key-store.js';
import { createSQLiteAdminKeyStore } from './admin/sqlite-admin-key-store.js';
import { createPostgresAccountStore, migratePostgresAccounts } from './accounts/postgres-account-store.js';
import { createSQLiteAccountStore } from './accounts/sqlite-account-store.js';
import type { IntrospectionClientStore } from './clients/client-store.js';
import { createPostgresClientStore, migratePostgresClients } from './clients/postgres-client-store.js';
import { createSQLiteClientStore, SQLITE_CLIENTS_HISTORY } from './clients/sqlite-client-store.js';
import type { ServerConfig } from './config.js';
import { prepareSQLiteFiles, tightenSQLiteFiles } from './data-files.js';
import { resealSecrets, sealSecretsAtRest, secretsKeyCodec, type SecretsKey } from './secrets-at-rest.js';
import { resealWebhookSecrets } from './webhooks/endpoints.js';
import { createPostgresWebhookStore, migratePostgresWebhooks } from './webhooks/postgres-webhook-store.js';
import { createSQLiteWebhookStore, SQLITE_WEBHOOKS_HISTORY } from './webhooks/sqlite-webhook-store.js';
import type { WebhookStore } from './webhooks/webhook-store.js';

/** The migrations one schema of the database received while the runtime opened. */
export interface AppliedMigrations {
  /**
   * What the schema holds: `sessions` (sessions, values, keys), `accounts`, `webhooks` (endpoints, outbox) or
   * `clients` (introspection clients).
   */
  schema: 'sessions' | 'accounts' | 'webhooks' | 'clients';
  /** The versions applied, ascending; empty when the schema was already current. */
  applied: number[];
}

/** The encryption at rest of the database's signing keys and root secrets. */
export interface SecretsAtRest {
  /** The id of the key they are sealed under; `null` when they are stored in plain text. */
  keyId: string | null;
  /** Re-encrypts every sealed document (and webhook secret) under `next`; returns how many it re-wrote. This runtime keeps the old key. */
  rekey(next: SecretsKey): Promise<number>;
}

/** The server's connections, opened from its configuration. */
export interface ServerRuntime {
  /**
   * The database store: keys, server secrets, and sessions unless another
   * store is configured. Root secrets are sealed under `TESSERA_SECRETS_KEY`
   * on their way in (see {@link sealSecretsAtRest}).
   */
  database: Store;
  /** How the token service stores its signing keys: sealed under `TESSERA_SECRETS_KEY` when set. */
  keyCodec: KeyDocumentCodec;
  /** Where sessions, refresh tokens, the blocklist and the rate-limit counters live. */
  sessions: Store;
  accounts: AccountStore;
  /** The webhook endpoints added by the CLI and the outbox of events to deliver, in the database. */
  webhooks: WebhookStore;
  /** The registered introspection clients (`tessera clients`), beside the accounts. */
  clients: IntrospectionClientStore;
  /** The admin API's keys, in the account database. */
  adminKeys: AdminKeyStore;
  /** What opening migrated, for `tessera migrate`. */
  migrations: AppliedMigrations[];
  secretsAtRest: SecretsAtRest;
  /** A short description for the start-up log line, with no credentials. */
  describe: { database: string; sessions: string };
  /** Closes every connection (stores first, then the clients they share). */
  close(): Promise<void>;
}

/** The migration history tables of the SQLite stores, as their constructors name them. */
const SQLITE_HISTORY = [
  { schema: 'sessions', table: 'tessera_migrations' },
  { schema: 'accounts', table: 'tessera_accounts_migrations' },
  { schema: 'webhooks', table: SQLITE_WEBHOOKS_HISTORY },
  { schema: 'clients', table: SQLITE_CLIENTS_HISTORY },
] as const;

/** The versions recorded in a SQLite history table, ascending; none when the table does not exist yet. */
function sqliteVersions(db: BetterSqlite3.Database, table: string): Set<number> {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  if (!exists) return new Set();
  return new Set(
    db
      .prepare<[], { version: number }>(`SELECT version FROM ${table} ORDER BY version`)
      .all()
      .map((row) => row.version),
  );
}

/**
 * Opens the database and the session store the configuration names, running
 * migrations first. Nothing here listens; {@link createTesseraServer} does.
 */
export async function openServerRuntime(config: ServerConfig, logger: Logger): Promise<ServerRuntime> {
  const closers: (() => unknown)[] = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    let database: Store;
    let accounts: AccountStore;
    let webhooks: WebhookStore;
    let clients: IntrospectionClientStore;
    let adminKeys: AdminKeyStore;
    let migrations: AppliedMigrations[];
    if (config.database.kind === 'sqlite') {
      prepareSQLiteFiles(config.database.path, logger);
      const db = new BetterSqlite3(config.database.path);
      closers.push(() => {
        db.close();
      });
      // Deleted and overwritten rows are zeroed, so a key that was re-encrypted or erased leaves no copy in free pages.
      db.pragma('secure_delete = ON');
      // The SQLite stores migrate inside their constructors, so what they applied is read from their history.
      const before = SQLITE_HISTORY.map(({ table }) => sqliteVersions(db, table));
      database = createSQLiteStore(db, { logger });
      accounts = createSQLiteAccountStore(db);
      webhooks = createSQLiteWebhookStore(db);
      clients = createSQLiteClientStore(db);
      adminKeys = createSQLiteAdminKeyStore(db);
      migrations = SQLITE_HISTORY.map(({ schema, table }, index) => ({
        schema,
        applied: [...sqliteVersions(db, table)].filter((version) => !before[index]?.has(version)),
      }));
      // Opening may have made the -wal and -shm files; SQLite gives them the database file's mode, this makes sure.
      tightenSQLiteFiles(config.database.path, logger);
    } else {
      const pool: pg.Pool = connectPostgres(config.database.url);
      closers.push(() => pool.end());
      migrations = [
        { schema: 'sessions', applied: await migratePostgres(pool) },
        { schema: 'accounts', applied: await migratePostgresAccounts(pool) },
        { schema: 'webhooks', applied: await migratePostgresWebhooks(pool) },
        { schema: 'clients', applied: await migratePostgresClients(pool) },
      ];
      database = createPostgresStore(pool, { logger });
      // Before the pool ends (closers run last first): closing the store ends its LISTEN connection.
      const store = database;
      closers.push(() => store.close());
      accounts = createPostgresAccountStore(pool);
      webhooks = createPostgresWebhookStore(pool);
      clients = createPostgresClientStore(pool);
      adminKeys = createPostgresAdminKeyStore(pool);
    }

    // A database from before the key was set has its secrets sealed now, before anything reads them.
    const raw = database;
    const sealedNow = await resealSecrets(raw, config.secretsKey, config.secretsKey);
    if (sealedNow > 0) {
      logger.info({ event: 'secrets.sealed', documents: sealedNow }, 'signing keys and secrets encrypted at rest');
    }
    database = sealSecretsAtRest(raw, config.secretsKey);
    const secretsAtRest: SecretsAtRest = {
      keyId: config.secretsKey?.id ?? null,
      rekey: async (next) =>
        (await resealSecrets(raw, config.secretsKey, next)) +
        (await resealWebhookSecrets(webhooks, config.secretsKey, next)),
    };

    const location = config.sessionStore;
    let sessions: Store = database;
    let sessionsLabel = 'the database';
    switch (location.kind) {
      case 'database':
        break;
      case 'memory':
        sessions = createMemoryStore({ logger });
        closers.push(() => sessions.close());
        sessionsLabel = 'memory (lost on restart)';
        break;
      case 'redis': {
        const client = await connectRedis(location.url);
        closers.push(() => endRedis(client));
        sessions = createRedisStore(client, { logger });
        closers.push(() => sessions.close()); // its subscriber connection, before the client ends
        sessionsLabel = `redis ${new URL(location.url).host}`;
        break;
      }
      case 'redis-cluster': {
        const cluster = await connectRedisCluster(location.nodes);
        closers.push(() => endRedis(cluster));
        sessions = createRedisStore(cluster, { logger });
        closers.push(() => sessions.close());
        sessionsLabel = `redis cluster (${location.nodes.length} seed nodes)`;
        break;
      }
    }
    return {
      database,
      keyCodec: secretsKeyCodec(config.secretsKey, config.secretsKey),
      sessions,
      accounts,
      webhooks,
      clients,
      adminKeys,
      migrations,
      secretsAtRest,
      describe: {
        database: config.database.kind === 'sqlite' ? `sqlite ${config.database.path}` : 'postgres',
        sessions: sessionsLabel,
      },
      close,
    };
  } catch (error) {
    await close().catch(() => undefined);
    throw error;
  }
}

/** Ends a Redis connection: `QUIT` when it can still be sent, else drop the socket (a server that went away). */
async function endRedis(client: { quit(): Promise<unknown>; disconnect(): void }): Promise<void> {
  await client.quit().catch(() => client.disconnect());
}
