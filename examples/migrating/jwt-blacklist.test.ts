import { once } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSigner } from 'fast-jwt';
import type { Redis } from 'ioredis';
import { connectRedis } from 'tessera-auth/stores/redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createMigratingApi } from './jwt-blacklist.js';

const redisURL = inject('redisURL');
const OLD_SECRET = 'the shared secret every service used to sign with';

describe.skipIf(redisURL === null)('the JWT + Redis blacklist bridge, on a real Redis', () => {
  let redis: Redis;
  let server: Server;
  let url: string;
  beforeAll(async () => {
    // A database of its own (Tessera's default key prefix, and the old key names, stay out of other suites' way).
    redis = await connectRedis(redisURL!, { db: 11 });
    server = createMigratingApi({
      redis,
      oldSecret: OLD_SECRET,
      secret: 'j'.repeat(32),
      checkPassword: async () => null,
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await redis.quit();
  });

  const sign = createSigner({ key: OLD_SECRET, algorithm: 'HS256', expiresIn: 600_000 });
  const oldToken = (sub = 'user-ada') => sign({ sub, jti: randomUUID() });
  const me = (token: string) => fetch(`${url}/me`, { headers: { authorization: `Bearer ${token}` } });
  const refresh = (token: string) =>
    fetch(`${url}/auth/refresh`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: token }),
    });

  it('accepts an old access token until it is blacklisted, and none signed with another secret', async () => {
    const token = oldToken();
    const ok = await me(token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ userId: 'user-ada' });

    const forged = createSigner({ key: 'x'.repeat(40), algorithm: 'HS256', expiresIn: 600_000 })({
      sub: 'user-ada',
      jti: randomUUID(),
    });
    expect((await me(forged)).status).toBe(401);

    const logout = await fetch(`${url}/auth/logout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(logout.status).toBe(204);
    const after = await me(token);
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toMatch(/invalid_token/);
  });

  it('exchanges an old refresh token for a Tessera pair exactly once, even under a burst', async () => {
    const old = randomBytes(32).toString('base64url');
    await redis.set(`refresh:${old}`, 'user-grace');

    const answers = await Promise.all(Array.from({ length: 8 }, () => refresh(old)));
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([200, 401, 401, 401, 401, 401, 401, 401]);
    const pair = (await answers.find((answer) => answer.status === 200)!.json()) as Record<string, unknown>;
    expect(pair).toMatchObject({ token_type: 'Bearer', expires_in: 900 });

    // The Tessera pair works like any other: the access token opens /me, the refresh token rotates.
    const mine = await me(String(pair['access_token']));
    expect(await mine.json()).toEqual({ userId: 'user-grace' });
    const next = await refresh(String(pair['refresh_token']));
    expect(next.status).toBe(200);
    expect(await redis.exists(`refresh:${old}`)).toBe(0);
  });
});
