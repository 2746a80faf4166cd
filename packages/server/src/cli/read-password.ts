import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { CommandFailure } from './context.js';

/** More than any password the policy accepts (256 characters of up to 4 bytes each), with room for a newline. */
const MAX_PIPED_BYTES = 4096;

/** Asks questions on the terminal without echoing the answers; prompts go to stderr. One interface for all, so typed-ahead answers are kept. */
async function askHidden(prompts: readonly string[]): Promise<string[]> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const cancelled = new Promise<never>((_resolve, reject) => {
    rl.on('SIGINT', () => reject(new CommandFailure('Cancelled.')));
  });
  // Lines are queued, not caught by rl.question: answers typed ahead arrive in one chunk, and
  // question() would drop every line but the first.
  const lines: string[] = [];
  let waiting: ((line: string) => void) | null = null;
  rl.on('line', (line) => {
    if (waiting === null) lines.push(line);
    else waiting(line);
    waiting = null;
  });
  const nextLine = (): Promise<string> =>
    lines.length > 0
      ? Promise.resolve(lines.shift() as string)
      : new Promise((resolve) => {
          waiting = resolve;
        });
  const answers: string[] = [];
  try {
    for (const prompt of prompts) {
      muted = false;
      rl.setPrompt(prompt);
      rl.prompt();
      // Set after the prompt is written: from here on, what the user types is not shown.
      muted = true;
      answers.push(await Promise.race([nextLine(), cancelled]));
      process.stderr.write('\n');
    }
    return answers;
  } finally {
    rl.close();
  }
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
  const [password, repeated] = await askHidden(['Password: ', 'Repeat the password: ']);
  if (password !== repeated) throw new CommandFailure('The passwords do not match.');
  return password as string;
}
