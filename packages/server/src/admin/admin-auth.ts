import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendApiError } from 'tessera-auth/fastify';
import { apiError } from 'tessera-auth/http';
import type { AuditSink } from '../audit.js';
import { verifyAdminKey, type AdminKey, type AdminKeyStore } from './admin-keys.js';

/** Whether a request URL is under the admin API, `/admin/` (query string ignored). */
export const isAdminPath = (url: string): boolean => url === '/admin' || url.startsWith('/admin/');

const BEARER = /^Bearer +(\S+) *$/i;
const REALM = 'Bearer realm="tessera-admin"';

/**
 * The preHandler of every `/admin/` route: the request must carry `Authorization: Bearer <admin key>` for a live
 * key, read from the database on every request (so a revoked key stops at once). Anything else is 401 in the
 * API's shape: `unauthenticated` without a bearer credential (no header, only a cookie, another scheme),
 * `invalid_token` for a bearer value that is not a live admin key (a user's access token, a revoked or expired
 * key, garbage). The key found is kept for {@link adminKeyOf}.
 */
export function createAdminKeyGuard(options: {
  adminKeys: AdminKeyStore;
  audit: AuditSink;
  /** The clock, epoch milliseconds. */
  now: () => number;
}): {
  preHandler: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;
  adminKeyOf: (request: FastifyRequest) => AdminKey;
} {
  const keys = new WeakMap<FastifyRequest, AdminKey>();
  return {
    async preHandler(request, reply) {
      const presented = BEARER.exec(request.headers.authorization ?? '')?.[1];
      const key = presented === undefined ? null : await verifyAdminKey(options.adminKeys, presented, options.now());
      if (key !== null) {
        keys.set(request, key);
        return undefined;
      }
      const reason = presented === undefined ? 'unauthenticated' : 'invalid_token';
      options.audit({ type: 'admin.refused', reason, ip: request.ip ?? null });
      return reason === 'unauthenticated'
        ? sendApiError(
            reply,
            apiError('unauthenticated', 'The admin API needs Authorization: Bearer <admin key>.', {
              'WWW-Authenticate': REALM,
            }),
          )
        : sendApiError(
            reply,
            apiError('invalid_token', 'This is not a live admin key.', {
              'WWW-Authenticate': `${REALM}, error="invalid_token"`,
            }),
          );
    },
    adminKeyOf(request) {
      const key = keys.get(request);
      if (key === undefined) throw new Error('an admin route ran without its admin key check');
      return key;
    },
  };
}
