/**
 * Moving an API from hand-rolled JWTs (HS256 under one shared secret, a `blacklist:<jti>` key in Redis per
 * revoked token, refresh tokens kept as `refresh:<token>` → user id) to Tessera's access and refresh tokens.
 * During the switch an old access token is accepted until its `exp`, and an old refresh token is exchanged,
 * once, for a Tessera pair. docs/migrating.md walks through it; adapt the key names to yours.
 */
import express, { type Request, type RequestHandler, type Response } from 'express';
import { createVerifier } from 'fast-jwt';
import type { Redis } from 'ioredis';
import { createLoginThrottle, createSessionManager, createTokenService } from 'tessera-auth';
import { createTesseraExpress, sendApiError } from 'tessera-auth/express';
import { apiError, createHttpAuth } from 'tessera-auth/http';
import { createRedisStore } from 'tessera-auth/stores/redis';

interface LegacyClaims {
  sub?: unknown;
  jti?: unknown;
  exp?: unknown;
}

/** The old scheme, read-only but for spending old refresh tokens and blocklisting old access tokens at logout. */
export function legacyTokens(redis: Redis, oldSecret: string) {
  const verify = createVerifier({ key: oldSecret, algorithms: ['HS256'], requiredClaims: ['sub', 'jti', 'exp'] });
  const claimsOf = (authorization: string | undefined): { sub: string; jti: string; exp: number } | null => {
    const token = /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
    if (token === undefined) return null;
    try {
      const claims = verify(token) as LegacyClaims; // checks the signature, the algorithm and `exp`
      const { sub, jti, exp } = claims;
      return typeof sub === 'string' && typeof jti === 'string' && typeof exp === 'number' ? { sub, jti, exp } : null;
    } catch {
      return null;
    }
  };
  return {
    /** The user of an old access token that verifies and is not blacklisted; `null` otherwise. */
    async userOf(authorization: string | undefined): Promise<string | null> {
      const claims = claimsOf(authorization);
      if (claims === null || (await redis.exists(`blacklist:${claims.jti}`)) === 1) return null;
      return claims.sub;
    },
    /** Blacklists an old access token until its `exp` (logout); `false` when it was not one. */
    async revoke(authorization: string | undefined): Promise<boolean> {
      const claims = claimsOf(authorization);
      if (claims === null) return false;
      const seconds = Math.max(1, claims.exp - Math.floor(Date.now() / 1000));
      await redis.set(`blacklist:${claims.jti}`, '1', 'EX', seconds);
      return true;
    },
    /** Spends an old refresh token (GETDEL: once, even under a burst); its user id, or `null`. */
    async spendRefreshToken(token: unknown): Promise<string | null> {
      return typeof token === 'string' && token !== '' ? redis.getdel(`refresh:${token}`) : null;
    },
  };
}

export interface MigratingApiOptions {
  /** The Redis the old blacklist lives in; Tessera keeps its sessions, refresh tokens and keys there too. */
  redis: Redis;
  /** The old HS256 secret: it only verifies now, it never signs again. */
  oldSecret: string;
  /** ≥ 32 random bytes for CSRF tokens, device cookies and counter keys. */
  secret: string;
  checkPassword: (email: string, password: string) => Promise<string | null>;
}

export function createMigratingApi({ redis, oldSecret, secret, checkPassword }: MigratingApiOptions): express.Express {
  const store = createRedisStore(redis);
  const sessions = createSessionManager(store, {
    idleTimeoutSeconds: 30 * 24 * 3600,
    absoluteTimeoutSeconds: 90 * 24 * 3600,
  });
  const tokens = createTokenService({ sessions, store, issuer: 'https://api.example.com', audience: 'api' });
  const auth = createHttpAuth({
    sessions,
    tokens,
    csrfSecrets: [secret],
    loginThrottle: createLoginThrottle({ store, keySecret: secret }),
  });
  const tessera = createTesseraExpress(auth);
  const legacy = legacyTokens(redis, oldSecret);

  /** A Tessera access token, or (until the last one expires) an old JWT; anything else is Tessera's 401. */
  const requireUser: RequestHandler = (req, res, next) => {
    if (req.tessera?.session != null) return next();
    legacy.userOf(req.get('authorization')).then((userId) => {
      if (userId === null) return tessera.requireAuth(req, res, next);
      res.locals['legacyUserId'] = userId;
      next();
    }, next);
  };
  const userIdOf = (req: Request, res: Response): string =>
    req.tessera?.session?.userId ?? (res.locals['legacyUserId'] as string);

  const app = express();
  app.use(express.json(), tessera.session);

  app.post('/auth/login', async (req, res) => {
    const { email, password } = (req.body ?? {}) as { email?: unknown; password?: unknown };
    if (typeof email !== 'string' || typeof password !== 'string') {
      return sendApiError(res, apiError('invalid_request', 'Send {email, password}.'));
    }
    const attempt = { account: email, verify: () => checkPassword(email, password), transport: 'token' as const };
    const result = await tessera.login(req, res, attempt);
    if (result?.transport === 'token') res.json(result.tokens);
  });

  app.post('/auth/refresh', async (req, res) => {
    const refreshToken = (req.body as { refresh_token?: unknown } | undefined)?.refresh_token;
    // An old refresh token is spent once and answered with a Tessera pair: the client switches on its next refresh.
    const legacyUser = await legacy.spendRefreshToken(refreshToken);
    if (legacyUser !== null) {
      const started = await tessera.startSession(req, res, legacyUser, { transport: 'token' });
      if (started?.transport === 'token') res.json(started.tokens);
      return;
    }
    const pair = await tessera.refresh(req, res, refreshToken);
    if (pair !== null) res.json(pair);
  });

  app.post('/auth/logout', requireUser, async (req, res) => {
    if (req.tessera?.session == null) {
      await legacy.revoke(req.get('authorization'));
      return void res.status(204).end();
    }
    if (await tessera.logout(req, res)) res.status(204).end();
  });

  app.get('/.well-known/jwks.json', async (_req, res) => void res.json(await tokens.jwks()));
  app.get('/me', requireUser, (req, res) => void res.json({ userId: userIdOf(req, res) }));
  app.use(tessera.errors);
  return app;
}
