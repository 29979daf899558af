import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites start real servers and child processes on loopback; give them room on 2-core machines.
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
