#!/usr/bin/env node
import { Command } from 'commander';
import { registerAdminKeysCommand } from './commands/admin-keys.js';
import { registerCleanupCommand } from './commands/cleanup.js';
import { registerClientsCommand } from './commands/clients.js';
import { registerKeysCommand } from './commands/keys.js';
import { registerMigrateCommand } from './commands/migrate.js';
import { registerSecretsCommand } from './commands/secrets.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSessionsCommand } from './commands/sessions.js';
import { registerUserCommand } from './commands/user.js';
import { registerWebhooksCommand } from './commands/webhooks.js';

const program = new Command()
  .name('tessera')
  .description(
    'Tessera: session management server and operator tools. Configured from the environment (see the HTTP reference, docs/api.md in the repository).',
  )
  .showHelpAfterError()
  .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
  .addHelpText('after', '\nExit codes: 0 success, 1 failure (including bad configuration), 2 usage error.');

registerServeCommand(program);
registerMigrateCommand(program);
registerCleanupCommand(program);
registerSessionsCommand(program);
registerKeysCommand(program);
registerSecretsCommand(program);
registerUserCommand(program);
registerWebhooksCommand(program);
registerClientsCommand(program);
registerAdminKeysCommand(program);

await program.parseAsync(process.argv);
