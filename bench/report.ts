/** The bench's numbers: per-stack summaries of the rounds, the printed table and the JSON. */
import type { CommandCounts } from './redis-stats.js';
import { totalCommands } from './redis-stats.js';
import type { StackInfo } from './stacks.js';
import type { WrkResult } from './wrk.js';

/** One wrk round against one stack. */
export interface Round extends WrkResult {
  round: number;
  /** Redis commands the server ran during the round (`INFO commandstats` delta). */
  redisCommands: CommandCounts;
  /** Requests the server received during the round (wrk's count leaves out those in flight at its end). */
  served: number;
  /** Store calls the stack's process sent during the round; `null` when its client is not counted. */
  sent: number | null;
  /** CPU time the server process used during the round, microseconds. */
  cpuMicros: number;
}

export interface StackSummary extends StackInfo {
  rounds: Round[];
  /** Why the stack has no numbers (it failed to start, answered a non-2xx…); `null` when it has. */
  error: string | null;
  medianRps: number | null;
  minRps: number | null;
  maxRps: number | null;
  /** Median req/s over the bare framework's median req/s, same run. */
  ratioToBare: number | null;
  redisCommandsPerRequest: number | null;
  /** Per command name, calls per request (all rounds). */
  redisCommandsByName: Record<string, number>;
  sentPerRequest: number | null;
  /**
   * Server CPU time per request served, microseconds: steadier than req/s on a busy machine (a server
   * that waits for a core is slower, not costlier), and what the near cache and the rest must bring down.
   */
  cpuMicrosPerRequest: number | null;
  /** Medians over the rounds of wrk's percentiles, milliseconds. */
  latencyMs: { p50: number; p99: number } | null;
  /** Lowest and highest of the per-round ratios to the bare framework (round n over its bare's round n). */
  ratioRange: { min: number; max: number } | null;
  /** Whether the row meets its target: `null` without a target or without numbers. */
  targetMet: boolean | null;
}

