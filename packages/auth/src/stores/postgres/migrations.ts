import pg from 'pg';
import { InvalidOptionError, StoreUnavailableError } from '../../core/errors/errors.js';

/** One step of a schema's history. `sql` runs once, inside a transaction with its history row. */
export interface PostgresMigration {
  version: number;
  name: string;
  sql: string;
}

/** Where a PostgreSQL store keeps its tables. Shared by the store and {@link migratePostgres}. */
export interface PostgresTableOptions {
  /**
   * Prefix of every table, so several stores can share one database.
   * Lower-case letters, digits and `_`, starting with a letter.
   * @default "tessera_"
   */
  tablePrefix?: string;
  /**
   * Schema of the tables, created by {@link migratePostgres} when missing. Same
   * character rules as `tablePrefix`.
   * @default the connection's `search_path` (usually `public`)
   */
  schema?: string;
}

/** Validated, quoted table names. Internal: only built from checked identifiers. */
export interface PostgresTables {
  schema: string | undefined;
  prefix: string;
  sessions: string;
  values: string;
  migrations: string;
}

const IDENTIFIER = /^[a-z][a-z0-9_]{0,30}$/;

function identifierOption(name: string, value: unknown): string {
  if (typeof value !== 'string' || !IDENTIFIER.test(value)) {
    throw new InvalidOptionError(`"${name}" must be 1–31 lower-case letters, digits or "_", starting with a letter`);
  }
  return value;
}

/**
 * Checks `tablePrefix` and `schema` and builds the table names from them. The
 * names are interpolated into SQL, so this check is what keeps that safe.
 */
export function resolvePostgresTables(options: PostgresTableOptions = {}): PostgresTables {
  const prefix = identifierOption('tablePrefix', options.tablePrefix ?? 'tessera_');
  const schema = options.schema === undefined ? undefined : identifierOption('schema', options.schema);
  const qualify = (table: string): string => (schema === undefined ? `"${table}"` : `"${schema}"."${table}"`);
  return {
    schema,
    prefix,
    sessions: qualify(`${prefix}sessions`),
    values: qualify(`${prefix}values`),
    migrations: qualify(`${prefix}migrations`),
  };
}

/** The versioned schema of the PostgreSQL store. Append; never edit an applied step. */
export function postgresStoreMigrations(options: PostgresTableOptions = {}): PostgresMigration[] {
  const { prefix, sessions, values } = resolvePostgresTables(options);
  // Timestamps are double precision: a JavaScript number round-trips through it exactly and pg
  // parses it back to a number, where bigint would come back as a string.
  return [
    {
      version: 1,
      name: 'create sessions and values',
      sql: `
        CREATE TABLE ${sessions} (
          id text PRIMARY KEY,
          secret_hash text NOT NULL,
          user_id text NOT NULL,
          created_at double precision NOT NULL,
          last_seen_at double precision NOT NULL,
          idle_expires_at double precision NOT NULL,
          absolute_expires_at double precision NOT NULL,
          expires_at double precision NOT NULL,
          revoked_at double precision,
          ip text,
          user_agent text,
          data text NOT NULL
        );
        CREATE INDEX "${prefix}sessions_user_id" ON ${sessions} (user_id, created_at);
        CREATE INDEX "${prefix}sessions_expires_at" ON ${sessions} (expires_at);
        CREATE TABLE ${values} (
          key text PRIMARY KEY,
          value text NOT NULL,
          expires_at double precision
        );
        CREATE INDEX "${prefix}values_expires_at" ON ${values} (expires_at) WHERE expires_at IS NOT NULL;
      `,
    },
    {
      version: 2,
      name: 'sessions: sign-in ip and user agent',
      sql: `ALTER TABLE ${sessions} ADD COLUMN sign_in_ip text, ADD COLUMN sign_in_user_agent text;`,
    },
    {
      version: 3,
      name: 'sessions: authentication time, own idle timeout, cookie lifetime',
      sql: `ALTER TABLE ${sessions} ADD COLUMN authenticated_at double precision, ADD COLUMN idle_timeout_ms double precision, ADD COLUMN cookie_lifetime text;`,
    },
    {
      version: 4,
      name: 'sessions: new-device mark',
      sql: `ALTER TABLE ${sessions} ADD COLUMN new_device_until double precision;`,
    },
  ];
}

