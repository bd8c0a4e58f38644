// vitest setupFiles: runs in every test worker before each test file.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { installFsGuard, takeViolations } from './fs-guard.mjs';
import { TEST_TMP_PREFIX } from './global-setup.ts';

// The tests' temporary files go to a folder of their own (TMPDIR, which os.tmpdir() and the processes the tests
// start follow; made by global-setup.ts for the run), and that folder is what the guard lets them read besides
// the repository: not the whole temporary directory, where a repository cloned into it has its siblings.
if (!basename(tmpdir()).startsWith(TEST_TMP_PREFIX)) process.env.TMPDIR = mkdtempSync(join(tmpdir(), TEST_TMP_PREFIX));

// The machine's proxy settings are not the tests' (calpush reads them, src/config/proxy.ts): every request a test
// makes goes to loopback, directly, unless the test starts a proxy and names it. Child processes inherit this.
for (const name of ['http_proxy', 'https_proxy', 'all_proxy', 'no_proxy']) {
  delete process.env[name];
  delete process.env[name.toUpperCase()];
}

// Reads outside the repository fail (fs-guard.mjs), in this worker and in every Node process a test starts.
installFsGuard();
const guard = new URL('./fs-guard.mjs', import.meta.url).href;
if (!process.env.NODE_OPTIONS?.includes(guard)) {
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import="${guard}"`.trim();
}
process.env.CALPUSH_FS_GUARD_CHILD = '1';

// A read caught by the code that made it (an optional file, a fallback) still fails the test (or, made in an
// afterAll hook, the file).
function failOnViolations(): void {
  const violations = takeViolations();
  if (violations.length > 0) throw new Error(`read outside the repository:\n${violations.join('\n')}`);
}
afterEach(failOnViolations);
afterAll(failOnViolations);
