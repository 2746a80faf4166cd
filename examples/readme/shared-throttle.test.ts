import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { createSharedAuth } from './shared-throttle.js';

const redisURL = inject('redisURL');

// The README's shared-throttle fragment, completed by shared-throttle.ts: two instances on one Redis share the
// login budget, so a burst spread over both still checks at most 10 passwords for the account.
describe.skipIf(redisURL === null)('the README’s shared login throttle (examples/readme/shared-throttle.ts)', () => {
  it('two instances on one Redis share one account budget under a parallel burst', async () => {
    const secret = randomBytes(32).toString('base64');
    const [first, second] = [await createSharedAuth(redisURL!, secret), await createSharedAuth(redisURL!, secret)];
    try {
      const account = `ada-${randomBytes(6).toString('hex')}@example.com`;
      const request = {
        method: 'POST',
        url: '/login',
        headers: (name: string) => ({ origin: 'https://app.example.com', 'sec-fetch-site': 'same-origin' })[name],
        ip: '203.0.113.7',
        origin: 'https://app.example.com',
      };
      let checked = 0;
      const verify = async () => {
        checked++;
        return null;
      };
      const burst = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          (i % 2 === 0 ? first : second).auth.verifyCredentials(request, { account, verify }),
        ),
      );
      expect(checked).toBeLessThanOrEqual(10);
      expect(burst.filter((result) => !result.ok && result.error.status === 429).length).toBeGreaterThanOrEqual(20);
    } finally {
      await first.redisStore.close();
      await second.redisStore.close();
    }
  });
});
