import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); never a browser downloaded by Playwright. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Whether the browser suite can run here. */
export const hasChromium = (): boolean => existsSync(CHROMIUM_PATH);

/** Headless Chromium, quiet: no first-run, sync, component updates or background traffic. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page in its own browser context (its own cookie jar: a separate device), and what went wrong on it. */
export interface DevicePage {
  context: BrowserContext;
  page: Page;
  /** Console errors, uncaught exceptions and CSP violations seen so far. */
  problems: string[];
}

/**
 * Opens a fresh context and page that records every console error and page error.
 * The one console error let through is Chromium's "Failed to load resource" for an
 * `/auth/` API answer with a 4xx status: the pages expect and handle those (a wrong
 * password is a 401), and the browser logs them anyway. A failed asset or page
 * load, a CSP violation ("Refused to …") or an exception is a problem.
 */
export async function openDevice(browser: Browser, options: BrowserContextOptions = {}): Promise<DevicePage> {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1000, height: 720 }, ...options });
  const page = await context.newPage();
  const problems: string[] = [];
  // Chromium logs CSP violations to the console too; this makes each one an explicit, unmistakable error line.
  await context.addInitScript(`
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline code'));
    });
  `);
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    const url = message.location().url;
    const handledApiAnswer =
      /^Failed to load resource: the server responded with a status of 4\d\d/.test(text) &&
      new URL(url, 'http://invalid').pathname.startsWith('/auth/');
    if (!handledApiAnswer) problems.push(`console: ${text} (${url})`);
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  return { context, page, problems };
}

/** A tiny site on another origin, serving one HTML page: the attacker's page in a CSRF test. */
export async function startOtherSite(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}
