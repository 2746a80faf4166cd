import { InvalidOptionError, isTesseraError, StoreUnavailableError } from '../errors/errors.js';
import { fingerprint } from '../../internal/crypto.js';
import { silentLogger, type Logger } from '../../internal/logger.js';
import { isSessionRecord } from './session-record.js';
import type { JsonObject, SessionPatch, SessionRecord, Store } from './types.js';

type RecordMethods =
  | 'createSession'
  | 'getSession'
  | 'updateSession'
  | 'mergeSessionData'
  | 'rotateSession'
  | 'revokeSession'
  | 'deleteSession'
  | 'revokeUserSessions'
  | 'listUserSessions';

/**
 * What a backend implements: the raw operations of a {@link Store}. Reads
 * return candidate records (decoded with the record codec, not yet checked);
 * {@link defineStore} checks them, turns failures into typed errors and
 * handles the closed state, once for every backend.
 */
export interface StoreBackend extends Omit<Store, RecordMethods> {
  /** Inserts the record (already checked). */
  createSession(record: SessionRecord): Promise<void>;
  getSession(id: string): Promise<unknown>;
  updateSession(id: string, patch: SessionPatch): Promise<unknown>;
  mergeSessionData(id: string, partial: JsonObject): Promise<unknown>;
  /** Whether this call replaced the live old session (of concurrent rotations, exactly one). */
  rotateSession(oldId: string, record: SessionRecord): Promise<boolean>;
  revokeSession(id: string, revokedAt: number): Promise<unknown>;
  deleteSession(id: string): Promise<unknown>;
  revokeUserSessions(userId: string, revokedAt: number, options?: { exceptId?: string }): Promise<unknown[]>;
  listUserSessions(userId: string): Promise<unknown[]>;
  /** A better message than "failed during …" for a driver error (a missing table), or `undefined`. */
  describeFailure?(error: unknown, operation: string): string | undefined;
}

/** Options of {@link defineStore}. */
export interface DefineStoreOptions {
  /** Where corrupt records are reported (with a fingerprint, never the id). */
  logger?: Logger;
}

const DEFINED = Symbol.for('tessera.store.defined');
const SYNC_MEMBERS = new Set<string>(['sessionIdPrefix', 'describeFailure', 'invalidation']);
const ONE_RECORD = new Set<string>([
  'getSession',
  'updateSession',
  'mergeSessionData',
  'revokeSession',
  'deleteSession',
]);
const RECORD_LISTS = new Set<string>(['revokeUserSessions', 'listUserSessions']);

type AsyncMethod = (...args: unknown[]) => Promise<unknown>;

function checkRecordArgument(record: unknown): void {
  if (!isSessionRecord(record)) throw new InvalidOptionError('"record" must be a complete session record');
}

/**
 * Makes a {@link Store} of a backend's raw operations, the one place that:
 * - turns any failure that is not already a Tessera error into
 *   `StoreUnavailableError` naming the backend and the operation, so a broken
 *   store is never read as "no session";
 * - checks every record read through the one record codec: a corrupt record
 *   reads as absent (and is logged by fingerprint);
 * - rejects calls after `close()` (which first waits for calls in flight).
 */
export function defineStore(backend: StoreBackend, options: DefineStoreOptions = {}): Store {
  const logger = options.logger ?? silentLogger;
  const name = backend.name;
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;

  const failure = (error: unknown, operation: string): unknown => {
    if (isTesseraError(error)) return error;
    const message = backend.describeFailure?.(error, operation) ?? `The "${name}" store failed during ${operation}`;
    return new StoreUnavailableError(message, { cause: error });
  };

  const decode = (candidate: unknown, hint: unknown): SessionRecord | null => {
    if (candidate === null || candidate === undefined) return null;
    if (isSessionRecord(candidate)) return candidate;
    const id = (candidate as { id?: unknown }).id ?? hint;
    logger.warn({ store: name, session: fingerprint(String(id)) }, 'corrupt session record ignored');
    return null;
  };

  const finish = (operation: string, args: unknown[], result: unknown): unknown => {
    if (ONE_RECORD.has(operation)) return decode(result, args[0]);
    if (RECORD_LISTS.has(operation)) {
      return (result as unknown[]).map((candidate) => decode(candidate, undefined)).filter((record) => record !== null);
    }
    if (operation === 'createSession') return args[0];
    if (operation === 'rotateSession') return result === true ? args[1] : null;
    return result;
  };

  const guard = (operation: string, method: AsyncMethod): AsyncMethod => {
    return (...args) => {
      if (closed) return Promise.reject(new StoreUnavailableError(`The "${name}" store is closed`));
      const call = (async () => {
        if (operation === 'createSession') checkRecordArgument(args[0]);
        if (operation === 'rotateSession') checkRecordArgument(args[1]);
        try {
          return finish(operation, args, await method.apply(backend, args));
        } catch (error) {
          throw failure(error, operation);
        }
      })();
      inFlight.add(call);
      const forget = (): void => {
        inFlight.delete(call);
      };
      call.then(forget, forget);
      return call;
    };
  };

  const store: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(backend)) {
    if (key === 'describeFailure') continue;
    if (typeof member !== 'function' || SYNC_MEMBERS.has(key)) store[key] = member;
    else if (key !== 'close') store[key] = guard(key, member as AsyncMethod);
  }
  store.close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await Promise.allSettled([...inFlight]);
    try {
      await backend.close();
    } catch (error) {
      throw failure(error, 'close');
    }
  };
  Object.defineProperty(store, DEFINED, { value: true });
  return store as unknown as Store;
}

/**
 * A store as the engine uses it: a store made by {@link defineStore} as it
 * is; any other object (a hand-written store, a test double) with every method
 * wrapped so a failure that is not a Tessera error becomes
 * `StoreUnavailableError`, the request failing closed.
 */
export function guardStore<S extends { readonly name: string }>(store: S): S {
  if ((store as Record<symbol, unknown>)[DEFINED] === true) return store;
  const guarded: Record<string | symbol, unknown> = Object.create(store) as Record<string | symbol, unknown>;
  for (const key of Object.keys(store)) {
    const member = (store as Record<string, unknown>)[key];
    if (typeof member !== 'function' || SYNC_MEMBERS.has(key)) continue;
    // Looked up at each call, so a method replaced later (a test double) is still the one called.
    guarded[key] = async (...args: unknown[]) => {
      try {
        return await ((store as Record<string, unknown>)[key] as AsyncMethod).apply(store, args);
      } catch (error) {
        if (isTesseraError(error)) throw error;
        throw new StoreUnavailableError(`The "${store.name}" store failed during ${key}`, { cause: error });
      }
    };
  }
  return guarded as S;
}
