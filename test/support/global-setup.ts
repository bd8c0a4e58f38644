// vitest globalSetup (the main process, before any worker starts): one temporary folder for the whole run, which
// the workers and every process they start inherit through TMPDIR (os.tmpdir() follows it), removed at the end.
// The read guard lets tests read this folder, not the rest of the machine's temporary directory (setup.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

export const TEST_TMP_PREFIX = 'calpush-tests-';

export default function setup(): () => void {
  // Called once per vitest project, in one process: a second project keeps the run's folder. Nesting would also
  // lengthen every path under it, and Chromium's singleton socket must fit in a 108-byte Unix socket path.
  if (basename(tmpdir()).startsWith(TEST_TMP_PREFIX)) return () => {};
  const folder = mkdtempSync(join(tmpdir(), TEST_TMP_PREFIX));
  process.env.TMPDIR = folder;
  return () => rmSync(folder, { recursive: true, force: true });
}
