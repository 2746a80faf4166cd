/**
 * Every stable error code Tessera throws, one per error class. The last three
 * belong to the server and the `tessera` CLI, which ship in the same package.
 */
export type TesseraErrorCode =
  | 'ERR_INVALID_OPTION'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_STORE_CONFLICT'
  | 'ERR_KEY_INVALID'
  | 'ERR_CONFIGURATION'
  | 'ERR_DATA_FILE'
  | 'ERR_COMMAND_FAILED';

const brand = Symbol.for('tessera.error');

/**
 * The one base class of every error Tessera throws, never thrown itself: each
 * code has its own subclass. Messages never contain a token, secret or cookie value.
 */
export abstract class TesseraError<Code extends TesseraErrorCode = TesseraErrorCode> extends Error {
  readonly code: Code;
  readonly [brand] = true;

  protected constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad options or misuse, thrown at construction time and naming the option and the rule. */
export class InvalidOptionError extends TesseraError<'ERR_INVALID_OPTION'> {
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message);
  }
}

/**
 * The store could not answer (down, timed out, write failed). The driver's
 * error is the `cause`. Callers must fail closed: HTTP layers answer 503.
 */
export class StoreUnavailableError extends TesseraError<'ERR_STORE_UNAVAILABLE'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_UNAVAILABLE', message, options);
  }
}

/**
 * A write lost to concurrent writers more often than it retries (a signing-key
 * or secrets rotation racing another one). Nothing was changed; try again.
 */
export class StoreConflictError extends TesseraError<'ERR_STORE_CONFLICT'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_CONFLICT', message, options);
  }
}

/**
 * Key material cannot be used: a stored key set is corrupt or missing, or
 * secrets encrypted at rest do not open with the key given.
 */
export class KeyInvalidError extends TesseraError<'ERR_KEY_INVALID'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_KEY_INVALID', message, options);
  }
}

/**
 * Every error class the library throws, as a union that `switch (error.code)`
 * narrows to the class. The server's `ConfigurationError` (`ERR_CONFIGURATION`)
 * and `DataFileError` (`ERR_DATA_FILE`) and the CLI's `CommandFailure`
 * (`ERR_COMMAND_FAILED`) extend {@link TesseraError} too.
 *
 * @example
 * function retryable(error: TesseraLibraryError): boolean {
 *   switch (error.code) {
 *     case 'ERR_STORE_UNAVAILABLE': // error is a StoreUnavailableError here
 *     case 'ERR_STORE_CONFLICT':
 *       return true;
 *     default:
 *       return false;
 *   }
 * }
 */
export type TesseraLibraryError = InvalidOptionError | StoreUnavailableError | StoreConflictError | KeyInvalidError;

/**
 * Whether `value` is a Tessera error. A brand check rather than `instanceof`, so
 * it holds when two copies of the package are loaded.
 */
export function isTesseraError(value: unknown): value is TesseraError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { [brand]?: unknown })[brand] === true &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}
