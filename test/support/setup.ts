// vitest setupFiles: runs in every test worker before each test file.
import { afterAll, afterEach } from 'vitest';
import { installFsGuard, takeViolations } from './fs-guard.mjs';

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
