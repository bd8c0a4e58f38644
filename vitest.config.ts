import { defineConfig } from 'vitest/config';

// test/server/hostile-feeds.test.ts measures how fast `calpush serve` answers (health p99 < 100 ms) while it polls
// hostile feeds; with another test file's CPU-heavy work beside it on a 2-core machine it would measure the machine.
// It runs in a group of its own, after every other file.
const ALONE = ['test/server/hostile-feeds.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers on loopback; two workers match these 2-core machines.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'calpush', include: ['test/**/*.test.ts'], exclude: ALONE, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'alone', include: ALONE, sequence: { groupOrder: 1 } } },
    ],
  },
});
