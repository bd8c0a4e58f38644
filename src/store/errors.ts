// What can go wrong with the store file, said with the file's name, the cause and the fix. Every SQLite error the
// embedded store raises passes through storeFailure() (the database handle is wrapped by guardDatabase), so no
// caller ever sees a bare "database or disk is full" or "unable to open database file".
//
// Result codes: https://www.sqlite.org/rescode.html (node:sqlite puts the extended code in `errcode`).
import { basename, dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { CalpushError } from '../model/errors.ts';

export type StoreErrorCode =
  | 'StoreReadOnly'
  | 'StoreCannotOpen'
  | 'StoreFull'
  | 'StoreLocked'
  | 'StoreCorrupt'
  | 'StoreIOError'
  | 'NotACalpushStore'
  | 'StoreTooNew'
  | 'StoreFailed';

/** The store cannot be used. Every one of these stops the command (exit status 5): no mailbox gets past it. */
export class StoreError extends CalpushError {
  /** The store file (absolute). */
  readonly path: string;

  constructor(code: StoreErrorCode, path: string, message: string, details: { remedy?: string; cause?: unknown } = {}) {
    super(code, message, details);
    this.path = path;
  }
}

/** What SQLite says: its result code (primary, without the extended bits) and text. */
function sqliteCause(error: unknown): { primary: number; text: string } | undefined {
  const e = error as { code?: unknown; errcode?: unknown; errstr?: unknown; message?: unknown } | null;
  if (!e || e.code !== 'ERR_SQLITE_ERROR' || typeof e.errcode !== 'number') return undefined;
  return { primary: e.errcode & 0xff, text: typeof e.errstr === 'string' ? e.errstr : String(e.message) };
}

const SQLITE_PERM = 3;
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_NOTADB = 26;

/** How long a connection waits for another one's write lock before SQLITE_BUSY (PRAGMA busy_timeout). */
export const BUSY_TIMEOUT_MS = 5_000;

/** What to do with a store that is damaged: calpush can rebuild what it delivered, not what it was told. */
const REBUILD =
  'restore it from a backup; or move it aside and run calpush sync with the full input again: calpush then finds the events it delivered by their tag and adopts them, nothing is duplicated (API keys, and what the push API, imports and feeds recorded, must then be sent again)';

/** The disk holding the store is full (ENOSPC, SQLITE_FULL). */
export function storeFull(path: string, cause: unknown, detail = 'database or disk is full'): StoreError {
  return new StoreError('StoreFull', path, `the disk holding the store ${path} is full (${detail})`, {
    remedy: `free space on that file system (df -h ${dirname(path)}) and run again: nothing was half-recorded, the change that did not fit was rolled back`,
    cause,
  });
}

/** The user calpush runs as may not write where the store lives. */
export function storeReadOnly(path: string, what: string, cause: unknown): StoreError {
  return new StoreError('StoreReadOnly', path, what, {
    remedy: `make ${dirname(path)} and the store files in it writable for the user calpush runs as (ls -ld ${dirname(path)}; chown/chmod), or set store.sqlite in the config to a writable path`,
    cause,
  });
}

/** A SQLite failure of the store at `path` as a StoreError; anything else is returned as it is. */
export function storeFailure(error: unknown, path: string): unknown {
  if (error instanceof StoreError) return error;
  const sqlite = sqliteCause(error);
  if (!sqlite) return error;
  const { primary, text } = sqlite;
  switch (primary) {
    case SQLITE_FULL:
      return storeFull(path, error, text);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new StoreError('StoreLocked', path, `the store ${path} is locked by another process (still locked after ${BUSY_TIMEOUT_MS / 1000} s: ${text})`, {
        remedy: 'another calpush process, or a program holding the file open (sqlite3, a backup tool), keeps a write lock: let it finish or close it, then run again',
        cause: error,
      });
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return storeReadOnly(path, `the store ${path} cannot be written (${text})`, error);
    case SQLITE_CANTOPEN:
      return new StoreError('StoreCannotOpen', path, `cannot open the store ${path} (${text})`, {
        remedy: `the folder ${dirname(path)} must exist and be writable for the user calpush runs as: SQLite keeps ${basename(path)}-wal and ${basename(path)}-shm beside the store`,
        cause: error,
      });
    case SQLITE_CORRUPT:
      return new StoreError('StoreCorrupt', path, `the store ${path} is damaged (${text})`, { remedy: REBUILD, cause: error });
    case SQLITE_NOTADB:
      return new StoreError('NotACalpushStore', path, `${path} is not a calpush store: it is not an SQLite database (${text})`, {
        remedy: `check store.sqlite in the config; if this is calpush's store and it was damaged: ${REBUILD}`,
        cause: error,
      });
    case SQLITE_IOERR:
      return new StoreError('StoreIOError', path, `a disk error on the store ${path} (${text})`, {
        remedy: `check the disk and file system holding ${dirname(path)} (dmesg); the store needs a local file system with working locks (not a network share)`,
        cause: error,
      });
    default:
      return new StoreError('StoreFailed', path, `the store ${path} failed: ${text}`, { remedy: 'run again with --log-level debug and report it if it persists', cause: error });
  }
}

/**
 * The database handle with every call that can fail (exec, prepare, and run/get/all/iterate of its statements)
 * throwing StoreErrors that name `path`. A Proxy, so that the store's many queries stay as they are.
 */
export function guardDatabase(db: DatabaseSync, path: string): DatabaseSync {
  const statements = new WeakMap<object, object>();
  const guardStatement = (statement: object) => {
    let guarded = statements.get(statement);
    if (!guarded) {
      guarded = guard(statement, path, (result) => result);
      statements.set(statement, guarded);
    }
    return guarded;
  };
  return guard(db, path, (result, method) => (method === 'prepare' && result && typeof result === 'object' ? guardStatement(result) : result));
}

function guard<T extends object>(target: T, path: string, wrapResult: (result: unknown, method: PropertyKey) => unknown): T {
  const methods = new Map<PropertyKey, (...args: unknown[]) => unknown>();
  return new Proxy(target, {
    get(object, property) {
      // Native accessors (isOpen, isTransaction) need the real object as receiver.
      const value: unknown = Reflect.get(object, property, object);
      if (typeof value !== 'function') return value;
      let method = methods.get(property);
      if (!method) {
        const fn = value as (...args: unknown[]) => unknown;
        method = (...args: unknown[]) => {
          try {
            return wrapResult(fn.apply(object, args), property);
          } catch (error) {
            throw storeFailure(error, path);
          }
        };
        methods.set(property, method);
      }
      return method;
    },
  });
}
