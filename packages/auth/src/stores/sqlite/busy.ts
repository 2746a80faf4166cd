import type { Database } from 'better-sqlite3';

/**
 * Milliseconds SQLite itself waits for another connection's lock before it
 * reports `SQLITE_BUSY`. better-sqlite3 is synchronous, so this wait blocks the
 * event loop: it is kept tiny and longer waits happen in {@link retryWhileBusy}.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 10;

/** How long, in milliseconds, an operation keeps retrying a locked database before it gives up. */
export const SQLITE_BUSY_RETRY_MS = 1000;

/** Milliseconds opening and migrating may wait for a lock, synchronously: nothing is being served yet. */
const STARTUP_BUSY_TIMEOUT_MS = 5000;

/** Whether a better-sqlite3 error says another connection holds the lock (`SQLITE_BUSY`, `SQLITE_BUSY_SNAPSHOT`, …). */
export function isBusyError(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Per connection, the line of steps waiting for another connection's lock; absent while there is none. */
const waiting = new WeakMap<Database, Promise<unknown>>();

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function retryUntil<T>(run: () => T, deadline: number, waitFirst: boolean): Promise<T> {
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (waitFirst) await sleep(Math.max(0, Math.min(delay, deadline - Date.now())));
    waitFirst = true;
    try {
      return run();
    } catch (error) {
      if (!isBusyError(error) || Date.now() >= deadline) throw error;
    }
  }
}

/**
 * Runs a synchronous step on `db`, retrying it on `SQLITE_BUSY` with
 * `setTimeout` backoff (so other requests run meanwhile) for up to `budgetMs`
 * (default {@link SQLITE_BUSY_RETRY_MS}), then throws the busy error. A
 * `readOnly` step always tries at once. A busy step changed nothing (its statement or
 * `BEGIN IMMEDIATE` failed), so a retry is safe. Steps that found the database
 * locked wait in line per connection and only the first one probes the lock:
 * each probe may block for {@link SQLITE_BUSY_TIMEOUT_MS}, and a hundred
 * waiting requests must not turn that into a hundred blocks per round.
 */
export function retryWhileBusy<T>(
  db: Database,
  run: () => T,
  options: { readOnly?: boolean; budgetMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.budgetMs ?? SQLITE_BUSY_RETRY_MS);
  // Reads try at once even while writers wait: in WAL mode they never need the write lock.
  if (waiting.get(db) === undefined || options.readOnly === true) {
    try {
      return Promise.resolve(run());
    } catch (error) {
      if (!isBusyError(error)) return Promise.reject(error);
    }
  }
  const ahead = waiting.get(db);
  // The head of the line has just been refused and waits before probing again; the others go as soon as it is done.
  const turn = (ahead ?? Promise.resolve()).then(() => retryUntil(run, deadline, ahead === undefined));
  const line = turn.then(
    () => undefined,
    () => undefined,
  );
  waiting.set(db, line);
  void line.then(() => {
    if (waiting.get(db) === line) waiting.delete(db);
  });
  return turn;
}

/**
 * Runs `run` (opening, migrating) with a busy timeout of seconds, then puts
 * the connection's own busy timeout back.
 */
export function withStartupBusyTimeout<T>(db: Database, run: () => T): T {
  const previous = Number(db.pragma('busy_timeout', { simple: true }));
  db.pragma(`busy_timeout = ${STARTUP_BUSY_TIMEOUT_MS}`);
  try {
    return run();
  } finally {
    db.pragma(`busy_timeout = ${Number.isSafeInteger(previous) ? previous : 0}`);
  }
}
