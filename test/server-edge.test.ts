import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestServer, type CallResult, type TestServer } from './support/server-harness.js';

/**
 * The server's HTTP edge: who is trusted for forwarded headers, which Host it answers, who sees metrics,
 * what the log says when a store fails, the shape of every error the framework or Node itself raises,
 * and the request budgets.
 */

const PASSWORD = 'correct horse battery';
// Not the e2e suite's secret: budgets are counted per client, on the Redis both suites share.
const INTROSPECT_SECRET = 'edge-introspection-secret-0123456789-abcdefgh';
const METRICS_TOKEN = 'metrics-token-0123456789-abcdefghijklmnop';
const email = () => `edge-${randomUUID()}@example.com`;

const redisURL = inject('redisURL');
const postgresUrl = inject('postgresUrl');

/** A raw HTTP/1.1 exchange: what Node itself answers never reaches fetch's parser intact. */
async function rawRequest(server: TestServer, head: string, body = ''): Promise<RawResponse> {
  const { port } = new URL(server.url);
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(error),
    );
    socket.write(`${head}\r\nConnection: close\r\n\r\n${body}`);
  });
  const [headText = '', ...rest] = text.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = headText.split('\r\n');
  const headers = new Map(
    headerLines.map((line) => [
      line.slice(0, line.indexOf(':')).toLowerCase(),
      line.slice(line.indexOf(':') + 1).trim(),
    ]),
  );
  const bodyText = rest.join('\r\n\r\n');
  let json: unknown = null;
  try {
    json = JSON.parse(bodyText);
  } catch {
    json = null;
  }
  return { status: Number(statusLine.split(' ')[1]), headers, text: bodyText, json };
}

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  text: string;
  json: unknown;
}

/** The API's error shape with the given code, and the headers every answer carries. */
function expectContractError(response: RawResponse | CallResult, status: number, code: string): void {
  const header = (name: string) =>
    response.headers instanceof Map ? response.headers.get(name) : response.headers.get(name);
  expect([response.status, response.json], response.text).toEqual([
    status,
    { error: { code, message: expect.any(String) } },
  ]);
  expect(header('x-content-type-options')).toBe('nosniff');
  expect(header('cache-control')).toBe('no-store');
  expect(header('content-type')).toMatch(/^application\/json/);
  expect(response.text.toLowerCase()).not.toContain('fastify');
  expect(response.text).not.toContain('FST_');
}

