import type { Command } from 'commander';
import { sealEndpointSecret } from '../../webhooks/endpoints.js';
import { WEBHOOK_EVENT_TYPES } from '../../webhooks/events.js';
import { checkWebhookURL, generateWebhookSecret } from '../../webhooks/signing.js';
import { CommandFailure, runCommand } from '../context.js';
import { formatTime, note, printJSON, printTable, type OutputOptions } from '../output.js';

/** One endpoint as `webhooks list` shows it. */
interface EndpointListing {
  url: string;
  /** `environment` (TESSERA_WEBHOOK_URLS) or `database` (added with `webhooks add`). */
  source: 'environment' | 'database';
  createdAt: Date | null;
  /** Events not yet delivered to it (and not given up). */
  pending: number;
}

/** `tessera webhooks add|list|remove`: the endpoints that receive signed event webhooks. */
export function registerWebhooksCommand(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description(
      `Manage the endpoints that receive signed webhooks (Standard Webhooks) for these events: ${WEBHOOK_EVENT_TYPES.join(', ')}. Endpoints in TESSERA_WEBHOOK_URLS are listed too; running servers pick up changes at once.`,
    );

  webhooks
    .command('add')
    .argument('<url>', 'the http:// or https:// URL that will receive POST requests')
    .description(
      'Add an endpoint with a signing secret of its own, printed once (it is stored encrypted under TESSERA_SECRETS_KEY when set). Events from now on are delivered to it.',
    )
    .option('--json', 'print JSON on stdout')
    .action((rawURL: string, options: OutputOptions) =>
      runCommand(async ({ config, runtime }) => {
        const url = checkWebhookURL(rawURL, 'The webhook URL');
        if (typeof url !== 'string') throw new CommandFailure(url.error);
        if (config.webhooks.urls.includes(url)) {
          throw new CommandFailure(`${url} is already in TESSERA_WEBHOOK_URLS (signed with TESSERA_WEBHOOK_SECRET).`);
        }
        const secret = generateWebhookSecret();
        const sealedSecret = sealEndpointSecret(config.secretsKey, url, secret);
        if (!(await runtime.webhooks.addEndpoint({ url, sealedSecret, createdAt: Date.now() }))) {
          throw new CommandFailure(`${url} is already an endpoint; remove it first to give it a new secret.`);
        }
        if (options.json === true) {
          printJSON({ url, secret });
          return;
        }
        console.log(secret);
        note(`Added ${url}. Its signing secret is above: it is not shown again; give it to the receiver to verify.`);
      }),
    );

  webhooks
    .command('list')
    .description('List the endpoints: URL, where it is configured, when it was added, events pending for it.')
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions) =>
      runCommand(async ({ config, runtime }) => {
        const pending = new Map((await runtime.webhooks.countPending()).map((row) => [row.endpoint, row.pending]));
        const listing: EndpointListing[] = [
          ...config.webhooks.urls.map((url) => ({
            url,
            source: 'environment' as const,
            createdAt: null,
            pending: pending.get(url) ?? 0,
          })),
          ...(await runtime.webhooks.listEndpoints()).map((endpoint) => ({
            url: endpoint.url,
            source: 'database' as const,
            createdAt: new Date(endpoint.createdAt),
            pending: pending.get(endpoint.url) ?? 0,
          })),
        ];
        if (options.json === true) {
          printJSON({ endpoints: listing });
          return;
        }
        if (listing.length === 0) {
          note('No webhook endpoints: add one with `tessera webhooks add URL` or set TESSERA_WEBHOOK_URLS.');
          return;
        }
        printTable(listing, [
          { header: 'URL', value: (row) => row.url },
          { header: 'SOURCE', value: (row) => row.source },
          { header: 'ADDED', value: (row) => formatTime(row.createdAt) },
          { header: 'PENDING', value: (row) => String(row.pending) },
        ]);
      }),
    );

  webhooks
    .command('remove')
    .argument('<url>', 'the endpoint URL, as listed')
    .description('Remove an endpoint added with `webhooks add`; the events still pending for it are dropped.')
    .option('--json', 'print JSON on stdout')
    .action((url: string, options: OutputOptions) =>
      runCommand(async ({ config, runtime }) => {
        const trimmed = url.trim();
        if (config.webhooks.urls.includes(trimmed)) {
          throw new CommandFailure(`${trimmed} comes from TESSERA_WEBHOOK_URLS: remove it there and restart.`);
        }
        const dropped = await runtime.webhooks.removeEndpoint(trimmed);
        if (dropped === null) throw new CommandFailure(`No webhook endpoint ${trimmed} (see: tessera webhooks list).`);
        if (options.json === true) {
          printJSON({ url: trimmed, droppedEvents: dropped });
          return;
        }
        console.log(`Removed ${trimmed}; ${dropped} pending ${dropped === 1 ? 'event' : 'events'} dropped.`);
      }),
    );
}
