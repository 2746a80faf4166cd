import { hash, verify } from '@node-rs/argon2';

/** OWASP's argon2id parameters: 19 MiB of memory, 2 passes, 1 lane. */
const ARGON2_OPTIONS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Password rules (NIST SP 800-63B): 8 to 256 characters, not a well-known password. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

// A short list of the most common passwords; a breached-password service is better, and out of scope here.
const COMMON_PASSWORDS = new Set([
  'password',
  'password1',
  'password123',
  '12345678',
  '123456789',
  '1234567890',
  '11111111',
  '00000000',
  'qwertyui',
  'qwerty123',
  'qwertyuiop',
  'iloveyou',
  'sunshine',
  'princess',
  'football',
  'baseball',
  'welcome1',
  'abc12345',
  'abcd1234',
  'letmein1',
  'trustno1',
  'superman',
  'starwars',
  'whatever',
  'passw0rd',
  'p@ssw0rd',
  'changeme',
  'admin123',
  'administrator',
  'monkey123',
  'dragon123',
  'master123',
  '1q2w3e4r',
  '1qaz2wsx',
  'zaq12wsx',
  'asdfghjk',
  'asdfasdf',
  'computer',
  'internet',
  'michelle',
  'jennifer',
  'corvette',
  'mercedes',
  'liverpool',
  'chelsea1',
  'arsenal1',
  'password!',
  'welcome123',
  'tessera123',
  'tesseratessera',
]);

/** Why a new password is refused, in words for the person choosing it; `null` when it is acceptable. */
export function checkPasswordPolicy(password: string): string | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `Use at least ${PASSWORD_MIN_LENGTH} characters.`;
  if (length > PASSWORD_MAX_LENGTH) return `Use at most ${PASSWORD_MAX_LENGTH} characters.`;
  if (COMMON_PASSWORDS.has(password.toLowerCase())) return 'This password is too common; choose another.';
  return null;
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
