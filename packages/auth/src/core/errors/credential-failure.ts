/**
 * Why a presented credential (a session token, an access token or a refresh
 * token) did not authenticate. One vocabulary for all three:
 * - `malformed` — not the shape Tessera issues (session tokens, and a bearer
 *   header that holds no token; token verification says `invalid`).
 * - `not_found` — no session has that id, or the secret is wrong: the two
 *   answer alike, so nothing tells an attacker an id exists.
 * - `invalid` — a token that is not authentic (signature, key, claims), or
 *   names a session of another user.
 * - `expired` — it, or the session behind it, ran out of time.
 * - `revoked` — the session behind it was revoked or deleted.
 * - `reused` — a spent refresh token was presented again: its session is now revoked.
 */
export type CredentialFailure = 'malformed' | 'not_found' | 'invalid' | 'expired' | 'revoked' | 'reused';

/**
 * The outcome of checking a credential: `ok` with what it proved, or not `ok`
 * with the reason. The fields of the other branch are `undefined`, so
 * `result.reason` and `result.session` can be read on either.
 */
export type CredentialResult<T extends object> =
  ({ ok: true; reason?: undefined } & T) | ({ ok: false; reason: CredentialFailure } & { [K in keyof T]?: undefined });

/** The failed branch of a {@link CredentialResult}. */
export const refuse = (reason: CredentialFailure): { ok: false; reason: CredentialFailure } => ({ ok: false, reason });

/**
 * What a token says when the session behind it failed: the session is the
 * token family, so one that is gone (deleted at logout) revoked its tokens with it.
 */
export const tokenFamilyFailure = (sessionFailure: CredentialFailure): CredentialFailure =>
  sessionFailure === 'expired' ? 'expired' : 'revoked';