const storeLines = (server: TestServer) =>
  server.logs
    .filter((line) => line.includes('"event":"store.failed"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('forwarded headers count only from the configured proxies', () => {
  const signInFrom = async (server: TestServer, forwardedFor: string) => {
    const address = email();
    const body = { email: address, password: PASSWORD };
    const headers = { 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': 'https' };
    const signup = await server.call('POST', '/auth/signup', { body, headers });
    expect(signup.status).toBe(201);
    return signup;
  };

  it('ignores a rotating X-Forwarded-For from a peer not in the list: request.ip stays the peer', async () => {
    const server = await startTestServer({
      TESSERA_TRUST_PROXY: '10.0.0.0/8, 192.0.2.1',
      TESSERA_LOGIN_MAX_ATTEMPTS_PER_IP: '3',
    });
    try {
      const first = await signInFrom(server, '203.0.113.1');
      expect(first.headers.get('strict-transport-security')).toBeNull();
      const list = await server.call('GET', '/auth/sessions', { cookie: first.setCookie! });
      expect(list.json.sessions.map((entry: { ip: string }) => entry.ip)).toEqual(['127.0.0.1']);
      // The per-IP login budget sees one client, however the header rotates.
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const headers = { 'x-forwarded-for': `198.51.100.${i + 1}` };
        const attempt = await server.call('POST', '/auth/login', {
          body: { email: email(), password: 'wrong guess' },
          headers,
        });
        statuses.push(attempt.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await server.close();
    }
  });

  it('takes X-Forwarded-For and -Proto from a listed proxy', async () => {
    const server = await startTestServer({
      TESSERA_TRUST_PROXY: '192.0.2.1,127.0.0.1',
      TESSERA_LOGIN_MAX_ATTEMPTS_PER_IP: '3',
    });
    try {
      const first = await signInFrom(server, '203.0.113.1');
      expect(first.headers.get('strict-transport-security')).toMatch(/max-age=/);
      const list = await server.call('GET', '/auth/sessions', { cookie: first.setCookie! });
      // Where it signed in: the client behind the proxy (the listing came straight from loopback: the latest IP).
      expect(list.json.sessions.map((entry: { signInIp: string }) => entry.signInIp)).toEqual(['203.0.113.1']);
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const headers = { 'x-forwarded-for': `198.51.100.${i + 1}` };
        const attempt = await server.call('POST', '/auth/login', {
          body: { email: email(), password: 'wrong guess' },
          headers,
        });
        statuses.push(attempt.status);
      }
      expect(statuses).toEqual([401, 401, 401, 401, 401]);
    } finally {
      await server.close();
    }
  });
});

describe('the Host header and the public URL', () => {
  let server: TestServer;
  let port: string;
  beforeAll(async () => {
    server = await startTestServer({});
    port = new URL(server.url).port;
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses a DNS-rebinding sign-up and login (a Host that is not the server’s) with 421, API-shaped', async () => {
    const rebound = `evil.example:${port}`;
    const headers = { host: rebound, origin: `http://${rebound}` };
    const body = { email: email(), password: PASSWORD };
    const signup = await rawRequest(
      server,
      `POST /auth/signup HTTP/1.1\r\nHost: ${rebound}\r\nOrigin: ${headers.origin}\r\nContent-Type: application/json\r\nContent-Length: ${JSON.stringify(body).length}`,
      JSON.stringify(body),
    );
    expectContractError(signup, 421, 'misdirected_request');
    expect(signup.headers.get('set-cookie')).toBeUndefined();
    const login = await rawRequest(
      server,
      `POST /auth/login HTTP/1.1\r\nHost: ${rebound}\r\nOrigin: ${headers.origin}\r\nContent-Type: application/json\r\nContent-Length: ${JSON.stringify(body).length}`,
      JSON.stringify(body),
    );
    expectContractError(login, 421, 'misdirected_request');
    for (const path of ['/', '/auth/me', '/openapi.json', '/nowhere']) {
      expectContractError(
        await rawRequest(server, `GET ${path} HTTP/1.1\r\nHost: ${rebound}`),
        421,
        'misdirected_request',
      );
    }
    // Nothing was created: the same email signs up normally afterwards.
    expect((await server.call('POST', '/auth/signup', { body })).status).toBe(201);
  });

  it('answers the load balancers’ probes whatever the Host', async () => {
    for (const path of ['/healthz', '/readyz']) {
      expect((await rawRequest(server, `GET ${path} HTTP/1.1\r\nHost: 10.1.2.3`)).status, path).toBe(200);
    }
  });

  it('answers loopback names, and compares Origin with the bound address under the name used', async () => {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      const body = JSON.stringify({ email: email(), password: PASSWORD });
      const ok = await rawRequest(
        server,
        `POST /auth/signup HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}`,
        body,
      );
      expect(ok.status, host).toBe(201);
      const otherPort = await rawRequest(
        server,
        `POST /auth/signup HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://localhost:1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}`,
        body,
      );
      expectContractError(otherPort, 403, 'csrf_failed');
    }
  });

  it('refuses a request without a Host (400) and a Host with userinfo or a path (421)', async () => {
    expectContractError(await rawRequest(server, 'GET /auth/me HTTP/1.0'), 400, 'invalid_request');
    for (const host of [`evil.example@localhost:${port}`, `localhost:${port}/x`, 'localhost.evil.example']) {
      expectContractError(
        await rawRequest(server, `GET /auth/me HTTP/1.1\r\nHost: ${host}`),
        421,
        'misdirected_request',
      );
    }
  });

  it('with TESSERA_PUBLIC_URL, answers its host and compares Origin with it, never with Host', async () => {
    const configured = await startTestServer({ TESSERA_PUBLIC_URL: 'https://auth.example.test' });
    try {
      const localPort = new URL(configured.url).port;
      const body = JSON.stringify({ email: email(), password: PASSWORD });
      const post = (host: string, origin: string) =>
        rawRequest(
          configured,
          `POST /auth/signup HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${origin}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}`,
          body,
        );
      // Loopback Host is still answered, but Origin must be the public URL's.
      expectContractError(await post(`localhost:${localPort}`, `http://localhost:${localPort}`), 403, 'csrf_failed');
      expectContractError(
        await post('auth.example.test:8443', 'https://auth.example.test'),
        421,
        'misdirected_request',
      );
      expect((await post('auth.example.test', 'https://auth.example.test')).status).toBe(201);
      expect((await post('AUTH.example.test:443', 'https://auth.example.test')).status).toBe(409);
    } finally {
      await configured.close();
    }
  });
});

