import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import jwt from 'jsonwebtoken';
import { JwksClient } from 'jwks-rsa';
import { afterAll, describe, expect, it } from 'vitest';
import { newClientSecret } from '../packages/server/src/clients/client-store.js';
import { startTestServer, type TestServer } from './support/server-harness.js';

const PASSWORD = 'correct horse battery';

/** Signs a new account up over the token transport; returns its access token. */
async function tokenFor(server: TestServer): Promise<{ accessToken: string; userId: string }> {
  const signup = await server.call('POST', '/auth/signup', {
    body: { email: `user-${randomUUID()}@example.com`, password: PASSWORD, transport: 'token' },
  });
  expect(signup.status).toBe(201);
  return { accessToken: signup.json.access_token as string, userId: signup.json.user.id as string };
}

/** Verifies a token the way a Node service using jsonwebtoken and jwks-rsa would: the key by `kid` from the JWKS. */
async function verifyWithJsonwebtoken(
  server: TestServer,
  token: string,
  options: { algorithms: jwt.Algorithm[]; issuer: string; audience: string },
): Promise<jwt.JwtPayload> {
  const client = new JwksClient({ jwksUri: `${server.url}/.well-known/jwks.json`, cache: false });
  const getKey: jwt.GetPublicKeyOrSecret = (header, callback) => {
    client.getSigningKey(header.kid).then(
      (key) => callback(null, key.getPublicKey()),
      (error: Error) => callback(error),
    );
  };
  return new Promise((resolve, reject) => {
    jwt.verify(token, getKey, options, (error, payload) => {
      if (error !== null) reject(error);
      else resolve(payload as jwt.JwtPayload);
    });
  });
}

