import { describe, expect, it } from 'vitest';
import { createMemoryStore } from '../../stores/memory/memory-store.js';
import { createSessionManager, type SessionEvent } from './session-manager.js';

describe('touchSession', () => {
  const setup = () => {
    let clock = 1_700_000_000_000;
    const events: SessionEvent[] = [];
    const store = createMemoryStore({ now: () => clock });
    const sessions = createSessionManager(store, {
      idleTimeoutSeconds: 600,
      absoluteTimeoutSeconds: 3600,
      renewalIntervalSeconds: 60,
      now: () => clock,
      onEvent: (event) => events.push(event),
    });
    return { sessions, store, events, advance: (ms: number) => (clock += ms) };
  };

  it('renews the idle timeout like validateSessionToken, at most once per renewal interval', async () => {
    const { sessions, events, advance } = setup();
    const { session } = await sessions.createSession('alice');
    advance(30_000);
    const early = await sessions.touchSession(session.id);
    expect(early.renewed).toBe(false);
    expect(early.session?.idleExpiresAt).toEqual(session.idleExpiresAt);
    advance(60_000);
    const late = await sessions.touchSession(session.id, { ip: '198.51.100.7' });
    expect(late.renewed).toBe(true);
    expect(late.session?.idleExpiresAt.getTime()).toBe(session.createdAt.getTime() + 90_000 + 600_000);
    expect(late.session?.ip).toBe('198.51.100.7');
    expect(events.filter((event) => event.type === 'session.renewed')).toHaveLength(1);
  });

  it('keeps a session alive past its first idle limit when touched', async () => {
    const { sessions, advance } = setup();
    const { session } = await sessions.createSession('alice');
    for (let i = 0; i < 3; i++) {
      advance(500_000);
      expect((await sessions.touchSession(session.id)).session).not.toBeNull();
    }
  });

  it('answers why for a missing, revoked or expired session', async () => {
    const { sessions, advance } = setup();
    expect(await sessions.touchSession('AAAAbm90LWEtcmVhbC1zZXNzaW9u')).toEqual({
      session: null,
      renewed: false,
      reason: 'not_found',
    });
    const revoked = await sessions.createSession('alice');
    await sessions.revokeSession(revoked.session.id);
    expect((await sessions.touchSession(revoked.session.id)).reason).toBe('revoked');
    const idle = await sessions.createSession('bob');
    advance(601_000);
    expect((await sessions.touchSession(idle.session.id)).reason).toMatch(/expired|not_found/);
  });
});
