import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ERROR_STATUS, type ApiErrorCode } from 'tessera-auth/http';
import { runCLI } from './support/cli-harness.js';
import { startTestServer, type TestServer } from './support/server-harness.js';

/**
 * The project's own documentation against the code it describes: `docs/api.md` against the server's
 * `/openapi.json`, the library's error-code table and the server's settings; `docs/security.md`'s ASVS table
 * against the files and tests it cites; every doc's links stay inside the repository (or reach a public
 * standard). A route, code or setting added without its line in the docs fails here.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const ENDPOINT_HEADING = /^### (GET|POST|PUT|PATCH|DELETE) (\/\S*)$/;

/** `METHOD path` of every endpoint heading of api.md, with the text of its section (up to the next heading). */
function endpointSections(markdown: string): Map<string, string> {
  const sections = new Map<string, string>();
  let current: string | null = null;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('#')) {
      const match = ENDPOINT_HEADING.exec(line);
      current = match === null ? null : `${match[1]} ${match[2]}`;
      if (current !== null) sections.set(current, '');
    } else if (current !== null) {
      sections.set(current, `${sections.get(current) ?? ''}${line}\n`);
    }
  }
  return sections;
}

/** The text of the `## title` section of a markdown document (up to the next `## ` heading). */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start === -1) throw new Error(`no "## ${title}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end === -1 ? undefined : end);
}

/** The setting names the server reads: the keys of its environment schema and every `TESSERA_*` it names. */
function serverSettingNames(): string[] {
  const source = read('packages/server/src/config.ts');
  const schema = /const envSchema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(source)?.[1];
  if (schema === undefined) throw new Error('envSchema not found in config.ts');
  const keys = [...schema.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((match) => match[1] ?? '');
  const named = [...source.matchAll(/\bTESSERA_[A-Z0-9_]*[A-Z0-9]\b/g)].map((match) => match[0]);
  return [...new Set([...keys, ...named])].sort();
}

/** Every requirement of ASVS 5.0.0's chapters V7 (Session Management) and V9 (Self-contained Tokens). */
const ASVS_REQUIREMENTS = [
  ...['1.1', '1.2', '1.3', '2.1', '2.2', '2.3', '2.4', '3.1', '3.2', '4.1', '4.2', '4.3', '4.4', '4.5'].map(
    (id) => `V7.${id}`,
  ),
  ...['5.1', '5.2', '5.3', '6.1', '6.2'].map((id) => `V7.${id}`),
  ...['1.1', '1.2', '1.3', '2.1', '2.2', '2.3', '2.4'].map((id) => `V9.${id}`),
];

interface Operation {
  responses: Record<string, { description: string }>;
}

describe('docs/api.md', () => {
  let doc: string;
  let sections: Map<string, string>;
  let server: TestServer;
  let paths: Record<string, Record<string, Operation>>;
  let description: string;

  beforeAll(async () => {
    doc = read('docs/api.md');
    sections = endpointSections(doc);
    server = await startTestServer();
    const response = await server.call('GET', '/openapi.json');
    expect(response.status).toBe(200);
    const document = response.json as {
      paths: Record<string, Record<string, Operation>>;
      info: { description: string };
    };
    paths = document.paths;
    description = document.info.description;
  });

  afterAll(async () => {
    await server.close();
  });

  /** `METHOD path` of every operation of the served OpenAPI document, with `:id` for `{id}` as the doc writes it. */
  const operations = (): [string, Operation][] =>
    Object.entries(paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod)
        .filter(([method]) => (METHODS as readonly string[]).includes(method.toUpperCase()))
        .map(([method, operation]): [string, Operation] => [
          `${method.toUpperCase()} ${path.replace(/\{([A-Za-z]+)\}/g, ':$1')}`,
          operation,
        ]),
    );

  it('is what /openapi.json and `tessera --help` point readers at, not a file outside the repository', async () => {
    expect(description).toContain('docs/api.md');
    const cwd = mkdtempSync(join(tmpdir(), 'tessera-docs-'));
    try {
      const help = await runCLI(['--help'], { cwd });
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('docs/api.md');
      expect(`${description}\n${help.stdout}`).not.toMatch(/see API\.md/);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('has a section for every path and method of /openapi.json, and none for a route the server lacks', () => {
    const served = operations().map(([key]) => key);
    expect(served.length).toBeGreaterThan(10);
    expect(served.filter((key) => !sections.has(key))).toEqual([]);
    expect([...sections.keys()].filter((key) => !served.includes(key))).toEqual([]);
  });

  it('gives every endpoint its success status and every error code /openapi.json lists for it', () => {
    const missing: string[] = [];
    for (const [key, operation] of operations()) {
      const text = sections.get(key) ?? '';
      for (const [status, response] of Object.entries(operation.responses)) {
        if (status.startsWith('2')) {
          if (!text.includes(`**${status}**`)) missing.push(`${key}: success **${status}**`);
          continue;
        }
        for (const code of response.description.split(', ')) {
          if (!text.includes(`\`${code}\``)) missing.push(`${key}: ${status} \`${code}\``);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('lists every error code of the library with its status, and no code the library lacks', () => {
    const table = section(doc, 'Error codes');
    const rows = new Map(
      [...table.matchAll(/^\| `([a-z_]+)` +\| (\d{3}) +\|/gm)].map((match) => [match[1] ?? '', Number(match[2])]),
    );
    const expected = Object.entries(API_ERROR_STATUS) as [ApiErrorCode, number][];
    expect(expected.length).toBeGreaterThan(20);
    expect(expected.filter(([code, status]) => rows.get(code) !== status)).toEqual([]);
    expect([...rows.keys()].filter((code) => !(code in API_ERROR_STATUS))).toEqual([]);
  });

  it('lists every setting the server reads, and none it does not', () => {
    const table = section(doc, 'Settings');
    const rows = [...table.matchAll(/^\| `([A-Z][A-Z0-9_]*)` +\|/gm)].map((match) => match[1] ?? '');
    const settings = serverSettingNames();
    expect(settings).toContain('TESSERA_DATABASE');
    expect(settings).toContain('PORT');
    expect(settings.filter((name) => !rows.includes(name))).toEqual([]);
    expect(rows.filter((name) => !settings.includes(name))).toEqual([]);
  });
});

