import { isTesseraError, StoreUnavailableError } from '../core/errors/errors.js';

/**
 * Runs one store operation and turns any failure that is not already a Tessera
 * error into {@link StoreUnavailableError}, so a broken store can never be read
 * as "no session" or "let them in".
 */
export async function callStore<T>(
  store: { readonly name: string },
  operation: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isTesseraError(error)) throw error;
    throw new StoreUnavailableError(`The "${store.name}" store failed during ${operation}`, { cause: error });
  }
}
