import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { CommandFailure } from './context.js';

/** More than any password the policy accepts (256 characters of up to 4 bytes each), with room for a newline. */
const MAX_PIPED_BYTES = 4096;

/** Asks one question on the terminal without echoing the answer. The prompt goes to stderr. */
function askHidden(prompt: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  return new Promise((resolve, reject) => {
    rl.on('SIGINT', () => {
      rl.close();
      process.stderr.write('\n');
      reject(new CommandFailure('Cancelled.'));
    });
    rl.question(prompt, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    // Set after the prompt is written: from here on, what the user types is not shown.
    muted = true;
  });
}

/** The first line of piped stdin, without its line ending. */
async function readPipedLine(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_PIPED_BYTES || chunk.includes(0x0a)) break;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  const newline = text.search(/\r?\n/);
  if (newline === -1 && size > MAX_PIPED_BYTES) throw new CommandFailure('The password on stdin is too long.');
  return newline === -1 ? text : text.slice(0, newline);
}

/**
 * Reads a new password: asked twice without echo when stdin is a terminal,
 * otherwise the first line of stdin (`echo "$PASSWORD" | tessera user create …`).
 */
export async function readNewPassword(): Promise<string> {
  if (process.stdin.isTTY !== true) {
    const password = await readPipedLine();
    if (password === '') throw new CommandFailure('No password on stdin: pipe it in, or run this in a terminal.');
    return password;
  }
  const password = await askHidden('Password: ');
  if ((await askHidden('Repeat the password: ')) !== password) {
    throw new CommandFailure('The passwords do not match.');
  }
  return password;
}
