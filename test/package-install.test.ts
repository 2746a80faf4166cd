import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';

/**
 * The packages as a user gets them: both are packed with `npm pack` (from the `dist/` the global setup built),
 * and each tarball is installed with npm into an empty project of its own, one per set of optional peers. The
 * library alone (no optional peer at all) must import its root, `http`, `errors` and the memory store, and each
 * other subpath must import with only its own peer installed. The server tarball, installed beside the library
 * tarball, must run `tessera --help` and serve. Installs come from npm's cache where it can
 * (`--prefer-offline`), from the registry otherwise; a local run with no network skips loudly, under `CI=true`
 * it fails. better-sqlite3 builds in its install script (a prebuilt binary when GitHub is reachable, a compile
 * otherwise, a couple of minutes): every project installs with `--strict-allow-scripts` and the `allowScripts`
 * the README tells users to write, so a dependency with an install script nobody approved fails the install.
 */

const repository = new URL('..', import.meta.url).pathname;
const readJSON = <T>(path: string): T => JSON.parse(readFileSync(join(repository, path), 'utf8')) as T;
const rootManifest = readJSON<{ devDependencies: Record<string, string> }>('package.json');
const libraryManifest = readJSON<{
  version: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  exports: Record<string, unknown>;
}>('packages/auth/package.json');
const serverManifest = readJSON<{ version: string; dependencies: Record<string, string> }>(
  'packages/server/package.json',
);
const optionalPeers = Object.keys(libraryManifest.peerDependencies);

/** `name@range` as the workspace installs it, so the empty projects find it in npm's cache. */
const pinned = (name: string): string => {
  const range = rootManifest.devDependencies[name];
  if (range === undefined) throw new Error(`${name} is not a devDependency of the workspace`);
  return `${name}@${range}`;
};

const CI = process.env.CI === 'true';
/** better-sqlite3 compiles for minutes where no prebuilt binary can be fetched, on a loaded machine longer. */
const INSTALL_TIMEOUT = 15 * 60_000;
const NETWORK_FAILURE = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH)\b/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A project's checks: a module run with plain `node` in the project, after the install. */
interface Project {
  name: string;
  /** Registry packages installed beside the library tarball. */
  peers: string[];
  /** Packages whose install scripts the project allows (its package.json `allowScripts`). */
  allowScripts: string[];
  /** The body of `check.mjs`; it prints `ok` last. */
  check: string;
}

/** Asserts that the optional peers this project did not install are absent, and that require(esm) works. */
const commonChecks = (subpaths: string[], installed: string[]): string => `
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
for (const peer of ${JSON.stringify(optionalPeers.filter((peer) => !installed.includes(peer)))}) {
  assert.throws(() => require.resolve(peer), { code: 'MODULE_NOT_FOUND' }, peer + ' is installed but should not be');
}
// ESM only, yet CommonJS can require() it on Node >= 20.19 (what "engines" says).
for (const subpath of ${JSON.stringify(subpaths)}) {
  const required = require(subpath);
  const imported = await import(subpath);
  assert.deepEqual(Object.keys(required).sort(), Object.keys(imported).sort(), subpath);
}
`;

