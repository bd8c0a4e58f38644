// A store that cannot be used stops calpush with one message naming the file, the cause and the fix (exit 5):
// a read-only folder and a file that is not a calpush store through the CLI, and a disk that fills up in the
// middle of a delivery — after which nothing is half-recorded: the next run converges without a duplicate.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/cli/commands/sync.ts';
import { formatSummary } from '../../src/cli/summary.ts';
import { defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { runSync } from '../../src/app/sync.ts';
import { createWorkspace, lecture, runCli, tagged, usableStudents } from './harness.ts';

let sandbox: SandboxInternals;
let students: string[];
beforeAll(async () => {
  sandbox = await startSandbox();
  students = usableStudents(defaultTenantSeed()).slice(0, 8);
});
afterAll(async () => {
  await sandbox?.close();
});

/** A folder this user may not create anything in: chmod for a user, sysfs for root (root passes chmod). */
function readOnlyFolder(): string {
  if (process.getuid?.() === 0) return '/sys';
  const folder = join(mkdtempSync(join(tmpdir(), 'calpush-ro-')), 'locked');
  mkdirSync(folder);
  chmodSync(folder, 0o500);
  return folder;
}

describe('a store that cannot be used, through the command line', () => {
  it('in a read-only folder: one message with the file, the reason and the fix; exit 5 (sync and status)', async () => {
    const path = join(readOnlyFolder(), 'calpush-e2e', 'calpush.sqlite');
    const ws = createWorkspace(sandbox, 'secret', { instance: 'store-ro', store: { sqlite: path } });
    const input = ws.input('t.ndjson', [lecture(students[0]!, 1)]);
    for (const args of [['sync', '-c', ws.configPath, '-i', input], ['status', '-c', ws.configPath]]) {
      const result = await runCli(args);
      expect(result.code).toBe(5);
      expect(result.stdout).toBe('');
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(new RegExp(`^calpush: cannot create the folder ${join(path, '..').replace(/[/.]/g, '\\$&')} for the store: (permission denied|operation not permitted|the file system is read-only) \\(E[A-Z]+\\)$`));
      expect(lines[1]).toMatch(/^ {2}fix: make .* writable for the user calpush runs as/);
    }
  });

  it('a file that is not a calpush store: says so and changes nothing; exit 5', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'store-foreign', store: { sqlite: 'notes.txt' } });
    writeFileSync(join(ws.dir, 'notes.txt'), 'meeting notes, not a database\n'.repeat(100));
    const result = await runCli(['status', '-c', ws.configPath]);
    expect(result.code).toBe(5);
    expect(result.stderr).toBe(
      `calpush: ${join(ws.dir, 'notes.txt')} is not a calpush store: it is not an SQLite database (file is not a database)\n` +
        `  fix: check store.sqlite in the config; if this is calpush's store and it was damaged: restore it from a backup; or move it aside and run calpush sync with the full input again: calpush then finds the events it delivered by their tag and adopts them, nothing is duplicated (API keys, and what the push API, imports and feeds recorded, must then be sent again)\n`,
    );
  });
});

describe('a disk that fills up during a delivery', () => {
  /** The store SQLite considers full a few pages after the input is recorded (PRAGMA max_page_count), as a full disk answers SQLITE_FULL. */
  class FillingStore extends SqliteStore {
    private filled = false;
    override async claimMailbox(calendar: string, owner: string, leaseMs: number): ReturnType<SqliteStore['claimMailbox']> {
      if (!this.filled) {
        this.filled = true;
        const db = (this as unknown as { db: DatabaseSync }).db;
        const pages = (db.prepare('PRAGMA page_count').get() as { page_count: number }).page_count;
        db.exec(`PRAGMA max_page_count = ${pages + 3}`);
      }
      return super.claimMailbox(calendar, owner, leaseMs);
    }
  }

  it('stops the run with one message and exit 5; the next run converges with nothing duplicated', async () => {
    // The stopped run's creates whose answers were not recorded may land for 2 × 2 s + 2 s after they were sent
    // (engine/in-flight.ts): the rerun lists after that.
    const ws = createWorkspace(sandbox, 'secret', { instance: 'store-full', requestTimeoutMs: 2_000 });
    const events = students.flatMap((s) => Array.from({ length: 40 }, (_, i) => lecture(s, i, { body: `Notes ${'x'.repeat(400)}` })));
    const input = ws.input('all.ndjson', events);
    const path = join(ws.dir, 'state', 'calpush.sqlite');

    const store = new FillingStore(path);
    let result;
    try {
      result = await runSync({ config: ws.config, baseDir: ws.dir, inputs: [input], store });
    } finally {
      await store.close();
    }
    expect(result.delivery.fatal).toMatchObject({ code: 'StoreFull', source: 'store', message: `the disk holding the store ${path} is full (database or disk is full)` });
    expect(exitCodeFor(result)).toBe(5);
    const summary = formatSummary(result);
    expect(summary.split(result.delivery.fatal!.message).length - 1).toBe(1);
    expect(summary).not.toContain('InternalError');
    expect(summary).toMatch(/TOTAL .* STOPPED StoreFull/);
    expect(result.delivery.mailboxes.every((m) => m.failures.length === 0)).toBe(true);

    // Space again: the same input delivers what is missing, and every event exists exactly once.
    const again = await runCli(['sync', '-c', ws.configPath, '-i', input]);
    expect(again.code).toBe(0);
    for (const student of students) {
      const ours = tagged(sandbox, student).filter((e) => JSON.stringify(e).includes(';store-full;'));
      expect(ours).toHaveLength(40);
      expect(new Set(ours.map((e) => e.subject)).size).toBe(40);
    }
  });
});
