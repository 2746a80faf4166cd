import type * as Argon2 from '@node-rs/argon2';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { normalizeEmail } from './email.js';
import { checkPasswordPolicy, hashPassword, verifyPassword, verifyPasswordForNoOne } from './password.js';
import { createSQLiteAccountStore } from './sqlite-account-store.js';

const argon2 = vi.hoisted(() => ({ verifyCalls: 0 }));
vi.mock('@node-rs/argon2', async (importOriginal) => {
  const real = await importOriginal<typeof Argon2>();
  return {
    ...real,
    verify: (...args: Parameters<typeof real.verify>) => {
      argon2.verifyCalls++;
      return real.verify(...args);
    },
  };
});

describe('passwords', () => {
  it('hashes with argon2id at OWASP parameters and verifies', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(stored, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(stored, 'correct horse battery stapler')).toBe(false);
    expect(await verifyPassword('not a hash', 'x')).toBe(false);
  });

  it('normalises Unicode so the same password typed two ways matches', async () => {
    const stored = await hashPassword('caf\u00e9-au-lait');
    expect(await verifyPassword(stored, 'cafe\u0301-au-lait')).toBe(true);
  });

  it('does a real verification for an unknown account, so its timing matches a wrong password', async () => {
    const before = argon2.verifyCalls;
    expect(await verifyPasswordForNoOne('guess')).toBe(false);
    expect(argon2.verifyCalls).toBe(before + 1);
  });

  it.each([
    ['short', 'Use at least 8 characters.'],
    ['x'.repeat(257), 'Use at most 256 characters.'],
    ['Password123', 'This password is too common; choose another.'],
    ['12345678', 'This password is too common; choose another.'],
  ])('refuses %s', (password, message) => {
    expect(checkPasswordPolicy(password)).toBe(message);
  });

  it('accepts 8 to 256 characters, counting characters rather than bytes', () => {
    expect(checkPasswordPolicy('🔐🔐🔐🔐🔐🔐🔐🔐')).toBeNull();
    expect(checkPasswordPolicy('x'.repeat(256))).toBeNull();
    expect(checkPasswordPolicy('a long passphrase')).toBeNull();
  });
});

describe('normalizeEmail', () => {
  it('trims and lower-cases', () => {
    expect(normalizeEmail('  Alice@Example.COM ')).toBe('alice@example.com');
  });
  it.each([[''], ['no-at'], ['a@b'], ['a b@c.d'], [42], [null], ['x'.repeat(250) + '@e.com']])(
    'refuses %j',
    (value) => {
      expect(normalizeEmail(value)).toBeNull();
    },
  );
});

describe('SQLite account store', () => {
  const account = (email: string) => ({ id: crypto.randomUUID(), email, passwordHash: 'h', createdAt: Date.now() });

  it('creates, finds and updates accounts', async () => {
    const store = createSQLiteAccountStore(new BetterSqlite3(':memory:'));
    const alice = account('alice@example.com');
    expect(await store.createAccount(alice)).toEqual(alice);
    expect(await store.findAccountByEmail('alice@example.com')).toEqual(alice);
    expect(await store.findAccountById(alice.id)).toEqual(alice);
    expect(await store.findAccountByEmail('bob@example.com')).toBeNull();
    expect(await store.setPasswordHash(alice.id, 'h2')).toBe(true);
    expect((await store.findAccountById(alice.id))?.passwordHash).toBe('h2');
    expect(await store.setPasswordHash('nobody', 'h2')).toBe(false);
    expect(await store.listAccounts()).toHaveLength(1);
  });

  it('lets exactly one of 20 concurrent sign-ups with one email win', async () => {
    const store = createSQLiteAccountStore(new BetterSqlite3(':memory:'));
    const results = await Promise.all(
      Array.from({ length: 20 }, () => store.createAccount(account('same@example.com'))),
    );
    expect(results.filter((result) => result !== null)).toHaveLength(1);
  });
});