describe('metrics are never public', () => {
  it('answer 404 when neither a token nor a port of their own is configured', async () => {
    const server = await startTestServer({});
    try {
      expectContractError(await server.call('GET', '/metrics'), 404, 'not_found');
      expectContractError(await server.call('GET', '/metrics', { bearer: METRICS_TOKEN }), 404, 'not_found');
      expect(server.metricsUrl).toBeNull();
    } finally {
      await server.close();
    }
  });

  it('need the bearer token on the main port (TESSERA_METRICS_TOKEN)', async () => {
    const server = await startTestServer({ TESSERA_METRICS_TOKEN: METRICS_TOKEN });
    try {
      const missing = await server.call('GET', '/metrics');
      expectContractError(missing, 401, 'unauthenticated');
      expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const wrongTokens = [METRICS_TOKEN.slice(0, -1), `${METRICS_TOKEN}x`, 'x'];
      const answers = await Promise.all(wrongTokens.map((token) => server.call('GET', '/metrics', { bearer: token })));
      for (const answer of answers) expectContractError(answer, 401, 'unauthenticated');
      const basic = await server.call('GET', '/metrics', {
        headers: { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString('base64')}` },
      });
      expect(basic.status).toBe(401);
      const scraped = await server.call('GET', '/metrics', { bearer: METRICS_TOKEN });
      expect(scraped.status).toBe(200);
      expect(scraped.text).toContain('tessera_http_request_duration_seconds');
    } finally {
      await server.close();
    }
  });

  it('are served on a listener of their own (TESSERA_METRICS_PORT), and not on the main port', async () => {
    const server = await startTestServer({ TESSERA_METRICS_PORT: '0' });
    try {
      expectContractError(await server.call('GET', '/metrics'), 404, 'not_found');
      const scraped = await fetch(`${server.metricsUrl!}/metrics`);
      expect(scraped.status).toBe(200);
      expect(await scraped.text()).toContain('tessera_http_request_duration_seconds');
      const other = await fetch(`${server.metricsUrl!}/auth/me`);
      expect([other.status, await other.json()]).toEqual([
        404,
        { error: { code: 'not_found', message: 'Not found.' } },
      ]);
      expect(other.headers.get('x-content-type-options')).toBe('nosniff');
    } finally {
      await server.close();
    }
  });
});

describe('store failures are explained in the log, once per backend per interval', () => {
  it('the harness’s faulty store: a burst of failing requests writes one line, with backend, operation and code', async () => {
    const server = await startTestServer({});
    try {
      const account = await server.call('POST', '/auth/signup', { body: { email: email(), password: PASSWORD } });
      const cookie = account.setCookie!;
      server.sessions.down = true;
      const burst = await Promise.all(Array.from({ length: 20 }, () => server.call('GET', '/auth/me', { cookie })));
      expect(burst.map((answer) => answer.status)).toEqual(Array(20).fill(503));
      const lines = storeLines(server);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 50, backend: 'sqlite', operation: 'getSession', code: 'ECONNREFUSED' });
      expect(String(lines[0]!.error)).toContain('ECONNREFUSED');
      // Past the interval, the next failure is logged again and counts what was left out.
      server.advance(31_000);
      expect((await server.call('GET', '/readyz')).status).toBe(503);
      const after = storeLines(server);
      expect(after).toHaveLength(2);
      expect(after[1]!.suppressed).toBe(19);
      const log = after.map((line) => JSON.stringify(line)).join('\n');
      expect(log).not.toContain(cookie.split('=')[1]);
      expect(log).not.toContain(account.json.session.id);
    } finally {
      server.sessions.down = false;
      await server.close();
    }
  });

  it('a real SQLite held locked by another connection: the write fails closed and the line names SQLITE_BUSY', async () => {
    const server = await startTestServer({});
    const { default: Database } = await import('better-sqlite3');
    const path = server.config.database.kind === 'sqlite' ? server.config.database.path : '';
    const other = new Database(path);
    try {
      other.exec('BEGIN EXCLUSIVE');
      // Waits out the store's busy timeout, then answers.
      const signup = await server.call('POST', '/auth/signup', { body: { email: email(), password: PASSWORD } });
      expect(signup.status).toBe(503);
      const line = storeLines(server)[0];
      expect(line).toMatchObject({ level: 50, backend: 'sqlite', code: expect.stringMatching(/^SQLITE_BUSY/) });
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
      await server.close();
    }
  }, 60_000);

  it.skipIf(redisURL === null || postgresUrl === null)(
    'a real Redis that goes away, and a real PostgreSQL that goes away: each named with the driver’s error',
    async () => {
      const { startRedisServer } = await import('./support/redis-harness.js');
      const { findPostgresBinaries, startPostgresServer } = await import('./support/postgres-harness.js');
      const binaries = findPostgresBinaries();
      const redis = await startRedisServer();
      const postgres = binaries === null ? null : await startPostgresServer(binaries);
      const server = await startTestServer({
        TESSERA_SESSION_STORE: redis.url,
        ...(postgres === null ? {} : { TESSERA_DATABASE: postgres.url }),
      });
      try {
        const account = await server.call('POST', '/auth/signup', { body: { email: email(), password: PASSWORD } });
        expect(account.status).toBe(201);
        if (postgres !== null) {
          // Redis (sessions, rate limits) is up: the login gets as far as the account lookup in PostgreSQL.
          await postgres.stop();
          const login = await server.call('POST', '/auth/login', {
            body: { email: account.json.user.email, password: PASSWORD },
          });
          expect(login.status).toBe(503);
          const pgLine = storeLines(server).find((line) => line.backend === 'postgres');
          expect(pgLine).toMatchObject({ level: 50, operation: 'findAccountByEmail' });
          expect(pgLine!.code ?? pgLine!.error).toBeTruthy();
          await postgres.start();
        }
        await redis.kill();
        const me = await server.call('GET', '/auth/me', { cookie: account.setCookie! });
        expect(me.status).toBe(503);
        const redisLine = storeLines(server).find((line) => line.backend === 'redis');
        expect(redisLine).toMatchObject({ level: 50, operation: 'getSession' });
        expect(redisLine!.code ?? redisLine!.error).toBeTruthy();
        const log = server.logs.join('\n');
        expect(log).not.toContain(account.setCookie!.split('=')[1]);
        expect(log).not.toContain(account.json.session.id);
      } finally {
        // Back up before closing, so the clients' quit has someone to talk to.
        await redis.restart();
        await postgres?.start().catch(() => undefined);
        await server.close();
        await redis.stop();
        await postgres?.destroy();
      }
    },
    90_000,
  );
});

describe('errors raised before a route runs use the API error shape and the security headers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({});
  });
  afterAll(async () => {
    await server?.close();
  });
  const host = () => `Host: 127.0.0.1:${new URL(server.url).port}`;

  it('404 for an unknown path, without echoing it', async () => {
    const answer = await rawRequest(server, `GET /nowhere-${'z'.repeat(40)} HTTP/1.1\r\n${host()}`);
    expectContractError(answer, 404, 'not_found');
    expect(answer.text).not.toContain('zzzz');
  });

  it('405 with Allow for a known path and another method, and for a method Node does not know', async () => {
    const put = await rawRequest(server, `PUT /auth/login HTTP/1.1\r\n${host()}\r\nContent-Length: 0`);
    expectContractError(put, 405, 'method_not_allowed');
    expect(put.headers.get('allow')).toBe('POST');
    const session = await rawRequest(server, `PATCH /auth/sessions/abc HTTP/1.1\r\n${host()}\r\nContent-Length: 0`);
    expectContractError(session, 405, 'method_not_allowed');
    expect(session.headers.get('allow')).toBe('DELETE');
    expectContractError(await rawRequest(server, `FOO /healthz HTTP/1.1\r\n${host()}`), 405, 'method_not_allowed');
  });

  it('413 for a body over the limit and 415 for a body that is not JSON', async () => {
    const big = 'x'.repeat(20_000);
    expectContractError(
      await rawRequest(
        server,
        `POST /auth/login HTTP/1.1\r\n${host()}\r\nContent-Type: application/json\r\nContent-Length: ${big.length}`,
        big,
      ),
      413,
      'payload_too_large',
    );
    expectContractError(
      await rawRequest(
        server,
        `POST /auth/login HTTP/1.1\r\n${host()}\r\nContent-Type: text/plain\r\nContent-Length: 2`,
        '{}',
      ),
      415,
      'unsupported_media_type',
    );
  });

  it('414 for an over-long path parameter or URL, without echoing it', async () => {
    const param = await rawRequest(server, `DELETE /auth/sessions/${'a'.repeat(300)} HTTP/1.1\r\n${host()}`);
    expectContractError(param, 414, 'uri_too_long');
    expect(param.text).not.toContain('aaaa');
    const url = await rawRequest(server, `GET /auth/me?page=${'b'.repeat(10_000)} HTTP/1.1\r\n${host()}`);
    expectContractError(url, 414, 'uri_too_long');
  });

  it('431 for a header block over the limit, answered by Node before Fastify', async () => {
    const answer = await rawRequest(server, `GET /healthz HTTP/1.1\r\n${host()}\r\nX-Big: ${'x'.repeat(20_000)}`);
    expectContractError(answer, 431, 'headers_too_large');
  });

  it('400 for a malformed URL or request, without echoing it', async () => {
    const badURL = await rawRequest(server, `GET /%zz-secret HTTP/1.1\r\n${host()}`);
    expectContractError(badURL, 400, 'invalid_request');
    expect(badURL.text).not.toContain('secret');
    const badHeader = await rawRequest(server, `GET /healthz HTTP/1.1\r\n${host()}\r\nNot a header line`);
    expectContractError(badHeader, 400, 'invalid_request');
  });

  it('503 in the API shape for a request that arrives while the server shuts down', async () => {
    const closing = await startTestServer({});
    try {
      const socket = connect(Number(new URL(closing.url).port), '127.0.0.1');
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
      const ended = new Promise((resolve) => socket.on('close', resolve));
      const body = JSON.stringify({ email: email(), password: 'not the password' });
      // A request in flight (its body half sent) keeps the connection busy while the server starts closing…
      socket.write(
        `POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 500));
      const stopped = closing.server.app.close();
      await new Promise((resolve) => setTimeout(resolve, 500));
      // …and a second one pipelined behind it arrives after the close began.
      socket.write(`${body.slice(5)}GET /auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await stopped;
      await ended;
      const second = received.slice(received.indexOf('HTTP/1.1', 1));
      expect(received.startsWith('HTTP/1.1 401')).toBe(true);
      expect(second).toMatch(/^HTTP\/1\.1 503 /);
      expect(second.toLowerCase()).toContain('x-content-type-options: nosniff');
      expect(second.toLowerCase()).toContain('cache-control: no-store');
      expect(second.slice(second.indexOf('\r\n\r\n') + 4)).toBe(
        JSON.stringify({ error: { code: 'unavailable', message: 'The server is shutting down.' } }),
      );
    } finally {
      await closing.close();
    }
  });

  it('pages carry Cross-Origin-Opener-Policy: same-origin', async () => {
    for (const path of ['/', '/account']) {
      const page = await server.call('GET', path);
      expect(page.headers.get('content-type'), path).toMatch(/^text\/html/);
      expect(page.headers.get('cross-origin-opener-policy'), path).toBe('same-origin');
    }
  });
});

describe('credentials and bearers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({});
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses a password in the query string of login and sign-up, even with a valid JSON body', async () => {
    const address = email();
    const query = `?email=${encodeURIComponent(address)}&password=${encodeURIComponent(PASSWORD)}`;
    const body = { email: address, password: PASSWORD };
    expectContractError(await server.call('POST', `/auth/signup${query}`, { body }), 400, 'invalid_request');
    expect((await server.call('POST', '/auth/signup', { body })).status).toBe(201);
    const login = await server.call('POST', `/auth/login${query}`, { body });
    expectContractError(login, 400, 'invalid_request');
    expect(login.setCookie).toBeNull();
    expect(server.logs.join('\n')).not.toContain(PASSWORD);
  });

  it('answers a logout with an invalid bearer beside a valid cookie with 401 invalid_token; the session lives on', async () => {
    const account = await server.call('POST', '/auth/signup', { body: { email: email(), password: PASSWORD } });
    const cookie = account.setCookie!;
    const out = await server.call('POST', '/auth/logout', {
      cookie,
      csrf: account.json.csrfToken,
      bearer: 'not-a-token',
    });
    expectContractError(out, 401, 'invalid_token');
    expect(out.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(out.setCookie).toBeNull();
    expect(out.headers.get('set-cookie')).toBeNull();
    expect((await server.call('GET', '/auth/me', { cookie })).status).toBe(200);
  });
});

/** The request budgets, raced on each backend that keeps counters. */
function describeBudgets(name: string, env: () => Record<string, string> | null): void {
  describe.skipIf(env() === null)(`request budgets on ${name}`, () => {
    let server: TestServer;
    beforeAll(async () => {
      server = await startTestServer({
        TESSERA_SESSION_RATE_LIMIT: '5',
        TESSERA_REFRESH_RATE_LIMIT: '4',
        TESSERA_INTROSPECT_RATE_LIMIT: '6',
        TESSERA_INTROSPECT_SECRET: INTROSPECT_SECRET,
        // A client IP of this run's own (through a trusted proxy): the IP counters live on a Redis other suites share.
        TESSERA_TRUST_PROXY: '127.0.0.1',
        ...env(),
      });
    });
    afterAll(async () => {
      await server?.close();
    });
    const count = (answers: CallResult[], status: number) =>
      answers.filter((answer) => answer.status === status).length;

    it('a burst on one session gets exactly TESSERA_SESSION_RATE_LIMIT requests through', async () => {
      const account = await server.call('POST', '/auth/signup', { body: { email: email(), password: PASSWORD } });
      const cookie = account.setCookie!;
      const burst = await Promise.all(Array.from({ length: 12 }, () => server.call('GET', '/auth/me', { cookie })));
      expect([count(burst, 200), count(burst, 429)]).toEqual([5, 7]);
      const refused = burst.find((answer) => answer.status === 429)!;
      expectContractError(refused, 429, 'rate_limited');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another session has a budget of its own.
      const other = await server.call('POST', '/auth/login', {
        body: { email: account.json.user.email, password: PASSWORD },
      });
      expect((await server.call('GET', '/auth/me', { cookie: other.setCookie! })).status).toBe(200);
    });

    it('a burst of refreshes from one IP gets exactly TESSERA_REFRESH_RATE_LIMIT through', async () => {
      const headers = { 'x-forwarded-for': `2001:db8::${randomUUID().slice(0, 4)}:${randomUUID().slice(0, 4)}` };
      const burst = await Promise.all(
        Array.from({ length: 10 }, () =>
          server.call('POST', '/auth/refresh', { body: { refresh_token: 'not-a-real-token' }, headers }),
        ),
      );
      expect([count(burst, 401), count(burst, 429)]).toEqual([4, 6]);
    });

    it('a burst of introspections by the client gets exactly TESSERA_INTROSPECT_RATE_LIMIT through', async () => {
      const authorization = `Basic ${Buffer.from(`svc:${INTROSPECT_SECRET}`).toString('base64')}`;
      const burst = await Promise.all(
        Array.from({ length: 10 }, () =>
          server.call('POST', '/auth/introspect', { body: { token: 'whatever' }, headers: { authorization } }),
        ),
      );
      expect([count(burst, 200), count(burst, 429)]).toEqual([6, 4]);
    });
  });
}

describeBudgets('SQLite', () => ({}));
describeBudgets('Redis + PostgreSQL', () =>
  redisURL === null || postgresUrl === null ? null : { TESSERA_SESSION_STORE: redisURL, TESSERA_DATABASE: postgresUrl },
);
