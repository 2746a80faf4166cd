import { createRequire } from 'node:module';
import { hash, verify } from '@node-rs/argon2';
import type * as Zxcvbn from '@zxcvbn-ts/core';
import type * as CommonLanguage from '@zxcvbn-ts/language-common';
import type * as EnglishLanguage from '@zxcvbn-ts/language-en';

/** OWASP's argon2id parameters: 19 MiB of memory, 2 passes, 1 lane. */
const ARGON2_OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Password rules (NIST SP 800-63B): 8 to 256 characters, and not easy to guess. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

/**
 * zxcvbn scores 0 and 1 mean fewer than 10^6 guesses: common passwords,
 * repeats, sequences, keyboard walks, l33t forms of those, and words from the
 * account's own email.
 */
const MIN_SCORE = 2;

/**
 * Only this many leading characters are rated: zxcvbn's matching grows
 * quickly with length (seconds of CPU for 256 characters), and guessing a whole
 * password is at least as hard as guessing its start.
 */
const RATED_LENGTH = 64;

// Loaded on first use, synchronously: the dictionaries take a few hundred ms to load, which a server start or a
// CLI command that never checks a new password should not pay.
const load = createRequire(import.meta.url);
let estimator: Zxcvbn.ZxcvbnFactory | undefined;

/** The estimator, with the common and English dictionaries, loaded and built once, on first use. */
function passwordEstimator(): Zxcvbn.ZxcvbnFactory {
  if (estimator !== undefined) return estimator;
  const { ZxcvbnFactory } = load('@zxcvbn-ts/core') as typeof Zxcvbn;
  const common = load('@zxcvbn-ts/language-common') as typeof CommonLanguage;
  const english = load('@zxcvbn-ts/language-en') as typeof EnglishLanguage;
  estimator = new ZxcvbnFactory({
    translations: english.translations,
    graphs: common.adjacencyGraphs,
    dictionary: { ...common.dictionary, ...english.dictionary },
    maxLength: RATED_LENGTH,
    // The default (100) lets one l33t-heavy password take hundreds of ms; 5 still sees "p@ssw0rd" and "4l1c3".
    l33tMaxSubstitutions: 5,
  });
  return estimator;
}

/** The words of an email a password must not be built from: the address, its local part and domain labels, and their pieces. */
function emailWords(email: string): string[] {
  const at = email.lastIndexOf('@');
  const local = at === -1 ? email : email.slice(0, at);
  const domain = at === -1 ? '' : email.slice(at + 1);
  const pieces = [email, local, domain, ...local.split(/[^\p{L}\p{N}]+/u), ...domain.split('.').slice(0, -1)];
  return [...new Set(pieces.filter((piece) => piece.length >= 3))];
}

/** What a new password is checked against besides the dictionaries. */
export interface PasswordContext {
  /** The account's email: a password built from it is refused. */
  email?: string;
}

/**
 * Why a new password is refused, in words for the person choosing it; `null`
 * when it is acceptable. NIST SP 800-63B: 8 to 256 characters (counted as
 * characters, not bytes), no composition rules, and refused when zxcvbn (with
 * its common and English dictionaries, and the email as user input) expects to
 * guess it in under 10^6 tries.
 */
export function checkPasswordPolicy(password: string, context: PasswordContext = {}): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `Use at least ${PASSWORD_MIN_LENGTH} characters.`;
  if (length > PASSWORD_MAX_LENGTH) return `Use at most ${PASSWORD_MAX_LENGTH} characters.`;
  const rating = passwordEstimator().check(
    password.normalize('NFC'),
    context.email === undefined ? [] : emailWords(context.email.toLowerCase()),
  );
  if (rating.score >= MIN_SCORE) return null;
  const why = rating.feedback.warning ?? 'It would be guessed quickly.';
  return `This password is too easy to guess. ${why} Try a longer one, e.g. a few unrelated words.`;
}

/** Hashes a password with argon2id on the libuv thread pool (off the event loop). */
export function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFC'), ARGON2_OPTIONS);
}

/** Checks a password against a stored argon2id hash; `false` for a malformed hash rather than a throw. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password.normalize('NFC'));
  } catch {
    return false;
  }
}

let dummyHash: Promise<string> | undefined;

/**
 * Spends the time of one real verification against a throwaway hash, so a login
 * for an unknown email takes as long as one with a wrong password.
 */
export async function verifyPasswordForNoOne(password: string): Promise<false> {
  dummyHash ??= hashPassword('tessera: no such account');
  await verifyPassword(await dummyHash, password);
  return false;
}
