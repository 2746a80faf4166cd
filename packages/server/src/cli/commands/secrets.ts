import type { Command } from 'commander';
import { readSecretsKey } from '../../secrets-at-rest.js';
import { CSRF_OVERLAP_SECONDS, rotateServerSecrets, SECRETS_REFRESH_SECONDS } from '../../secrets.js';
import { CommandFailure, runCommand } from '../context.js';
import { formatTime, note, printJSON, type OutputOptions } from '../output.js';

/** `tessera secrets rotate|rekey`: the server's root secret, and the key that encrypts secrets at rest. */
export function registerSecretsCommand(program: Command): void {
  const secrets = program
    .command('secrets')
    .description('Rotate the root secret, or re-encrypt the stored secrets under a new TESSERA_SECRETS_KEY.');

  secrets
    .command('rotate')
    .description(
      `Make a new root secret (CSRF tokens). Tokens signed under the previous one keep working for ${CSRF_OVERLAP_SECONDS / 3600} hours; rate limits and log fingerprints are unchanged. Running servers adopt it within ${SECRETS_REFRESH_SECONDS} seconds.`,
    )
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions) =>
      runCommand(async ({ runtime }) => {
        const rotation = await rotateServerSecrets(runtime.database);
        if (options.json === true) {
          printJSON(rotation);
          return;
        }
        console.log(
          `New root secret. CSRF tokens signed before keep working until ${formatTime(rotation.previousVerifiesUntil)}.`,
        );
        note(`Running servers adopt it within ${SECRETS_REFRESH_SECONDS} seconds; rate limits are not reset.`);
      }),
    );

  secrets
    .command('rekey')
    .description(
      'Re-encrypt the signing keys and root secrets under a new key, read from TESSERA_NEW_SECRETS_KEY or the file TESSERA_NEW_SECRETS_KEY_FILE names (never from the command line). The current key, if any, comes from TESSERA_SECRETS_KEY(_FILE). Restart every server with the new key afterwards.',
    )
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions) =>
      runCommand(async ({ runtime }) => {
        const next = readSecretsKey(
          'TESSERA_NEW_SECRETS_KEY',
          process.env.TESSERA_NEW_SECRETS_KEY,
          process.env.TESSERA_NEW_SECRETS_KEY_FILE,
        );
        if (next === null) {
          throw new CommandFailure(
            'Give the new key in TESSERA_NEW_SECRETS_KEY or a file named by TESSERA_NEW_SECRETS_KEY_FILE (generate one with: openssl rand -base64 32).',
          );
        }
        if (typeof next === 'string') throw new CommandFailure(next);
        if (next.id === runtime.secretsAtRest.keyId) {
          throw new CommandFailure(`The new key is the current one (key id ${next.id}): nothing to do.`);
        }
        const documents = await runtime.secretsAtRest.rekey(next);
        if (options.json === true) {
          printJSON({ keyId: next.id, previousKeyId: runtime.secretsAtRest.keyId, documents });
          return;
        }
        console.log(`Re-encrypted ${documents} ${documents === 1 ? 'document' : 'documents'} under key id ${next.id}.`);
        note(
          'Restart every server with TESSERA_SECRETS_KEY set to the new key now: one still holding the old key can no longer read its signing keys.',
        );
      }),
    );
}
