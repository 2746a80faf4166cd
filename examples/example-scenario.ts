import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

/**
 * What every framework example must do, over real HTTP: start on a free port,
 * sign in, serve /me, refuse a POST without the CSRF token and take one with
 * it, sign out for good.
 */
export async function runExampleScenario(server: URL): Promise<void> {
  const cwd = mkdtempSync(join(tmpdir(), 'tessera-example-'));
  const port = await freePort();
  const tsx = new URL('../node_modules/.bin/tsx', import.meta.url).pathname;
  const child = spawn(tsx, [server.pathname], {
    cwd,
    env: { ...process.env, PORT: String(port) },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve());
      child.once('exit', (code) => reject(new Error(`the example exited with ${code}: ${stderr}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    const sameOrigin = { origin: url, 'sec-fetch-site': 'same-origin' };
    const browser = { ...sameOrigin, 'content-type': 'application/json' };
    const login = await fetch(`${url}/login`, {
      method: 'POST',
      headers: browser,
      body: JSON.stringify({ email: 'demo@example.com', password: 'correct horse battery staple' }),
    });
    expect(login.status).toBe(200);
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!;
    expect(cookie).toMatch(/^__Host-tessera=/);

    expect(await (await fetch(`${url}/me`, { headers: { cookie } })).json()).toEqual({ userId: 'user-demo' });
    const post = (headers: Record<string, string>) =>
      fetch(`${url}/notes`, { method: 'POST', headers: { ...browser, cookie, ...headers }, body: '{"text":"hi"}' });
    expect((await post({})).status).toBe(403);
    const created = await post({ 'x-csrf-token': csrfToken });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ notes: ['hi'] });

    const logout = await fetch(`${url}/logout`, {
      method: 'POST',
      headers: { ...sameOrigin, cookie, 'x-csrf-token': csrfToken },
    });
    expect(logout.status).toBe(204);
    expect((await fetch(`${url}/me`, { headers: { cookie } })).status).toBe(401);
  } finally {
    child.kill();
    rmSync(cwd, { recursive: true, force: true });
  }
}