describe('docs/security.md', () => {
  let doc: string;
  beforeAll(() => {
    doc = read('docs/security.md');
  });

  it('names only files that exist', () => {
    const files = [...doc.matchAll(/`((?:packages|test|examples|bench)\/[\w./-]+\.(?:ts|js|html|css|json))`/g)].map(
      (match) => match[1] ?? '',
    );
    expect(files.length).toBeGreaterThan(20);
    expect([...new Set(files)].filter((file) => !existsSync(join(ROOT, file)))).toEqual([]);
  });

  it('cites only tests that exist, by their title in the file named', () => {
    const cited = [...doc.matchAll(/`([\w./-]+\.ts)` › `([^`]+)`/g)].map(
      (match) => [match[1] ?? '', match[2] ?? ''] as const,
    );
    expect(cited.length).toBeGreaterThan(20);
    const missing = cited.filter(([file, title]) => {
      if (!existsSync(join(ROOT, file))) return true;
      const source = read(file);
      // The title as a string literal of that file, in any of the three quotes.
      return ![`'${title}'`, `"${title}"`, `\`${title}\``].some((literal) => source.includes(literal));
    });
    expect(missing).toEqual([]);
  });

  it('maps every requirement of ASVS 5.0 V7 and V9 exactly once, each met one with a test that proves it', () => {
    const rows = [
      ...doc.matchAll(/^\| (V\d\.\d\.\d) +\|[^|\n]*\| (met|partly|not met|n\/a) +\|[^|\n]*\|([^|\n]*)\|$/gm),
    ].map((match) => ({ id: match[1] ?? '', status: match[2] ?? '', proof: match[3] ?? '' }));
    expect(rows.map((row) => row.id).sort()).toEqual([...ASVS_REQUIREMENTS].sort());
    const unproven = rows.filter(
      (row) => row.status !== 'n/a' && row.status !== 'not met' && !row.proof.includes('` › `'),
    );
    expect(unproven.map((row) => row.id)).toEqual([]);
  });
});

describe('links in docs/', () => {
  const docs = ['docs/api.md', 'docs/security.md', 'docs/operations.md', 'docs/migrating.md'];
  // Public standards only: RFCs, OWASP.
  const PUBLIC_STANDARDS = /^https:\/\/(?:www\.rfc-editor\.org|datatracker\.ietf\.org|owasp\.org|github\.com\/OWASP)\//;

  it.each(docs)('%s links only inside the repository or to public standards', (file) => {
    const text = read(file);
    const bad: string[] = [];
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1] ?? '';
      if (/^[a-z]+:/i.test(target)) {
        if (!PUBLIC_STANDARDS.test(target)) bad.push(target);
        continue;
      }
      const [path = '', anchor] = target.split('#');
      const resolved = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
      if (!resolved.startsWith(`${ROOT}/`) || !existsSync(resolved)) {
        bad.push(target);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md')) {
        const headings = readFileSync(resolved, 'utf8')
          .split('\n')
          .filter((line) => line.startsWith('#'))
          .map((line) =>
            line
              .replace(/^#+ /, '')
              .toLowerCase()
              .replace(/[^a-z0-9 _-]/g, '')
              .replace(/ /g, '-'),
          );
        if (!headings.includes(anchor)) bad.push(target);
      }
    }
    expect(bad).toEqual([]);
  });
});
