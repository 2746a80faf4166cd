import type { Store } from '../store/types.js';
import { silentLogger, type Logger } from '../../internal/logger.js';
import { positiveIntegerOption } from '../../internal/options.js';
import { guardStore } from '../store/define-store.js';

/** Options of {@link scheduleCleanup}. */
export interface CleanupOptions {
  /**
   * Seconds between runs.
   * @default 3600
   */
  intervalSeconds?: number;
  /** Called after each run with how many expired sessions and values it removed. */
  onResult?: (removed: number) => void;
  /** Where failed runs are reported. A failed run is retried at the next interval. */
  logger?: Logger;
}

/** A running cleanup schedule. */
export interface CleanupSchedule {
  /** Runs a cleanup now, or joins the one already running; resolves to the count it removed. */
  runNow(): Promise<number>;
  /** Stops the schedule and waits for a run in progress to finish. */
  stop(): Promise<void>;
}

/**
 * Sweeps expired sessions and values from a store on an interval. The timer is
 * unref'd, so it never keeps a process alive, and two runs never overlap: a
 * tick that comes while a run is still going is skipped.
 *
 * @example
 * const cleanup = scheduleCleanup(store, { intervalSeconds: 600, onResult: (n) => log.info({ n }, 'swept') });
 * process.on('SIGTERM', () => cleanup.stop());
 */
export function scheduleCleanup(target: Store, options: CleanupOptions = {}): CleanupSchedule {
  const store = guardStore(target);
  const intervalMs = positiveIntegerOption('intervalSeconds', options.intervalSeconds, 3600) * 1000;
  const logger = options.logger ?? silentLogger;
  let running: Promise<number> | null = null;

  const runNow = (): Promise<number> => {
    running ??= store
      .deleteExpired()
      .then((removed) => {
        options.onResult?.(removed);
        return removed;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };

  const timer = setInterval(() => {
    if (running !== null) return;
    runNow().catch((error: unknown) => {
      logger.error({ err: error, store: store.name }, 'session cleanup failed; retrying at the next interval');
    });
  }, intervalMs);
  timer.unref();

  return {
    runNow,
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
