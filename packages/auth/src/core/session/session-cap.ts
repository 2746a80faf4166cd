import { compareSessionAge } from '../store/session-record.js';
import type { SessionRecord, SessionStore } from '../store/types.js';

export { compareSessionAge };

/**
 * Inserts `record`, then revokes (at `record.createdAt`) every session of the
 * user beyond the newest `cap`, in {@link compareSessionAge} order. Returns the
 * records this call revoked.
 *
 * Built on three primitives and no lock. Concurrent capped logins for one
 * user end with exactly the `cap` newest sessions live: the call that lists
 * last lists after every insert, and none of the `cap` newest is ever revoked
 * (fewer than `cap` sessions are newer than it), so that call revokes all the
 * others; each revocation is atomic, so each evicted session is reported by
 * exactly one call. Between an insert and its revocations the user may briefly
 * hold more than `cap` sessions.
 */
export async function createCappedSession(
  store: SessionStore,
  record: SessionRecord,
  cap: number,
): Promise<SessionRecord[]> {
  await store.createSession(record);
  const live = (await store.listUserSessions(record.userId)).sort(compareSessionAge);
  const excess = live.slice(0, Math.max(0, live.length - cap));
  const revoked = await Promise.all(excess.map((old) => store.revokeSession(old.id, record.createdAt)));
  return revoked.filter((old): old is SessionRecord => old !== null);
}
