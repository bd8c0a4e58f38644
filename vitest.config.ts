import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // The tests import the client as users do; in the checkout that is the source (the package maps it to dist/).
    alias: [{ find: /^calpush\/client$/, replacement: fileURLToPath(new URL('./src/client/index.ts', import.meta.url)) }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Reads outside the repository fail (test/support/fs-guard.mjs); see the README's Development section.
    setupFiles: ['test/support/setup.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real servers on loopback; two workers match these 2-core machines.
    maxWorkers: 2,
  },
});
