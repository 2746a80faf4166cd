/**
 * Moving an Express app from express-session + connect-redis to Tessera, with both mounted during the switch:
 * a request that still carries the old cookie (and no Tessera session) gets a Tessera session for the same user,
 * and its old session is destroyed. docs/migrating.md walks through it; express-session.test.ts runs it.
 */
import type { RequestHandler } from 'express';
import { headerReader, type HttpAuth } from 'tessera-auth/http';
import type { TesseraExpress } from 'tessera-auth/express';

// What the old code kept in req.session. Only `userId` matters to the bridge.
declare module 'express-session' {
  interface SessionData {
    userId: string;
  }
}

export interface ExpressSessionBridgeOptions {
  /** The old cookie's name, to clear it once its session is gone (express-session's default). */
  oldCookieName?: string;
}

/**
 * Mount after express-session and after `tessera.session`, before any route. On a GET or HEAD from the app's own
 * pages (never from another site: that would be login CSRF) that has an old session and no Tessera one, it starts a
 * Tessera session for `req.session.userId` (Set-Cookie on this response; later middleware sees `req.tessera`),
 * then destroys the old session and clears its cookie. Anything else passes through untouched.
 */
export function bridgeExpressSession(
  auth: HttpAuth,
  tessera: TesseraExpress,
  { oldCookieName = 'connect.sid' }: ExpressSessionBridgeOptions = {},
): RequestHandler {
  return (req, res, next) => {
    const userId = req.session.userId;
    if (req.tessera?.session != null || userId === undefined) return next();
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const facts = {
      method: req.method,
      url: req.originalUrl,
      headers: headerReader(req.headers),
      ip: req.ip ?? null,
      origin: `${req.protocol}://${req.get('host') ?? ''}`,
    };
    if (auth.verifyRequestSource(facts) !== null) return next();
    const bridge = async (): Promise<void> => {
      const started = await tessera.startSession(req, res, userId);
      if (started === null) return; // already answered, e.g. 503 when the store is down
      await new Promise<void>((resolve, reject) => req.session.destroy((error) => (error ? reject(error) : resolve())));
      res.clearCookie(oldCookieName, { path: '/' });
      next();
    };
    bridge().catch(next);
  };
}
