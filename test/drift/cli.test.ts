// calpush watch --once and calpush status from the command line against the sandbox (Graph): a student deletes a
// lecture and edits another; one round restores both (respect for the edits of one calendar, by a rule), the JSON
// counts what was found, and status shows the drift per mailbox.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventKey } from '../../src/model/event.ts';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { createWorkspace, runCli, type Workspace } from '../e2e/harness.ts';

let sandbox: SandboxInternals;
let workspace: Workspace;
const RESTORED = 's0021@contoso.edu';
const RESPECTED = 's0022@contoso.edu';

/** n days from now at 09:00 UTC: in the watch window whatever the time of day. */
const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
const lectures = (calendar: string) => [1, 2, 3].map((n) => ({ calendar, id: `lecture-${n}`, subject: `Lecture ${n}`, start: `${day(n + 1)}T09:00`, end: `${day(n + 1)}T10:00`, timeZone: 'UTC' }));

beforeAll(async () => {
  sandbox = await startSandbox();
  workspace = createWorkspace(sandbox, 'secret', { watch: { rules: [{ match: [RESPECTED], drift: { edited: 'respect' } }] } });
  writeFileSync(join(workspace.dir, 'timetable.json'), JSON.stringify([...lectures(RESTORED), ...lectures(RESPECTED)]));
});
afterAll(async () => {
  await sandbox?.close();
});

async function itemOf(calendar: string, id: string): Promise<string> {
  const store = new SqliteStore(join(workspace.dir, 'state/calpush.sqlite'));
  try {
    return (await store.deliveredFor(calendar)).find((row) => row.key === eventKey(calendar, id))!.itemId;
  } finally {
    await store.close();
  }
}

