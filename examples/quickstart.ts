/**
 * The session engine on the embedded SQLite store, end to end:
 *   npm run example
 * Creates ./data/example.db, signs a user in twice, validates, lists, revokes.
 */
import { mkdirSync } from 'node:fs';
import { createSessionManager } from 'tessera-auth';
import { createSQLiteStore } from 'tessera-auth/stores/sqlite';

mkdirSync('data', { recursive: true });
const store = createSQLiteStore('data/example.db');
const sessions = createSessionManager<{ role: string }>(store, {
  idleTimeoutSeconds: 1800,
  absoluteTimeoutSeconds: 7 * 24 * 3600,
  onEvent: (event) => console.log(`event  ${event.type}`),
});

const laptop = await sessions.createSession('user-1', {
  ip: '127.0.0.1',
  userAgent: 'Laptop',
  data: { role: 'member' },
});
const phone = await sessions.createSession('user-1', { ip: '127.0.0.2', userAgent: 'Phone', data: { role: 'member' } });
console.log(`token  handed to the client once: ${laptop.token.slice(0, 8)}… (${laptop.token.length} chars)`);

const check = await sessions.validateSessionToken(laptop.token);
console.log(`valid  ${check.ok}, user ${check.session?.userId}, role ${check.session?.data.role}`);

console.table(
  (await sessions.listUserSessions('user-1', { currentSessionId: laptop.session.id })).map((s) => ({
    device: s.userAgent,
    ip: s.ip,
    current: s.current,
  })),
);

await sessions.revokeUserSessions('user-1', { exceptSessionId: laptop.session.id });
console.log(`phone  after "sign out everywhere else": ${(await sessions.validateSessionToken(phone.token)).reason}`);

await sessions.deleteSession(laptop.session.id);
console.log(`laptop after logout: ${(await sessions.validateSessionToken(laptop.token)).reason}`);
await store.close();
