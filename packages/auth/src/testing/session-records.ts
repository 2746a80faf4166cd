import { randomBytes } from 'node:crypto';
import { sessionShardTag } from '../core/session/session-token.js';
import type { SessionRecord } from '../core/store/types.js';

/** A valid session record for store tests; `at` is the creation time, epoch ms. */
export function makeSessionRecord(userId: string, at: number, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id: sessionShardTag(userId) + randomBytes(16).toString('base64url'),
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
    data: {},
    ...overrides,
  };
}
