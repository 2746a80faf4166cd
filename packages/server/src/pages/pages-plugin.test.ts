import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { PAGE_ROUTES, pagesPlugin, resolvePagesDirectory } from './pages-plugin.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pagesDirectory = join(root, 'src', 'pages');

describe('pagesPlugin', () => {
  it('finds the page files from the package root, whether it runs from src/ or from the built dist/', () => {
    expect(resolvePagesDirectory()).toBe(pagesDirectory);
    const built = new URL('../../dist/pages/pages-plugin.js', import.meta.url);
    expect(resolvePagesDirectory(built)).toBe(pagesDirectory);
    expect(() => resolvePagesDirectory('file:///no-such-place/pages-plugin.js')).toThrow(/no package\.json/);
  });

  it('serves each page and asset with its Content-Type, no-cache, an ETag and 304 on a match', async () => {
    const app = Fastify();
    const registered: string[] = [];
    app.addHook('onRoute', (route) => {
      if (route.method !== 'HEAD') registered.push(`${String(route.method)} ${route.url}`);
    });
    await app.register(pagesPlugin);
    expect(registered.sort()).toEqual([...PAGE_ROUTES].sort());
    const expected: Record<string, RegExp> = {
      '/': /^text\/html; charset=utf-8$/,
      '/account': /^text\/html; charset=utf-8$/,
      '/assets/app.css': /^text\/css; charset=utf-8$/,
      '/assets/app.js': /^text\/javascript; charset=utf-8$/,
      '/assets/api.js': /^text\/javascript; charset=utf-8$/,
    };
    for (const [url, type] of Object.entries(expected)) {
      const first = await app.inject({ method: 'GET', url });
      expect(first.statusCode, url).toBe(200);
      expect(first.headers['content-type']).toMatch(type);
      expect(first.headers['cache-control']).toBe('no-cache');
      const again = await app.inject({ method: 'GET', url, headers: { 'if-none-match': String(first.headers.etag) } });
      expect(again.statusCode).toBe(304);
      expect(again.body).toBe('');
    }
    await app.close();
  });

  it('stops at start when a page file is missing', async () => {
    const app = Fastify();
    await expect(app.register(pagesPlugin, { directory: join(root, 'no-such-folder') })).rejects.toThrow(/ENOENT/);
    await app.close();
  });

  it('has no inline script, inline style or inline event handler in the pages (the page CSP forbids them)', async () => {
    const { readFile } = await import('node:fs/promises');
    for (const file of ['index.html', 'account.html']) {
      const html = await readFile(join(pagesDirectory, file), 'utf8');
      expect(html, file).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html, file).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    }
  });
});

describe('the built server (dist/, built once per run by the test setup; node dist/cli/index.js serve)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tessera-pages-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('serves the pages from dist/, which holds no copy of them', { timeout: 90_000 }, async () => {
    expect(existsSync(join(root, 'dist', 'pages', 'index.html'))).toBe(false);
    const child = spawn(process.execPath, [join(root, 'dist', 'cli', 'index.js'), 'serve'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = '';
        const timer = setTimeout(() => reject(new Error(`no start: ${output}`)), 30_000);
        const collect = (chunk: Buffer) => {
          output += chunk.toString();
          const match = /Tessera listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (match !== null) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        };
        child.stdout.on('data', collect);
        child.stderr.on('data', collect);
      });
      const page = await fetch(`${url}/account`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await page.text()).toContain('Where you’re signed in');
      expect((await fetch(`${url}/assets/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
