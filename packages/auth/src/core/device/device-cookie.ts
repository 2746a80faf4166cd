import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../errors/errors.js';
import { encodeBase64url, secureRandom, type RandomSource } from '../../internal/crypto.js';
import { functionOption, positiveIntegerOption } from '../../internal/options.js';
import { secretListResolver, type SecretList } from '../../internal/secrets.js';

/** Options of {@link createDeviceCookie}. */
export interface DeviceCookieOptions {
  /**
   * Server secrets, each at least 32 bytes: the first signs, all verify, so a
   * secret can be rotated in without forgetting every device. A function is
   * asked on every use, so secrets can change without a restart.
   */
  secrets: SecretList;
  /**
   * The cookie's name without prefix; `__Host-` is added whenever the cookie
   * is `Secure`.
   * @default "tessera-device"
   */
  name?: string;
  /**
   * How long a device stays known after its last sign-in, seconds. Every
   * successful sign-in starts it again.
   * @default 31536000 (365 days)
   */
  maxAgeSeconds?: number;
  /**
   * Drops `Secure` (and so the `__Host-` prefix) for plain-HTTP development
   * on a host other than localhost. Never in production.
   * @default false
   */
  insecure?: boolean;
  /** The clock, epoch milliseconds. @default Date.now */
  now?: () => number;
  /** The random source for device ids. Must be a CSPRNG outside tests. */
  random?: RandomSource;
}

/**
 * A device cookie (OWASP's "device cookies" against account lockout): a random
 * device id signed together with the account it signed in to, so the same
 * client can be recognised on its next sign-in to that account and given a
 * login budget of its own. Holds no account name in clear.
 */
export interface DeviceCookie {
  /** The full cookie name, e.g. `__Host-tessera-device`. */
  readonly name: string;
  /**
   * The device id of a valid cookie in `cookieHeader` signed for `account`;
   * `null` when absent, forged, expired, signed for another account, or
   * present twice with different values.
   */
  read(cookieHeader: string | null | undefined, account: string): string | null;
  /**
   * A `Set-Cookie` value for a client that just signed in to `account`:
   * keeps `deviceId` when given (a known device), otherwise a new random one.
   */
  serialize(account: string, deviceId?: string | null): { deviceId: string; setCookie: string };
}

const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const ID_BYTES = 16;
// <device id>.<issued at, epoch seconds>.<HMAC-SHA-256>
const VALUE_PATTERN = /^([A-Za-z0-9_-]{22})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;
// Another server's clock may run a little ahead of ours.
const CLOCK_SKEW_SECONDS = 300;

/**
 * The device cookie: `__Host-tessera-device`, `HttpOnly`, `Secure`,
 * `SameSite=Strict`, `Path=/`, long-lived, and left in place at logout (it
 * says "this client has signed in here before", not "is signed in").
 *
 * @example
 * const devices = createDeviceCookie({ secrets: [process.env.DEVICE_SECRET] });
 * const deviceId = devices.read(req.headers.cookie, email); // null: an unknown client
 */
export function createDeviceCookie(options: DeviceCookieOptions): DeviceCookie {
  const keys = secretListResolver('secrets', options.secrets);
  const base = options.name ?? 'tessera-device';
  if (typeof base !== 'string' || !NAME_PATTERN.test(base) || base.startsWith('__')) {
    throw new InvalidOptionError('"name" must be 1–64 letters, digits, "_" or "-", without a "__" prefix');
  }
  const maxAgeSeconds = positiveIntegerOption('maxAgeSeconds', options.maxAgeSeconds, 365 * 24 * 3600);
  const now = functionOption('now', options.now, Date.now);
  const random = functionOption('random', options.random, secureRandom);
  const secure = options.insecure !== true;
  const name = secure ? `__Host-${base}` : base;
  // Strict: the cookie only matters to sign-in requests of this site, never to a navigation from elsewhere.
  const attributes = `Path=/; HttpOnly${secure ? '; Secure' : ''}; SameSite=Strict`;

  // JSON keeps the parts apart, so no account name can be chosen to make another's signature.
  const sign = (key: Buffer, account: string, deviceId: string, issuedAt: number): Buffer =>
    createHmac('sha256', key)
      .update(`tessera.device.v1:${JSON.stringify([account, deviceId, issuedAt])}`, 'utf8')
      .digest();

  const verify = (value: string, account: string): string | null => {
    const match = VALUE_PATTERN.exec(value);
    if (match === null) return null;
    const [, deviceId, issued, mac] = match as unknown as [string, string, string, string];
    const issuedAt = Number(issued);
    const age = Math.floor(now() / 1000) - issuedAt;
    if (age >= maxAgeSeconds || age < -CLOCK_SKEW_SECONDS) return null;
    const presented = Buffer.from(mac, 'base64url');
    let valid = false;
    // Every key, not just until the first match, so timing says nothing about which one signed.
    for (const key of keys()) valid = timingSafeEqual(presented, sign(key, account, deviceId, issuedAt)) || valid;
    return valid ? deviceId : null;
  };

  return Object.freeze({
    name,
    read(cookieHeader: string | null | undefined, account: string): string | null {
      if (typeof cookieHeader !== 'string' || cookieHeader.length === 0 || typeof account !== 'string') return null;
      let found: string | null = null;
      for (const pair of cookieHeader.split(';')) {
        const eq = pair.indexOf('=');
        if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
        const value = pair.slice(eq + 1).trim();
        // Two different values is a sign of cookie tossing: trust neither.
        if (found !== null && found !== value) return null;
        found = value;
      }
      return found === null ? null : verify(found, account);
    },
    serialize(account: string, deviceId?: string | null): { deviceId: string; setCookie: string } {
      const id = deviceId ?? encodeBase64url(random(ID_BYTES));
      if (!/^[A-Za-z0-9_-]{22}$/.test(id)) throw new InvalidOptionError('a device id has an unexpected shape');
      const issuedAt = Math.floor(now() / 1000);
      const mac = sign(keys()[0] as Buffer, account, id, issuedAt).toString('base64url');
      const expires = new Date((issuedAt + maxAgeSeconds) * 1000);
      return {
        deviceId: id,
        setCookie: `${name}=${id}.${issuedAt}.${mac}; Expires=${expires.toUTCString()}; Max-Age=${maxAgeSeconds}; ${attributes}`,
      };
    },
  });
}