const projects: Project[] = [
  {
    name: 'library-alone',
    peers: [],
    allowScripts: [],
    check: `${commonChecks(['tessera-auth', 'tessera-auth/http', 'tessera-auth/errors', 'tessera-auth/stores', 'tessera-auth/stores/memory'], [])}
import { createSessionManager, StoreUnavailableError, isTesseraError } from 'tessera-auth';
import { createHttpAuth } from 'tessera-auth/http';
import { StoreUnavailableError as FromErrors } from 'tessera-auth/errors';
import { createMemoryStore } from 'tessera-auth/stores/memory';
assert.equal(typeof createHttpAuth, 'function');
assert.equal(FromErrors, StoreUnavailableError);
assert.equal(isTesseraError(new StoreUnavailableError('down')), true);
const store = createMemoryStore();
const sessions = createSessionManager(store);
const { token } = await sessions.createSession('user-1', {});
const result = await sessions.validateSessionToken(token, {});
assert.equal(result.ok, true);
assert.equal(result.session.userId, 'user-1');
await store.close();
console.log('ok');
`,
  },
  {
    name: 'sqlite',
    peers: [pinned('better-sqlite3')],
    allowScripts: ['better-sqlite3'],
    check: `${commonChecks(['tessera-auth/stores/sqlite'], ['better-sqlite3'])}
import { existsSync } from 'node:fs';
import { createSessionManager } from 'tessera-auth';
import { createSQLiteStore } from 'tessera-auth/stores/sqlite';
const file = new URL('./sessions.db', import.meta.url).pathname;
const store = createSQLiteStore(file);
const sessions = createSessionManager(store);
const { token } = await sessions.createSession('user-1', {});
assert.equal((await sessions.validateSessionToken(token, {})).ok, true);
await store.close();
assert.equal(existsSync(file), true);
console.log('ok');
`,
  },
  {
    name: 'postgres',
    peers: [pinned('pg')],
    allowScripts: [],
    check: `${commonChecks(['tessera-auth/stores/postgres'], ['pg'])}
import { createPostgresStore } from 'tessera-auth/stores/postgres';
assert.equal(typeof createPostgresStore, 'function');
console.log('ok');
`,
  },
  {
    name: 'redis',
    peers: [pinned('ioredis')],
    allowScripts: [],
    check: `${commonChecks(['tessera-auth/stores/redis'], ['ioredis'])}
import { createRedisStore } from 'tessera-auth/stores/redis';
assert.equal(typeof createRedisStore, 'function');
console.log('ok');
`,
  },
  {
    name: 'express',
    peers: [pinned('express')],
    allowScripts: [],
    check: `${commonChecks(['tessera-auth/express'], ['express'])}
import { createTesseraExpress } from 'tessera-auth/express';
assert.equal(typeof createTesseraExpress, 'function');
console.log('ok');
`,
  },
  {
    name: 'fastify',
    peers: [pinned('fastify'), pinned('fastify-plugin')],
    allowScripts: [],
    check: `${commonChecks(['tessera-auth/fastify'], ['fastify', 'fastify-plugin'])}
import { tesseraFastify } from 'tessera-auth/fastify';
assert.equal(typeof tesseraFastify, 'function');
console.log('ok');
`,
  },
  {
    name: 'hono',
    peers: [pinned('hono')],
    allowScripts: [],
    check: `${commonChecks(['tessera-auth/hono'], ['hono'])}
import { createTesseraHono } from 'tessera-auth/hono';
assert.equal(typeof createTesseraHono, 'function');
console.log('ok');
`,
  },
  {
    name: 'testing',
    peers: [pinned('vitest')],
    allowScripts: [],
    // Import only: the kits register vitest suites, which only make sense under the vitest runner.
    check: `${commonChecks([], ['vitest'])}
const testing = await import('tessera-auth/testing');
assert.ok(Object.keys(testing).length > 0);
console.log('ok');
`,
  },
];

