import type { Command } from 'commander';
import { normalizeEmail } from '../accounts/email.js';

/** The normalised form of an email argument; anything else is a usage error (exit code 2). */
export function emailArgument(command: Command, value: string): string {
  const email = normalizeEmail(value);
  if (email === null) command.error(`error: "${value}" is not a valid email address`, { exitCode: 2 });
  return email;
}
