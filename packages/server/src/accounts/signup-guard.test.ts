import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rateLimiterBackends } from '../../../../test/support/rate-limiter-backends.js';
import { createSignupGuard, createWorkQueue } from './signup-guard.js';

const keySecret = 's'.repeat(32);

describe('createWorkQueue', () => {
  it('runs at most `concurrency` tasks, lets `maxWaiting` wait, and refuses the rest of a burst at once', async () => {
    const queue = createWorkQueue({ concurrency: 2, maxWaiting: 3 });
    let running = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const task = () =>
      new Promise<string>((resolve) => {
        running++;
        most = Math.max(most, running);
        releases.push(() => {
          running--;
          resolve('done');
        });
      });
    const slots = Array.from({ length: 20 }, () => queue.reserve());
    expect(slots.filter((slot) => slot === null)).toHaveLength(15);
    const runs = slots.flatMap((slot) => (slot === null ? [] : [slot.run(task)]));
    for (let settled = 0; settled < runs.length;) {
      await new Promise((resolve) => setImmediate(resolve));
      const release = releases.shift();
      if (release === undefined) continue;
      release();
      settled++;
    }
    expect(await Promise.all(runs)).toEqual(Array(5).fill('done'));
    expect(most).toBe(2);
    // Every place is free again.
    const again = Array.from({ length: 5 }, () => queue.reserve());
    expect(again.every((slot) => slot !== null)).toBe(true);
    expect(queue.reserve()).toBeNull();
  });

  it('gives a place back on release, waiting or running, and after a task that fails', async () => {
    const queue = createWorkQueue({ concurrency: 1, maxWaiting: 1 });
    const running = queue.reserve()!;
    const waiting = queue.reserve()!;
    expect(queue.reserve()).toBeNull();
    waiting.release();
    const next = queue.reserve()!;
    expect(next).not.toBeNull();
    running.release();
    // The waiting slot took the running place over; the line is empty again.
    await expect(next.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    next.release();
    const last = queue.reserve()!;
    expect(await last.run(async () => 'ran')).toBe('ran');
    await expect(last.run(async () => 'twice')).rejects.toThrow('a work slot runs one task');
    expect(queue.reserve()).not.toBeNull();
    expect(queue.reserve()).not.toBeNull();
    expect(queue.reserve()).toBeNull();
  });
});

const backends = rateLimiterBackends();

describe.each(backends)('sign-up budgets on $name', (backend) => {
  it.skipIf(!backend.available)(
    'a burst split over two processes spends exactly each budget, per email and per IP apart, keyed by HMAC; a refund gives one back',
    async () => {
      const [first, second, dump] = await backend.open();
      const options = { keySecret, maxPerIP: 10, maxPerEmail: 5 };
      const a = createSignupGuard({ store: first, ...options });
      const b = createSignupGuard({ store: second, ...options });
      const email = `taken-${randomBytes(6).toString('hex')}@example.com`;
      const ip = `192.0.2.${randomBytes(1)[0]}-${randomBytes(4).toString('hex')}`;

      const byEmail = await Promise.all(
        Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? a : b).consumeEmail(email)),
      );
      expect(byEmail.filter((verdict) => verdict.allowed)).toHaveLength(5);
      for (const verdict of byEmail) {
        if (!verdict.allowed) expect(verdict.retryAfterSeconds).toBeGreaterThan(3000);
      }
      // A refund (a refused weak password) gives exactly one attempt back.
      const fresh = `fresh-${email}`;
      for (let i = 0; i < 5; i++) expect((await a.consumeEmail(fresh)).allowed).toBe(true);
      await b.refundEmail(fresh);
      expect((await b.consumeEmail(fresh)).allowed).toBe(true);
      expect((await a.consumeEmail(fresh)).allowed).toBe(false);
      // The IP's budget is its own: untouched by the email's.
      const byIP = await Promise.all(Array.from({ length: 30 }, (_, index) => (index % 2 === 0 ? a : b).consumeIP(ip)));
      expect(byIP.filter((verdict) => verdict.allowed)).toHaveLength(10);
      expect((await a.consumeEmail(`other-${email}`)).allowed).toBe(true);
      expect((await b.consumeIP(`${ip}-other`)).allowed).toBe(true);

      const counters = await dump();
      expect(counters).not.toContain(email);
      expect(counters).not.toContain(ip);
    },
  );
});
