import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadServerConfig } from '../config.js';
import { DEFAULT_WEBHOOK_TIMING, retryDelayMs } from './delivery.js';
import { WEBHOOK_EVENT_TYPES, webhookFromAuditEvent } from './events.js';
import { generateWebhookSecret, parseWebhookSecret, signWebhook, webhookHeaders } from './signing.js';

/**
 * A receiver's check, written from the Standard Webhooks specification alone: the secret is the base64 after
 * `whsec_`; the signed content is `id.timestamp.body`; the header lists space-separated `v1,<base64>` signatures.
 */
function verifyLikeAReceiver(secret: string, headers: Record<string, string>, body: string): boolean {
  const key = Buffer.from(secret.split('_')[1] ?? '', 'base64');
  const content = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
  const expected = createHmac('sha256', key).update(content).digest();
  return (headers['webhook-signature'] ?? '').split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    const given = Buffer.from(signature ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const key = (secret: string) => {
  const parsed = parseWebhookSecret(secret, 'TEST');
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
};

describe('webhook signatures (Standard Webhooks)', () => {
  it('reproduces the specification test vector', () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(signWebhook(key(secret), 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('verifies with an independent receiver, and fails for another body, id, time or secret', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'session.revoked', data: { userId: 'u1' } });
    const headers = webhookHeaders(key(secret), 'msg_1', 1_700_000_000, body);
    expect(headers['webhook-timestamp']).toBe('1700000000');
    expect(verifyLikeAReceiver(secret, headers, body)).toBe(true);
    expect(verifyLikeAReceiver(secret, headers, `${body} `)).toBe(false);
    expect(verifyLikeAReceiver(secret, { ...headers, 'webhook-id': 'msg_2' }, body)).toBe(false);
    expect(verifyLikeAReceiver(secret, { ...headers, 'webhook-timestamp': '1700000001' }, body)).toBe(false);
    expect(verifyLikeAReceiver(generateWebhookSecret(), headers, body)).toBe(false);
  });

  it('generates whsec_ secrets of 32 random bytes, and refuses short, unprefixed or non-random ones', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(generateWebhookSecret()).not.toBe(secret);
    const refused = [
      secret.slice('whsec_'.length),
      `whsec_${randomBytes(16).toString('base64')}`,
      `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
      'whsec_not base64!',
      '',
    ];
    for (const text of refused) {
      const result = parseWebhookSecret(text, 'TESSERA_WEBHOOK_SECRET');
      expect(result).toMatch(/^TESSERA_WEBHOOK_SECRET .*openssl rand -base64 32/);
      expect(result).not.toContain(text === '' ? 'never' : text);
    }
  });
});

describe('webhook settings', () => {
  const secret = generateWebhookSecret();
  const errorsOf = (env: Record<string, string>): string[] => {
    const result = loadServerConfig(env);
    return result.ok ? [] : result.errors;
  };

  it('reads comma-separated http(s) URLs and their secret', () => {
    const result = loadServerConfig({
      TESSERA_WEBHOOK_URLS:
        ' https://hooks.example.com/tessera , http://127.0.0.1:9000/in,https://hooks.example.com/tessera',
      TESSERA_WEBHOOK_SECRET: secret,
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config.webhooks.urls).toEqual(['https://hooks.example.com/tessera', 'http://127.0.0.1:9000/in']);
    expect(result.config.webhooks.secret?.export()).toEqual(Buffer.from(secret.slice(6), 'base64'));
  });

  it('refuses other schemes, credentials in a URL, a missing or weak secret, or a secret without URLs', () => {
    expect(errorsOf({ TESSERA_WEBHOOK_URLS: 'ftp://hooks.example.com', TESSERA_WEBHOOK_SECRET: secret })).toEqual([
      'TESSERA_WEBHOOK_URLS must be http:// or https:// URLs (got "ftp://hooks.example.com")',
    ]);
    expect(errorsOf({ TESSERA_WEBHOOK_URLS: 'file:///etc/passwd', TESSERA_WEBHOOK_SECRET: secret })).toHaveLength(1);
    expect(
      errorsOf({ TESSERA_WEBHOOK_URLS: 'https://u:p@hooks.example.com', TESSERA_WEBHOOK_SECRET: secret })[0],
    ).toMatch(/must not carry credentials/);
    expect(errorsOf({ TESSERA_WEBHOOK_URLS: 'https://hooks.example.com' })[0]).toMatch(
      /TESSERA_WEBHOOK_URLS needs TESSERA_WEBHOOK_SECRET.*whsec_\$\(openssl rand -base64 32\)/,
    );
    expect(
      errorsOf({ TESSERA_WEBHOOK_URLS: 'https://hooks.example.com', TESSERA_WEBHOOK_SECRET: 'whsec_c2hvcnQ=' })[0],
    ).toMatch(/^TESSERA_WEBHOOK_SECRET must be "whsec_"/);
    expect(errorsOf({ TESSERA_WEBHOOK_SECRET: secret })[0]).toMatch(/TESSERA_WEBHOOK_URLS is empty/);
  });
});

describe('webhook payloads', () => {
  const at = Date.UTC(2026, 0, 2, 3, 4, 5);

  it('maps each event type to ids only, timestamped when it happened', () => {
    const events: { type: string; [field: string]: unknown }[] = [
      { type: 'session.revoked', sessionId: 's1', userId: 'u1', at, reason: 'refresh_reused' },
      { type: 'user.sessions_revoked', userId: 'u1', sessionId: 's0', sessionIds: ['s1', 's2'] },
      { type: 'password.changed', userId: 'u1', sessionId: 's0' },
      { type: 'refresh.reuse_detected', kind: 'outside_grace', sessionId: 's1', userId: 'u1', at },
      { type: 'user.disabled', userId: 'u1', at },
      { type: 'user.deleted', userId: 'u1', at },
      { type: 'login.new_device', userId: 'u1', sessionId: 's3', ip: '203.0.113.9', at },
    ];
    const payloads = events.map((event) => webhookFromAuditEvent(event, at + 1000));
    expect(payloads.map((payload) => payload?.type)).toEqual(WEBHOOK_EVENT_TYPES);
    expect(payloads).toEqual([
      {
        type: 'session.revoked',
        timestamp: '2026-01-02T03:04:05.000Z',
        data: { userId: 'u1', sessionId: 's1', reason: 'refresh_reused' },
      },
      {
        type: 'user.sessions_revoked',
        timestamp: '2026-01-02T03:04:06.000Z',
        data: { userId: 'u1', sessionIds: ['s1', 's2'], keptSessionId: 's0' },
      },
      { type: 'password.changed', timestamp: '2026-01-02T03:04:06.000Z', data: { userId: 'u1', sessionId: 's0' } },
      {
        type: 'refresh.reuse_detected',
        timestamp: '2026-01-02T03:04:05.000Z',
        data: { userId: 'u1', sessionId: 's1', kind: 'outside_grace' },
      },
      { type: 'user.disabled', timestamp: '2026-01-02T03:04:05.000Z', data: { userId: 'u1' } },
      { type: 'user.deleted', timestamp: '2026-01-02T03:04:05.000Z', data: { userId: 'u1' } },
      {
        type: 'login.new_device',
        timestamp: '2026-01-02T03:04:05.000Z',
        data: { userId: 'u1', sessionId: 's3', ip: '203.0.113.9' },
      },
    ]);
  });

  it('leaves out other events, events without a user id, and any field it does not name', () => {
    const ignored: { type: string; [field: string]: unknown }[] = [
      { type: 'session.created', sessionId: 's1', userId: 'u1', at },
      { type: 'login.failed', account: 'a@example.com', ip: null },
      { type: 'user.disabled' },
      { type: 'session.revoked', userId: 'u1', at },
    ];
    for (const event of ignored) expect(webhookFromAuditEvent(event, at)).toBeNull();
    const extra = { type: 'user.deleted', userId: 'u1', token: 't', email: 'a@example.com' };
    const payload = webhookFromAuditEvent(extra, at);
    expect(JSON.stringify(payload)).not.toMatch(/example\.com|"t"/);
  });
});

describe('webhook retries', () => {
  it('double from the first delay up to the cap, spread by ±20 %, and give up after about a day', () => {
    const timing = DEFAULT_WEBHOOK_TIMING;
    for (let attempts = 1; attempts < timing.maxAttempts; attempts++) {
      const base = Math.min(timing.firstRetryDelayMs * 2 ** (attempts - 1), timing.maxRetryDelayMs);
      const delays = Array.from({ length: 20 }, () => retryDelayMs(attempts, timing));
      for (const delay of delays) {
        expect(delay).toBeGreaterThanOrEqual(base * 0.8);
        expect(delay).toBeLessThanOrEqual(base * 1.2);
      }
    }
    expect(new Set(Array.from({ length: 50 }, () => retryDelayMs(3, timing))).size).toBeGreaterThan(1);
    let total = 0;
    for (let attempts = 1; attempts < timing.maxAttempts; attempts++) {
      total += Math.min(timing.firstRetryDelayMs * 2 ** (attempts - 1), timing.maxRetryDelayMs);
    }
    expect(total / 3600_000).toBeGreaterThan(20);
    expect(total / 3600_000).toBeLessThan(26);
  });
});
