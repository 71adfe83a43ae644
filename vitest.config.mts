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
      // About one point under what the tests reached when the gate was added (measured over 544 of
      // the tests: lines 85.2, branches 71.5, functions 82.4, statements 80.5; the whole suite
      // reaches more): coverage may not fall. Raise these when it rises (npm test prints the summary).
      thresholds: { lines: 84, branches: 70.5, functions: 81.5, statements: 79.5 },
    },
  },
});
