import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';

/** What every webhook signing secret starts with (Standard Webhooks). */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

const MIN_SECRET_BYTES = 24;
const GENERATED_SECRET_BYTES = 32;
/** Distinct byte values a secret of 24 random bytes has, far below what chance gives (about 23). */
const MIN_DISTINCT_BYTES = 12;

/** How an operator makes a secret, for the messages that refuse one. */
export const HOW_TO_MAKE_A_WEBHOOK_SECRET = 'generate one with: echo "whsec_$(openssl rand -base64 32)"';

/**
 * Reads a signing secret in the Standard Webhooks form: `whsec_` and the
 * base64 of at least 24 random bytes. Returns the key, or the message for an
 * operator, naming `variable`, that says what is wrong (never echoing the value).
 */
export function parseWebhookSecret(text: string, variable: string): KeyObject | string {
  const trimmed = text.trim();
  const encoded = trimmed.startsWith(WEBHOOK_SECRET_PREFIX) ? trimmed.slice(WEBHOOK_SECRET_PREFIX.length) : null;
  const bytes = encoded !== null && /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) ? Buffer.from(encoded, 'base64') : null;
  if (bytes === null || bytes.length < MIN_SECRET_BYTES) {
    return `${variable} must be "${WEBHOOK_SECRET_PREFIX}" followed by the base64 of at least ${MIN_SECRET_BYTES} random bytes: ${HOW_TO_MAKE_A_WEBHOOK_SECRET}`;
  }
  if (new Set(bytes).size < MIN_DISTINCT_BYTES) {
    return `${variable} is too weak (it is not random): ${HOW_TO_MAKE_A_WEBHOOK_SECRET}`;
  }
  return createSecretKey(bytes);
}

/** A fresh signing secret, `whsec_` and the base64 of 32 random bytes, for an endpoint added by the CLI. */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(GENERATED_SECRET_BYTES).toString('base64');
}

/**
 * The `webhook-signature` of one message: `v1,` and the base64 HMAC-SHA256,
 * under the secret's bytes, of `<id>.<timestamp>.<body>` (Standard Webhooks).
 */
export function signWebhook(key: KeyObject, id: string, timestampSeconds: number, body: string): string {
  const signed = `${id}.${timestampSeconds}.${body}`;
  return `v1,${createHmac('sha256', key).update(signed, 'utf8').digest('base64')}`;
}

/** The three headers that sign one delivery attempt: the message id, the attempt's time, the signature. */
export function webhookHeaders(
  key: KeyObject,
  id: string,
  timestampSeconds: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook(key, id, timestampSeconds, body),
  };
}

/**
 * Checks an endpoint URL: `http:` or `https:` only, and no credentials in it
 * (the URL shows in logs and listings). Returns the URL as written, trimmed,
 * or the message for an operator, naming `what`.
 */
export function checkWebhookURL(text: string, what: string): string | { error: string } {
  const trimmed = text.trim();
  const url = URL.canParse(trimmed) ? new URL(trimmed) : null;
  if (url === null || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    return { error: `${what} must be http:// or https:// URLs (got "${trimmed}")` };
  }
  if (url.username !== '' || url.password !== '') {
    return {
      error: `${what} must not carry credentials in the URL (${url.origin}): the signature authenticates Tessera`,
    };
  }
  return trimmed;
}

/** An endpoint URL as logs show it: origin and path, never the query (which may carry a token). */
export function describeWebhookURL(url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : null;
  return parsed === null ? 'invalid URL' : parsed.origin + parsed.pathname;
}
