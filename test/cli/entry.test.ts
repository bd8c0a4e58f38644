// bin/calpush.js runs the built dist/ only while it is newer than every source file: an edited source is never
// run stale, and a checkout without a build runs the sources. An installed package always runs dist/.
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript without types (bin/ is not compiled)
import { chooseEntry } from '../../bin/entry.js';

function checkout(): { dir: string; root: URL } {
  const dir = mkdtempSync(join(tmpdir(), 'calpush-entry-'));
  mkdirSync(join(dir, 'src/cli'), { recursive: true });
  writeFileSync(join(dir, 'src/cli/main.ts'), '');
  return { dir, root: pathToFileURL(`${dir}/`) };
}
const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);
const entryOf = (root: URL, env: Record<string, string> = {}) => (chooseEntry(root, env) as URL).pathname.split('/').slice(-3).join('/');

describe('bin/calpush.js entry', () => {
  it('runs src/ without a build, dist/ when the build is newer than every source, src/ again once a source changes', () => {
    const { dir, root } = checkout();
    expect(entryOf(root)).toBe('src/cli/main.ts');
    mkdirSync(join(dir, 'dist/cli'), { recursive: true });
    writeFileSync(join(dir, 'dist/cli/main.js'), '');
    writeFileSync(join(dir, 'dist/BUILT'), '');
    at(join(dir, 'src/cli/main.ts'), 1_000);
    at(join(dir, 'dist/BUILT'), 2_000);
    expect(entryOf(root)).toBe('dist/cli/main.js');
    expect(entryOf(root, { CALPUSH_FROM_SOURCE: '1' })).toBe('src/cli/main.ts');
    at(join(dir, 'src/cli/main.ts'), 3_000);
    expect(entryOf(root)).toBe('src/cli/main.ts');
  });

  it('always runs dist/ in an installed package: under node_modules, or with no src/ (the npm package has none)', () => {
    const installed = mkdtempSync(join(tmpdir(), 'calpush-entry-'));
    mkdirSync(join(installed, 'dist/cli'), { recursive: true });
    writeFileSync(join(installed, 'dist/cli/main.js'), '');
    expect(entryOf(pathToFileURL(`${installed}/`))).toBe('dist/cli/main.js');
    // Even with sources beside it, newer than any build, and CALPUSH_FROM_SOURCE: Node strips no types under node_modules.
    const underNodeModules = join(mkdtempSync(join(tmpdir(), 'calpush-entry-')), 'node_modules', 'calpush');
    mkdirSync(join(underNodeModules, 'src/cli'), { recursive: true });
    writeFileSync(join(underNodeModules, 'src/cli/main.ts'), '');
    expect(entryOf(pathToFileURL(`${underNodeModules}/`), { CALPUSH_FROM_SOURCE: '1' })).toBe('dist/cli/main.js');
  });
});
