import { execFileSync } from 'node:child_process';

/**
 * Builds both packages' `dist/` once per test run, so the CLI suites spawn the built `tessera` binary with plain
 * `node`, as an installed package runs it, instead of compiling the sources in every child process (slow, and
 * it timed out under load). The library builds first: the server compiles against its declarations. `tsc -b`
 * skips a package whose sources, configuration and outputs are unchanged since its last build, so a run after
 * `npm run check:packages` (or a second run) does not compile again.
 */
export default function setup(): void {
  const started = Date.now();
  const tsc = new URL('../../node_modules/.bin/tsc', import.meta.url).pathname;
  const projects = ['auth', 'server'].map(
    (pkg) => new URL(`../../packages/${pkg}/tsconfig.build.json`, import.meta.url).pathname,
  );
  execFileSync(tsc, ['-b', ...projects], { stdio: 'inherit' });
  process.stderr.write(`Built packages/*/dist for the CLI suites in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
