// The test suite's guard against reading outside the repository. A user's clone has nothing beside it (no
// ../shared, no sibling checkout), so a test, script or calpush itself that reads a file there passes here and
// fails there. Loaded by vitest for every test file (setupFiles: test/support/setup.ts) and, through
// NODE_OPTIONS, by every Node process a test starts (the CLI, the sandbox), it wraps node:fs so that reading,
// opening, listing or stat-ing a path outside
//   - the repository (which holds node_modules),
//   - os.tmpdir() (test workspaces, stores, certificates): during the tests a folder of their own inside the
//     machine's temporary directory (setup.ts points TMPDIR there), not all of it, since a repository cloned into
//     the temporary directory has its siblings (../shared) there too,
//   - a few system paths Node and the tests legitimately use (CA certificates, time zones, /proc, /dev, /sys, ldd),
// throws ERR_READ_OUTSIDE_REPOSITORY, and records it: a read inside a try/catch (an optional file, a fallback)
// is still reported, as a failure of the test that made it (setup.ts) or on the child's stderr.
// Only stat/access/exists may look at the directories on PATH: that is how a program (xmllint, radicale) is
// found, not a read of its contents.
//
// Node's own module loader reads through internal bindings and is not affected; paths are compared after
// path.resolve (no realpath: a symlink out of the repository is not followed, the guard is about `../`).
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const GUARD = Symbol.for('calpush.fsGuard');
export const GUARD_CODE = 'ERR_READ_OUTSIDE_REPOSITORY';
export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

// /sys: a read-only filesystem even root cannot write, which the store and CLI tests use to be refused for real.
// /usr/bin/ldd: how a native add-on built with napi-rs (@swc/core, the parser of the import-rule check) tells glibc
// from musl to pick its binary.
// /etc/os-release and /run/WSL: playwright-core (the browser tests) asks which OS it runs on, and whether in WSL.
const SYSTEM_PATHS = ['/etc/ssl', '/etc/ca-certificates', '/usr/share/ca-certificates', '/usr/lib/ssl', '/usr/share/zoneinfo', '/proc', '/dev', '/sys', '/usr/bin/ldd', '/etc/os-release', '/run/WSL'];

// Looked at (stat/access only), never read: Debian installs PostgreSQL's server programs (initdb, pg_ctl) per major
// version in /usr/lib/postgresql/<version>/bin, not on PATH; the tests find them there (test/support/tools.ts).
const SEARCHABLE_SYSTEM_PATHS = ['/usr/lib/postgresql'];

function realTmpdir() {
  try {
    return fs.realpathSync.native(tmpdir());
  } catch {
    return tmpdir();
  }
}

/** What may be read, and where programs may be looked for; fixed when the guard is installed (TMPDIR set by then). */
let readable = [];
let searchable = [];

function within(path, roots) {
  return roots.some((root) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep));
}

/** The absolute path a fs call names, or null for what is not a path (a file descriptor, a FileHandle). */
function pathOf(target) {
  if (typeof target === 'string') return resolve(target);
  if (target instanceof URL) return target.protocol === 'file:' ? resolve(fileURLToPath(target)) : null;
  if (Buffer.isBuffer(target)) return resolve(target.toString());
  return null;
}

const state = (globalThis[GUARD] ??= { violations: [], installed: false, child: false });

/** The violations recorded so far in this process, cleared. */
export function takeViolations() {
  return state.violations.splice(0);
}

function check(operation, target, lookupOnly) {
  const path = pathOf(target);
  if (path === null || within(path, readable) || (lookupOnly && within(path, searchable))) return;
  const message = `${operation}(${path}): tests, scripts and calpush must not read outside the repository (${repoRoot}); commit what is needed into it`;
  state.violations.push(message);
  if (state.child) process.stderr.write(`fs-guard: ${message}\n`);
  const error = new Error(message);
  error.code = GUARD_CODE;
  throw error;
}

const LOOKUPS = new Set(['stat', 'lstat', 'access', 'exists']);
/** Functions whose first argument is a path they read (copyFile and cp: their source). */
const NAMES = ['readFile', 'open', 'stat', 'lstat', 'readdir', 'access', 'opendir', 'realpath', 'readlink', 'exists', 'copyFile', 'cp'];

function wrapSync(object, name, label, lookupOnly) {
  const original = object[name];
  if (typeof original !== 'function') return;
  const wrapped = function (target, ...rest) {
    check(label, target, lookupOnly);
    return original.call(this, target, ...rest);
  };
  Object.assign(wrapped, original); // realpathSync.native and friends
  object[name] = wrapped;
}

function wrapAsync(object, name, label, lookupOnly) {
  const original = object[name];
  if (typeof original !== 'function') return;
  const wrapped = function (target, ...rest) {
    try {
      check(label, target, lookupOnly);
    } catch (error) {
      return Promise.reject(error);
    }
    return original.call(this, target, ...rest);
  };
  object[name] = wrapped;
}

export function installFsGuard({ child = false } = {}) {
  state.child = child;
  if (state.installed) return;
  state.installed = true;
  readable = [repoRoot, tmpdir(), realTmpdir(), ...SYSTEM_PATHS];
  searchable = [...(process.env.PATH ?? '').split(delimiter).filter((dir) => isAbsolute(dir)), ...SEARCHABLE_SYSTEM_PATHS];
  for (const name of NAMES) {
    const lookupOnly = LOOKUPS.has(name);
    wrapSync(fs, `${name}Sync`, `${name}Sync`, lookupOnly);
    wrapSync(fs, name, name, lookupOnly); // callback form: a violation throws at the call
    wrapAsync(fs.promises, name, `promises.${name}`, lookupOnly);
  }
  wrapSync(fs, 'createReadStream', 'createReadStream', false);
  // ES module imports of node:fs and node:fs/promises see the wrapped functions too.
  syncBuiltinESMExports();
}

// Loaded with --import (a process started by a test): guard it. vitest's setup file calls installFsGuard itself.
if (process.env.CALPUSH_FS_GUARD_CHILD === '1') installFsGuard({ child: true });
