import { isTesseraError, StoreUnavailableError } from 'tessera-auth/errors';

/**
 * Runs one store operation and turns any failure that is not already a Tessera
 * error into {@link StoreUnavailableError}, so a broken store is never read as
 * "nothing there".
 */
export async function callStore<T>(store: { name: string }, operation: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (isTesseraError(error)) throw error;
    throw new StoreUnavailableError(`The "${store.name}" store failed during ${operation}`, { cause: error });
  }
}
