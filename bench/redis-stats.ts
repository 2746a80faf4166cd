/**
 * Redis commands per request, as the server counts them: `INFO commandstats`
 * before and after a round. Commands that a Lua script calls count too (an
 * `EVALSHA` whose script runs `HGETALL` is two), so the total is the work the
 * server does; the bench's own `INFO` calls are left out.
 */

/** Calls per command name (`hgetall`, `evalsha`, `client|setinfo`…). */
export type CommandCounts = Record<string, number>;

/** Parses the `cmdstat_<name>:calls=<n>,…` lines of `INFO commandstats`. */
export function parseCommandStats(info: string): CommandCounts {
  const counts: CommandCounts = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]!] = Number(match[2]);
  return counts;
}

const OWN = new Set(['info']);

/** What ran between two snapshots, without the bench's own commands and without zeros. */
export function commandDelta(before: CommandCounts, after: CommandCounts): CommandCounts {
  const delta: CommandCounts = {};
  for (const [name, calls] of Object.entries(after)) {
    const ran = calls - (before[name] ?? 0);
    if (ran > 0 && !OWN.has(name)) delta[name] = ran;
  }
  return delta;
}

export const totalCommands = (counts: CommandCounts): number =>
  Object.values(counts).reduce((sum, calls) => sum + calls, 0);
