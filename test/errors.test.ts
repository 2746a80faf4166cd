import { describe, expect, expectTypeOf, it } from 'vitest';
import * as root from '../packages/auth/src/index.js';
import * as subpath from '../packages/auth/src/core/errors/index.js';
import {
  InvalidOptionError,
  isTesseraError,
  KeyInvalidError,
  StoreConflictError,
  StoreUnavailableError,
  TesseraError,
  type TesseraErrorCode,
  type TesseraLibraryError,
} from '../packages/auth/src/core/errors/index.js';
import { CommandFailure } from '../packages/server/src/cli/context.js';
import { ConfigurationError } from '../packages/server/src/config.js';
import { DataFileError } from '../packages/server/src/data-files.js';

// Keyed by every code: a code without a class, or a class without its code, fails to compile.
const ONE_CLASS_PER_CODE: Record<TesseraErrorCode, () => TesseraError> = {
  ERR_INVALID_OPTION: () => new InvalidOptionError('"x" must be y'),
  ERR_STORE_UNAVAILABLE: () => new StoreUnavailableError('down', { cause: new Error('ECONNREFUSED') }),
  ERR_STORE_CONFLICT: () => new StoreConflictError('try again'),
  ERR_KEY_INVALID: () => new KeyInvalidError('corrupt'),
  ERR_CONFIGURATION: () => new ConfigurationError(['TESSERA_ORIGIN must be a URL']),
  ERR_DATA_FILE: () => new DataFileError('not private'),
  ERR_COMMAND_FAILED: () => new CommandFailure('No account with that email.'),
};

describe('one error class per code', () => {
  it.each(Object.entries(ONE_CLASS_PER_CODE))('%s', (code, make) => {
    const error = make();
    expect(error.code).toBe(code);
    expect(error).toBeInstanceOf(TesseraError);
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe(error.constructor.name);
    expect(isTesseraError(error)).toBe(true);
  });

  it('gives every code its own class', () => {
    const classes = Object.values(ONE_CLASS_PER_CODE).map((make) => make().constructor);
    expect(new Set(classes).size).toBe(classes.length);
    expect(classes).not.toContain(TesseraError);
  });

  it('never lets the base class be thrown bare (a compile-time check: tsc fails if it becomes constructible)', () => {
    // @ts-expect-error the base class is abstract and its constructor protected: throw a subclass.
    const bare = (): TesseraError => new TesseraError('ERR_STORE_CONFLICT', 'bare');
    expect(bare).toBeTypeOf('function');
  });

  it('keeps the driver error as the cause, and the server errors their details', () => {
    expect((ONE_CLASS_PER_CODE.ERR_STORE_UNAVAILABLE() as StoreUnavailableError).cause).toBeInstanceOf(Error);
    expect(new ConfigurationError(['a', 'b']).errors).toEqual(['a', 'b']);
    expect(new ConfigurationError(['a']).message).toBe('Invalid configuration:\n  - a');
  });

  it('narrows a library error to its class on `code`', () => {
    const describe = (error: TesseraLibraryError): string => {
      switch (error.code) {
        case 'ERR_STORE_UNAVAILABLE':
          expectTypeOf(error).toEqualTypeOf<StoreUnavailableError>();
          return 'unavailable';
        case 'ERR_STORE_CONFLICT':
          expectTypeOf(error).toEqualTypeOf<StoreConflictError>();
          return 'conflict';
        case 'ERR_KEY_INVALID':
          expectTypeOf(error).toEqualTypeOf<KeyInvalidError>();
          return 'key';
        case 'ERR_INVALID_OPTION':
          expectTypeOf(error).toEqualTypeOf<InvalidOptionError>();
          return 'option';
      }
    };
    expect(describe(new StoreConflictError('again'))).toBe('conflict');
    expect(describe(new KeyInvalidError('corrupt'))).toBe('key');
  });
});

describe('isTesseraError', () => {
  it('holds for an error made by a second copy of the package, where instanceof does not', async () => {
    // A query string makes the module loader evaluate the file again: a second, separate copy of the classes.
    const secondCopy: string = '../packages/auth/src/core/errors/errors.js?second-copy';
    const copy = (await import(secondCopy)) as typeof subpath;
    const foreign = new copy.StoreUnavailableError('down');
    expect(copy.StoreUnavailableError).not.toBe(StoreUnavailableError);
    expect(foreign).not.toBeInstanceOf(StoreUnavailableError);
    expect(isTesseraError(foreign)).toBe(true);
  });

  it('refuses look-alikes', () => {
    for (const value of [null, undefined, 'ERR_STORE_UNAVAILABLE', new Error('x'), { code: 'ERR_STORE_UNAVAILABLE' }]) {
      expect(isTesseraError(value)).toBe(false);
    }
  });
});

describe('the errors subpath', () => {
  it('exports the same classes as the root', () => {
    for (const [name, value] of Object.entries(subpath)) expect(root[name as keyof typeof root], name).toBe(value);
  });
});
