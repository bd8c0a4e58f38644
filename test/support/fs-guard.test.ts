// The guard itself: a read of ../shared (what a user's clone does not have) fails through every door of node:fs,
// also when the code that made it catches the error; legitimate reads go through.
import { spawnSync } from 'node:child_process';
import fs, { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile as readFileAsync, readdir as readdirAsync } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { GUARD_CODE, repoRoot, takeViolations } from './fs-guard.mjs';

// The folder beside the repository that a user's clone does not have (spelled in parts so that a search for
// paths reaching for it finds the real ones, not this test).
const shared = resolve(repoRoot, '..', 'shared', 'x');
const guarded = { code: GUARD_CODE };

afterEach(() => {
  // This file makes violations on purpose; each test checks its own, so the suite-wide check sees none.
  takeViolations();
});

describe('the read guard', () => {
  it('fails a read of the shared folder beside the repository through every form of node:fs', async () => {
    expect(() => readFileSync(shared)).toThrow(expect.objectContaining(guarded));
    expect(() => fs.readFileSync(join(repoRoot, 'test', '..', '..', 'shared', 'x'))).toThrow(expect.objectContaining(guarded));
    expect(() => fs.readFileSync(pathToFileURL(shared))).toThrow(expect.objectContaining(guarded));
    expect(() => fs.readFileSync(Buffer.from(shared))).toThrow(expect.objectContaining(guarded));
    expect(() => existsSync(shared)).toThrow(expect.objectContaining(guarded));
    expect(() => statSync(shared)).toThrow(expect.objectContaining(guarded));
    expect(() => fs.openSync(shared, 'r')).toThrow(expect.objectContaining(guarded));
    expect(() => fs.readdirSync(resolve(repoRoot, '../shared'))).toThrow(expect.objectContaining(guarded));
    expect(() => fs.createReadStream(shared)).toThrow(expect.objectContaining(guarded));
    expect(() => fs.readFile(shared, () => {})).toThrow(expect.objectContaining(guarded));
    await expect(readFileAsync(shared)).rejects.toMatchObject(guarded);
    await expect(fs.promises.stat(shared)).rejects.toMatchObject(guarded);
    await expect(readdirAsync(resolve(repoRoot, '..'))).rejects.toMatchObject(guarded);
    expect(() => fs.copyFileSync(shared, join(tmpdir(), 'calpush-guard-copy'))).toThrow(expect.objectContaining(guarded));
    expect(takeViolations()).toHaveLength(14);
  });

  it('records a read that the code making it catches, so the test still fails', () => {
    const optional = () => {
      try {
        return readFileSync(shared, 'utf8');
      } catch {
        return 'fallback';
      }
    };
    expect(optional()).toBe('fallback');
    expect(takeViolations()).toEqual([expect.stringContaining(`readFileSync(${shared})`)]);
  });

  it('guards the Node processes a test starts', () => {
    const child = spawnSync(process.execPath, ['-e', `require('node:fs').readFileSync(${JSON.stringify(shared)})`], { encoding: 'utf8' });
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain(`fs-guard: readFileSync(${shared})`);
  });

  it('refuses the rest of the machine’s temporary directory, where a clone in it has its siblings', () => {
    // During the tests os.tmpdir() is a folder of their own (setup.ts); beside it lies what is not theirs.
    expect(basename(tmpdir())).toMatch(/^calpush-tests-/);
    const besideTests = join(dirname(tmpdir()), 'calpush-clone-parent', 'shared', 'x');
    expect(() => readFileSync(besideTests)).toThrow(expect.objectContaining(guarded));
    expect(takeViolations()).toHaveLength(1);
  });

  it('lets the repository, the tests’ temporary directory and the system paths tests need be read', () => {
    expect(readFileSync(join(repoRoot, 'package.json'), 'utf8')).toContain('"name": "calpush"');
    expect(existsSync(join(repoRoot, 'node_modules/vitest/package.json'))).toBe(true);
    const file = join(fs.mkdtempSync(join(tmpdir(), 'calpush-guard-')), 'f');
    fs.writeFileSync(file, 'x');
    expect(readFileSync(file, 'utf8')).toBe('x');
    expect(existsSync('/usr/share/zoneinfo')).toBe(true);
    // Looking for a program on PATH is not reading outside.
    expect(() => existsSync('/usr/bin/xmllint')).not.toThrow();
    expect(takeViolations()).toEqual([]);
  });
});
