import type { Command } from 'commander';
import { ConfigurationError } from '../../config.js';
import { startServer } from '../../serve.js';

/** `tessera serve`: the server, until SIGTERM or SIGINT. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Start the server (127.0.0.1:3000 and ./data/tessera.db unless configured otherwise).')
    .action(async () => {
      try {
        await startServer(process.env, { handleSignals: true });
      } catch (error) {
        console.error(
          error instanceof ConfigurationError ? error.message : `Tessera could not start: ${(error as Error).message}`,
        );
        process.exit(1);
      }
    });
}
