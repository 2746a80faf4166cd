import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

/**
 * Every TypeScript block of the documentation runs as written (issue 16). The files are these globs (a `*` matches
 * within one folder), so a new page under docs/ is covered without touching this test.
 *
 * A block is COMPLETE, or a FRAGMENT marked by the HTML comment right above it,
 * `<!-- fragment: completed by examples/readme/shared-throttle.ts -->`, naming a file of the repository that holds
 * the block verbatim. Complete blocks, and the files that complete fragments, are written into a throwaway project
 * inside the repository (`.tmp/`, so `tessera-auth` resolves through the workspace's node_modules) and compiled with
 * `tsc --strict` (NodeNext, ESM) WITHOUT the `tessera-source` condition: they type-check against the built `dist/`
 * `.d.ts` and run against the built `dist/` JavaScript, as a user's project would (the global setup builds dist/).
 * A complete block that listens (`.listen(` or `serve(`) is an app: it is started and exercised over HTTP (sign-in,
 * a protected route, CSRF, logout, malformed JSON, a burst of wrong passwords); any other complete block must run
 * to the end with exit code 0.
 */
const DOC_GLOBS = ['README.md', 'docs/*.md'];

const repository = new URL('..', import.meta.url).pathname;
const bin = (name: string) => join(repository, 'node_modules/.bin', name);

function docFiles(): string[] {
  return DOC_GLOBS.flatMap((glob) => {
    const slash = glob.lastIndexOf('/');
    const dir = slash === -1 ? '' : glob.slice(0, slash);
    const pattern = glob.slice(slash + 1);
    if (!pattern.includes('*')) return [glob];
    const [prefix = '', suffix = ''] = pattern.split('*');
    return readdirSync(join(repository, dir))
      .filter((name) => name.startsWith(prefix) && name.endsWith(suffix))
      .sort()
      .map((name) => join(dir, name));
  });
}

interface Block {
  /** `README.md:252`: the document and the line of the opening fence. */
  where: string;
  code: string;
  /** The file named by a `fragment: completed by` comment, if the block is a fragment. */
  completedBy: string | null;
}

const FENCE = /^(\s*)```(ts|typescript)\s*$/;
const FRAGMENT = /^<!--\s*fragment:\s*completed by\s+(\S+)\s*-->$/;

function extractBlocks(doc: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (open === null) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let end = i + 1;
    for (; end < lines.length && lines[end]!.trim() !== '```'; end++) body.push(lines[end]!.slice(indent));
    if (end === lines.length) throw new Error(`${doc}:${i + 1}: a code block that never closes`);
    let previous = i - 1;
    while (previous >= 0 && lines[previous]!.trim() === '') previous--;
    const marker = previous >= 0 ? FRAGMENT.exec(lines[previous]!.trim()) : null;
    blocks.push({ where: `${doc}:${i + 1}`, code: `${body.join('\n')}\n`, completedBy: marker?.[1] ?? null });
    i = end;
  }
  return blocks;
}

const blocks = docFiles().flatMap((doc) => extractBlocks(doc, readFileSync(join(repository, doc), 'utf8')));
const complete = blocks.filter((block) => block.completedBy === null);
const fragments = blocks.filter((block) => block.completedBy !== null);
const isApp = (block: Block) => /\.listen\(|\bserve\(/.test(block.code);
const fileName = (block: Block) => `${block.where.replace(/[^A-Za-z0-9]+/g, '-')}.ts`;

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const options = { cwd, env, maxBuffer: 16 * 1024 * 1024, timeout: 5 * 60_000 };
    execFile(command, args, options, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, output: stdout + stderr });
    });
  });
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

/** A secret as the README says to make one (`openssl rand -base64 32`), fresh for each run. */
const secret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64');

/**
 * The environment a block runs in: what the README tells a reader to set (`TESSERA_SECRET`, `PORT`), and the run's
 * throwaway Redis and PostgreSQL as `REDIS_URL` / `DATABASE_URL`, for blocks that read them.
 */
function blockEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TESSERA_SECRET: secret(), NODE_ENV: 'development', ...extra };
  const redisURL = inject('redisURL');
  const postgresURL = inject('postgresUrl');
  if (redisURL !== null) env.REDIS_URL = redisURL;
  if (postgresURL !== null) env.DATABASE_URL = postgresURL;
  return env;
}

let project = '';

