import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { createAccountLifecycle, type AccountLifecycle } from '../../accounts/account-lifecycle.js';
import { checkPasswordPolicy, hashPassword } from '../../accounts/password.js';
import { emailArgument } from '../arguments.js';
import { CommandFailure, requireSharedSessionStore, runCommand, type CommandContext } from '../context.js';
import { formatTime, note, printJSON, printTable, type OutputOptions } from '../output.js';
import { readNewPassword } from '../read-password.js';

/** The account lifecycle as the CLI runs it: its events go to the CLI's log (stderr), as `auth event` lines. */
function cliLifecycle({ runtime, sessions, logger }: CommandContext): AccountLifecycle {
  return createAccountLifecycle({
    accounts: runtime.accounts,
    sessions,
    audit: (event) => logger.info({ ...event, event: event.type }, 'auth event'),
    now: Date.now,
  });
}

/** What `user disable|enable|delete` do, and what they print. */
const LIFECYCLE_ACTIONS = {
  disable: {
    description:
      'Disable an account: every session and token revoked; sign-in and refresh then get 403 account_disabled.',
    run: (lifecycle: AccountLifecycle, id: string) => lifecycle.disableAccount(id, { by: 'cli' }),
    done: 'Disabled',
  },
  enable: {
    description: 'Enable a disabled account: it may sign in again.',
    run: (lifecycle: AccountLifecycle, id: string) => lifecycle.enableAccount(id, { by: 'cli' }),
    done: 'Enabled',
  },
  delete: {
    description: 'Delete an account: every session revoked and removed, then the account; the email may sign up again.',
    run: (lifecycle: AccountLifecycle, id: string) => lifecycle.deleteAccount(id, { by: 'cli' }),
    done: 'Deleted',
  },
} as const;

/**
 * `tessera user create|disable|enable|delete`: an account, with the server's password policy and argon2id
 * hashing, and its lifecycle.
 */
export function registerUserCommand(program: Command): void {
  const user = program.command('user').description('Manage accounts.');

  user
    .command('create')
    .description(
      'Create an account. The password is asked for without echo in a terminal, or read from the first line of stdin when piped.',
    )
    .argument('<email>', 'the email address to sign in with')
    .option('--json', 'print JSON on stdout')
    .addHelpText('after', '\nExample:\n  printf %s "$PASSWORD" | tessera user create ada@example.com')
    .action((value: string, options: OutputOptions, command: Command) => {
      const email = emailArgument(command, value);
      return runCommand(async ({ runtime }) => {
        const conflict = new CommandFailure(`An account with the email ${email} already exists.`);
        // Checked first so no one types a password for nothing; createAccount still decides a race.
        if ((await runtime.accounts.findAccountByEmail(email)) !== null) throw conflict;
        const password = await readNewPassword();
        const refused = checkPasswordPolicy(password, { email });
        if (refused !== null) throw new CommandFailure(`Password refused: ${refused}`);
        const account = await runtime.accounts.createAccount({
          id: randomUUID(),
          email,
          passwordHash: await hashPassword(password),
          createdAt: Date.now(),
          disabledAt: null,
        });
        if (account === null) throw conflict;
        const created = { id: account.id, email: account.email, createdAt: new Date(account.createdAt) };
        if (options.json === true) {
          printJSON(created);
          return;
        }
        printTable(
          [created],
          [
            { header: 'ID', value: (row) => row.id },
            { header: 'EMAIL', value: (row) => row.email },
            { header: 'CREATED', value: (row) => formatTime(row.createdAt) },
          ],
        );
      });
    });

  for (const [name, action] of Object.entries(LIFECYCLE_ACTIONS)) {
    user
      .command(name)
      .description(action.description)
      .argument('<email>', 'the account')
      .option('--json', 'print JSON on stdout')
      .action((value: string, options: OutputOptions, command: Command) => {
        const email = emailArgument(command, value);
        return runCommand(async (context) => {
          // The sessions must be reachable: disabling an account whose sessions live on would be a false promise.
          requireSharedSessionStore(context.config);
          const account = await context.runtime.accounts.findAccountByEmail(email);
          if (account === null || !(await action.run(cliLifecycle(context), account.id))) {
            throw new CommandFailure(`No account with the email ${email}.`);
          }
          if (options.json === true) {
            printJSON({ id: account.id, email, action: name });
            return;
          }
          console.log(`${action.done} ${email}.`);
          if (name !== 'enable') note('Its sessions and tokens are refused from the next request.');
        });
      });
  }
}
