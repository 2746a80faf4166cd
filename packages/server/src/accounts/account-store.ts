/** A user account as the server keeps it. */
export interface Account {
  id: string;
  email: string;
  passwordHash: string;
  /** Epoch milliseconds. */
  createdAt: number;
  /** When an operator disabled the account, epoch milliseconds; `null` while it may sign in. */
  disabledAt: number | null;
}

/** Where accounts live: the server's database (SQLite or PostgreSQL). */
export interface AccountStore {
  /** Inserts an account; `null` when the email is taken (atomic: of concurrent sign-ups one wins). */
  createAccount(account: Account): Promise<Account | null>;
  findAccountByEmail(email: string): Promise<Account | null>;
  findAccountById(id: string): Promise<Account | null>;
  /** Deletes an account (a sign-up whose first session could not start); `false` when there is none. */
  deleteAccount(id: string): Promise<boolean>;
  /** Replaces the password hash; `false` when there is no such account. */
  setPasswordHash(id: string, passwordHash: string): Promise<boolean>;
  /** Every account, in creation order, for the CLI. */
  listAccounts(): Promise<Account[]>;
  /**
   * Marks the account disabled at `disabledAt` (epoch milliseconds), or enabled again with `null`. Atomic (one row
   * update); `false` when there is no such account. Disabling an account already disabled keeps its first time.
   */
  setDisabledAt(id: string, disabledAt: number | null): Promise<boolean>;
}

/** An account row as both SQL databases return it. */
export interface AccountRow {
  id: string;
  email: string;
  password_hash: string;
  created_at: number;
  disabled_at: number | null;
}

/** Maps a row to an account; `null` for no row. */
export const accountFromRow = (row: AccountRow | undefined): Account | null =>
  row === undefined
    ? null
    : {
        id: row.id,
        email: row.email,
        passwordHash: row.password_hash,
        createdAt: row.created_at,
        disabledAt: row.disabled_at ?? null,
      };
