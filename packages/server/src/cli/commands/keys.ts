import type { Command } from 'commander';
import type { KeyInfo } from 'tessera-auth';
import { runCommand } from '../context.js';
import { formatTime, note, printJSON, printTable, type OutputOptions } from '../output.js';

function printKeys(keys: readonly KeyInfo[]): void {
  printTable(keys, [
    { header: 'KID', value: (key) => key.kid },
    { header: 'ALGORITHM', value: (key) => key.alg },
    { header: 'STATUS', value: (key) => key.status },
    { header: 'CREATED', value: (key) => formatTime(key.createdAt) },
    { header: 'VERIFIES UNTIL', value: (key) => (key.status === 'current' ? '-' : formatTime(key.expiresAt)) },
  ]);
}

/** `tessera keys list|rotate`: the access-token signing keys. */
export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('Inspect and rotate the access-token signing keys.');

  keys
    .command('list')
    .description('List the signing keys that verify: kid, algorithm, status (current/previous), created.')
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions) =>
      runCommand(async ({ tokens }) => {
        const list = await tokens.listKeys();
        if (options.json === true) printJSON({ keys: list });
        else printKeys(list);
      }),
    );

  keys
    .command('rotate')
    .description(
      'Make a new signing key current. The previous key keeps verifying the tokens it signed until they expire; running servers adopt the new key within 60 seconds.',
    )
    .option('--revoke-previous', 'drop the previous keys at once (a leaked key): the tokens they signed stop verifying')
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions & { revokePrevious?: boolean }) =>
      runCommand(async ({ tokens }) => {
        const { kid } = await tokens.rotateKeys({ revokePrevious: options.revokePrevious === true });
        const list = await tokens.listKeys();
        note(
          options.revokePrevious === true
            ? `New signing key ${kid}; the previous keys were dropped.`
            : `New signing key ${kid}; previous keys keep verifying until the dates shown.`,
        );
        if (options.json === true) printJSON({ kid, keys: list });
        else printKeys(list);
      }),
    );
}
