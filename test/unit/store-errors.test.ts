// The store file on disk: created private (folder 0700, file 0600, and so its -wal/-shm) whatever the umask, a
// warning once when an existing one is readable by others, and every way it can be unusable — read-only, full,
// locked, not a calpush store, damaged, from a newer calpush — a StoreError naming the file, the cause and the fix.
// A transaction that fails leaves nothing behind and reports the error that mattered.
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, statSync, writeFileSync, closeSync, writeSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { StoreError } from '../../src/store/errors.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const cal = 'a@contoso.edu';
function event(id: string, body = ''): DesiredEvent {
  const result = validateEvent({ calendar: cal, id, subject: id, body, start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'Europe/Amsterdam' });
  if (!result.ok) throw new Error('invalid');
  return result.desired;
}
const tempDir = () => mkdtempSync(join(tmpdir(), 'calpush-store-errors-'));
const mode = (path: string) => statSync(path).mode & 0o777;
const isRoot = process.getuid?.() === 0;

const open: SqliteStore[] = [];
function openStore(path: string): SqliteStore {
  const store = new SqliteStore(path);
  open.push(store);
  return store;
}
afterEach(async () => {
  for (const store of open.splice(0)) await store.close();
});

function storeError(work: () => unknown): StoreError {
  try {
    work();
  } catch (error) {
    if (error instanceof StoreError) return error;
    throw error;
  }
  throw new Error('expected a StoreError');
}

async function rejected(work: Promise<unknown>): Promise<StoreError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof StoreError) return error;
    throw error;
  }
  throw new Error('expected a StoreError');
}

