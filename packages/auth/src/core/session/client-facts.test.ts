import { describe, expect, it } from 'vitest';
import { coarseUserAgent, describeUserAgent, ipPrefix, isOtherClient } from './client-facts.js';

const CHROME_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const SAFARI_MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15';

describe('coarse client facts', () => {
  it('reads browser family, major version and OS; nothing from a missing or unknown user agent', () => {
    expect(coarseUserAgent(CHROME_WINDOWS)).toEqual({ browser: 'Chrome', major: 120, os: 'Windows' });
    expect(describeUserAgent(SAFARI_MAC)).toBe('Safari 17 on macOS');
    expect(coarseUserAgent(null)).toEqual({ browser: null, major: null, os: null });
    expect(describeUserAgent('curl/8.4.0')).toBeNull();
    expect(describeUserAgent('   ')).toBeNull();
  });

  it('tells another browser family or OS from an upgrade of the same browser', () => {
    expect(isOtherClient(CHROME_WINDOWS, CHROME_WINDOWS.replace('Chrome/120', 'Chrome/131'))).toBe(false);
    expect(isOtherClient(CHROME_WINDOWS, SAFARI_MAC)).toBe(true);
    expect(
      isOtherClient(CHROME_WINDOWS, CHROME_WINDOWS.replace('Windows NT 10.0; Win64; x64', 'X11; Linux x86_64')),
    ).toBe(true);
    expect(isOtherClient(null, null)).toBe(false);
  });

  it.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['2001:db8:1:2::5', '2001:db8:1::/48'],
    ['2001:db8::1', '2001:db8:0::/48'],
    ['::1', '0:0:0::/48'],
    ['::ffff:198.51.100.9', '198.51.100.0/24'],
    ['fe80::1%eth0', 'fe80:0:0::/48'],
    ['not an ip', null],
    [null, null],
  ])('gives %s the network prefix %s', (ip, prefix) => {
    expect(ipPrefix(ip)).toBe(prefix);
  });
});
