import type { TestProject } from 'vitest/node';
import { findPostgresBinaries, startPostgresServer } from './postgres-harness.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** Connection string of the run's PostgreSQL; `null` when there is none and its suites skip. */
    postgresUrl: string | null;
  }
}

/**
 * Starts one throwaway PostgreSQL for the whole run (or uses `DATABASE_URL`)
 * and hands its URL to test files through `inject('postgresUrl')`. Without
 * server binaries the PostgreSQL suites skip locally, loudly, and fail the run
 * under `CI=true`.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const url = process.env.DATABASE_URL;
  if (url !== undefined && url !== '') {
    project.provide('postgresUrl', url);
    return undefined;
  }
  const binaries = findPostgresBinaries();
  if (binaries === null) {
    const message = 'PostgreSQL binaries not found: PostgreSQL suites are SKIPPED (apt-get install -y postgresql)';
    if (process.env.CI === 'true') throw new Error(`${message.replace('are SKIPPED', 'cannot run')}, and CI=true`);
    console.warn(`⚠ ${message}`);
    project.provide('postgresUrl', null);
    return undefined;
  }
  const server = await startPostgresServer(binaries);
  project.provide('postgresUrl', server.url);
  return () => server.destroy();
}
