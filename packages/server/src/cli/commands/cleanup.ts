import type { Command } from 'commander';
import { runCommand } from '../context.js';
import { note, printJSON, printTable, type OutputOptions } from '../output.js';

/** `tessera cleanup`: sweeps expired sessions and values from the database and the session store. */
export function registerCleanupCommand(program: Command): void {
  program
    .command('cleanup')
    .description(
      'Delete expired sessions and values from the database and the session store now (the server also does it hourly).',
    )
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions) =>
      runCommand(async ({ runtime, config }) => {
        const stores = [...new Set([runtime.database, runtime.sessions])];
        if (config.sessionStore.kind === 'memory') {
          note('Sessions live in the server process (TESSERA_SESSION_STORE=memory:): only the database is swept.');
        }
        const results: { store: string; removed: number }[] = [];
        for (const store of stores) {
          if (config.sessionStore.kind === 'memory' && store === runtime.sessions) continue;
          note(`Sweeping ${store.name}…`);
          const removed = await store.deleteExpired();
          note(`  ${store.name}: removed ${removed}`);
          results.push({ store: store.name, removed });
        }
        const removed = results.reduce((sum, result) => sum + result.removed, 0);
        if (options.json === true) {
          printJSON({ removed, stores: results });
          return;
        }
        printTable(results, [
          { header: 'STORE', value: (result) => result.store },
          { header: 'REMOVED', value: (result) => String(result.removed) },
        ]);
        note(`Removed ${removed} expired ${removed === 1 ? 'entry' : 'entries'}.`);
      }),
    );
}
