import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

it('the quickstart example runs start to finish', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'tessera-example-'));
  try {
    const tsx = new URL('../node_modules/.bin/tsx', import.meta.url).pathname;
    const script = new URL('./quickstart.ts', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(tsx, [script], { cwd });
    expect(stdout).toContain('valid  true, user user-1, role member');
    expect(stdout).toContain('phone  after "sign out everywhere else": revoked');
    expect(stdout).toContain('laptop after logout: not_found');
    expect(stdout).not.toMatch(/[A-Za-z0-9_-]{26}\.[A-Za-z0-9_-]{43}/);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});
