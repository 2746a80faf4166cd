import { defineConfig } from 'vitest/config';

// Tests run the library's TypeScript sources: its package.json maps each subpath to `src/` under this condition.
const conditions = ['tessera-source', 'module', 'node', 'development|production'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: conditions } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    globalSetup: [
      'test/support/build-global-setup.ts',
      'test/support/redis-global-setup.ts',
      'test/support/postgres-global-setup.ts',
    ],
  },
});
