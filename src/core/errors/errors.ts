/**
 * Every stable error code Tessera throws. `switch (err.code)` on a
 * {@link TesseraError} narrows to exactly these.
 */
export type TesseraErrorCode =
  'ERR_INVALID_OPTION' | 'ERR_STORE_UNAVAILABLE' | 'ERR_STORE_CONFLICT' | 'ERR_KEY_INVALID';

const brand = Symbol.for('tessera.error');

/**
 * The one base class of every error Tessera throws. Messages never contain a
 * token, secret or cookie value.
 */
export class TesseraError extends Error {
  readonly code: TesseraErrorCode;
  readonly [brand] = true;

  constructor(code: TesseraErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad options or misuse, thrown at construction time and naming the option and the rule. */
export class InvalidOptionError extends TesseraError {
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message);
  }
}

/**
 * The store could not answer (down, timed out, write failed). The driver's
 * error is the `cause`. Callers must fail closed: HTTP layers answer 503.
 */
export class StoreUnavailableError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_STORE_UNAVAILABLE', message, options);
  }
}

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
