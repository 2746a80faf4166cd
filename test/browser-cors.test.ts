import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, hasChromium, launchChromium, openDevice, startOtherSite } from './support/browser.js';
import { startTestServer, type TestServer } from './support/server-harness.js';

const available = hasChromium();
if (!available) {
  const why = `${CHROMIUM_PATH} is missing, so cross-origin requests are not tested in a browser (apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`CI: ${why}`);
  console.warn(`⚠️  SKIPPING test/browser-cors.test.ts: ${why}`);
}

/** What the page's script reports of each step. */
interface Step {
  status: number;
  body: unknown;
}

/**
 * A page on another port of `localhost` (same site, another origin) listed in
 * TESSERA_ALLOWED_ORIGINS signs in with the cookie transport through `fetch`
 * with credentials, in Chromium; a page on an unlisted origin cannot read a thing.
 */
describe.skipIf(!available)('a listed origin in Chromium', { timeout: 60_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let listed: Awaited<ReturnType<typeof startOtherSite>>;
  let unlisted: Awaited<ReturnType<typeof startOtherSite>>;
  let api: string;
  const html = '<!doctype html><title>app</title><p>another origin</p>';
  /** `http://localhost:<port>/` of a site started on 127.0.0.1: a secure context, so `__Host-` cookies work. */
  const onLocalhost = (url: string) => url.replace('127.0.0.1', 'localhost');

  beforeAll(async () => {
    [listed, unlisted] = await Promise.all([startOtherSite(html), startOtherSite(html)]);
    const origin = new URL(onLocalhost(listed.url)).origin;
    server = await startTestServer({ TESSERA_ALLOWED_ORIGINS: origin });
    api = `http://localhost:${new URL(server.url).port}`;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await listed?.close();
    await unlisted?.close();
  });

  it('signs in with a cookie, reads /auth/me, signs out with the CSRF token, all through fetch with credentials', async () => {
    const { page, context } = await openDevice(browser);
    try {
      await page.goto(onLocalhost(listed.url));
      const steps = await page.evaluate(async (base: string): Promise<Record<string, Step>> => {
        const call = async (path: string, init: RequestInit = {}): Promise<Step> => {
          const response = await fetch(base + path, { credentials: 'include', ...init });
          const text = await response.text();
          return { status: response.status, body: text === '' ? null : JSON.parse(text) };
        };
        const json = { 'content-type': 'application/json' };
        const signup = await call('/auth/signup', {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ email: 'cors@example.com', password: 'correct horse battery' }),
        });
        const csrfToken = (signup.body as { csrfToken: string }).csrfToken;
        const me = await call('/auth/me');
        const noToken = await call('/auth/logout', { method: 'POST' });
        const logout = await call('/auth/logout', { method: 'POST', headers: { 'x-csrf-token': csrfToken } });
        const after = await call('/auth/me');
        return { signup, me, noToken, logout, after };
      }, api);
      expect(steps.signup?.status).toBe(201);
      expect(steps.me).toMatchObject({ status: 200, body: { user: { email: 'cors@example.com' } } });
      expect(steps.noToken).toMatchObject({ status: 403, body: { error: { code: 'csrf_failed' } } });
      expect(steps.logout?.status).toBe(204);
      expect(steps.after?.status).toBe(401);
      // The cookie was set for the API's host by the cross-origin answer, and cleared by the sign-out.
      expect((await context.cookies(api)).filter((cookie) => cookie.name === '__Host-tessera')).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('a page on an unlisted origin gets a network error, for a simple request and a preflighted one alike', async () => {
    const { page, context } = await openDevice(browser);
    try {
      await page.goto(onLocalhost(unlisted.url));
      const outcomes = await page.evaluate(async (base: string) => {
        const attempt = async (init: RequestInit) => {
          try {
            const response = await fetch(`${base}/auth/me`, { credentials: 'include', ...init });
            return `read ${response.status}`;
          } catch (error) {
            return (error as Error).name;
          }
        };
        return [await attempt({}), await attempt({ headers: { 'x-csrf-token': 'x' } })];
      }, api);
      expect(outcomes).toEqual(['TypeError', 'TypeError']);
    } finally {
      await context.close();
    }
  });
});
