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
