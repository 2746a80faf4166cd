import { InvalidOptionError } from '../core/errors/errors.js';

const MIN_SECRET_BYTES = 32;
const HOW_TO_MAKE_ONE = 'make one with `openssl rand -base64 32`';

/**
 * Checks an ordered list of secrets (the first signs, all verify) and returns
 * their bytes: at least one, each at least 32 bytes (a string counts its UTF-8
 * bytes). `minDistinctBytes` adds a crude entropy floor that refuses the
 * classic weak secrets (a repeated character, a padded word). Messages say how
 * to make a good secret and never show one.
 */
export function secretListOption(
  name: string,
  value: unknown,
  options: { minDistinctBytes?: number; requiredFor?: string } = {},
): Buffer[] {
  if (!Array.isArray(value) || value.length === 0) {
    const context = options.requiredFor === undefined ? '' : ` when ${options.requiredFor}`;
    throw new InvalidOptionError(`"${name}" must be a non-empty list of secrets${context} (${HOW_TO_MAKE_ONE})`);
  }
  return value.map((secret: unknown, index) => {
    const bytes =
      typeof secret === 'string'
        ? Buffer.from(secret, 'utf8')
        : secret instanceof Uint8Array
          ? Buffer.from(secret)
          : null;
    if (bytes === null || bytes.length < MIN_SECRET_BYTES || new Set(bytes).size < (options.minDistinctBytes ?? 0)) {
      throw new InvalidOptionError(
        `"${name}[${index}]" must be at least ${MIN_SECRET_BYTES} bytes of random data (a string or Uint8Array); ${HOW_TO_MAKE_ONE}`,
      );
    }
    return bytes;
  });
}

/** An ordered list of secrets (the first signs, all verify), or a function returning the current list. */
export type SecretList = readonly (string | Uint8Array)[] | (() => readonly (string | Uint8Array)[]);

/**
 * The current secrets' bytes, checked by {@link secretListOption} and converted once per list: a function
 * is asked on every use, so secrets can change without a restart (a bad list throws, naming the option).
 */
export function secretListResolver(name: string, secrets: SecretList): () => Buffer[] {
  if (typeof secrets !== 'function') {
    const keys = secretListOption(name, secrets);
    return () => keys;
  }
  let list = secrets();
  let keys = secretListOption(name, list);
  return () => {
    const next = secrets();
    if (next !== list) {
      keys = secretListOption(name, next);
      list = next;
    }
    return keys;
  };
}
