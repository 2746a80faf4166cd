import type { Command } from 'commander';
import { ADMIN_KEY_NAME_PATTERN, generateAdminKey } from '../../admin/admin-keys.js';
import { CommandFailure, runCommand } from '../context.js';
import { formatTime, note, printJSON, printTable, type OutputOptions } from '../output.js';

/** The expiry `create` was given, epoch milliseconds; `null` for none. A bad value is a usage error (exit code 2). */
function expiryOption(
  command: Command,
  options: { expiresIn?: string; expiresAt?: string },
  now: number,
): number | null {
  if (options.expiresIn !== undefined && options.expiresAt !== undefined) {
    command.error('error: give --expires-in or --expires-at, not both', { exitCode: 2 });
  }
  if (options.expiresIn !== undefined) {
    const seconds = /^[1-9][0-9]{0,9}$/.test(options.expiresIn) ? Number(options.expiresIn) : Number.NaN;
    if (Number.isNaN(seconds))
      command.error('error: --expires-in must be a positive whole number of seconds', { exitCode: 2 });
    return now + seconds * 1000;
  }
  if (options.expiresAt !== undefined) {
    const at = Date.parse(options.expiresAt);
    if (Number.isNaN(at))
      command.error('error: --expires-at must be a date, e.g. 2030-01-31T00:00:00Z', { exitCode: 2 });
    if (at <= now) command.error('error: --expires-at must be in the future', { exitCode: 2 });
    return at;
  }
  return null;
}

/** `tessera admin-keys create|list|revoke`: the keys of the admin API (`/admin/`). */
export function registerAdminKeysCommand(program: Command): void {
  const keys = program
    .command('admin-keys')
    .description('Manage the admin API keys (Authorization: Bearer <key> on /admin/).');

  keys
    .command('create')
    .description('Create an admin key and print it once: only its hash is stored, it cannot be shown again.')
    .argument('<name>', 'a unique name for the key (letters, digits, ".", "_", "-"; named in audit events)')
    .option('--expires-in <seconds>', 'the key stops working after this many seconds')
    .option('--expires-at <date>', 'the key stops working at this date (ISO 8601)')
    .option('--json', 'print only {"name", "key"} as JSON on stdout')
    .addHelpText('after', '\nExample:\n  tessera admin-keys create backoffice --expires-in 2592000 --json')
    .action((name: string, options: OutputOptions & { expiresIn?: string; expiresAt?: string }, command: Command) => {
      if (!ADMIN_KEY_NAME_PATTERN.test(name)) {
        command.error(`error: "${name}" is not a valid key name (1-64 letters, digits, ".", "_", "-")`, {
          exitCode: 2,
        });
      }
      const createdAt = Date.now();
      const expiresAt = expiryOption(command, options, createdAt);
      return runCommand(async ({ runtime, logger }) => {
        const { key, keyHash } = generateAdminKey();
        if (!(await runtime.adminKeys.createAdminKey({ name, keyHash, createdAt, expiresAt }))) {
          throw new CommandFailure(`An admin key named ${name} already exists.`);
        }
        logger.info({ event: 'admin.key_created', adminKey: name }, 'auth event');
        if (options.json === true) {
          printJSON({ name, key });
          return;
        }
        console.log(key);
        note(
          `Admin key ${name} created${expiresAt === null ? '' : `, expires ${formatTime(new Date(expiresAt))}`}. ` +
            'It is shown only now: keep it in a secret store.',
        );
      });
    });

  keys
    .command('list')
    .description('List the admin keys: name, created, expiry (never the key).')
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions) =>
      runCommand(async ({ runtime }) => {
        const now = Date.now();
        const list = (await runtime.adminKeys.listAdminKeys()).map((key) => ({
          name: key.name,
          createdAt: new Date(key.createdAt),
          expiresAt: key.expiresAt === null ? null : new Date(key.expiresAt),
          expired: key.expiresAt !== null && key.expiresAt <= now,
        }));
        if (options.json === true) {
          printJSON({ keys: list });
          return;
        }
        if (list.length === 0) {
          console.log('No admin keys.');
          return;
        }
        printTable(list, [
          { header: 'NAME', value: (key) => key.name },
          { header: 'CREATED', value: (key) => formatTime(key.createdAt) },
          {
            header: 'EXPIRES',
            value: (key) =>
              key.expiresAt === null ? 'never' : `${formatTime(key.expiresAt)}${key.expired ? ' (expired)' : ''}`,
          },
        ]);
      }),
    );

  keys
    .command('revoke')
    .description('Revoke an admin key: refused from the next request on.')
    .argument('<name>', 'the key, by name')
    .option('--json', 'print JSON on stdout')
    .action((name: string, options: OutputOptions) =>
      runCommand(async ({ runtime, logger }) => {
        if (!(await runtime.adminKeys.deleteAdminKey(name))) throw new CommandFailure(`No admin key named ${name}.`);
        logger.info({ event: 'admin.key_revoked', adminKey: name }, 'auth event');
        if (options.json === true) {
          printJSON({ revoked: name });
          return;
        }
        console.log(`Revoked admin key ${name}.`);
      }),
    );
}