/** The process's warnings with this code, collected while `work` runs. */
async function warningsDuring(code: string, work: () => void): Promise<Error[]> {
  const seen: Error[] = [];
  const listener = (warning: Error & { code?: string }) => {
    if (warning.code === code) seen.push(warning);
  };
  process.on('warning', listener);
  try {
    work();
    await new Promise((resolve) => setTimeout(resolve, 20)); // warnings are emitted on the next tick
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

describe('the store file', () => {
  it('is created 0600 in a folder created 0700, and SQLite’s -wal/-shm files follow, whatever the umask', async () => {
    const previous = process.umask(0o000);
    try {
      const dir = join(tempDir(), 'state');
      const path = join(dir, 'calpush.sqlite');
      const store = openStore(path);
      await store.applyDesired({ calendars: [cal], events: [event('x')], held: [] });
      expect(mode(dir)).toBe(0o700);
      expect(mode(path)).toBe(0o600);
      expect(mode(`${path}-wal`)).toBe(0o600);
      expect(mode(`${path}-shm`)).toBe(0o600);
    } finally {
      process.umask(previous);
    }
  });

  it('warns once when an existing store can be read by other users, naming the files and the fix', async () => {
    const path = join(tempDir(), 'calpush.sqlite');
    await openStore(path).close();
    chmodSync(path, 0o644);
    const warnings = await warningsDuring('CALPUSH_STORE_PERMISSIONS', () => {
      openStore(path);
      openStore(path);
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toContain(`${path} (0644)`);
    // SQLite gave the -wal and -shm files the store's mode: they are named too.
    expect(warnings[0]!.message).toContain(`${path}-wal (0644)`);
    expect((warnings[0] as Error & { detail?: string }).detail).toBe(`chmod 600 ${path} ${path}-wal ${path}-shm`);
    // A private store is not warned about.
    const quiet = join(tempDir(), 'calpush.sqlite');
    expect(await warningsDuring('CALPUSH_STORE_PERMISSIONS', () => openStore(quiet))).toHaveLength(0);
  });
});

describe('a store that cannot be used', () => {
  it('in a folder this user may not write: read-only, naming the file and the folder', () => {
    // Root passes chmod, so as root the folder is one no one may create files in (sysfs).
    let folder: string;
    if (isRoot) folder = '/sys';
    else {
      folder = join(tempDir(), 'locked');
      mkdirSync(folder);
      chmodSync(folder, 0o500);
    }
    const path = join(folder, 'calpush.sqlite');
    const error = storeError(() => openStore(path));
    expect(error).toMatchObject({ code: 'StoreReadOnly', path });
    expect(error.message).toMatch(new RegExp(`^cannot create the store ${path}: (permission denied|operation not permitted|the file system is read-only) \\((EACCES|EPERM|EROFS)\\)$`.replace(/\//g, '\\/')));
    expect(error.remedy).toContain(`writable for the user calpush runs as (ls -ld ${folder}`);
    // …and so is a folder that cannot be made there.
    expect(storeError(() => openStore(join(folder, 'calpush-state', 'calpush.sqlite')))).toMatchObject({ code: 'StoreReadOnly' });
  });

  it('under a path that is a file: says a part of the path is not a folder', () => {
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, 'x');
    const error = storeError(() => openStore(join(file, 'state', 'calpush.sqlite')));
    expect(error.code).toBe('StoreCannotOpen');
    expect(error.message).toBe(`cannot create the folder ${file}/state for the store: a part of the path is a file, not a folder (ENOTDIR)`);
    expect(storeError(() => openStore(join(file, 'calpush.sqlite'))).message).toBe(`cannot create the folder ${file} for the store: a part of the path is a file, not a folder (EEXIST)`);
  });

  it('written read-only: a write says so (SQLITE_READONLY) with the store named', async () => {
    // A read-only connection is what a read-only file gives a non-root user; root cannot be kept from writing a file.
    const path = join(tempDir(), 'calpush.sqlite');
    await openStore(path).applyDesired({ calendars: [cal], events: [event('x')], held: [] });
    const store = openStore(`file:${path}?mode=ro`);
    const error = await rejected(store.recordMailboxFailure(cal, 'X', 'y'));
    expect(error).toMatchObject({ code: 'StoreReadOnly' });
    expect(error.message).toBe(`the store file:${path}?mode=ro cannot be written (attempt to write a readonly database)`);
  });

  it('a random file: not a calpush store (not an SQLite database)', () => {
    const path = join(tempDir(), 'calpush.sqlite');
    writeFileSync(path, 'these are the minutes of the meeting, not a database\n'.repeat(200));
    const error = storeError(() => openStore(path));
    expect(error.code).toBe('NotACalpushStore');
    expect(error.message).toBe(`${path} is not a calpush store: it is not an SQLite database (file is not a database)`);
  });

  it('another application’s SQLite database: not a calpush store, and left exactly as it was', () => {
    const path = join(tempDir(), 'other.sqlite');
    const other = new DatabaseSync(path);
    other.exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL); INSERT INTO invoices (amount) VALUES (12.5);");
    other.close();
    const before = readFileSync(path);
    const error = storeError(() => openStore(path));
    expect(error.code).toBe('NotACalpushStore');
    expect(error.message).toBe(`${path} is not a calpush store: it is an SQLite database of another application (tables invoices)`);
    expect(readFileSync(path).equals(before)).toBe(true);
    // One marked by its application_id is refused for that.
    const marked = join(tempDir(), 'marked.sqlite');
    const db = new DatabaseSync(marked);
    db.exec('PRAGMA application_id = 42');
    db.close();
    expect(storeError(() => openStore(marked)).message).toContain('it belongs to another application (application_id 42)');
  });

  it('damaged pages: the store is damaged, with how to rebuild', async () => {
    const path = join(tempDir(), 'calpush.sqlite');
    const store = openStore(path);
    await store.applyDesired({ calendars: [cal], events: Array.from({ length: 400 }, (_, i) => event(`e${i}`, 'x'.repeat(300))), held: [] });
    await store.close();
    open.splice(open.indexOf(store), 1);
    // Overwrite the middle of the file (the desired events' pages), leaving the header and schema page intact.
    const fd = openSync(path, 'r+');
    const size = fstatSync(fd).size;
    writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, Math.floor(size / 2 / 4096) * 4096);
    closeSync(fd);
    const damaged = openStore(path);
    const error = await rejected(damaged.desiredFor(cal));
    expect(error.code).toBe('StoreCorrupt');
    expect(error.message).toMatch(new RegExp(`^the store ${path.replace(/[/.]/g, '\\$&')} is damaged \\(database disk image is malformed\\)$`));
    expect(error.remedy).toMatch(/restore it from a backup; or move it aside and run calpush sync/);
  });

  it('from a newer calpush: says so and to upgrade, and changes nothing', async () => {
    const path = join(tempDir(), 'calpush.sqlite');
    await openStore(path).close();
    const db = new DatabaseSync(path);
    db.exec('PRAGMA user_version = 99');
    db.close();
    const error = storeError(() => openStore(path));
    expect(error.code).toBe('StoreTooNew');
    expect(error.message).toBe(`the store ${path} was written by a newer calpush (schema version 99; this calpush knows up to 15)`);
    const check = new DatabaseSync(path);
    expect((check.prepare('PRAGMA user_version').get() as { user_version: number }).user_version).toBe(99);
    check.close();
  });

  it('locked by another process beyond the busy timeout: locked, with who may hold it', async () => {
    const path = join(tempDir(), 'calpush.sqlite');
    const store = openStore(path);
    const other = new DatabaseSync(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const error = await rejected(store.recordMailboxFailure(cal, 'X', 'y'));
      expect(error.code).toBe('StoreLocked');
      expect(error.message).toBe(`the store ${path} is locked by another process (still locked after 5 s: database is locked)`);
      expect(error.remedy).toMatch(/another calpush process, or a program holding the file open/);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
  }, 20_000);
});

describe('a full disk', () => {
  /** A store SQLite considers full a few pages from now (PRAGMA max_page_count), as a full disk answers SQLITE_FULL. */
  function nearlyFull(store: SqliteStore, spare = 2): void {
    const db = (store as unknown as { db: DatabaseSync }).db;
    const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
    db.exec(`PRAGMA max_page_count = ${pages + spare}`);
  }

  it('reports SQLITE_FULL with the file and the fix — not "cannot rollback" — and the transaction left nothing behind', async () => {
    const path = join(tempDir(), 'calpush.sqlite');
    const store = openStore(path);
    await store.applyDesired({ calendars: [cal], events: [event('kept')], held: [] });
    nearlyFull(store);
    const big = Array.from({ length: 300 }, (_, i) => event(`e${i}`, 'x'.repeat(2_000)));
    const error = await rejected(store.applyDesired({ calendars: [cal], events: big, held: [] }));
    expect(error.code).toBe('StoreFull');
    expect(error.message).toBe(`the disk holding the store ${path} is full (database or disk is full)`);
    expect(error.remedy).toContain('nothing was half-recorded');
    // All or nothing: the desired set is the one before the failed change, and the store still works.
    expect((await store.desiredFor(cal)).map((row) => row.sourceId)).toEqual(['kept']);
    await store.recordMailboxFailure(cal, 'X', 'still writable');
    expect((await store.mailbox(cal))?.lastError).toBe('still writable');
  });

  it('in a transaction of the delivery records (completeOps): none of its rows is recorded', async () => {
    const path = join(tempDir(), 'calpush.sqlite');
    const store = openStore(path);
    const events = Array.from({ length: 200 }, (_, i) => event(`e${i}`));
    await store.applyDesired({ calendars: [cal], events, held: [] });
    const ops = events.map((e) => ({ calendar: cal, key: e.key, kind: 'create' as const, itemId: null, contentHash: e.contentHash, transactionId: `t-${e.key}`, startsAtMs: e.startsAtMs, attempts: 0, lastError: null }));
    await store.replacePendingOps(cal, ops);
    nearlyFull(store, 1);
    const error = await rejected(
      store.completeOps(ops.map((op) => ({ op, delivered: { calendar: cal, key: op.key, itemId: `item-${op.key}-${'i'.repeat(400)}`, changeKey: 'ck', transactionId: op.transactionId, contentHash: op.contentHash, startsAtMs: op.startsAtMs } }))),
    );
    expect(error.code).toBe('StoreFull');
    expect(await store.deliveredFor(cal)).toEqual([]);
    expect(await store.pendingOps(cal)).toHaveLength(200);
  });
});
