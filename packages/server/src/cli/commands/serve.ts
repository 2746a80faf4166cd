import type { Command } from 'commander';
import { ConfigurationError } from '../../config.js';
import { startServer, type RunningServer } from '../../serve.js';

/**
 * What a person starting the server needs to know, on stderr (stdout carries the JSON log lines): where the pages
 * are, where the data is kept, and, on the first start, that the keys and secrets were generated there.
 */
export function startBanner(server: RunningServer): string {
  const lines = [
    `Tessera is running. Pages: ${server.publicUrl}/ (sign up or sign in), ${server.publicUrl}/account (your sessions).`,
    `Data: ${server.data.database}${server.data.sessions === 'the database' ? ' (accounts, keys, secrets and sessions)' : ` (accounts, keys and secrets); sessions: ${server.data.sessions}`}.`,
  ];
  if (server.data.created) {
    lines.push('First start: the database was created and its signing keys and secrets generated; keep it private.');
  }
  lines.push('Logs: JSON lines on stdout. Stop: Ctrl+C.');
  return `${lines.join('\n')}\n`;
}

/** `tessera serve`: the server, until SIGTERM or SIGINT. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('Start the server (127.0.0.1:3000 and ./data/tessera.db unless configured otherwise).')
    .action(async () => {
      try {
        const server = await startServer(process.env, { handleSignals: true });
        process.stderr.write(startBanner(server));
      } catch (error) {
        console.error(
          error instanceof ConfigurationError ? error.message : `Tessera could not start: ${(error as Error).message}`,
        );
        process.exit(1);
      }
    });
}
