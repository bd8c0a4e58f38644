// `calpush sync --dry-run` and `calpush import --dry-run` as a person runs them, against the sandbox: the plan is
// printed, and the sandbox receives not one write request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { join } from 'node:path';
import { createWorkspace, lecture, runCli, tagged, usableStudents } from './harness.ts';

let sandbox: Sandbox;
let students: string[];
const seed = defaultTenantSeed();

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
  students = usableStudents(seed);
});
afterAll(async () => {
  await sandbox?.close();
});

describe('calpush sync --dry-run', () => {
  it('prints the plan of a changed input as JSON and sends no write request; the real run then does exactly that', async () => {
    // Prune at once: the plan does not depend on the hour the suite runs (a removed lecture may have ended by then).
    const ws = createWorkspace(sandbox, 'secret', { instance: 'dry-run', retention: { past: 'prune', afterDays: 0 } });
    const [mailbox, other] = [students[3]!, students[4]!];
    const events = [...Array.from({ length: 8 }, (_, n) => lecture(mailbox, n)), lecture(other, 1)];
    const ours = () => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(';dry-run;'));

    // A first dry run: nothing is known, so each mailbox is listed (read-only) and every event would be created.
    sandbox.resetStats();
    const first = await runCli(['sync', '-c', ws.configPath, '-i', ws.input('v1.ndjson', events), '--dry-run', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const firstPlan = JSON.parse(first.stdout);
    expect(firstPlan).toMatchObject({ dryRun: true, desired: { added: 9 }, plan: { totals: { create: 9, update: 0, delete: 0 } } });
    expect(firstPlan.plan.mailboxes.map((m: { basis: string }) => m.basis)).toEqual(['listed', 'listed']);
    expect(sandbox.stats().writes).toBe(0);
    const store = new SqliteStore(join(ws.dir, 'state/calpush.sqlite'));
    expect(await store.calendars()).toEqual([]);
    await store.close();

    expect((await runCli(['sync', '-c', ws.configPath, '-i', ws.input('v1.ndjson', events)])).code).toBe(0);
    expect(ours()).toHaveLength(8);

    const changed = events.filter((e) => e.id !== 'lecture-5').map((e) => (e.id === 'lecture-2' && e.calendar === mailbox ? { ...e, subject: 'Moved lecture' } : e));
    changed.push(lecture(mailbox, 20));
    sandbox.resetStats();
    const dry = await runCli(['sync', '-c', ws.configPath, '-i', ws.input('v2.ndjson', changed), '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(sandbox.stats().writes).toBe(0);
    expect(sandbox.stats().requests).toBe(0);
    const plan = JSON.parse(dry.stdout);
    expect(plan.desired).toEqual({ added: 1, changed: 1, removed: 1, unchanged: 7, kept: 0 });
    expect(plan.plan).toMatchObject({ unchangedMailboxes: 1, totals: { create: 1, update: 1, delete: 1 } });
    expect(plan.plan.mailboxes).toEqual([
      { calendar: mailbox, basis: 'store', target: 'default', create: { count: 1, ids: ['lecture-20'] }, update: { count: 1, ids: ['lecture-2'] }, delete: { count: 1, ids: ['lecture-5'] }, unchanged: 6 },
    ]);
    expect(ours().map((e) => e.subject)).not.toContain('Moved lecture');

    // Without --json: a table and the ids.
    const text = await runCli(['sync', '-c', ws.configPath, '-i', ws.input('v2.ndjson', changed), '--dry-run']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Dry run: nothing was sent to any calendar and nothing was recorded.');
    expect(text.stdout).toMatch(new RegExp(`${mailbox}\\s+1\\s+1\\s+1\\s+6\\s+store`));
    expect(text.stdout).toContain('delete "lecture-5"');
    expect(sandbox.stats().writes).toBe(0);

    const real = await runCli(['sync', '-c', ws.configPath, '-i', ws.input('v2.ndjson', changed), '--json']);
    expect(JSON.parse(real.stdout).delivery.totals).toMatchObject({ created: 1, updated: 1, deleted: 1, failed: 0 });
    expect(sandbox.stats().writes).toBe(3);
  });

  it('calpush import --dry-run lists what it would add, and writes nothing', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'dry-import' });
    const mailbox = students[5]!;
    sandbox.resetStats();
    const result = await runCli(['import', ws.input('more.ndjson', [lecture(mailbox, 1), lecture(mailbox, 2)]), '-c', ws.configPath, '--dry-run', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, desired: { added: 2 }, plan: { totals: { create: 2 } } });
    expect(sandbox.stats().writes).toBe(0);
    expect(tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(';dry-import;'))).toHaveLength(0);
  });
});
