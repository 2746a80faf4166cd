import pino from 'pino';
import { TesseraError } from 'tessera-auth/errors';
import type { SessionManager } from 'tessera-auth';
import type { TokenService } from 'tessera-auth';
import { createServerServices } from '../services.js';
import type { Logger } from 'tessera-auth';
import { loadServerConfig, type ServerConfig } from '../config.js';
import { createServerLogger } from '../logging.js';
import { openServerRuntime, type ServerRuntime } from '../runtime.js';
import { ConfigurationError } from '../config.js';
import type { AuditEvent } from '../audit.js';
import { createServerWebhooks } from '../webhooks/server-webhooks.js';

/** What a command works with: the server's configuration and runtime, and the engines over them. */
export interface CommandContext {
  config: ServerConfig;
  runtime: ServerRuntime;
  /** The session engine over the session store, with the server's timeouts. */
  sessions: SessionManager;
  /** The token service, configured as the server's so key rotation keeps the same retention. */
  tokens: TokenService;
  logger: Logger;
  /**
   * Records an event of the command's own (e.g. `user.sessions_revoked`) for webhooks; the session engine's
   * events are recorded already. The running servers deliver them.
   */
  recordEvent(event: AuditEvent): void;
}

/** An expected failure of a command (not found, conflict, refused input): its message is shown as is, exit code 1. */
export class CommandFailure extends TesseraError<'ERR_COMMAND_FAILED'> {
  constructor(message: string) {
    super('ERR_COMMAND_FAILED', message);
  }
}

/** The message of an error and of its causes, e.g. a StoreUnavailableError and the driver error under it. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let current = error; current instanceof Error && parts.length < 3; current = current.cause) {
    if (current.message !== '' && !parts.includes(current.message)) parts.push(current.message);
  }
  return parts.length === 0 ? String(error) : parts.join(': ');
}

/**
 * The CLI's logger: JSON lines on stderr, so stdout stays the command's output.
 * `info` is the command's own output here, so the stores' info lines are left out.
 */
function createCommandLogger(level: ServerConfig['logLevel']): Logger {
  return createServerLogger(level === 'info' ? 'warn' : level, pino.destination({ dest: 2, sync: true }));
}

function fail(message: string): void {
  console.error(message);
  process.exitCode = 1;
}

/**
 * Runs a command body with what it needs, opened exactly as the server opens
 * it: the configuration validated by `loadServerConfig` (a bad value prints
 * the variable and the rule, exit code 1), then `openServerRuntime` (which
 * migrates). Everything is closed before this resolves, whatever happened;
 * a failure prints one line to stderr and sets exit code 1.
 */
export async function runCommand(
  body: (context: CommandContext) => Promise<void>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const loaded = loadServerConfig(env);
  if (!loaded.ok) return fail(new ConfigurationError(loaded.errors).message);
  const { config } = loaded;
  const logger = createCommandLogger(config.logLevel);
  let runtime: ServerRuntime;
  try {
    runtime = await openServerRuntime(config, logger);
  } catch (error) {
    return fail(`Tessera could not open its database: ${describeError(error)}`);
  }
  // What a command does to sessions reaches webhooks like the server's own events: written to the outbox here,
  // delivered by the running servers' workers (this process starts none).
  const webhooks = createServerWebhooks({
    store: runtime.webhooks,
    configured: config.webhooks,
    kek: config.secretsKey,
    logger,
  });
  try {
    const { sessions, tokens } = createServerServices(config, runtime, {
      logger,
      nearCache: false,
      onEvent: (event) => webhooks.record(event),
    });
    await body({ config, runtime, sessions, tokens, logger, recordEvent: (event) => webhooks.record(event) });
  } catch (error) {
    fail(error instanceof CommandFailure ? error.message : `Failed: ${describeError(error)}`);
  } finally {
    await webhooks.stop();
    await runtime.close().catch((error: unknown) => fail(`Closing the database failed: ${describeError(error)}`));
  }
}

/** Refuses a command that needs the sessions when they live in the server process's memory, out of the CLI's reach. */
export function requireSharedSessionStore(config: ServerConfig): void {
  if (config.sessionStore.kind === 'memory') {
    throw new CommandFailure(
      'TESSERA_SESSION_STORE=memory: keeps sessions inside the server process; the CLI cannot reach them.',
    );
  }
}
