import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real brokers and processes; two cores are shared with them.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'json-summary'],
      // About one point under what the whole suite reached (npm test on 2026-12-04: lines 91.3,
      // branches 79.6, functions 87.2, statements 87.3): coverage may not fall. Raise these when it
      // rises (npm test prints the summary).
      thresholds: { lines: 90, branches: 78.5, functions: 86, statements: 86 },
    },
  },
});
