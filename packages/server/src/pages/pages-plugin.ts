import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/** Options of {@link pagesPlugin}. */
export interface PagesPluginOptions {
  /** The folder holding the static files. @default the result of {@link resolvePagesDirectory} */
  directory?: string;
}

/** URL path → file name and Content-Type. Every page route is a GET of a file read once at start. */
const PAGES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/account': { file: 'account.html', type: 'text/html; charset=utf-8' },
  '/assets/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
  '/assets/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/assets/api.js': { file: 'api.js', type: 'text/javascript; charset=utf-8' },
};

/**
 * `METHOD path` of every route {@link pagesPlugin} registers. These are pages for
 * people, not JSON endpoints, so they are not in the OpenAPI `ROUTES`; the route
 * sync test expects exactly `ROUTES` plus these.
 */
export const PAGE_ROUTES: readonly string[] = Object.keys(PAGES).map((path) => `GET ${path}`);

/** Where the static files live inside the package, relative to its root. */
const PAGES_FOLDER = join('src', 'pages');

/**
 * The folder of the static page files. They live in `src/pages/` of the
 * package and the TypeScript build copies only `.ts`, so the folder is found from
 * the package root (the nearest `package.json` above this module): the same answer
 * whether this module runs from `src/` (tsx, tests) or from the built `dist/`.
 *
 * @param moduleURL the URL of the module asking. @default this module's URL
 */
export function resolvePagesDirectory(moduleURL: string | URL = import.meta.url): string {
  const start = dirname(fileURLToPath(moduleURL));
  for (let folder = start; ; folder = dirname(folder)) {
    if (existsSync(join(folder, 'package.json'))) return join(folder, PAGES_FOLDER);
    if (dirname(folder) === folder) throw new Error(`no package.json above ${start}: cannot find the page files`);
  }
}

/**
 * Serves the pages for people (`/` sign in and sign up, `/account`) and their
 * assets. Files are read once, when the plugin registers; a missing one stops
 * the server at start rather than at the first visit. The pages talk to the
 * public JSON API only; the server's `onSend` hook adds their CSP.
 *
 * @example
 * await app.register(pagesPlugin);
 */
export async function pagesPlugin(app: FastifyInstance, options: PagesPluginOptions = {}): Promise<void> {
  const directory = options.directory ?? resolvePagesDirectory();
  for (const [path, { file, type }] of Object.entries(PAGES)) {
    const body = readFileSync(join(directory, file));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    app.get(path, async (request, reply) => {
      // `no-cache`: the browser revalidates every time, so a new release is picked up at once.
      reply.header('Cache-Control', 'no-cache').header('ETag', etag).type(type);
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.send(body);
    });
  }
}