describe('access tokens as other services verify them', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  for (const algorithm of ['ES256', 'RS256'] as const) {
    it(`${algorithm}: jose and jsonwebtoken + jwks-rsa verify the token, issuer and audience being the public URL by default`, async () => {
      const server = await startTestServer({ TESSERA_SIGNING_ALG: algorithm });
      servers.push(server);
      const { accessToken, userId } = await tokenFor(server);
      expect(decodeProtectedHeader(accessToken)).toMatchObject({ alg: algorithm, typ: 'at+jwt' });

      const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
      const { payload } = await jwtVerify(accessToken, jwks, {
        algorithms: [algorithm],
        issuer: server.url,
        audience: server.url,
        typ: 'at+jwt',
      });
      expect(payload.sub).toBe(userId);

      const viaJsonwebtoken = await verifyWithJsonwebtoken(server, accessToken, {
        algorithms: [algorithm],
        issuer: server.url,
        audience: server.url,
      });
      expect(viaJsonwebtoken.sub).toBe(userId);
      // The checks are real: another issuer or audience is refused by both clients.
      await expect(
        verifyWithJsonwebtoken(server, accessToken, {
          algorithms: [algorithm],
          issuer: 'tessera',
          audience: server.url,
        }),
      ).rejects.toThrow(/issuer invalid/);
      await expect(jwtVerify(accessToken, jwks, { issuer: server.url, audience: 'tessera' })).rejects.toThrow(
        /unexpected "aud" claim value/,
      );
    });
  }

  it('TESSERA_ISSUER and several TESSERA_AUDIENCE values: the token names them all, each audience verifies', async () => {
    const server = await startTestServer({
      TESSERA_ISSUER: 'https://auth.example.com',
      TESSERA_AUDIENCE: 'https://api.example.com,orders',
    });
    servers.push(server);
    const { accessToken } = await tokenFor(server);
    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    for (const audience of ['https://api.example.com', 'orders']) {
      const { payload } = await jwtVerify(accessToken, jwks, { issuer: 'https://auth.example.com', audience });
      expect(payload.aud).toEqual(['https://api.example.com', 'orders']);
    }
    expect((await server.call('GET', '/auth/me', { bearer: accessToken })).status).toBe(200);
  });

  it('a change of TESSERA_SIGNING_ALG rotates the key at start; a token of the previous key stays valid until it expires', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-alg-'));
    const env = {
      TESSERA_DATABASE: `sqlite:${join(dir, 'tessera.db')}`,
      // Fixed, so both runs (on different ports) agree on who issues tokens.
      TESSERA_ISSUER: 'https://auth.example.com',
      TESSERA_AUDIENCE: 'https://api.example.com',
      TESSERA_ACCESS_TOKEN_TTL: '60',
    };
    try {
      const first = await startTestServer({ ...env, TESSERA_SIGNING_ALG: 'EdDSA' });
      const { accessToken } = await tokenFor(first);
      const oldKid = decodeProtectedHeader(accessToken).kid;
      expect(decodeProtectedHeader(accessToken).alg).toBe('EdDSA');
      await first.close();

      const second = await startTestServer({ ...env, TESSERA_SIGNING_ALG: 'ES256' });
      servers.push(second);
      expect(second.logs.some((line) => line.includes('"event":"keys.algorithm_changed"'))).toBe(true);
      const keys = (await second.call('GET', '/.well-known/jwks.json')).json.keys as { kid: string; alg: string }[];
      expect(keys.map((key) => key.alg).sort()).toEqual(['ES256', 'EdDSA']);
      // The old token: still accepted by the server and by a verifier reading the JWKS.
      expect((await second.call('GET', '/auth/me', { bearer: accessToken })).status).toBe(200);
      const jwks = createRemoteJWKSet(new URL(`${second.url}/.well-known/jwks.json`));
      await jwtVerify(accessToken, jwks, { issuer: env.TESSERA_ISSUER, audience: env.TESSERA_AUDIENCE });
      // New tokens are ES256, signed by the new key.
      const fresh = await tokenFor(second);
      expect(decodeProtectedHeader(fresh.accessToken)).toMatchObject({ alg: 'ES256' });
      expect(decodeProtectedHeader(fresh.accessToken).kid).not.toBe(oldKid);

      // Past its expiry the old token is refused, and once every token it signed is gone the old key leaves the JWKS.
      second.advance(70_000);
      const expired = await second.call('GET', '/auth/me', { bearer: accessToken });
      expect(expired.status).toBe(401);
      expect(expired.json.error.code).toBe('token_expired');
      second.advance(70_000);
      const later = (await second.call('GET', '/.well-known/jwks.json')).json.keys as { kid: string }[];
      expect(later.map((key) => key.kid)).not.toContain(oldKid);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the introspection endpoint, on and off', () => {
  it('answers 404 while no client exists and no secret is configured; a registered client turns it on', async () => {
    const server = await startTestServer();
    try {
      const { accessToken } = await tokenFor(server);
      const { secret, secretHash } = newClientSecret();
      const ask = (authorization?: string) =>
        server.call('POST', '/auth/introspect', {
          rawBody: `token=${accessToken}`,
          contentType: 'application/x-www-form-urlencoded',
          headers: authorization === undefined ? {} : { authorization },
        });
      const basic = `Basic ${Buffer.from(`billing:${secret}`).toString('base64')}`;
      expect((await ask()).status).toBe(404);
      expect((await ask(basic)).status).toBe(404);
      expect(await server.runtime.clients.createClient({ name: 'billing', secretHash, createdAt: Date.now() })).toBe(
        true,
      );
      expect((await ask()).status).toBe(401);
      expect((await ask(basic)).json).toMatchObject({ active: true, token_type: 'Bearer' });
      // The configured secret's id names no registered client: with no secret set, it gets nothing.
      expect((await ask(`Basic ${Buffer.from(`default:${secret}`).toString('base64')}`)).status).toBe(401);
      await server.runtime.clients.deleteClient('billing');
      expect((await ask(basic)).status).toBe(404);
    } finally {
      await server.close();
    }
  });
});
