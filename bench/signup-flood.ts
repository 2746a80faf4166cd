/**
 * Login latency while sign-ups flood the server: the median and p95 of N
 * sequential logins alone, then while M clients send sign-ups back to back
 * (each a new email and a strong password, so each one wants a hash):
 *   npx tsx bench/signup-flood.ts [logins, default 40] [parallel sign-ups, default 40]
 * The server (SQLite, its sign-up IP budget raised out of the way) runs in a
 * child process so the flood does not share its event loop; 127.0.0.1 only.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startTestServer } from '../test/support/server-harness.js';

const PASSWORD = 'correct horse battery';

/** Child mode: start the server, create the account that logs in, print `<url> <email>`. */
async function serve(): Promise<void> {
  const server = await startTestServer({ TESSERA_SIGNUP_MAX_PER_IP: '1000000000' });
  const email = `bench-${randomUUID()}@example.com`;
  const created = await server.call('POST', '/auth/signup', { body: { email, password: PASSWORD } });
  if (created.status !== 201) throw new Error(`sign-up failed: ${created.status}`);
  console.log(`${server.url} ${email}`);
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

const post = async (url: string, body: unknown): Promise<number> => {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
};

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

async function timeLogins(url: string, email: string, count: number): Promise<{ median: number; p95: number }> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const status = await post(`${url}/auth/login`, { email, password: PASSWORD });
    times.push(performance.now() - start);
    if (status !== 200) throw new Error(`login answered ${status}`);
  }
  times.sort((a, b) => a - b);
  return { median: percentile(times, 50), p95: percentile(times, 95) };
}

async function main(): Promise<void> {
  const logins = Number(process.argv[2] ?? 40);
  const parallel = Number(process.argv[3] ?? 40);
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const [url, email] = line.toString().trim().split(' ') as [string, string];
    await timeLogins(url, email, 3); // warm-up
    const quiet = await timeLogins(url, email, logins);

    let flooding = true;
    const outcomes: Record<string, number> = {};
    const worker = async (): Promise<void> => {
      while (flooding) {
        const password = `${randomBytes(9).toString('base64url')} ${randomUUID().slice(0, 8)}`;
        const status = await post(`${url}/auth/signup`, { email: `flood-${randomUUID()}@example.com`, password });
        outcomes[status] = (outcomes[status] ?? 0) + 1;
      }
    };
    const workers = Array.from({ length: parallel }, () => worker());
    const loaded = await timeLogins(url, email, logins);
    flooding = false;
    await Promise.all(workers);

    const ms = (value: number) => `${value.toFixed(0)} ms`;
    console.log(`node ${process.version}, ${logins} logins, ${parallel} parallel sign-up clients`);
    console.log(`logins alone:        median ${ms(quiet.median)}, p95 ${ms(quiet.p95)}`);
    console.log(`during the sign-ups: median ${ms(loaded.median)}, p95 ${ms(loaded.p95)}`);
    console.log(`sign-up answers meanwhile: ${JSON.stringify(outcomes)}`);
  } finally {
    child.kill('SIGTERM');
  }
}

if (process.argv[2] === 'serve') await serve();
else await main();
