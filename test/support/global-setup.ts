// vitest globalSetup (the main process, before any worker starts): one temporary folder for the whole run, which
// the workers and every process they start inherit through TMPDIR (os.tmpdir() follows it), removed at the end.
// The read guard lets tests read this folder, not the rest of the machine's temporary directory (setup.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const TEST_TMP_PREFIX = 'calpush-tests-';

export default function setup(): () => void {
  const folder = mkdtempSync(join(tmpdir(), TEST_TMP_PREFIX));
  process.env.TMPDIR = folder;
  return () => rmSync(folder, { recursive: true, force: true });
}
