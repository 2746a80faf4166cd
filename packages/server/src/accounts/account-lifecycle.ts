import type { SessionManager } from 'tessera-auth';
import type { AccountStore } from './account-store.js';

/**
 * Who changed an account's state, as audit events name them: an admin key (by its name, never the key), the
 * `tessera` CLI on the server's host, or the user themself (deleting their own account).
 */
export type AccountActor = { by: 'admin_key'; adminKey: string } | { by: 'cli' } | { by: 'user' };

/** The audit events of an account's lifecycle; `userId` is the account's id. */
export type AccountLifecycleEvent = AccountActor &
  (
    | { type: 'user.disabled'; userId: string; sessionsRevoked: number }
    | { type: 'user.enabled'; userId: string }
    | { type: 'user.deleted'; userId: string; sessionsRevoked: number }
    | { type: 'user.sessions_revoked'; userId: string; sessionsRevoked: number; sessionIds: string[] }
    | { type: 'sessions.revoked_everywhere'; users: number; sessionsRevoked: number }
  );

/** How many accounts the emergency revocation works on at once. */
const REVOKE_EVERYWHERE_CONCURRENCY = 16;

/** Disabling, enabling and deleting accounts, each with its sessions. */
export interface AccountLifecycle {
  /**
   * Disables the account, then revokes every session of it (each session is a refresh-token family, so every
   * token pair dies with it). `false` when there is no such account.
   */
  disableAccount(userId: string, actor: AccountActor): Promise<boolean>;
  /** Lets a disabled account sign in again (its revoked sessions stay revoked). `false` when there is none. */
  enableAccount(userId: string, actor: AccountActor): Promise<boolean>;
  /** Revokes every session of the account, which stays usable for a new sign-in. */
  revokeAccountSessions(userId: string, actor: AccountActor): Promise<number>;
  /**
   * Disables the account, revokes and deletes every session of it, then deletes the account, so its email can
   * sign up again. `false` when there is no such account.
   */
  deleteAccount(userId: string, actor: AccountActor): Promise<boolean>;
  /**
   * Emergency: revokes every session of every account, account by account (each one atomic in the store).
   * Ends every session that existed when it was called; sessions started while it runs may survive. Resolves
   * to how many accounts it went through and how many sessions it revoked.
   */
  revokeEverySession(actor: AccountActor): Promise<{ users: number; sessionsRevoked: number }>;
}

/**
 * The account lifecycle over the account store and the session engine.
 *
 * Why disabling writes the account first and revokes second: every login re-reads the account after its new
 * session exists (its `confirm`) and refuses a disabled one. A login that read the account before the write
 * created its session before the write, so before the revocation, which ends it; one that reads after the write
 * sees the account disabled (or gone) and deletes its own session. Either way, once this resolves no session
 * of the account is usable and no login gets one. (Revoking first would leave a window in which a login creates
 * its session after the revocation and reads the account before the write.)
 */
export function createAccountLifecycle(options: {
  accounts: AccountStore;
  sessions: SessionManager;
  /** Receives one event per change. */
  audit: (event: AccountLifecycleEvent) => void;
  /** The clock, epoch milliseconds. */
  now: () => number;
}): AccountLifecycle {
  const { accounts, sessions, audit, now } = options;
  return {
    async disableAccount(userId, actor) {
      if (!(await accounts.setDisabledAt(userId, now()))) return false;
      const revoked = await sessions.revokeUserSessions(userId, { reason: 'account_disabled' });
      audit({ type: 'user.disabled', userId, sessionsRevoked: revoked.length, ...actor });
      return true;
    },

    async enableAccount(userId, actor) {
      if (!(await accounts.setDisabledAt(userId, null))) return false;
      audit({ type: 'user.enabled', userId, ...actor });
      return true;
    },

    async revokeAccountSessions(userId, actor) {
      const revoked = await sessions.revokeUserSessions(userId, { reason: 'user_revoked_all' });
      audit({ type: 'user.sessions_revoked', userId, sessionsRevoked: revoked.length, sessionIds: revoked, ...actor });
      return revoked.length;
    },

    async deleteAccount(userId, actor) {
      if (!(await accounts.setDisabledAt(userId, now()))) return false;
      const revoked = await sessions.revokeUserSessions(userId, { reason: 'account_deleted' });
      // The records go too: a deleted account leaves no sign-in addresses or user agents behind.
      for (const sessionId of revoked) await sessions.deleteSession(sessionId);
      await accounts.deleteAccount(userId);
      audit({ type: 'user.deleted', userId, sessionsRevoked: revoked.length, ...actor });
      return true;
    },

    // Iterating the accounts, rather than a global "revoked before T" mark checked on every validation: it
    // needs nothing new from any session store (each backend's per-user revocation is already atomic), and it
    // costs the emergency, not every request (a mark would be one more store read on every validation).
    async revokeEverySession(actor) {
      const pending = (await accounts.listAccounts()).map((account) => account.id);
      const users = pending.length;
      let sessionsRevoked = 0;
      const worker = async (): Promise<void> => {
        for (let userId = pending.pop(); userId !== undefined; userId = pending.pop()) {
          sessionsRevoked += (await sessions.revokeUserSessions(userId, { reason: 'revoked_everywhere' })).length;
        }
      };
      await Promise.all(Array.from({ length: REVOKE_EVERYWHERE_CONCURRENCY }, worker));
      audit({ type: 'sessions.revoked_everywhere', users, sessionsRevoked, ...actor });
      return { users, sessionsRevoked };
    },
  };
}