beforeAll(async () => {
  mkdirSync(join(repository, '.tmp'), { recursive: true });
  project = mkdtempSync(join(repository, '.tmp', 'readme-blocks-'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        moduleDetection: 'force',
      },
      include: ['**/*.ts'],
    }),
  );
  for (const block of complete) writeFileSync(join(project, fileName(block)), block.code);
  mkdirSync(join(project, 'completing'));
  for (const file of new Set(fragments.map((block) => block.completedBy!))) {
    writeFileSync(join(project, 'completing', basename(file)), readFileSync(join(repository, file), 'utf8'));
  }
});

afterAll(() => {
  if (project !== '') rmSync(project, { recursive: true, force: true });
});

describe('the documentation’s TypeScript blocks', () => {
  it('are found: the README has an Express, a Fastify and a Hono app, complete', () => {
    expect(blocks.length).toBeGreaterThan(0);
    const apps = complete.filter(isApp).map((block) => block.code);
    for (const framework of ['tessera-auth/express', 'tessera-auth/fastify', 'tessera-auth/hono']) {
      expect(apps.some((code) => code.includes(`'${framework}'`))).toBe(true);
    }
    for (const code of apps) expect(code.trimEnd().split('\n').length).toBeLessThanOrEqual(35);
  });

  it('each fragment names a file of examples/ that holds it verbatim and that a test runs', () => {
    const tests = ['examples', 'test'].flatMap((dir) =>
      readdirSync(join(repository, dir), { recursive: true, encoding: 'utf8' })
        .filter((name) => name.endsWith('.test.ts'))
        .map((name) => readFileSync(join(repository, dir, name), 'utf8')),
    );
    for (const block of fragments) {
      const file = block.completedBy!;
      expect(file, block.where).toMatch(/^examples\/.+\.ts$/);
      // Verbatim, line for line; only the indentation may differ (the file may nest it in a function).
      const lines = (text: string) => text.split('\n').map((line) => line.trim());
      expect(lines(readFileSync(join(repository, file), 'utf8')).join('\n'), `${block.where} in ${file}`).toContain(
        lines(block.code.trimEnd()).join('\n'),
      );
      // Run by a test: named by one (as `.ts` or as its `.js` import), or imported by an example module that one names.
      const stem = basename(file, '.ts');
      const named = (name: string) =>
        tests.some((source) => source.includes(`${name}.ts`) || source.includes(`/${name}.js'`));
      const importers = readdirSync(join(repository, dirname(file)))
        .filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'))
        .filter((name) => readFileSync(join(repository, dirname(file), name), 'utf8').includes(`/${stem}.js'`));
      expect(named(stem) || importers.some((name) => named(basename(name, '.ts'))), `no test runs ${file}`).toBe(true);
    }
  });

  it('compile under tsc --strict (NodeNext, ESM) against the built packages', async () => {
    const { code, output } = await run(bin('tsc'), ['-p', project], project);
    // Name the document line, not the temp file.
    const named = complete.reduce((text, block) => text.replaceAll(fileName(block), block.where), output);
    expect(named, 'type errors in the documentation').toBe('');
    expect(code).toBe(0);
  }, 120_000);

  for (const block of complete.filter((candidate) => !isApp(candidate))) {
    it(`${block.where} runs to the end`, async () => {
      const { code, output } = await run(bin('tsx'), [fileName(block)], project, blockEnv());
      expect(output, block.where).not.toMatch(/Error|false/);
      expect(code, output).toBe(0);
    }, 60_000);
  }

  for (const block of complete.filter(isApp)) {
    it(`${block.where} signs in, guards a route and a CSRF-protected POST, signs out and throttles logins`, async () => {
      const port = await freePort();
      const child: ChildProcess = spawn(bin('tsx'), [fileName(block)], {
        cwd: project,
        env: blockEnv({ PORT: String(port) }),
      });
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      try {
        const url = `http://127.0.0.1:${port}`;
        // Wait for the port (generous: tsx compiles the block first on a loaded machine).
        for (let attempt = 0; ; attempt++) {
          if (child.exitCode !== null) throw new Error(`${block.where} exited with ${child.exitCode}: ${output}`);
          if (
            await fetch(`${url}/me`).then(
              () => true,
              () => false,
            )
          )
            break;
          if (attempt > 600) throw new Error(`${block.where} never listened: ${output}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const browser = { origin: url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' };
        const login = (password: string) =>
          fetch(`${url}/login`, {
            method: 'POST',
            headers: browser,
            body: JSON.stringify({ email: 'ada@example.com', password }),
          });

        expect((await fetch(`${url}/me`)).status).toBe(401);
        const signedIn = await login('correct horse battery staple');
        expect(signedIn.status).toBe(200);
        const { csrfToken } = (await signedIn.json()) as { csrfToken: string };
        const cookie = signedIn.headers.getSetCookie()[0]!.split(';')[0]!;
        expect(cookie).toMatch(/^__Host-tessera=/);

        const me = await fetch(`${url}/me`, { headers: { cookie } });
        expect(me.status).toBe(200);
        expect(await me.json()).toEqual({ userId: 'user-ada' });

        const note = (headers: Record<string, string>) =>
          fetch(`${url}/notes`, { method: 'POST', headers: { ...browser, cookie, ...headers }, body: '{"text":"hi"}' });
        const refused = await note({});
        expect(refused.status).toBe(403);
        expect(await refused.json()).toMatchObject({ error: { code: 'csrf_failed' } });
        const saved = await note({ 'x-csrf-token': csrfToken });
        expect(saved.status).toBe(201);
        expect(await saved.json()).toEqual({ saved: { text: 'hi' } });

        // Malformed JSON answers in the API's shape (a 4xx), never an HTML page with a stack trace.
        const malformed = await fetch(`${url}/login`, { method: 'POST', headers: browser, body: '{"email":' });
        expect(malformed.status).toBeGreaterThanOrEqual(400);
        expect(malformed.status).toBeLessThan(500);
        expect(await malformed.json()).toMatchObject({ error: { code: expect.any(String) } });

        const { 'content-type': _none, ...noBody } = browser;
        const logout = await fetch(`${url}/logout`, {
          method: 'POST',
          headers: { ...noBody, cookie, 'x-csrf-token': csrfToken },
        });
        expect(logout.status).toBe(204);
        expect((await fetch(`${url}/me`, { headers: { cookie } })).status).toBe(401);

        if (block.code.includes('createTokenService(')) {
          // The token transport: a client that asks for tokens gets a pair, and the access token is a bearer.
          const issued = await fetch(`${url}/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              email: 'ada@example.com',
              password: 'correct horse battery staple',
              transport: 'token',
            }),
          });
          expect(issued.status).toBe(200);
          const pair = (await issued.json()) as { access_token: string; token_type: string };
          expect(pair.token_type).toBe('Bearer');
          const bearer = await fetch(`${url}/me`, { headers: { authorization: `Bearer ${pair.access_token}` } });
          expect(bearer.status).toBe(200);
          expect(await bearer.json()).toEqual({ userId: 'user-ada' });
        }

        // Untrusted JSON of the wrong types is a refusal in the API's shape, never a 500.
        const odd = await fetch(`${url}/login`, {
          method: 'POST',
          headers: browser,
          body: JSON.stringify({ email: 5, password: { $ne: '' } }),
        });
        expect(odd.status).toBe(401);
        expect(await odd.json()).toMatchObject({ error: { code: 'invalid_credentials' } });

        // A burst of wrong passwords: at most the account's budget (10) is checked, the rest get 429 at once.
        const burst = await Promise.all(Array.from({ length: 15 }, () => login('wrong password')));
        const statuses = burst.map((response) => response.status);
        expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(10);
        expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(5);
        expect(statuses.every((status) => status === 401 || status === 429)).toBe(true);
        const throttled = await login('correct horse battery staple');
        expect(throttled.status).toBe(429);
        expect(throttled.headers.get('retry-after')).toMatch(/^\d+$/);
      } finally {
        child.kill();
      }
    }, 120_000);
  }
});

describe('the documentation’s links', () => {
  it('never leave the repository: no link to the spec folder beside it, no API.md, no relative link above the root', () => {
    for (const doc of docFiles()) {
      const text = readFileSync(join(repository, doc), 'utf8');
      expect(text, doc).not.toMatch(/\.\.\/shared|see API\.md|\]\([^)]*API\.md/);
      for (const [, target = ''] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
        const resolved = join(repository, doc, '..', target.split('#')[0]!);
        expect(resolved.startsWith(repository), `${doc} links ${target}`).toBe(true);
      }
    }
  });
});
