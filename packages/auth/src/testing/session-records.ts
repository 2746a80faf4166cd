import { randomBytes } from 'node:crypto';
import type { SessionRecord } from '../core/store/types.js';
import { redisUserTag } from '../stores/redis/hash-tag.js';

/**
 * A valid session record for store tests; `at` is the creation time, epoch ms.
 * Its id starts with the user's Redis hash tag, which every store accepts and
 * the Redis store requires (it is what its `sessionIdPrefix` hook asks for).
 */
export function makeSessionRecord(userId: string, at: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: redisUserTag(userId) + randomBytes(16).toString('base64url'),
    secretHash: randomBytes(32).toString('base64url'),
    userId,
    createdAt: at,
    lastSeenAt: at,
    idleExpiresAt: at + 60_000,
    absoluteExpiresAt: at + 600_000,
    expiresAt: at + 60_000,
    revokedAt: null,
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Test/1.0',
    signInIp: '203.0.113.5',
    signInUserAgent: 'Mozilla/5.0 (X11; Linux x86_64) SignIn/1.0',
    authenticatedAt: at,
    idleTimeoutMs: null,
    cookieLifetime: null,
    newDeviceUntil: null,
    data: {},
    ...overrides,
  };
}
