/**
 * The top self-time functions of a V8 CPU profile (`node --cpu-prof`, e.g. from
 * `npm run bench -- --profile express-tessera`):
 *   tsx bench/profile-top.ts <file.cpuprofile or folder> [how many, default 25] [only paths containing this text]
 * Given a folder, reads the profile with the most busy (non-idle) time: the
 * main thread's, not the module loader's.
 * Self time is the time a function was on top of the stack, as a share of the
 * busy (non-idle) time; the "ours" column
 * marks Tessera's own sources (packages/auth).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

/** Self time per function (name + file + line), largest first. */
export function selfTimes(profile: Profile): FunctionTime[] {
  const byNode = new Map<number, number>();
  profile.samples.forEach((id, index) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  // Shares are of the busy time: a server waiting on its load generator or its store is idle, not slow.
  const idle = new Set(profile.nodes.filter((node) => node.callFrame.functionName === '(idle)').map((node) => node.id));
  const total = [...byNode].reduce((sum, [id, micros]) => (idle.has(id) ? sum : sum + micros), 0);
  const byFunction = new Map<string, FunctionTime>();
  for (const node of profile.nodes) {
    const micros = byNode.get(node.id) ?? 0;
    if (micros === 0 || idle.has(node.id)) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where =
      url === '' ? '' : `${url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '')}:${lineNumber + 1}`;
    const key = `${functionName}@${where}`;
    const entry = byFunction.get(key) ?? { name: functionName || '(anonymous)', where, selfMs: 0, share: 0 };
    entry.selfMs += micros / 1000;
    byFunction.set(key, entry);
  }
  return [...byFunction.values()]
    .map((entry) => ({ ...entry, share: entry.selfMs / (total / 1000) }))
    .sort((a, b) => b.selfMs - a.selfMs);
}

/** Where a function lives: `tessera` (packages/auth), a package under node_modules, `node` internals, or V8's own. */
export function origin(where: string, name: string): string {
  if (where.includes('packages/auth/')) return 'tessera';
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(where);
  if (inModules !== null) return inModules[1]!;
  if (where.startsWith('node:')) return 'node';
  if (where === '') return name.startsWith('(') ? name : 'native';
  return 'app';
}

/** Self time per origin, largest first. */
export function byOrigin(times: readonly FunctionTime[]): { origin: string; share: number }[] {
  const shares = new Map<string, number>();
  for (const entry of times) {
    const key = origin(entry.where, entry.name);
    shares.set(key, (shares.get(key) ?? 0) + entry.share);
  }
  return [...shares].map(([key, share]) => ({ origin: key, share })).sort((a, b) => b.share - a.share);
}

if (process.argv[1]?.endsWith('profile-top.ts')) {
  const [file, howMany = '25', filter] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: profile-top.ts <file.cpuprofile> [count] [path filter]');
  const read = (path: string) => selfTimes(JSON.parse(readFileSync(path, 'utf8')) as Profile);
  const busy = (times: FunctionTime[]) => times.reduce((sum, entry) => sum + entry.selfMs, 0);
  const candidates = statSync(file).isDirectory()
    ? readdirSync(file)
        .filter((name) => name.endsWith('.cpuprofile'))
        .map((name) => read(join(file, name)))
    : [read(file)];
  const times = candidates.sort((a, b) => busy(b) - busy(a))[0];
  if (times === undefined) throw new Error(`no .cpuprofile in ${file}`);
  const shown = times.filter((entry) => filter === undefined || entry.where.includes(filter)).slice(0, Number(howMany));
  const ours = times.filter((entry) => entry.where.includes('packages/auth/'));
  console.log(
    `${file}: ${busy(times).toFixed(0)} ms busy (not idle); Tessera's own code ${(ours.reduce((sum, entry) => sum + entry.share, 0) * 100).toFixed(1)}% self time`,
  );
  console.log(
    `by origin: ${byOrigin(times)
      .filter((entry) => entry.share >= 0.005)
      .map((entry) => `${entry.origin} ${(entry.share * 100).toFixed(1)}%`)
      .join(', ')}`,
  );
  for (const entry of shown) {
    const mark = entry.where.includes('packages/auth/') ? 'ours' : '    ';
    console.log(`${(entry.share * 100).toFixed(1).padStart(5)}%  ${mark}  ${entry.name}  ${entry.where}`);
  }
}
