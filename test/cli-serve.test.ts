import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliBinary } from './support/cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [cliBinary, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

/** Waits for the "listening" log line and the start banner on stderr; the URL it listens on. */
function started(server: ReturnType<typeof run>): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start: ${JSON.stringify(server.output())}`)), 30_000);
    const check = (): void => {
      const match = /Tessera listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output().stdout);
      if (match !== null && server.output().stderr.includes('Stop: Ctrl+C')) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    server.child.stdout.on('data', check);
    server.child.stderr.on('data', check);
  });
}

describe('tessera serve', () => {
  it('starts on SQLite with no configuration but a port, serves, and stops gracefully on SIGTERM', async () => {
    const server = run(['serve'], { PORT: '0' });
    const url = await started(server);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const signup = await fetch(`${url}/auth/signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'cli@example.com', password: 'correct horse battery' }),
    });
    expect(signup.status).toBe(201);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.output().stdout).toContain('"event":"server.stopped"');
    expect(server.output().stdout).toContain('"database":"sqlite ./data/tessera.db"');
    // For the person who started it (stderr; stdout stays JSON lines): the pages, the data, and that it is new.
    expect(server.output().stderr).toContain(`Pages: ${url}/ (sign up or sign in), ${url}/account`);
    expect(server.output().stderr).toContain(`Data: sqlite ${join(realpathSync(dir), 'data/tessera.db')} (accounts,`);
    expect(server.output().stderr).toContain('First start: the database was created');
    for (const line of server.output().stdout.trim().split('\n'))
      expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('says where the data is on a later start, without calling it the first', async () => {
    const server = run(['serve'], { PORT: '0', TESSERA_SESSION_STORE: 'memory:' });
    const url = await started(server);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.output().stderr).toContain(`Pages: ${url}/ `);
    expect(server.output().stderr).toContain(
      `Data: sqlite ${join(realpathSync(dir), 'data/tessera.db')} (accounts, keys and secrets); sessions: memory`,
    );
    expect(server.output().stderr).not.toContain('First start');
  });

  it('refuses a bad configuration with a message naming the variable and the rule, and exit code 1', async () => {
    const server = run(['serve'], { PORT: 'eighty', TESSERA_IDLE_TIMEOUT: '-5' });
    expect(await server.exited).toBe(1);
    expect(server.output().stderr).toContain('PORT must be a whole number from 0 to 65535 (got "eighty")');
    expect(server.output().stderr).toContain('TESSERA_IDLE_TIMEOUT must be a whole number of seconds');
  });

  it('refuses plain HTTP beyond loopback unless told it is behind a TLS proxy', async () => {
    const server = run(['serve'], { HOST: '0.0.0.0', PORT: '0' });
    expect(await server.exited).toBe(1);
    expect(server.output().stderr).toContain('TESSERA_TRUST_PROXY');
  });

  it('answers an unknown command with usage and exit code 2', async () => {
    const server = run(['frobnicate'], {});
    expect(await server.exited).toBe(2);
    expect(server.output().stderr).toContain("unknown command 'frobnicate'");
  });
});
