/**
 * The logging surface Tessera writes to: a subset of pino's, so a pino logger
 * fits as is. Objects come first, the message second.
 */
export interface Logger {
  debug(object: Record<string, unknown>, message?: string): void;
  info(object: Record<string, unknown>, message?: string): void;
  warn(object: Record<string, unknown>, message?: string): void;
  error(object: Record<string, unknown>, message?: string): void;
}

const noop = (): void => undefined;

/** A logger that drops everything: the default when none is given. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
