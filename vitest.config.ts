import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
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
