import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { TesseraError } from 'tessera-auth/errors';
import type { Logger } from 'tessera-auth';

/** The mode of the directory holding the SQLite database. */
export const DATA_DIRECTORY_MODE = 0o700;
/** The mode of the database file and of the files SQLite keeps beside it. */
export const DATA_FILE_MODE = 0o600;

/** The files SQLite keeps for a database at `path`. */
export const sqliteFiles = (path: string): string[] => [path, `${path}-wal`, `${path}-shm`, `${path}-journal`];

const octal = (mode: number): string => `0${(mode & 0o777).toString(8)}`;

/** A data file or directory that could not be made private: the server must not start on it. */
export class DataFileError extends TesseraError<'ERR_DATA_FILE'> {
  constructor(message: string) {
    super('ERR_DATA_FILE', message);
  }
}

function makePrivate(path: string, mode: number, logger: Logger): void {
  const current = statSync(path).mode & 0o777;
  if (current === mode) return;
  try {
    chmodSync(path, mode);
  } catch (error) {
    throw new DataFileError(
      `${path} is mode ${octal(current)} and could not be changed to ${octal(mode)} (${(error as NodeJS.ErrnoException).code ?? 'error'}): it holds signing keys and password hashes; chmod it, or point TESSERA_DATABASE elsewhere`,
    );
  }
  logger.warn({ event: 'data.mode_tightened', path, from: octal(current), to: octal(mode) }, 'data file made private');
}

/**
 * Prepares where the SQLite database lives so that no other local user can
 * read it, whatever the umask: the directory is created `0700`, the database
 * file is created `0600` before SQLite opens it (SQLite gives its `-wal` and
 * `-shm` files the database file's mode), and existing files with looser
 * modes are tightened. A directory created by someone else, or the working
 * or home directory, is left as it is with a warning: the files in it are
 * private all the same. Call {@link tightenSQLiteFiles} again once the
 * database is open.
 */
export function prepareSQLiteFiles(path: string, logger: Logger): void {
  if (path === ':memory:' || path.startsWith('file:')) return;
  const directory = resolve(dirname(path));
  if (!existsSync(directory)) {
    mkdirSync(directory, { recursive: true, mode: DATA_DIRECTORY_MODE });
    chmodSync(directory, DATA_DIRECTORY_MODE);
  } else {
    const stat = statSync(directory);
    const shared = [resolve('.'), homedir(), '/'].includes(directory) || (stat.mode & 0o1000) !== 0;
    const ours = typeof process.getuid !== 'function' || stat.uid === process.getuid();
    if ((stat.mode & 0o077) !== 0) {
      if (ours && !shared) makePrivate(directory, DATA_DIRECTORY_MODE, logger);
      else {
        logger.warn(
          { event: 'data.directory_shared', path: directory, mode: octal(stat.mode) },
          'the database is in a directory other users can list: give it a directory of its own (mode 0700)',
        );
      }
    }
  }
  if (!existsSync(path)) closeSync(openSync(path, 'a', DATA_FILE_MODE));
  tightenSQLiteFiles(path, logger);
}

/** Makes the database file and every file SQLite keeps beside it `0600`. */
export function tightenSQLiteFiles(path: string, logger: Logger): void {
  if (path === ':memory:' || path.startsWith('file:')) return;
  for (const file of sqliteFiles(path)) if (existsSync(file)) makePrivate(file, DATA_FILE_MODE, logger);
}
