import type { Logger } from './logger.js';

/**
 * Wraps a user's event hook so that a hook that throws is logged and
 * otherwise ignored: an audit hook must never fail a login or a logout.
 */
export function createEmitter<Event extends { type: string }>(
  hook: ((event: Event) => void) | undefined,
  logger: Logger,
  source: string,
): (event: Event) => void {
  return (event) => {
    if (hook === undefined) return;
    try {
      hook(event);
    } catch (error) {
      logger.warn({ err: error, event: event.type }, `${source} event hook threw`);
    }
  };
}
