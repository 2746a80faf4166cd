import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM_PATH,
  hasChromium,
  launchChromium,
  openDevice,
  startOtherSite,
  type DevicePage,
} from './support/browser.js';
import { startTestServer, type TestServer } from './support/server-harness.js';

const available = hasChromium();
if (!available) {
  const why = `${CHROMIUM_PATH} is missing, so the pages are not tested in a browser (apt-get install chromium)`;
  if (process.env.CI === 'true') throw new Error(`CI: ${why}`);
  console.warn(`⚠️  SKIPPING test/browser.test.ts: ${why}`);
}

const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'staple on the battery';
const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const ARTIFACTS = new URL('../test-artifacts/', import.meta.url).pathname;

const onPath = (path: string) => (url: URL) => url.pathname === path;
const textOf = (page: Page, selector: string) => () => page.locator(selector).textContent();

/**
 * The pages for people, driven in headless Chromium against the real server on
 * `http://localhost` (a secure context, so the `__Host-` cookie works). Each
 * device is its own browser context: its own cookie jar. The scenarios run in
 * order and share one account.
 */
describe.skipIf(!available)('the pages in Chromium', { timeout: 60_000 }, () => {
  let server: TestServer;
  let browser: Browser;
  let base: string;
  const devices: DevicePage[] = [];
  // Each run has its own fresh database, so the addresses need not be unique.
  const email = 'ada@example.com';
  let laptop: DevicePage;
  let phone: DevicePage;

  const openDeviceTracked = async (options: Parameters<typeof openDevice>[1] = {}) => {
    const device = await openDevice(browser, options);
    devices.push(device);
    return device;
  };
  const signIn = async (page: Page, address: string, password: string) => {
    await page.goto(`${base}/`);
    const form = page.getByRole('region', { name: 'Sign in' });
    await form.getByLabel('Email').fill(address);
    await form.getByLabel('Password').fill(password);
    await form.getByLabel('Password').press('Enter');
  };
  const sessionItems = (page: Page) => page.locator('#sessions > li');
  const waitForSessions = async (page: Page, count: number) => {
    await page.waitForURL(onPath('/account'));
    await expect.poll(() => sessionItems(page).count()).toBe(count);
  };

  beforeAll(async () => {
    server = await startTestServer({ TESSERA_LOGIN_MAX_ATTEMPTS: '3' });
    base = `http://localhost:${new URL(server.url).port}`;
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterEach(() => {
    for (const device of devices) expect(device.problems, 'console errors, page errors, CSP violations').toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('signs up with the keyboard, refuses a common password inline, and shows the account with one device', async () => {
    laptop = await openDeviceTracked();
    const { page } = laptop;
    await page.goto(`${base}/`);
    await page.screenshot({ path: `${ARTIFACTS}sign-in.png`, fullPage: true });

    await page.getByRole('button', { name: 'Create an account' }).click();
    const form = page.getByRole('region', { name: 'Create an account' });
    await form.getByLabel('Email').fill(email);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.id')).toBe('sign-up-password');
    await page.keyboard.type('password123');
    await page.keyboard.press('Enter');
    await expect
      .poll(textOf(page, '#sign-up-error'))
      .toBe(
        'This password is too easy to guess. This is a commonly used password. Try a longer one, e.g. a few unrelated words.',
      );
    expect(await form.getByLabel('Password').getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: `${ARTIFACTS}sign-up-error.png`, fullPage: true });

    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByLabel('Password').press('Enter');
    await waitForSessions(page, 1);
    expect(await page.locator('#user-email').textContent()).toBe(email);
    expect(await page.locator('#header-email').textContent()).toBe(email);
    const only = await sessionItems(page).first().innerText();
    expect(only).toMatch(/^Chrome \d+ on Linux\s+This device/);
    expect(only).toContain('IP 127.0.0.1');
    expect(await page.evaluate('localStorage.length + sessionStorage.length')).toBe(0);
  });

  it('shows a wrong password inline and stays on the sign-in page', async () => {
    const { page } = await openDeviceTracked();
    await signIn(page, email, 'not my password');
    await expect.poll(textOf(page, '#sign-in-error')).toContain('That email and password do not match');
    expect(new URL(page.url()).pathname).toBe('/');
    const password = page.getByRole('region', { name: 'Sign in' }).getByLabel('Password');
    expect(await password.getAttribute('aria-invalid')).toBe('true');
    expect(await password.evaluate((element) => element === element.ownerDocument.activeElement)).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}sign-in-error.png`, fullPage: true });
  });

  it('lists a second device readably; signing it out sends it to sign-in on its next action', async () => {
    phone = await openDeviceTracked({ userAgent: IPHONE, viewport: { width: 390, height: 844 } });
    await signIn(phone.page, email, PASSWORD);
    await waitForSessions(phone.page, 2);
    await phone.page.screenshot({ path: `${ARTIFACTS}account-phone.png`, fullPage: true });

    const { page } = laptop;
    await page.reload();
    await waitForSessions(page, 2);
    const [mine, theirs] = await sessionItems(page).allInnerTexts();
    // Both are new devices (the laptop signed up, the phone had never signed in), and each shows where it signed in.
    expect(mine).toMatch(
      /^Chrome \d+ on Linux\s+This device\s+New device\s+Latest IP 127\.0\.0\.1 · Active now\s+Signed in .+ · from Chrome \d+ on Linux · IP 127\.0\.0\.1$/,
    );
    expect(theirs).toMatch(
      /^Safari 17 on iOS 17\s+New device\s+Latest IP 127\.0\.0\.1 · Last active .+\s+Signed in .+ · from Safari 17 on iOS 17 · IP 127\.0\.0\.1\s+Sign out$/,
    );
    expect(theirs).not.toContain('This device');
    const created = page.locator('#sessions time').first();
    const iso = String(await created.getAttribute('datetime'));
    expect(await created.textContent()).toBe(
      new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso)),
    );
    await page.screenshot({ path: `${ARTIFACTS}account.png`, fullPage: true });

    await sessionItems(page)
      .nth(1)
      .getByRole('button', { name: /^Sign out Safari 17 on iOS 17/ })
      .click();
    await expect.poll(() => sessionItems(page).count()).toBe(1);
    expect(await page.locator('#status').textContent()).toBe('Signed out Safari 17 on iOS 17.');
    expect(await page.getByRole('button', { name: 'Sign out everywhere else' }).isVisible()).toBe(false);

    // The phone's page still lists two devices; its next action is refused with 401.
    await phone.page.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await phone.page.waitForURL(onPath('/'));
    await expect.poll(textOf(phone.page, '#status')).toBe('Your session has ended. Please sign in again.');
  });

  it('marks a browser that never signed in to the account as a new device, and not once it has', async () => {
    const tablet = await openDeviceTracked();
    const { page } = tablet;
    const own = () => sessionItems(page).filter({ hasText: 'This device' }).innerText();
    await signIn(page, email, PASSWORD);
    await waitForSessions(page, 2);
    expect(await own()).toMatch(/^Chrome \d+ on Linux\s+This device\s+New device\s/);
    const signOut = async () => {
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(onPath('/'));
    };
    await signOut();
    // Its device cookie outlives the sign-out: the next sign-in is from a known device.
    await signIn(page, email, PASSWORD);
    await waitForSessions(page, 2);
    expect(await own()).not.toContain('New device');
    await page.screenshot({ path: `${ARTIFACTS}account-new-device.png`, fullPage: true });
    await signOut();
  });

  it('refuses forged cross-site posts from a page on another origin, and nothing changes', async () => {
    const submit = '<script>document.forms[0].submit()</script>';
    const attacks = [
      {
        // JSON smuggled into a text/plain form body: {"currentPassword":"…","newPassword":"…","x":"="}.
        path: '/auth/password',
        html: `<form method="post" action="${base}/auth/password" enctype="text/plain"><input name='{"currentPassword":"${PASSWORD}","newPassword":"taken over by another site","x":"' value='"}'></form>${submit}`,
        refusedWith: [415],
      },
      {
        path: '/auth/logout',
        html: `<form method="post" action="${base}/auth/logout"><input name="_csrf" value="guessed"></form>${submit}`,
        refusedWith: [415],
      },
      {
        // A bodyless "simple" request: no body parser stands in the way, so the cookie and CSRF checks must.
        path: '/auth/logout',
        html: `<script>fetch('${base}/auth/logout', { method: 'POST', mode: 'no-cors', credentials: 'include' })</script>`,
        refusedWith: [401, 403],
      },
    ];
    for (const { path, html, refusedWith } of attacks) {
      const site = await startOtherSite(`<!doctype html>${html}`);
      const attacker = await laptop.context.newPage();
      try {
        const answered = attacker.waitForResponse((response) => new URL(response.url()).pathname === path);
        await attacker.goto(site.url);
        const response = await answered;
        expect(response.request().method()).toBe('POST');
        expect(refusedWith, `${path} answered ${response.status()}`).toContain(response.status());
      } finally {
        await attacker.close();
        await site.close();
      }
    }
    const { page } = laptop;
    await page.reload();
    await waitForSessions(page, 1);
    expect(await sessionItems(page).first().innerText()).toContain('This device');
    const stillTheSame = await server.call('POST', '/auth/login', {
      body: { email, password: PASSWORD, transport: 'token' },
    });
    expect(stillTheSame.status).toBe(200);
    await server.call('POST', '/auth/logout', { bearer: stillTheSame.json.access_token });
  });

  it('changing the password signs the other device out and keeps this one working with a fresh CSRF token', async () => {
    await signIn(phone.page, email, PASSWORD);
    await waitForSessions(phone.page, 2);

    const { page } = laptop;
    await page.reload();
    await waitForSessions(page, 2);
    const form = page.getByRole('region', { name: 'Change password' });
    await form.getByLabel('Current password').fill('not my password');
    await form.getByLabel('New password').fill(NEW_PASSWORD);
    await form.getByLabel('New password').press('Enter');
    await expect.poll(textOf(page, '#password-error')).toBe('Your current password is not correct.');

    await form.getByLabel('Current password').fill(PASSWORD);
    await form.getByLabel('New password').press('Enter');
    await expect.poll(textOf(page, '#status')).toBe('Password changed. Every other device was signed out.');
    expect(await textOf(page, '#password-error')()).toBe('');
    expect(await sessionItems(page).count()).toBe(1);

    await phone.page.reload();
    await phone.page.waitForURL(onPath('/'));

    // Signing out is a CSRF-checked POST: it works only with the token fetched after the session id rotated.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(onPath('/'));
    await expect.poll(textOf(page, '#status')).toBe('You have signed out.');
    await page.goto(`${base}/account`);
    await page.waitForURL(onPath('/'));

    await signIn(phone.page, email, NEW_PASSWORD);
    await waitForSessions(phone.page, 1);
  });

  it('says how long to wait when sign-in is rate limited', async () => {
    const address = 'grace@example.com';
    expect((await server.call('POST', '/auth/signup', { body: { email: address, password: PASSWORD } })).status).toBe(
      201,
    );
    const { page } = await openDeviceTracked();
    for (let attempt = 1; attempt <= 3; attempt++) {
      await signIn(page, address, `wrong guess ${attempt}`);
      await expect.poll(textOf(page, '#sign-in-error')).toContain('do not match');
    }
    await signIn(page, address, PASSWORD);
    await expect.poll(textOf(page, '#sign-in-error')).toMatch(/^Too many attempts\. Try again in \d+ minutes\.$/);
  });

  it('names devices from their user agents', async () => {
    const { page } = await openDeviceTracked();
    await page.goto(`${base}/`);
    const cases: Record<string, string> = {
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36':
        'Chrome 126 on Windows',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87':
        'Edge 126 on Windows',
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0':
        'Opera 111 on Windows',
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0': 'Firefox 127 on macOS',
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15':
        'Safari 17 on macOS',
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36':
        'Chrome 126 on Android 14',
      'Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36':
        'Samsung Internet 25 on Android 14',
      'Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0': 'Firefox 127 on Android 14',
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.153 Mobile/15E148 Safari/604.1':
        'Chrome 126 on iOS 17',
      'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1':
        'Safari 17 on iPadOS 17',
      'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36':
        'Chrome 126 on ChromeOS',
      'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0': 'Firefox 127 on Linux',
      'curl/8.5.0': 'curl 8.5',
      node: 'node',
      '': 'Unknown device',
    };
    const agents = Object.keys(cases);
    const names = await page.evaluate(
      `import('/assets/api.js').then((api) => ${JSON.stringify(agents)}.map(api.describeUserAgent))`,
    );
    expect(Object.fromEntries(agents.map((agent, index) => [agent, (names as string[])[index]]))).toEqual(cases);
  });

  it('deletes the account after a confirm step in the page, lands on sign-in, and the account is gone', async () => {
    const { page } = await openDeviceTracked();
    const address = 'leaving@example.com';
    expect((await server.call('POST', '/auth/signup', { body: { email: address, password: PASSWORD } })).status).toBe(
      201,
    );
    await signIn(page, address, PASSWORD);
    await waitForSessions(page, 2);

    const start = page.getByRole('button', { name: 'Delete my account' });
    await expect.poll(() => start.isEnabled()).toBe(true);
    await start.click();
    const confirmation = page.getByRole('group', { name: /Delete your account for good/ });
    expect(await confirmation.isVisible()).toBe(true);
    // Changing one's mind leaves everything as it was.
    await page.getByRole('button', { name: 'Keep my account' }).click();
    expect(await confirmation.isVisible()).toBe(false);
    expect((await server.call('POST', '/auth/login', { body: { email: address, password: PASSWORD } })).status).toBe(
      200,
    );

    await start.click();
    await page.screenshot({ path: `${ARTIFACTS}account-delete-confirm.png`, fullPage: true });
    await page.getByRole('button', { name: 'Yes, delete my account' }).click();
    await page.waitForURL(onPath('/'));
    await expect.poll(textOf(page, '#status')).toBe('Your account was deleted.');
    const login = await server.call('POST', '/auth/login', { body: { email: address, password: PASSWORD } });
    expect([login.status, login.json.error.code]).toEqual([401, 'invalid_credentials']);
    expect((await page.context().cookies()).some((cookie) => cookie.name === '__Host-tessera')).toBe(false);
  });

  it('would notice a CSP violation (the problem detector works)', async () => {
    const canary = await openDevice(browser);
    await canary.page.goto(`${base}/`);
    await canary.page.evaluate(
      `{ const script = document.createElement('script'); script.textContent = 'window.ran = true'; document.body.append(script); }`,
    );
    await expect.poll(() => canary.problems.join('\n')).toContain('CSP violation: script-src');
    expect(await canary.page.evaluate('window.ran')).toBeUndefined();
    await canary.context.close();
  });
});

/**
 * "Keep me signed in" and the inline step-up prompt, on a server of their own whose sign-ins count as recent
 * for a few seconds only (TESSERA_REAUTH_MAX_AGE), so the prompt can be reached by moving its clock.
 */
describe.skipIf(!available)('remember me and re-authentication in Chromium', { timeout: 60_000 }, () => {
  const REAUTH_MAX_AGE_SECONDS = 5;
  let server: TestServer;
  let browser: Browser;
  let base: string;
  const devices: DevicePage[] = [];
  const email = 'grace@example.com';

  const openDeviceTracked = async (options: Parameters<typeof openDevice>[1] = {}) => {
    const device = await openDevice(browser, options);
    devices.push(device);
    return device;
  };
  const sessionItems = (page: Page) => page.locator('#sessions > li');
  const signIn = async (page: Page, keep: boolean) => {
    await page.goto(`${base}/`);
    const form = page.getByRole('region', { name: 'Sign in' });
    expect(await form.getByLabel('Keep me signed in').isChecked()).toBe(true);
    if (!keep) await form.getByLabel('Keep me signed in').uncheck();
    await form.getByLabel('Email').fill(email);
    await form.getByLabel('Password').fill(PASSWORD);
    await form.getByLabel('Password').press('Enter');
    await page.waitForURL(onPath('/account'));
  };

  beforeAll(async () => {
    server = await startTestServer({ TESSERA_REAUTH_MAX_AGE: String(REAUTH_MAX_AGE_SECONDS) });
    base = `http://localhost:${new URL(server.url).port}`;
    browser = await launchChromium();
    const created = await server.call('POST', '/auth/signup', { body: { email, password: PASSWORD } });
    expect(created.status).toBe(201);
  });
  afterEach(() => {
    for (const device of devices) expect(device.problems, 'console errors, page errors, CSP violations').toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('"Keep me signed in" unchecked gives a session cookie (no expiry); checked, a cookie with one', async () => {
    const forgetful = await openDeviceTracked();
    await signIn(forgetful.page, false);
    const [browserSession] = (await forgetful.context.cookies()).filter((cookie) => cookie.name === '__Host-tessera');
    expect(browserSession?.expires).toBe(-1);
    const kept = await openDeviceTracked();
    await signIn(kept.page, true);
    const [lasting] = (await kept.context.cookies()).filter((cookie) => cookie.name === '__Host-tessera');
    expect(lasting?.expires).toBeGreaterThan(Date.now() / 1000);
  });

  it('asks for the password inline when the sign-in is too old for "sign out everywhere else", shows a wrong one, then signs out the others', async () => {
    const laptop = await openDeviceTracked();
    await signIn(laptop.page, true);
    const { page } = laptop;
    await expect.poll(() => sessionItems(page).count()).toBeGreaterThan(1);
    server.advance((REAUTH_MAX_AGE_SECONDS + 1) * 1000);

    await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
    const prompt = page.getByRole('region', { name: 'Confirm it’s you' });
    await expect.poll(() => prompt.isVisible()).toBe(true);
    expect(await sessionItems(page).count()).toBeGreaterThan(1);
    await prompt.getByLabel('Password').fill('not my password');
    await prompt.getByLabel('Password').press('Enter');
    await expect.poll(textOf(page, '#reauth-error')).toBe('That password is not correct. Try again.');
    expect(await prompt.isVisible()).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}account-reauth.png`, fullPage: true });

    await prompt.getByLabel('Password').fill(PASSWORD);
    await prompt.getByLabel('Password').press('Enter');
    await expect.poll(() => sessionItems(page).count()).toBe(1);
    expect(await prompt.isVisible()).toBe(false);
    expect(await page.locator('#status').textContent()).toBe(
      'Signed out everywhere else. Only this device is still signed in.',
    );
    // The session moved to a new id with its new CSRF token: the page goes on working.
    await page.reload();
    await expect.poll(() => sessionItems(page).count()).toBe(1);
  });
});
