import type { Command } from 'commander';
import { runCommand } from '../context.js';
import { note, printJSON, printTable, type OutputOptions } from '../output.js';

/** `tessera migrate`: applies the database migrations (idempotent) and says which versions it applied. */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('Apply the database migrations and say which versions were applied (safe to run again).')
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions) =>
      // Opening the runtime is what migrates: the server does the same at every start.
      runCommand(async ({ runtime }) => {
        const { migrations } = runtime;
        if (options.json === true) {
          printJSON({ database: runtime.describe.database, migrations });
          return;
        }
        printTable(migrations, [
          { header: 'SCHEMA', value: (entry) => entry.schema },
          {
            header: 'APPLIED',
            value: (entry) =>
              entry.applied.length === 0 ? 'none (up to date)' : entry.applied.map((v) => `v${v}`).join(', '),
          },
        ]);
        const applied = migrations.reduce((sum, entry) => sum + entry.applied.length, 0);
        note(
          applied === 0
            ? `${runtime.describe.database}: already up to date.`
            : `${runtime.describe.database}: applied ${applied} migration${applied === 1 ? '' : 's'}.`,
        );
      }),
    );
}
