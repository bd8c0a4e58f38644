// The store's place on disk, made before SQLite opens it. The store holds feed URLs with their tokens and the
// hashes of API keys: its folder is created 0700 and the file 0600 whatever the umask, and SQLite gives the -wal
// and -shm files it creates the mode of the database file (https://www.sqlite.org/tempfiles.html, "Write-Ahead Log
// (WAL) Files": they are created with the same permissions as the database). Doing the creating here also finds
// the reason a store cannot be opened — a read-only folder, a path under a file, a full disk — while the
// operating system still says which one.
import { chmodSync, closeSync, fchmodSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { storeFull, storeReadOnly, StoreError } from './errors.ts';

const READ_ONLY = new Set(['EACCES', 'EPERM', 'EROFS']);

/** Store files already warned about in this process: a warning is given once, not per open. */
const warned = new Set<string>();

function osFailure(path: string, doing: string, error: NodeJS.ErrnoException): StoreError {
  const code = error.code ?? 'EIO';
  if (READ_ONLY.has(code)) return storeReadOnly(path, `${doing}: ${code === 'EROFS' ? 'the file system is read-only' : 'permission denied'} (${code})`, error);
  if (code === 'ENOSPC' || code === 'EDQUOT') return storeFull(path, error, code);
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    return new StoreError('StoreCannotOpen', path, `${doing}: a part of the path is a file, not a folder (${code})`, {
      remedy: 'set store.sqlite in the config to a path inside a folder (relative paths are relative to the config file)',
      cause: error,
    });
  }
  return new StoreError('StoreCannotOpen', path, `${doing}: ${error.message}`, { remedy: 'check store.sqlite in the config', cause: error });
}

/** The folder for the store; one calpush creates is 0700 (an existing one is left as it is). */
function ensureFolder(path: string): void {
  const folder = dirname(path);
  let created: string | undefined;
  try {
    created = mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw osFailure(path, `cannot create the folder ${folder} for the store`, error as NodeJS.ErrnoException);
  }
  // mkdir's mode passes through the umask; chmod does not. (Folders above it that mkdir made get 0700 from mode.)
  if (created !== undefined) chmodSync(folder, 0o700);
}

/** Creates an empty store file 0600 (SQLite takes an empty file as a new database) unless one is there. */
function ensureFile(path: string): 'created' | 'exists' {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'EEXIST') return 'exists';
    throw osFailure(path, `cannot create the store ${path}`, e);
  }
  try {
    fchmodSync(fd, 0o600);
  } finally {
    closeSync(fd);
  }
  return 'created';
}

/** An existing store must be a file this user may write. */
function checkExisting(path: string): void {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (error) {
    throw osFailure(path, `cannot read the store ${path}`, error as NodeJS.ErrnoException);
  }
  if (!isFile) {
    throw new StoreError('StoreCannotOpen', path, `the store ${path} is not a file`, { remedy: 'set store.sqlite in the config to the path of a file (it is created if missing)' });
  }
  try {
    closeSync(openSync(path, 'r+'));
  } catch (error) {
    throw osFailure(path, `the store ${path} cannot be written`, error as NodeJS.ErrnoException);
  }
}

/** Group- or world-readable store files (the database, its -wal and -shm). */
export function looseStoreFiles(path: string): Array<{ file: string; mode: number }> {
  const loose: Array<{ file: string; mode: number }> = [];
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      const mode = statSync(file).mode & 0o777;
      if (mode & 0o077) loose.push({ file, mode });
    } catch {
      // -wal and -shm exist only while the store is open somewhere (or after a crash)
    }
  }
  return loose;
}

/**
 * Makes the store's folder and file (0700, 0600) or checks the existing ones, throwing a StoreError that names
 * the reason when they cannot be used.
 */
export function prepareStoreFile(path: string): void {
  ensureFolder(path);
  if (ensureFile(path) === 'exists') checkExisting(path);
}

/** Warns (once per process and file) when the store's files can be read by other users of this machine. */
export function warnIfReadableByOthers(path: string): void {
  if (process.platform === 'win32' || warned.has(path)) return;
  const loose = looseStoreFiles(path);
  if (!loose.length) return;
  warned.add(path);
  const list = loose.map(({ file, mode }) => `${file} (${mode.toString(8).padStart(4, '0')})`).join(', ');
  process.emitWarning(`the store can be read by other users of this machine: ${list}; it holds feed URLs with their tokens`, {
    code: 'CALPUSH_STORE_PERMISSIONS',
    detail: `chmod 600 ${loose.map(({ file }) => file).join(' ')}`,
  });
}
