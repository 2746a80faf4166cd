import type { Command } from 'commander';
import { clientNameProblem, CONFIGURED_CLIENT_ID, newClientSecret } from '../../clients/client-store.js';
import { CommandFailure, runCommand } from '../context.js';
import { formatTime, note, printJSON, printTable, type OutputOptions } from '../output.js';

/** The name argument of a clients command; a name no client can have is a usage error (exit code 2). */
function nameArgument(command: Command, name: string): string {
  const problem = clientNameProblem(name);
  if (problem !== null) command.error(`error: "${name}" cannot name a client: ${problem}`, { exitCode: 2 });
  return name;
}

/** `tessera clients create|list|revoke`: the services allowed to introspect tokens. */
export function registerClientsCommand(program: Command): void {
  const clients = program
    .command('clients')
    .description(
      `Manage the introspection clients: services that may ask POST /auth/introspect about a token, authenticating with HTTP Basic (client id = the name). TESSERA_INTROSPECT_SECRET, when set, is one more client, with the id "${CONFIGURED_CLIENT_ID}".`,
    );

  clients
    .command('create')
    .description('Register a client and print its secret, once: only a hash of it is stored.')
    .argument('<name>', 'the client id: 1 to 64 letters, digits, ".", "_" or "-"')
    .option('--json', 'print JSON on stdout')
    .addHelpText(
      'after',
      '\nExample:\n  tessera clients create orders-api\n  curl -u "orders-api:$SECRET" -d "token=$TOKEN" https://auth.example.com/auth/introspect',
    )
    .action((value: string, options: OutputOptions, command: Command) => {
      const name = nameArgument(command, value);
      return runCommand(async ({ runtime }) => {
        const { secret, secretHash } = newClientSecret();
        const createdAt = Date.now();
        if (!(await runtime.clients.createClient({ name, secretHash, createdAt }))) {
          throw new CommandFailure(`A client named ${name} already exists (revoke it first to replace its secret).`);
        }
        if (options.json === true) {
          printJSON({ name, secret, createdAt: new Date(createdAt) });
          return;
        }
        note(`Client ${name} registered. Its secret is shown this once; store it where the service keeps secrets:`);
        console.log(secret);
      });
    });

  clients
    .command('list')
    .description('List the registered clients (names and dates; secrets are never shown again).')
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions) =>
      runCommand(async ({ runtime }) => {
        const list = (await runtime.clients.listClients()).map((client) => ({
          name: client.name,
          createdAt: new Date(client.createdAt),
        }));
        if (options.json === true) {
          printJSON({ clients: list });
          return;
        }
        printTable(list, [
          { header: 'NAME', value: (row) => row.name },
          { header: 'CREATED', value: (row) => formatTime(row.createdAt) },
        ]);
      }),
    );

  clients
    .command('revoke')
    .description('Remove a client: its secret stops working at once, on every instance.')
    .argument('<name>', 'the client id')
    .action((value: string, _options: unknown, command: Command) => {
      const name = nameArgument(command, value);
      return runCommand(async ({ runtime }) => {
        if (!(await runtime.clients.deleteClient(name))) throw new CommandFailure(`No client is named ${name}.`);
        note(`Client ${name} revoked.`);
      });
    });
}