describe('calpush watch --once', () => {
  it('finds what the students did, restores what the policy says, and status shows it', async () => {
    const sync = await runCli(['sync', '-c', workspace.configPath, '-i', join(workspace.dir, 'timetable.json')]);
    expect(sync.code).toBe(0);
    const first = await runCli(['watch', '--once', '-c', workspace.configPath, '--json']);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).watch.mailboxes.map((m: { status: string }) => m.status)).toEqual(['full', 'full']);

    for (const calendar of [RESTORED, RESPECTED]) {
      const person = sandbox.outlook(calendar);
      person.deleteEvent(await itemOf(calendar, 'lecture-1'));
      person.updateEvent(await itemOf(calendar, 'lecture-2'), { subject: 'Changed by the student' });
    }
    const round = await runCli(['watch', '--once', '-c', workspace.configPath, '--json']);
    expect(round.stderr).toBe('');
    expect(round.code).toBe(0);
    const result = JSON.parse(round.stdout);
    const found = Object.fromEntries(result.watch.mailboxes.map((m: { calendar: string; drift: Array<{ kind: string; policy: string }> }) => [m.calendar, m.drift.map((d) => `${d.kind}:${d.policy}`).sort()]));
    expect(found).toEqual({ [RESTORED]: ['deleted:restore', 'edited:restore'], [RESPECTED]: ['deleted:restore', 'edited:respect'] });
    const subjects = (calendar: string) => sandbox.listEvents(calendar).map((e) => e.subject).sort();
    expect(subjects(RESTORED)).toEqual(['Lecture 1', 'Lecture 2', 'Lecture 3']);
    expect(subjects(RESPECTED)).toEqual(['Changed by the student', 'Lecture 1', 'Lecture 3']);

    const status = await runCli(['status', '-c', workspace.configPath, '--json']);
    const rows = JSON.parse(status.stdout) as Array<{ calendar: string; drift: { counts: Record<string, number>; events: Array<{ kind: string; policy: string }> } }>;
    expect(rows.find((r) => r.calendar === RESPECTED)!.drift.counts).toEqual({ 'edited:respect': 1, 'deleted:restore': 1 });
    const text = await runCli(['status', '-c', workspace.configPath]);
    expect(text.stdout).toContain(`drift: edited → respect 1`);
  });

  it('sync --dry-run applies the recorded drift as the delivery would, shows it per policy, and writes nothing', async () => {
    const DRY = 's0023@contoso.edu';
    const input = join(workspace.dir, 'with-dry.json');
    writeFileSync(input, JSON.stringify([...lectures(RESTORED), ...lectures(RESPECTED), ...lectures(DRY)]));
    expect((await runCli(['sync', '-c', workspace.configPath, '-i', input])).code).toBe(0);
    // Findings a watch recorded and no delivery applied yet: lecture-2 edited (restore), lecture-3 detached.
    const store = new SqliteStore(join(workspace.dir, 'state/calpush.sqlite'));
    const edited = await itemOf(DRY, 'lecture-2');
    const detached = await itemOf(DRY, 'lecture-3');
    await store.recordDrift(DRY, [
      { key: eventKey(DRY, 'lecture-2'), kind: 'edited', policy: 'restore', itemId: edited, changeKey: 'as-the-student-left-it', contentHash: null },
      { key: eventKey(DRY, 'lecture-3'), kind: 'edited', policy: 'detach', itemId: detached, changeKey: 'as-the-student-left-it-too', contentHash: null },
    ], false);
    const driftBefore = await store.driftFor(DRY);
    await store.close();
    // The source drops lecture-3: detached, so no delivery deletes it.
    writeFileSync(input, JSON.stringify([...lectures(RESTORED), ...lectures(RESPECTED), ...lectures(DRY).slice(0, 2)]));
    sandbox.resetStats();
    const dry = await runCli(['sync', '-c', workspace.configPath, '-i', input, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const mailbox = JSON.parse(dry.stdout).plan.mailboxes.find((m: { calendar: string }) => m.calendar === DRY);
    expect(mailbox).toMatchObject({ create: { count: 0 }, update: { count: 1, ids: ['lecture-2'] }, delete: { count: 0 } });
    expect(mailbox.drift).toEqual({ restore: { count: 1, ids: ['lecture-2'] }, respect: { count: 0, ids: [] }, detach: { count: 1, ids: ['lecture-3'] } });
    const text = await runCli(['sync', '-c', workspace.configPath, '-i', input, '--dry-run']);
    expect(text.stdout).toContain('drift the watch recorded: 1 restored as desired ("lecture-2"); 1 no longer managed (detach) ("lecture-3")');
    expect(sandbox.stats().writes).toBe(0);
    const after = new SqliteStore(join(workspace.dir, 'state/calpush.sqlite'));
    expect(await after.driftFor(DRY)).toEqual(driftBefore);
    await after.close();
  });

  it('status shows the change-notification subscriptions per mailbox and per target (--json, --subscriptions)', async () => {
    const store = new SqliteStore(join(workspace.dir, 'state/calpush.sqlite'));
    // As serve records them: far from any time of day the test may run at.
    await store.saveSubscription(RESTORED, { target: 'default', subscriptionId: 'sub-1', expiresAt: '2999-01-01T00:00:00.000Z', lastError: null, lastErrorAt: null });
    await store.saveSubscription(RESPECTED, { target: 'default', subscriptionId: null, expiresAt: null, lastError: 'Forbidden: Graph refused the subscription', lastErrorAt: '2026-09-01T08:00:00.000Z' });
    await store.countNotifications('default', 5, 2);
    await store.close();
    const rows = JSON.parse((await runCli(['status', '-c', workspace.configPath, '--json'])).stdout) as Array<{ calendar: string; subscription: unknown }>;
    expect(rows.find((r) => r.calendar === RESTORED)!.subscription).toEqual({ target: 'default', id: 'sub-1', expiresAt: '2999-01-01T00:00:00.000Z', lastError: null, lastErrorAt: null });
    const targets = JSON.parse((await runCli(['status', '-c', workspace.configPath, '--subscriptions', '--json'])).stdout);
    expect(targets).toEqual({
      targets: [
        {
          target: 'default', active: 1, expiring: 0, failed: 1,
          lastError: { calendar: RESPECTED, message: 'Forbidden: Graph refused the subscription', at: '2026-09-01T08:00:00.000Z' },
          notifications: { received: 5, rejected: 2 },
        },
      ],
    });
    const text = (await runCli(['status', '-c', workspace.configPath])).stdout;
    expect(text).toContain('change notifications (Graph):\n  default: 1 active, 0 expiring, 1 failed; notifications 5 received, 2 rejected');
    expect(text).toContain(`last error 2026-09-01T08:00:00.000Z (${RESPECTED}): Forbidden: Graph refused the subscription`);
  });

  it('without --once it says how to run it (exit 2)', async () => {
    const result = await runCli(['watch', '-c', workspace.configPath]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--once');
  });
});
