import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server-harness.js';

const LISTED = 'https://app.example.com';
const SAME_SITE = 'http://localhost:5173';
const UNLISTED = 'https://evil.example';

describe('CORS for TESSERA_ALLOWED_ORIGINS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ TESSERA_ALLOWED_ORIGINS: `${LISTED},${SAME_SITE}` });
  });
  afterAll(async () => {
    await server?.close();
  });

  const preflight = (origin: string, path = '/auth/login', method = 'POST') =>
    server.call('OPTIONS', path, {
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': 'content-type, x-csrf-token',
      },
    });

  it('answers a listed origin’s preflight with that exact origin, credentials, methods, headers and a max age', async () => {
    for (const origin of [LISTED, SAME_SITE]) {
      for (const path of ['/auth/login', '/auth/logout', '/auth/sessions/abc', '/auth/me']) {
        const answer = await preflight(origin, path);
        expect(answer.status).toBe(204);
        expect(answer.text).toBe('');
        expect(answer.headers.get('access-control-allow-origin')).toBe(origin);
        expect(answer.headers.get('access-control-allow-credentials')).toBe('true');
        expect(answer.headers.get('access-control-allow-methods')).toBe('GET, POST, DELETE');
        expect(answer.headers.get('access-control-allow-headers')).toBe('Content-Type, X-CSRF-Token, Authorization');
        expect(Number(answer.headers.get('access-control-max-age'))).toBeGreaterThan(0);
        expect(answer.headers.get('vary')).toContain('Origin');
      }
    }
  });

  it('gives an unlisted origin no CORS header, on its preflight or on an answer', async () => {
    const answer = await preflight(UNLISTED);
    expect(answer.status).not.toBe(204);
    expect([...answer.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
    expect(answer.headers.get('vary')).toContain('Origin');
    const me = await server.call('GET', '/auth/me', { headers: { origin: UNLISTED } });
    expect(me.status).toBe(401);
    expect([...me.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
    // An origin differing only by a trailing slash, case or port is another origin.
    for (const origin of [`${LISTED}/`, LISTED.toUpperCase(), `${LISTED}:8443`, 'null']) {
      const other = await preflight(origin);
      expect(other.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });

  it('marks a listed origin’s answers, errors included, never with *; the cookie flow works from it', async () => {
    const email = `user-${randomUUID()}@example.com`;
    const signup = await server.call('POST', '/auth/signup', {
      body: { email, password: 'correct horse battery' },
      headers: { origin: LISTED },
    });
    expect(signup.status).toBe(201);
    expect(signup.headers.get('access-control-allow-origin')).toBe(LISTED);
    expect(signup.headers.get('access-control-allow-credentials')).toBe('true');
    expect(signup.headers.get('access-control-expose-headers')).toContain('Retry-After');
    expect(signup.headers.get('vary')).toContain('Origin');
    const refused = await server.call('POST', '/auth/logout', {
      cookie: signup.setCookie!,
      headers: { origin: LISTED },
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBe(LISTED);
    const out = await server.call('POST', '/auth/logout', {
      cookie: signup.setCookie!,
      csrf: signup.json.csrfToken as string,
      headers: { origin: LISTED },
    });
    expect(out.status).toBe(204);
    // The CSRF origin check refuses an unlisted origin outright.
    const login = await server.call('POST', '/auth/login', {
      body: { email, password: 'correct horse battery' },
      headers: { origin: UNLISTED },
    });
    expect(login.status).toBe(403);
    expect(login.json.error.code).toBe('csrf_failed');
  });

  it('adds nothing when no origin is listed', async () => {
    const plain = await startTestServer();
    try {
      const answer = await plain.call('OPTIONS', '/auth/login', {
        headers: { origin: LISTED, 'access-control-request-method': 'POST' },
      });
      expect([...answer.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});
