import { it } from 'vitest';
import { runExampleScenario } from '../example-scenario.js';

it('the hono example signs in, serves /me, takes a CSRF-protected POST and signs out', () =>
  runExampleScenario(new URL('./server.ts', import.meta.url)));
