import Bowser from 'bowser';
import { isIPv4, isIPv6 } from 'node:net';

/** How a session is tied to the client that signed in: see `SessionManagerOptions.binding`. */
export type SessionBinding = 'off' | 'warn' | 'strict';

/** The session binding policies, for option checks and configuration. */
export const SESSION_BINDINGS: readonly SessionBinding[] = ['off', 'warn', 'strict'];

/** What a user agent says at a glance: browser family and major version, and the operating system. */
export interface CoarseUserAgent {
  /** The browser family, e.g. `Chrome`, `Firefox`; `null` when the user agent names none Bowser knows. */
  browser: string | null;
  /** The browser's major version, e.g. `120`; `null` when unknown. */
  major: number | null;
  /** The operating system, e.g. `Windows`, `macOS`, `Linux`; `null` when unknown. */
  os: string | null;
}

const UNKNOWN: CoarseUserAgent = { browser: null, major: null, os: null };

/** The browser family, major version and OS of a `User-Agent` header (parsed by Bowser). */
export function coarseUserAgent(userAgent: string | null): CoarseUserAgent {
  if (userAgent === null || userAgent.trim() === '') return UNKNOWN;
  const parsed = Bowser.parse(userAgent);
  const major = Number.parseInt(parsed.browser.version ?? '', 10);
  return {
    browser: parsed.browser.name === undefined || parsed.browser.name === '' ? null : parsed.browser.name,
    major: Number.isSafeInteger(major) ? major : null,
    os: parsed.os.name === undefined || parsed.os.name === '' ? null : parsed.os.name,
  };
}

/** A user agent as one short line for people and logs, e.g. `Chrome 120 on Windows`; `null` when nothing is known. */
export function describeUserAgent(userAgent: string | null): string | null {
  const { browser, major, os } = coarseUserAgent(userAgent);
  if (browser === null && os === null) return null;
  const name = browser === null ? 'Unknown browser' : major === null ? browser : `${browser} ${major}`;
  return os === null ? name : `${name} on ${os}`;
}

/**
 * Whether two user agents are another browser family or another operating
 * system: what a copied cookie looks like, unlike a browser's own upgrade
 * (a new major version of the same family is the same client).
 */
export function isOtherClient(before: string | null, after: string | null): boolean {
  const a = coarseUserAgent(before);
  const b = coarseUserAgent(after);
  return a.browser !== b.browser || a.os !== b.os;
}

/** The eight 16-bit groups of an IPv6 address (already checked with `isIPv6`), an embedded IPv4 tail included. */
function ipv6Groups(ip: string): number[] {
  let text = ip.split('%')[0] ?? ip;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)?.[1];
  if (tail !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, -tail.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const missing = rest === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(missing).fill('0'), ...right].map((group) => Number.parseInt(group, 16));
}

/**
 * The network an address belongs to, coarse enough to say "same place" without
 * the address itself: the /24 of an IPv4 address (`203.0.113.0/24`), the /48
 * of an IPv6 one (`2001:db8:1::/48`; an IPv4-mapped IPv6 address counts as
 * IPv4). `null` for `null` or anything that is not an IP address.
 */
export function ipPrefix(ip: string | null): string | null {
  if (ip === null) return null;
  if (isIPv4(ip)) return `${ip.split('.').slice(0, 3).join('.')}.0/24`;
  if (!isIPv6(ip)) return null;
  const groups = ipv6Groups(ip);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [hi = 0, lo = 0] = groups.slice(6);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.0/24`;
  }
  return `${groups
    .slice(0, 3)
    .map((group) => group.toString(16))
    .join(':')}::/48`;
}
