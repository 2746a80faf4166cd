import { describe, expect, it } from 'vitest';
import { createSessionCookie } from './session-cookie.js';

const token = 'AAAAbm90LWEtcmVhbC1zZXNzaW9u.' + 'B'.repeat(43);

describe('createSessionCookie', () => {
  it('writes __Host-tessera with HttpOnly, Secure, SameSite=Lax, Path=/ and no Domain', () => {
    const cookie = createSessionCookie();
    const expires = new Date(Date.now() + 1800_000);
    const header = cookie.serialize(token, expires);
    expect(header).toMatch(new RegExp(`^__Host-tessera=${token.replace('.', '\\.')}; `));
    expect(header).toContain('; Path=/');
    expect(header).toContain('; HttpOnly');
    expect(header).toContain('; Secure');
    expect(header).toContain('; SameSite=Lax');
    expect(header).toMatch(/; Max-Age=1(799|800);/);
    expect(header).toContain(`Expires=${expires.toUTCString()}`);
    expect(header.toLowerCase()).not.toContain('domain');
  });

  it('writes a browser-session cookie without Expires or Max-Age, with the same attributes', () => {
    expect(createSessionCookie().serialize(token, null)).toBe(
      `__Host-tessera=${token}; Path=/; HttpOnly; Secure; SameSite=Lax`,
    );
  });

  it('offers SameSite=Strict, and an insecure mode that drops Secure and the prefix', () => {
    expect(createSessionCookie({ sameSite: 'strict' }).serializeClear()).toContain('SameSite=Strict');
    const insecure = createSessionCookie({ insecure: true });
    expect(insecure.name).toBe('tessera');
    expect(insecure.serialize(token, new Date(Date.now() + 1000))).not.toContain('Secure');
  });

  it('clears with Max-Age=0 and the same attributes', () => {
    expect(createSessionCookie().serializeClear()).toBe(
      '__Host-tessera=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
  });

  it('reads its own cookie among others', () => {
    const cookie = createSessionCookie();
    expect(cookie.read(`theme=dark; __Host-tessera=${token}; other=1`)).toBe(token);
    expect(cookie.read(`__Host-tessera=${token}; __Host-tessera=${token}`)).toBe(token);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['another cookie only', 'tessera=abc'],
    ['an empty value', '__Host-tessera='],
    ['garbage', '__Host-tessera=%00%ff<script>'],
    ['two different values (cookie tossing)', `__Host-tessera=${token}; __Host-tessera=${token.slice(0, -1)}C`],
    ['an oversized value', `__Host-tessera=${'A'.repeat(5000)}`],
  ])('reads nothing from %s', (_, header) => {
    expect(createSessionCookie().read(header)).toBeNull();
  });

  it('refuses a bad name or SameSite', () => {
    expect(() => createSessionCookie({ name: 'a b' })).toThrow(/"name"/);
    expect(() => createSessionCookie({ name: '__Host-x' })).toThrow(/"name"/);
    expect(() => createSessionCookie({ sameSite: 'none' as 'lax' })).toThrow(/"sameSite"/);
  });
});
