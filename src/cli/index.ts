#!/usr/bin/env node
import { Command } from 'commander';
import { ConfigurationError, startServer } from '../server/serve.js';

const program = new Command()
  .name('tessera')
  .description('Tessera: session management server and operator tools. Configured from the environment (see API.md).')
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));

program
  .command('serve')
  .description('Start the server (127.0.0.1:3000 and ./data/tessera.db unless configured otherwise).')
  .action(async () => {
    try {
      await startServer(process.env, { handleSignals: true });
    } catch (error) {
      if (error instanceof ConfigurationError) {
        console.error(error.message);
        process.exit(1);
      }
      console.error(`Tessera could not start: ${(error as Error).message}`);
      process.exit(1);
    }
  });

await program.parseAsync(process.argv);
