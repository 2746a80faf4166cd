import { isTesseraError } from 'tessera-auth/errors';
import type { Logger } from 'tessera-auth';

/** Records one failed store call: which backend, which operation, and what the driver said. */
export type StoreFailureReporter = (backend: string, operation: string, error: unknown) => void;

/** Options of {@link createStoreFailureLog}. */
export interface StoreFailureLogOptions {
  /** The clock, epoch milliseconds. @default Date.now */
  now?: () => number;
  /**
   * At most one line per backend per this many milliseconds; the failures in between are counted and the
   * next line says how many (`suppressed`).
   * @default 30000
   */
  intervalMs?: number;
}

/** What a driver error may show in a log line: its code and a message with anything value-like masked. */
export function describeDriverError(error: unknown): { code: string | null; message: string } {
  // A StoreUnavailableError carries the driver's error as its cause: that is the one that explains the outage.
  const driver =
    isTesseraError(error) && error.cause !== undefined && error.cause !== null ? (error.cause as unknown) : error;
  const rawCode = typeof driver === 'object' && driver !== null ? (driver as { code?: unknown }).code : undefined;
  const code = typeof rawCode === 'string' || typeof rawCode === 'number' ? String(rawCode).slice(0, 40) : null;
  const text = driver instanceof Error ? driver.message : typeof driver === 'string' ? driver : 'unknown error';
  return { code, message: maskValues(text) };
}

/**
 * Masks what could be a key, token or id inside a driver message: quoted text (PostgreSQL quotes the value
 * it choked on), braces (Redis hash tags) and any long run of id-like characters. Keeps the wording.
 */
function maskValues(message: string): string {
  return message
    .slice(0, 300)
    .replace(/"[^"]*"|'[^']*'|`[^`]*`/g, '"…"')
    .replace(/\{[^}]*\}/g, '{…}')
    .replace(/[A-Za-z0-9_:+/=-]{24,}/g, '…');
}

/**
 * A reporter that writes one `error` line per failed store call, at most one per backend per interval, so
 * an outage is explained in the log without flooding it.
 */
export function createStoreFailureLog(logger: Logger, options: StoreFailureLogOptions = {}): StoreFailureReporter {
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? 30_000;
  const last = new Map<string, { at: number; suppressed: number }>();
  return (backend, operation, error) => {
    const seen = last.get(backend);
    const at = now();
    if (seen !== undefined && at - seen.at < intervalMs) {
      seen.suppressed += 1;
      return;
    }
    last.set(backend, { at, suppressed: 0 });
    const { code, message } = describeDriverError(error);
    logger.error(
      {
        event: 'store.failed',
        backend,
        operation,
        code,
        error: message,
        ...(seen !== undefined && seen.suppressed > 0 ? { suppressed: seen.suppressed } : {}),
      },
      `${backend} store failed during ${operation}: answering 503 until it recovers`,
    );
  };
}

/** Whether a rejection is a store failure rather than an answer (a rate limiter's "over the limit", a conflict). */
function isStoreFailure(error: unknown): boolean {
  if (isTesseraError(error)) return error.code === 'ERR_STORE_UNAVAILABLE';
  return error instanceof Error;
}

/**
 * Wraps a store (or a rate limiter) so each failed call is reported with its backend and method name, then
 * rethrown unchanged. Works for plain objects and class instances alike.
 */
export function observeStore<T extends object>(target: T, backend: string, report: StoreFailureReporter): T {
  // One wrapper per method, made on first use: store calls are on every request's path.
  const wrapped = new Map<string, (...args: unknown[]) => unknown>();
  const wrap = (property: string, method: (...args: unknown[]) => unknown) => {
    const failed = (error: unknown): never => {
      if (isStoreFailure(error)) report(backend, property, error);
      throw error;
    };
    return (...args: unknown[]): unknown => {
      let result: unknown;
      try {
        result = method.apply(target, args);
      } catch (error) {
        return failed(error);
      }
      return result instanceof Promise ? result.catch(failed) : result;
    };
  };
  return new Proxy(target, {
    get(inner, property, receiver) {
      const value: unknown = Reflect.get(inner, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      let method = wrapped.get(property);
      if (method === undefined) {
        method = wrap(property, value as (...args: unknown[]) => unknown);
        wrapped.set(property, method);
      }
      return method;
    },
  });
}
