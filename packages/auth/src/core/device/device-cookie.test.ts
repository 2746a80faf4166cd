import { describe, expect, it } from 'vitest';
import { createDeviceCookie } from './device-cookie.js';

const secret = 'd'.repeat(32);
const other = 'e'.repeat(32);
const DAY = 24 * 3600;

const valueOf = (setCookie: string): string => setCookie.split(';')[0]!;

describe('createDeviceCookie', () => {
  it('issues a __Host- cookie, HttpOnly, Secure, SameSite=Strict, long-lived, naming no account', () => {
    const devices = createDeviceCookie({ secrets: [secret] });
    const { deviceId, setCookie } = devices.serialize('alice@example.com');
    expect(devices.name).toBe('__Host-tessera-device');
    expect(deviceId).toMatch(/^[\w-]{22}$/);
    expect(setCookie).toMatch(
      /^__Host-tessera-device=[\w-]{22}\.\d+\.[\w-]{43}; Expires=.+; Max-Age=31536000; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
    );
    expect(setCookie).not.toContain('alice');
  });

  it('reads back the device id for the account it was issued to, and for no other', () => {
    const devices = createDeviceCookie({ secrets: [secret] });
    const { deviceId, setCookie } = devices.serialize('alice@example.com');
    const header = `theme=dark; ${valueOf(setCookie)}`;
    expect(devices.read(header, 'alice@example.com')).toBe(deviceId);
    expect(devices.read(header, 'bob@example.com')).toBeNull();
    expect(devices.read(undefined, 'alice@example.com')).toBeNull();
  });

  it('keeps the device id when refreshed, so its budget follows it', () => {
    const devices = createDeviceCookie({ secrets: [secret] });
    const first = devices.serialize('alice');
    const again = devices.serialize('alice', first.deviceId);
    expect(again.deviceId).toBe(first.deviceId);
    expect(devices.read(valueOf(again.setCookie), 'alice')).toBe(first.deviceId);
  });

  it('refuses a forged, tampered, re-dated or tossed cookie', () => {
    const devices = createDeviceCookie({ secrets: [secret] });
    const value = valueOf(devices.serialize('alice').setCookie);
    const [name, content] = value.split('=') as [string, string];
    const [id, issued, mac] = content.split('.') as [string, string, string];
    const forged = valueOf(createDeviceCookie({ secrets: [other] }).serialize('alice', id).setCookie);
    expect(devices.read(forged, 'alice')).toBeNull();
    expect(devices.read(`${name}=${id}.${Number(issued) + 1}.${mac}`, 'alice')).toBeNull();
    expect(devices.read(`${name}=${'A'.repeat(22)}.${issued}.${mac}`, 'alice')).toBeNull();
    expect(devices.read(`${name}=garbage`, 'alice')).toBeNull();
    const second = valueOf(devices.serialize('alice').setCookie);
    expect(devices.read(`${value}; ${second}`, 'alice')).toBeNull();
    expect(devices.read(`${value}; ${value}`, 'alice')).not.toBeNull();
  });

  it('expires after maxAgeSeconds', () => {
    let clock = Date.UTC(2026, 0, 1);
    const devices = createDeviceCookie({ secrets: [secret], maxAgeSeconds: 30 * DAY, now: () => clock });
    const { deviceId, setCookie } = devices.serialize('alice');
    clock += 29 * DAY * 1000;
    expect(devices.read(valueOf(setCookie), 'alice')).toBe(deviceId);
    clock += 2 * DAY * 1000;
    expect(devices.read(valueOf(setCookie), 'alice')).toBeNull();
  });

  it('verifies with every secret and signs with the first, so a secret can be rotated in', () => {
    const old = createDeviceCookie({ secrets: [secret] });
    const rotated = createDeviceCookie({ secrets: [other, secret] });
    const { deviceId, setCookie } = old.serialize('alice');
    expect(rotated.read(valueOf(setCookie), 'alice')).toBe(deviceId);
    expect(old.read(valueOf(rotated.serialize('alice').setCookie), 'alice')).toBeNull();
  });

  it('drops Secure and the prefix only when told, and checks its options', () => {
    const insecure = createDeviceCookie({ secrets: [secret], insecure: true, name: 'dev' });
    expect(insecure.name).toBe('dev');
    expect(insecure.serialize('alice').setCookie).not.toContain('Secure');
    expect(() => createDeviceCookie({ secrets: ['short'] })).toThrow('"secrets[0]" must be at least 32 bytes');
    expect(() => createDeviceCookie({ secrets: [secret], name: '__Host-x' })).toThrow('"name"');
    expect(() => createDeviceCookie({ secrets: [secret], maxAgeSeconds: 0 })).toThrow('"maxAgeSeconds"');
  });
});
