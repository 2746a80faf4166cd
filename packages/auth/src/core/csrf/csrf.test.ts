import { describe, expect, it } from 'vitest';
import { createCSRFProtection, isSafeMethod } from './csrf.js';

const secret = 'k'.repeat(32);
const own = 'https://auth.example.com';

describe('CSRF tokens', () => {
  const csrf = createCSRFProtection({ secrets: [secret] });

  it('verifies a token for its own session only', () => {
    const token = csrf.generateCSRFToken('session-a');
    expect(csrf.verifyCSRFToken('session-a', token)).toBe(true);
    expect(csrf.verifyCSRFToken('session-b', token)).toBe(false);
  });

  it('masks every token differently, and every one verifies', () => {
    const tokens = Array.from({ length: 10 }, () => csrf.generateCSRFToken('session-a'));
    expect(new Set(tokens).size).toBe(10);
    for (const token of tokens) expect(csrf.verifyCSRFToken('session-a', token)).toBe(true);
  });

  it.each([
    ['missing', undefined],
    ['a number', 12],
    ['empty', ''],
    ['truncated', 'x'],
    ['non-base64url', '!'.repeat(86)],
    ['non-ASCII', 'é'.repeat(86)],
    ['oversized', 'A'.repeat(10_000)],
  ])('rejects a token that is %s', (_, token) => {
    expect(csrf.verifyCSRFToken('session-a', token)).toBe(false);
  });

  it('rejects a tampered token', () => {
    const token = csrf.generateCSRFToken('session-a');
    const tampered = token.slice(0, 50) + (token[50] === 'A' ? 'B' : 'A') + token.slice(51);
    expect(csrf.verifyCSRFToken('session-a', tampered)).toBe(false);
  });

  it('takes its secrets from a function: a swapped list signs and verifies at once, without a new instance', () => {
    const first = 'a'.repeat(32);
    const second = 'b'.repeat(32);
    let list: string[] = [first];
    const rotating = createCSRFProtection({ secrets: () => list });
    const old = rotating.generateCSRFToken('session-a');
    list = [second, first];
    const fresh = rotating.generateCSRFToken('session-a');
    expect(createCSRFProtection({ secrets: [second] }).verifyCSRFToken('session-a', fresh)).toBe(true);
    expect(rotating.verifyCSRFToken('session-a', old)).toBe(true);
    list = [second];
    expect(rotating.verifyCSRFToken('session-a', old)).toBe(false);
    expect(rotating.verifyCSRFToken('session-a', fresh)).toBe(true);
    list = ['short'];
    expect(() => rotating.generateCSRFToken('session-a')).toThrow(/"secrets\[0\]" must be at least 32 bytes/);
    expect(() => createCSRFProtection({ secrets: () => [] })).toThrow(/non-empty list/);
  });

  it('keeps verifying tokens of a previous secret after rotation, and signs with the first', () => {
    const next = 'n'.repeat(32);
    const before = csrf.generateCSRFToken('session-a');
    const rotated = createCSRFProtection({ secrets: [next, secret] });
    expect(rotated.verifyCSRFToken('session-a', before)).toBe(true);
    expect(createCSRFProtection({ secrets: [next] }).verifyCSRFToken('session-a', before)).toBe(false);
    expect(
      createCSRFProtection({ secrets: [next] }).verifyCSRFToken('session-a', rotated.generateCSRFToken('session-a')),
    ).toBe(true);
  });

  it('refuses short or missing secrets and says how to make one', () => {
    expect(() => createCSRFProtection({ secrets: [] })).toThrow('"secrets" must be a non-empty list');
    expect(() => createCSRFProtection({ secrets: ['short'] })).toThrow(/at least 32 bytes.*openssl rand -base64 32/);
  });
});

describe('request source', () => {
  const csrf = createCSRFProtection({ secrets: [secret], allowedOrigins: ['https://app.example.com'] });
  const check = (facts: { origin?: string; secFetchSite?: string }) =>
    csrf.checkRequestSource({ method: 'POST', ownOrigin: own, ...facts });

  it('accepts the own origin, an allowed origin, and a request without Origin', () => {
    expect(check({ origin: own, secFetchSite: 'same-origin' })).toBeNull();
    expect(check({ origin: 'https://app.example.com', secFetchSite: 'same-site' })).toBeNull();
    expect(check({})).toBeNull();
  });

  it('refuses cross-site, Origin: null and unknown origins', () => {
    expect(check({ secFetchSite: 'cross-site', origin: 'https://app.example.com' })).toBe('cross_site');
    expect(check({ origin: 'null' })).toBe('origin_null');
    expect(check({ origin: 'https://evil.example' })).toBe('origin_not_allowed');
    expect(check({ origin: 'https://auth.example.com.evil.example' })).toBe('origin_not_allowed');
    expect(check({ origin: 'http://auth.example.com' })).toBe('origin_not_allowed');
    expect(check({ origin: 'not a url' })).toBe('origin_not_allowed');
    expect(check({ secFetchSite: 'same-site' })).toBe('origin_not_allowed');
  });

  it('refuses allowed origins that are not plain origins', () => {
    expect(() => createCSRFProtection({ secrets: [secret], allowedOrigins: ['https://a.example/path'] })).toThrow(
      /"allowedOrigins"/,
    );
  });
});

describe('isSafeMethod', () => {
  it('is true only for GET, HEAD and OPTIONS without an unsafe override', () => {
    expect(isSafeMethod('GET')).toBe(true);
    expect(isSafeMethod('head')).toBe(true);
    expect(isSafeMethod('OPTIONS')).toBe(true);
    expect(isSafeMethod('POST')).toBe(false);
    expect(isSafeMethod('DELETE')).toBe(false);
    expect(isSafeMethod('GET', 'POST')).toBe(false);
    expect(isSafeMethod('GET', 'delete')).toBe(false);
    expect(isSafeMethod('GET', 'GET')).toBe(true);
  });
});
