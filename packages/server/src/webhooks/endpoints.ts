import type { KeyObject } from 'node:crypto';
import type { JsonValue } from 'tessera-auth';
import { openDocument, sealDocument, type SecretsKey } from '../secrets-at-rest.js';
import { parseWebhookSecret } from './signing.js';
import type { WebhookStore } from './webhook-store.js';

/** The name an endpoint's sealed secret is bound to: a sealed secret copied to another endpoint does not open. */
const sealedName = (url: string): string => `webhook-endpoint:${url}`;

/** An endpoint's signing secret as stored: sealed under the KEK when there is one, else in plain text. */
export function sealEndpointSecret(kek: SecretsKey | null, url: string, secret: string): string {
  return JSON.stringify(kek === null ? secret : sealDocument(kek, sealedName(url), secret));
}

/** Opens a stored endpoint secret (throws `ERR_KEY_INVALID` when it is sealed under another key or altered). */
export function openEndpointSecret(kek: SecretsKey | null, url: string, stored: string): string {
  const opened = openDocument(kek, sealedName(url), JSON.parse(stored) as JsonValue);
  if (typeof opened !== 'string') throw new TypeError(`The stored secret of webhook endpoint ${url} is not a secret`);
  return opened;
}

/** Where the worker finds each endpoint's key: the environment's endpoints share one, the CLI's have their own. */
export interface WebhookKeys {
  /** The signing key of `url`; `null` when it is no longer configured. */
  keyOf(url: string): Promise<KeyObject | null>;
}

/** The keys of the environment's endpoints (`TESSERA_WEBHOOK_URLS`) and of those stored in the database. */
export function createWebhookKeys(options: {
  store: WebhookStore;
  kek: SecretsKey | null;
  configured: { urls: readonly string[]; secret: KeyObject | null };
}): WebhookKeys {
  const { store, kek, configured } = options;
  return {
    async keyOf(url) {
      if (configured.secret !== null && configured.urls.includes(url)) return configured.secret;
      const stored = await store.findEndpoint(url);
      if (stored === null) return null;
      const key = parseWebhookSecret(openEndpointSecret(kek, url, stored.sealedSecret), 'a stored webhook secret');
      if (typeof key === 'string') throw new TypeError(key);
      return key;
    },
  };
}

/**
 * Re-writes every stored endpoint secret sealed under `to` (`null`: plain
 * text), reading it with `from`; compare-and-set on the stored text, so a
 * concurrent change is not overwritten. Returns how many it re-wrote.
 */
export async function resealWebhookSecrets(
  store: WebhookStore,
  from: SecretsKey | null,
  to: SecretsKey | null,
): Promise<number> {
  let rewritten = 0;
  for (const endpoint of await store.listEndpoints()) {
    const current = JSON.parse(endpoint.sealedSecret) as JsonValue;
    const sealedUnder = typeof current === 'object' && current !== null && !Array.isArray(current) ? current.kek : null;
    // Already in the wanted form (a rekey that reached it before): left alone, without needing `from` to open it.
    if ((to === null && typeof current === 'string') || (to !== null && sealedUnder === to.id)) continue;
    const secret = openEndpointSecret(from, endpoint.url, endpoint.sealedSecret);
    const next = sealEndpointSecret(to, endpoint.url, secret);
    if (await store.replaceEndpointSecret(endpoint.url, endpoint.sealedSecret, next)) rewritten++;
  }
  return rewritten;
}
