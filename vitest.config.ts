import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// test/server/hostile-feeds.test.ts measures how fast `calpush serve` answers (health p99 < 100 ms) while it polls
// hostile feeds; with another test file's CPU-heavy work beside it on a 2-core machine it would measure the machine.
// It runs in a group of its own, after every other file.
const ALONE = ['test/server/hostile-feeds.test.ts'];
// test/chaos/workers.test.ts runs three calpush workers, PostgreSQL and the sandbox, and asserts a takeover time: in
// a group of its own too, after the others (and not beside hostile-feeds, whose latency it would disturb).
const CHAOS = ['test/chaos/workers.test.ts'];

export default defineConfig({
  resolve: {
    // The tests import the client as users do; in the checkout that is the source (the package maps it to dist/).
    alias: [{ find: /^calpush\/client$/, replacement: fileURLToPath(new URL('./src/client/index.ts', import.meta.url)) }],
  },
  test: {
    // Reads outside the repository fail (test/support/fs-guard.mjs); see the README's Development section.
    setupFiles: ['test/support/setup.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers on loopback; two workers match these 2-core machines.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'calpush', include: ['test/**/*.test.ts'], exclude: [...ALONE, ...CHAOS], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'alone', include: ALONE, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'chaos', include: CHAOS, sequence: { groupOrder: 2 } } },
    ],
  },
});
