import type { Command } from 'commander';
import type { Account } from '../../accounts/account-store.js';
import { emailArgument } from '../arguments.js';
import { CommandFailure, requireSharedSessionStore, runCommand, type CommandContext } from '../context.js';
import { formatTime, note, printJSON, printTable, type OutputOptions } from '../output.js';

const SESSION_ID = /^[A-Za-z0-9_-]{26}$/;

async function findUser({ runtime }: CommandContext, email: string): Promise<Account> {
  const account = await runtime.accounts.findAccountByEmail(email);
  if (account === null) throw new CommandFailure(`No account with the email ${email}.`);
  return account;
}

/** `tessera sessions list|revoke`: a user's live sessions, and revoking one or all of them. */
export function registerSessionsCommand(program: Command): void {
  const sessions = program.command('sessions').description("Inspect and revoke users' sessions.");

  sessions
    .command('list')
    .description("List a user's live sessions: id, created, last seen, IP, user agent (never a token).")
    .requiredOption('--user <email>', 'the account whose sessions to list')
    .option('--json', 'print JSON on stdout')
    .action((options: OutputOptions & { user: string }, command: Command) => {
      const email = emailArgument(command, options.user);
      return runCommand(async (context) => {
        requireSharedSessionStore(context.config);
        const account = await findUser(context, email);
        const list = await context.sessions.listUserSessions(account.id);
        if (options.json === true) {
          printJSON({
            user: { id: account.id, email: account.email },
            sessions: list.map(({ id, createdAt, lastSeenAt, expiresAt, ip, userAgent }) => ({
              id,
              createdAt,
              lastSeenAt,
              expiresAt,
              ip,
              userAgent,
            })),
          });
          return;
        }
        if (list.length === 0) {
          console.log(`${email} has no live sessions.`);
          return;
        }
        printTable(list, [
          { header: 'ID', value: (session) => session.id },
          { header: 'CREATED', value: (session) => formatTime(session.createdAt) },
          { header: 'LAST SEEN', value: (session) => formatTime(session.lastSeenAt) },
          { header: 'IP', value: (session) => session.ip ?? '-' },
          { header: 'USER AGENT', value: (session) => session.userAgent ?? '-', maxWidth: 60 },
        ]);
      });
    });

  sessions
    .command('revoke')
    .description('Revoke one session by id, or every session of a user with --user. Takes effect on the next request.')
    .argument('[id]', 'the session id, as `tessera sessions list` shows it')
    .option('--user <email>', 'revoke every live session of this account instead')
    .option('--json', 'print JSON on stdout')
    .action((id: string | undefined, options: OutputOptions & { user?: string }, command: Command) => {
      if (id !== undefined && options.user !== undefined) {
        command.error('error: give a session id or --user <email>, not both', { exitCode: 2 });
      }
      if (id === undefined && options.user === undefined) {
        command.error("error: give a session id, or --user <email> for all of a user's sessions", { exitCode: 2 });
      }
      if (id !== undefined && !SESSION_ID.test(id)) {
        command.error(`error: "${id}" is not a session id (26 characters, as \`tessera sessions list\` shows)`, {
          exitCode: 2,
        });
      }
      const target: { sessionId: string } | { email: string } =
        options.user === undefined ? { sessionId: id as string } : { email: emailArgument(command, options.user) };
      return runCommand(async (context) => {
        requireSharedSessionStore(context.config);
        let revoked: string[];
        if ('email' in target) {
          const account = await findUser(context, target.email);
          revoked = await context.sessions.revokeUserSessions(account.id);
          context.recordEvent({ type: 'user.sessions_revoked', userId: account.id, sessionIds: revoked });
        } else {
          if (!(await context.sessions.revokeSession(target.sessionId))) {
            throw new CommandFailure(`No live session with the id ${target.sessionId}.`);
          }
          revoked = [target.sessionId];
        }
        if (options.json === true) {
          printJSON({ revoked });
          return;
        }
        console.log(
          'email' in target
            ? `Revoked ${revoked.length} session${revoked.length === 1 ? '' : 's'} of ${target.email}.`
            : `Revoked session ${target.sessionId}.`,
        );
        if (revoked.length > 0) note('Access tokens of revoked sessions are refused from the next request.');
      });
    });
}