let active = 0;
const waiting: (() => void)[] = [];
/** Runs `task` when fewer than two are running. */
async function limited<T>(task: () => Promise<T>): Promise<T> {
  if (active >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
  active += 1;
  try {
    return await task();
  } finally {
    active -= 1;
    waiting.shift()?.();
  }
}

let workspace = '';
const tarballs = { library: '', server: '' };
/** Per project: its directory, or why it could not be installed. */
const installs = new Map<string, Promise<{ dir: string } | { skipped: string }>>();
/** The sqlite project's check runs before the server is added to that project (see the server case). */
let sqliteChecked: Promise<Run> | undefined;

function writeProject(name: string, allowScripts: string[]): string {
  const dir = join(workspace, name);
  mkdirSync(dir);
  const manifest = {
    name: `tessera-install-${name}`,
    private: true,
    type: 'module',
    allowScripts: Object.fromEntries(allowScripts.map((name) => [name, true])),
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return dir;
}

/** `npm install` in `dir`; a network failure is a skip locally and an error under CI, any other failure an error. */
async function npmInstall(dir: string, specs: string[]): Promise<{ dir: string } | { skipped: string }> {
  const started = Date.now();
  const result = await run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--strict-allow-scripts', ...specs],
    dir,
  );
  const took = `${((Date.now() - started) / 1000).toFixed(0)} s`;
  if (result.code === 0) {
    process.stderr.write(`package-install: npm install ${specs.join(' ')} in ${took}\n`);
    return { dir };
  }
  const output = `${result.stdout}\n${result.stderr}`;
  if (!CI && NETWORK_FAILURE.test(output)) {
    const reason = `npm install ${specs.join(' ')} could not reach the registry (${NETWORK_FAILURE.exec(output)?.[0]})`;
    process.stderr.write(`\n*** package-install: SKIPPED, ${reason}; under CI=true this fails ***\n\n`);
    return { skipped: reason };
  }
  throw new Error(`npm install ${specs.join(' ')} failed (exit ${result.code}) in ${took}:\n${output}`);
}

const checkScript = (dir: string, source: string): Promise<Run> => {
  writeFileSync(join(dir, 'check.mjs'), source);
  return run(process.execPath, ['check.mjs'], dir);
};

beforeAll(async () => {
  workspace = mkdtempSync(join(tmpdir(), 'tessera-install-'));
  const packed = await run(
    'npm',
    ['pack', '--silent', '-w', 'tessera-auth', '-w', 'tessera-auth-server', '--pack-destination', workspace],
    repository,
  );
  expect(packed.code, packed.stderr).toBe(0);
  const names = [`tessera-auth-${libraryManifest.version}.tgz`, `tessera-auth-server-${serverManifest.version}.tgz`];
  expect(readdirSync(workspace).sort()).toEqual(names);
  [tarballs.library, tarballs.server] = names.map((name) => join(workspace, name)) as [string, string];

  // Two at a time, the sqlite project first: better-sqlite3 may compile for minutes while the rest install.
  const ordered = [...projects].sort((a, b) => Number(b.name === 'sqlite') - Number(a.name === 'sqlite'));
  for (const project of ordered) {
    installs.set(
      project.name,
      limited(() => npmInstall(writeProject(project.name, project.allowScripts), [tarballs.library, ...project.peers])),
    );
  }
  const sqlite = projects.find((project) => project.name === 'sqlite');
  sqliteChecked = installs
    .get('sqlite')
    ?.then((installed) =>
      'dir' in installed && sqlite !== undefined ? checkScript(installed.dir, sqlite.check) : null,
    )
    .then((result) => result ?? { code: null, stdout: '', stderr: 'not installed' });
  // Keep unhandled-rejection noise away: each test awaits its own install and reports its failure.
  for (const install of installs.values()) install.catch(() => undefined);
  sqliteChecked?.catch(() => undefined);
}, 120_000);

afterAll(async () => {
  // An install still running (a filtered run) finishes before its directory goes.
  await Promise.allSettled([...installs.values(), sqliteChecked]);
  if (workspace !== '') rmSync(workspace, { recursive: true, force: true });
}, INSTALL_TIMEOUT);

async function installed(name: string, context: TestContext): Promise<string> {
  const result = await installs.get(name);
  if (result === undefined) throw new Error(`no project ${name}`);
  if ('skipped' in result) context.skip(result.skipped);
  return result.dir;
}

describe('the packed library in an empty project', () => {
  it.for(projects.filter((project) => project.name !== 'sqlite'))(
    '$name: imports with only its own peers ($peers)',
    { timeout: INSTALL_TIMEOUT },
    async (project, context) => {
      const dir = await installed(project.name, context);
      const result = await checkScript(dir, project.check);
      // Node 20 may warn that require(esm) is experimental; nothing else may be written to stderr.
      const noise = /ExperimentalWarning|--trace-warnings/;
      expect(result.stderr.split('\n').filter((line) => line.trim() !== '' && !noise.test(line))).toEqual([]);
      expect(result.stdout.trim().split('\n').at(-1), result.stderr).toBe('ok');
      expect(result.code).toBe(0);
    },
  );

  it(
    'sqlite: better-sqlite3 installs with its install script allowed, and the store opens a database',
    async (context) => {
      await installed('sqlite', context);
      const result = await sqliteChecked;
      expect(result?.stdout.trim().split('\n').at(-1), JSON.stringify(result)).toBe('ok');
      expect(result?.code).toBe(0);
    },
    INSTALL_TIMEOUT,
  );

  it('imports no bare specifier it does not declare (dependencies and peers)', () => {
    const declared = new Set([...Object.keys(libraryManifest.dependencies), ...optionalPeers, 'tessera-auth']);
    expect(undeclaredImports('packages/auth/dist', declared)).toEqual([]);
  });
});

describe('the packed server beside the packed library', () => {
  let dir = '';
  it(
    'installs (every package it runs is its own dependency)',
    async (context) => {
      const sqliteDir = await installed('sqlite', context);
      // The sqlite project has the library tarball and better-sqlite3 only; the server brings the rest. Reusing it
      // saves a second build of better-sqlite3 when no prebuilt binary can be downloaded.
      await sqliteChecked;
      const result = await npmInstall(sqliteDir, [tarballs.server]);
      if ('skipped' in result) context.skip(result.skipped);
      dir = sqliteDir;
      // The server runs the library tarball installed beside it, not a copy of its own from the registry.
      expect(existsSync(join(dir, 'node_modules/tessera-auth-server/node_modules/tessera-auth'))).toBe(false);
      expect(undeclaredImports('packages/server/dist', new Set(Object.keys(serverManifest.dependencies)))).toEqual([]);
    },
    INSTALL_TIMEOUT,
  );

  it('both installed packages ship their LICENSE, no test file, and source maps that carry their sources', (context) => {
    if (dir === '') context.skip('the server did not install');
    for (const name of ['tessera-auth', 'tessera-auth-server']) {
      const installed = join(dir, 'node_modules', name);
      expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toContain('MIT License');
      const files = readdirSync(installed, { recursive: true, encoding: 'utf8' });
      expect(files.filter((file) => /\.test\.|\.tsbuildinfo$/.test(file))).toEqual([]);
      const maps = files.filter((file) => file.endsWith('.map'));
      expect(maps.length).toBeGreaterThan(10);
      for (const file of maps) {
        const map = JSON.parse(readFileSync(join(installed, file), 'utf8')) as {
          sources: string[];
          sourcesContent?: unknown[];
        };
        expect(map.sourcesContent?.length, file).toBe(map.sources.length);
        expect(
          map.sourcesContent?.every((content) => typeof content === 'string' && content !== ''),
          file,
        ).toBe(true);
      }
    }
  });

  it('runs `npx tessera --help`', async (context) => {
    if (dir === '') context.skip('the server did not install');
    const help = await run('npx', ['--no-install', 'tessera', '--help'], dir);
    expect(help.code, help.stderr).toBe(0);
    for (const command of ['serve', 'migrate', 'cleanup', 'sessions', 'keys', 'secrets', 'user']) {
      expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
  });

  it('runs `tessera serve` on a fresh SQLite database and answers /healthz', async (context) => {
    if (dir === '') context.skip('the server did not install');
    const data = mkdtempSync(join(workspace, 'serve-'));
    const child = spawn(join(dir, 'node_modules/.bin/tessera'), ['serve'], {
      cwd: data,
      env: { PATH: process.env.PATH ?? '', HOME: data, PORT: '0', TESSERA_DATABASE: `sqlite:${data}/db/tessera.db` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', () => {
          const match = /Tessera listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
          if (match?.[1] !== undefined) resolve(match[1]);
        });
        void exited.then((code) => reject(new Error(`tessera serve exited with ${code}: ${output}`)));
      });
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output).toBe(0);
  }, 120_000);
});

/** Static imports and re-exports, side-effect imports and dynamic imports with a literal, as tsc emits them. */
const IMPORT =
  /^(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** Bare specifiers imported by the built JavaScript under `dir` that `declared` does not name (nor Node). */
function undeclaredImports(dir: string, declared: Set<string>): string[] {
  const builtins = new Set(builtinModules);
  const found = new Set<string>();
  const walk = (path: string): void => {
    for (const entry of readdirSync(join(repository, path), { withFileTypes: true })) {
      const child = `${path}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith('.js')) {
        const source = readFileSync(join(repository, child), 'utf8');
        for (const match of source.matchAll(IMPORT)) {
          const specifier = (match[1] ?? match[2] ?? match[3]) as string;
          if (/^[./]/.test(specifier)) continue;
          if (specifier.startsWith('node:') || builtins.has(specifier)) continue;
          const name = specifier.startsWith('@')
            ? specifier.split('/').slice(0, 2).join('/')
            : (specifier.split('/')[0] as string);
          if (!declared.has(name)) found.add(`${name} (${child})`);
        }
      }
    }
  };
  walk(dir);
  return [...found].sort();
}
