import { describe, expect, it } from 'vitest';
import type { CredentialFailure } from '../core/errors/credential-failure.js';
import { apiErrorForCredential, type Credential } from './api-error.js';

const REASONS: readonly CredentialFailure[] = ['malformed', 'not_found', 'invalid', 'expired', 'revoked', 'reused'];

// API.md: every credential failure is a 401; the code says which credential and why.
const EXPECTED: Record<Credential, Record<CredentialFailure, string>> = {
  session: {
    malformed: 'unauthenticated',
    not_found: 'unauthenticated',
    invalid: 'unauthenticated',
    expired: 'session_expired',
    revoked: 'session_revoked',
    reused: 'session_revoked',
  },
  access_token: {
    malformed: 'invalid_token',
    not_found: 'invalid_token',
    invalid: 'invalid_token',
    expired: 'token_expired',
    revoked: 'invalid_token',
    reused: 'invalid_token',
  },
  refresh_token: {
    malformed: 'invalid_token',
    not_found: 'invalid_token',
    invalid: 'invalid_token',
    expired: 'session_expired',
    revoked: 'session_revoked',
    reused: 'refresh_reused',
  },
};

describe('apiErrorForCredential', () => {
  for (const credential of Object.keys(EXPECTED) as Credential[]) {
    it(`answers every ${credential} failure with a 401 and its code`, () => {
      for (const reason of REASONS) {
        const error = apiErrorForCredential(credential, reason);
        expect([error.status, error.code], reason).toEqual([401, EXPECTED[credential][reason]]);
      }
    });
  }

  it('challenges token failures (RFC 6750), not cookie ones', () => {
    for (const reason of REASONS) {
      expect(apiErrorForCredential('session', reason).headers).toEqual({});
      for (const credential of ['access_token', 'refresh_token'] as const) {
        expect(apiErrorForCredential(credential, reason).headers).toEqual({
          'WWW-Authenticate': 'Bearer error="invalid_token"',
        });
      }
    }
  });

  it('hands out a fresh headers object each time, so one answer cannot change the next', () => {
    const first = apiErrorForCredential('access_token', 'expired');
    first.headers['X-Extra'] = '1';
    expect(apiErrorForCredential('access_token', 'expired').headers).not.toHaveProperty('X-Extra');
  });
});