/**
 * Applies the store's migrations not yet recorded in `<prefix>migrations`, in
 * version order, each in its own transaction together with its history row.
 * Returns the versions it applied (empty when the schema is current).
 *
 * Safe to run at every start and from several processes at once: a session
 * `pg_advisory_lock` keyed on the history table serialises the runners, and
 * the history is read only after the lock is held. The store does not call
 * it: run it at deploy or start time (it needs DDL rights the request path
 * should not have). It opens one connection of its own with the pool's
 * settings, minus statement, lock and query timeouts, and closes it afterwards.
 *
 * @throws StoreUnavailableError when the database cannot be reached or a step fails (the step is rolled back).
 * @example
 * const pool = connectPostgres(process.env.DATABASE_URL!);
 * await migratePostgres(pool);
 * const store = createPostgresStore(pool);
 */
export async function migratePostgres(pool: pg.Pool, options: PostgresTableOptions = {}): Promise<number[]> {
  const tables = resolvePostgresTables(options);
  return runPostgresMigrations(pool, tables, postgresStoreMigrations(options));
}

/**
 * The runner behind {@link migratePostgres}, for any versioned schema: `tables`
 * names the history table (and schema), already validated and quoted.
 */
export async function runPostgresMigrations(
  pool: pg.Pool,
  tables: Pick<PostgresTables, 'schema' | 'migrations'>,
  migrations: readonly PostgresMigration[],
): Promise<number[]> {
  // A connection of its own, with the pool's settings but without its per-query bounds: a
  // migration, or the wait for another runner, may outlast the bound set for requests.
  const Client = (pool.options.Client ?? pg.Client) as new (config: pg.ClientConfig) => pg.Client;
  const client = new Client({
    ...pool.options,
    query_timeout: undefined,
    statement_timeout: undefined,
    lock_timeout: undefined,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new StoreUnavailableError('Could not connect to PostgreSQL to migrate', { cause: error });
  }
  let failure: Error | undefined;
  const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      throw new StoreUnavailableError(`PostgreSQL migration failed: ${what}`, { cause: error });
    }
  };
  const lockKey = ['tessera:migrate', tables.migrations];
  try {
    await step('lifting timeouts', () => client.query('SET statement_timeout = 0; SET lock_timeout = 0'));
    await step('taking the migration lock', () =>
      client.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', lockKey),
    );
    try {
      if (tables.schema !== undefined) {
        await step('creating the schema', () => client.query(`CREATE SCHEMA IF NOT EXISTS "${tables.schema}"`));
      }
      await step('creating the history table', () =>
        client.query(
          `CREATE TABLE IF NOT EXISTS ${tables.migrations} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        ),
      );
      const { rows } = await step('reading the history', () =>
        client.query<{ version: number }>(`SELECT version FROM ${tables.migrations}`),
      );
      const done = new Set(rows.map((row) => row.version));
      const applied: number[] = [];
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        if (done.has(migration.version)) continue;
        await step(`version ${migration.version} (${migration.name})`, async () => {
          await client.query('BEGIN');
          try {
            await client.query(migration.sql);
            await client.query(`INSERT INTO ${tables.migrations} (version, name) VALUES ($1, $2)`, [
              migration.version,
              migration.name,
            ]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK').catch(() => undefined);
            throw error;
          }
        });
        applied.push(migration.version);
      }
      return applied;
    } finally {
      if (failure === undefined) {
        await client.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', lockKey).catch(() => undefined);
      }
    }
  } finally {
    // Closing the connection also drops the lock should the unlock above have been skipped.
    await client.end().catch(() => undefined);
  }
}
