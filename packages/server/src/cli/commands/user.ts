import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { checkPasswordPolicy, hashPassword } from '../../accounts/password.js';
import { emailArgument } from '../arguments.js';
import { CommandFailure, runCommand } from '../context.js';
import { formatTime, printJSON, printTable, type OutputOptions } from '../output.js';
import { readNewPassword } from '../read-password.js';

/** `tessera user create`: an account, with the server's password policy and argon2id hashing. */
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
}