/** The target as the table shows it, e.g. "≥ 0.80, ≤ 0.1 cmd, > express-session". */
export function describeTarget(target: StackInfo['target']): string {
  if (target === null) return '';
  return [
    `≥ ${target.minRatio.toFixed(2)}`,
    ...(target.maxCommandsPerRequest === undefined ? [] : [`≤ ${target.maxCommandsPerRequest} cmd`]),
    ...(target.aheadOf === undefined ? [] : [`> ${target.aheadOf}`]),
  ].join(', ');
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Summaries in the order given; each ratio divides by its bare framework's median when that has one. */
export function summarize(
  stacks: readonly StackInfo[],
  rounds: ReadonlyMap<string, Round[]>,
  errors: ReadonlyMap<string, string>,
): StackSummary[] {
  const medians = new Map<string, number>();
  for (const stack of stacks) {
    const measured = rounds.get(stack.id) ?? [];
    if (!errors.has(stack.id) && measured.length > 0) {
      medians.set(stack.id, median(measured.map((round) => round.requestsPerSecond)));
    }
  }
  const summaries = stacks.map((stack) => {
    const measured = rounds.get(stack.id) ?? [];
    const error = errors.get(stack.id) ?? null;
    const own = medians.get(stack.id) ?? null;
    const bare = medians.get(stack.bare) ?? null;
    const requests = measured.reduce((sum, round) => sum + round.served, 0);
    const byName: Record<string, number> = {};
    for (const round of measured) {
      for (const [name, calls] of Object.entries(round.redisCommands)) byName[name] = (byName[name] ?? 0) + calls;
    }
    const counted = measured.every((round) => round.sent !== null);
    const sent = measured.reduce((sum, round) => sum + (round.sent ?? 0), 0);
    const has = own !== null && requests > 0;
    return {
      ...stack,
      rounds: measured,
      error,
      medianRps: own,
      minRps: has ? Math.min(...measured.map((round) => round.requestsPerSecond)) : null,
      maxRps: has ? Math.max(...measured.map((round) => round.requestsPerSecond)) : null,
      ratioToBare: own !== null && bare !== null ? own / bare : null,
      redisCommandsPerRequest: has ? totalCommands(byName) / requests : null,
      redisCommandsByName: has
        ? Object.fromEntries(Object.entries(byName).map(([name, calls]) => [name, calls / requests]))
        : {},
      sentPerRequest: has && counted ? sent / requests : null,
      cpuMicrosPerRequest: has ? measured.reduce((sum, round) => sum + round.cpuMicros, 0) / requests : null,
      latencyMs: has
        ? {
            p50: median(measured.map((round) => round.latencyMs.p50)),
            p99: median(measured.map((round) => round.latencyMs.p99)),
          }
        : null,
      ratioRange: has && bare !== null ? ratioRange(measured, rounds.get(stack.bare) ?? []) : null,
      targetMet: null as boolean | null,
    };
  });
  for (const summary of summaries) summary.targetMet = targetMet(summary, summaries);
  return summaries;
}

/** Each round's req/s over the bare framework's in the same round (rounds are interleaved). */
function ratioRange(own: readonly Round[], bare: readonly Round[]): { min: number; max: number } | null {
  const ratios = own.flatMap((round) => {
    const twin = bare.find((candidate) => candidate.round === round.round);
    return twin === undefined ? [] : [round.requestsPerSecond / twin.requestsPerSecond];
  });
  return ratios.length === 0 ? null : { min: Math.min(...ratios), max: Math.max(...ratios) };
}

function targetMet(summary: StackSummary, all: readonly StackSummary[]): boolean | null {
  const { target } = summary;
  if (target === null || summary.ratioToBare === null || summary.medianRps === null) return null;
  if (summary.ratioToBare < target.minRatio) return false;
  const commands = summary.redisCommandsPerRequest;
  if (target.maxCommandsPerRequest !== undefined && (commands === null || commands > target.maxCommandsPerRequest)) {
    return false;
  }
  if (target.aheadOf !== undefined) {
    const peer = all.find((candidate) => candidate.id === target.aheadOf)?.medianRps ?? null;
    if (peer === null || summary.medianRps <= peer) return false;
  }
  return true;
}

const thousands = (value: number): string => Math.round(value).toLocaleString('en-US');
const perRequest = (value: number | null): string => (value === null ? '–' : value.toFixed(2));

/** The readable table: one row per stack, ratios to the bare framework of the same run. */
export function formatTable(summaries: readonly StackSummary[]): string {
  const header = [
    'stack (authenticated GET /me)',
    'req/s (median)',
    'min–max',
    '÷ bare',
    'ratio min–max',
    'target',
    'met',
    'Redis cmds/req',
    'sent/req',
    'CPU µs/req',
    'p99 ms',
  ];
  const rows = summaries.map((summary) =>
    summary.error !== null || summary.medianRps === null
      ? [
          summary.label,
          'FAILED',
          summary.error ?? 'no rounds',
          '',
          '',
          describeTarget(summary.target),
          '',
          '',
          '',
          '',
          '',
        ]
      : [
          summary.label,
          thousands(summary.medianRps),
          `${thousands(summary.minRps!)}–${thousands(summary.maxRps!)}`,
          summary.ratioToBare === null ? '–' : summary.ratioToBare.toFixed(2),
          summary.ratioRange === null || summary.id === summary.bare
            ? ''
            : `${summary.ratioRange.min.toFixed(2)}–${summary.ratioRange.max.toFixed(2)}`,
          describeTarget(summary.target),
          summary.targetMet === null ? '' : summary.targetMet ? 'yes' : 'NO',
          perRequest(summary.redisCommandsPerRequest),
          perRequest(summary.sentPerRequest),
          summary.cpuMicrosPerRequest!.toFixed(0),
          summary.latencyMs!.p99.toFixed(1),
        ],
  );
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

/** "hgetall 1.00, evalsha 0.01" per stack that ran any Redis command. */
export function formatCommandBreakdown(summaries: readonly StackSummary[]): string {
  return summaries
    .filter((summary) => Object.keys(summary.redisCommandsByName).length > 0)
    .map((summary) => {
      const names = Object.entries(summary.redisCommandsByName)
        .filter(([, perRequest]) => perRequest >= 0.005)
        .sort(([, a], [, b]) => b - a)
        .map(([name, perRequest]) => `${name} ${perRequest.toFixed(2)}`);
      return `  ${summary.id}: ${names.length > 0 ? names.join(', ') : 'under 0.005 of any command'}`;
    })
    .join('\n');
}
