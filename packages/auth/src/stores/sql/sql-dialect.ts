import type { SqlValue } from '../../core/store/session-record.js';

/** One statement with `?` placeholders and its parameters. */
export interface SqlStatement {
  sql: string;
  params: SqlValue[];
}

/** What a statement gave back: its rows (a `SELECT` or `RETURNING`), and how many rows it changed or returned. */
export interface SqlResult {
  rows: Record<string, unknown>[];
  count: number;
}

/**
 * Statements that must run in one transaction, written once for both
 * dialects: the generator yields each statement and receives its result, so
 * SQLite can drive it synchronously inside `BEGIN IMMEDIATE` and PostgreSQL
 * asynchronously on one pooled connection.
 */
export type SqlWork<T> = Generator<SqlStatement, T, SqlResult>;

/** Runs `sql` inside a {@link SqlWork} and hands back its result. */
export function* statement(sql: string, params: SqlValue[]): SqlWork<SqlResult> {
  return yield { sql, params };
}

/**
 * What the shared SQL store needs from a database: where its tables are, how
 * to run a statement and a transaction. Everything else (the statements, the
 * record codec, expiry) is shared.
 */
export interface SqlDialect {
  /** The store's name in logs and errors: `sqlite`, `postgres`. */
  readonly name: string;
  /** Table names, validated and quoted as the dialect needs, safe to interpolate. */
  readonly tables: { readonly sessions: string; readonly values: string };
  /** Runs one statement on its own (autocommit). `write: false` marks a plain read. */
  run(statement: SqlStatement, options: { write: boolean }): Promise<SqlResult>;
  /** Runs `work` in one transaction that takes the write lock before its first statement. */
  transaction<T>(work: () => SqlWork<T>): Promise<T>;
  /**
   * Optional: `sql` (a statement whose rows are changed sessions, with their
   * `id`) rewritten to also publish those ids to the store's invalidation
   * channel in the same statement. Dialects without a channel leave it out.
   */
  announce?(sql: string): string;
  /**
   * An SQL expression: the JSON object text in `column` with the JSON object given as the next TWO `?`
   * parameters (the same text twice) merged in, top-level keys only: each key replaces that key's value, a
   * `null` removes it. Evaluated inside one `UPDATE`, so concurrent merges never lose a key.
   */
  mergeJsonObject(column: string): string;
  /** Releases what the dialect owns (a database file it opened). */
  close(): Promise<void>;
  /** A better message for a driver error, such as a missing table. */
  describeFailure?(error: unknown, operation: string): string | undefined;
}

/** Drives a {@link SqlWork} to its end, running each statement it yields with `execute`. */
export function driveSync<T>(work: SqlWork<T>, execute: (statement: SqlStatement) => SqlResult): T {
  let step = work.next();
  while (step.done !== true) step = work.next(execute(step.value));
  return step.value;
}

/** {@link driveSync} for a driver whose statements are asynchronous. */
export async function driveAsync<T>(
  work: SqlWork<T>,
  execute: (statement: SqlStatement) => Promise<SqlResult>,
): Promise<T> {
  let step = work.next();
  while (step.done !== true) step = work.next(await execute(step.value));
  return step.value;
}
