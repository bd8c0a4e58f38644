// End to end through the real engine (runSync: store, planner, scheduler, delivery) with the EWS target against
// the sandbox's EWS endpoint, in delegate mode (the pool of four service accounts of the security group) and in
// impersonation mode (svc-rooms, ApplicationImpersonation scoped to the rooms). And across targets: events written
// through EWS are adopted, not duplicated, by the Graph target, and the other way round.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  defaultTenantSeed,
  EWS_DELEGATE_ACCOUNTS,
  EWS_IMPERSONATION_ACCOUNT,
  EWS_PASSWORD,
  startSandbox,
  type SandboxInternals,
} from '../../src/sandbox/index.ts';
import { runSync } from '../../src/app/sync.ts';
import { createEwsTarget, ewsTargetSchema } from '../../src/targets/ews/config.ts';
import type { EwsTarget } from '../../src/targets/ews/target.ts';
import { TargetError, type CalendarTarget } from '../../src/targets/target.ts';
import { beforeTheLectures, createWorkspace, foreignSnapshot, lecture, tagged, usableStudents, type Workspace } from '../e2e/harness.ts';

const seed = defaultTenantSeed();
let sandbox: SandboxInternals;

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
});
afterAll(async () => {
  await sandbox?.close();
});

type Access = 'delegate' | 'impersonation';

/** The mailboxes each mode may reach: students for the delegate pool, rooms for the impersonation account. */
function mailboxesFor(access: Access): string[] {
  if (access === 'delegate') return usableStudents(seed).slice(0, 6);
  const withForeign = new Set((seed.events ?? []).map((e) => e.mailbox.toLowerCase()));
  return seed.mailboxes
    .filter((m) => m.kind === 'room')
    .map((m) => m.address.toLowerCase())
    .sort((a, b) => Number(withForeign.has(b)) - Number(withForeign.has(a)) || a.localeCompare(b))
    .slice(0, 6);
}

/** A workspace whose config's `target` is an EWS section, built through ewsTargetSchema and createEwsTarget. */
function ewsWorkspace(instance: string, access: Access, extra: Record<string, unknown> = {}): { ws: Workspace; target: () => EwsTarget } {
  const ws = createWorkspace(sandbox, 'secret', { instance });
  writeFileSync(join(ws.dir, 'ews.pw'), EWS_PASSWORD, { mode: 0o600 });
  const usernames = access === 'delegate' ? EWS_DELEGATE_ACCOUNTS : [EWS_IMPERSONATION_ACCOUNT];
  const section = ewsTargetSchema.parse({
    kind: 'ews',
    url: sandbox.ews.url,
    serverVersion: 'Exchange2016',
    access,
    auth: 'ntlm',
    accounts: usernames.map((username) => ({ username, password: { file: 'ews.pw' } })),
    caFile: 'ca.pem',
    ...extra,
  });
  return { ws, target: () => createEwsTarget(section, { instance, baseDir: ws.dir, allDayTimeZone: ws.config.timeZone }) };
}

async function syncEws(ws: Workspace, target: CalendarTarget, input: string, extra: Partial<Parameters<typeof runSync>[0]> = {}) {
  try {
    return await runSync({ config: ws.config, baseDir: ws.dir, inputs: [input], target, clock: beforeTheLectures(), ...extra });
  } finally {
    await target.close();
  }
}

/** EWS write operations (items) the sandbox saw since the last reset. */
function ewsWrites(): number {
  let writes = 0;
  for (const account of Object.values(sandbox.ews.stats().perAccount)) {
    for (const op of ['CreateItem', 'UpdateItem', 'DeleteItem']) writes += account.byOperation[op] ?? 0;
  }
  return writes;
}
function ewsRequests(): number {
  return Object.values(sandbox.ews.stats().perAccount).reduce((sum, account) => sum + account.requests, 0);
}
const ours = (mailbox: string, instance: string) => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;${instance};`));

describe.each(['delegate', 'impersonation'] as const)('EWS sync against the sandbox (%s)', (access) => {
  let mailboxes: string[];
  beforeAll(() => {
    mailboxes = mailboxesFor(access);
  });
  const timetable = (count: number) => mailboxes.slice(0, 4).flatMap((mailbox) => Array.from({ length: count }, (_, n) => lecture(mailbox, n)));

  it('creates everything, then a rerun sends no write (and no request at all)', async () => {
    const instance = `ews-idem-${access}`;
    const { ws, target } = ewsWorkspace(instance, access);
    const input = ws.input('timetable.ndjson', [...timetable(12), { ...lecture(mailboxes[0]!, 99), allDay: true, start: '2026-12-24', end: '2026-12-27', timeZone: undefined }]);
    sandbox.ews.resetStats();
    const first = await syncEws(ws, target(), input);
    expect(first.delivery.totals).toMatchObject({ created: 49, updated: 0, deleted: 0, failed: 0, failedMailboxes: 0 });
    for (const mailbox of mailboxes.slice(0, 4)) expect(ours(mailbox, instance)).toHaveLength(mailbox === mailboxes[0] ? 13 : 12);
    expect(sandbox.ews.stats().schemaRejected).toBe(0);
    const perAccount = sandbox.ews.stats().perAccount;
    for (const stats of Object.values(perAccount)) {
      expect(stats.anchorMailboxMissing).toBe(0);
      expect(stats.anchorMailboxMismatch).toBe(0);
      expect(stats.impersonated > 0).toBe(access === 'impersonation');
    }
    if (access === 'delegate') expect(Object.keys(perAccount).length).toBeGreaterThan(1);
    // The all-day event: midnight to midnight in the config's zone.
    const exam = ours(mailboxes[0]!, instance).find((e) => e.subject === 'Lecture 99')!;
    expect(exam.isAllDay).toBe(true);

    sandbox.ews.resetStats();
    const second = await syncEws(ws, target(), input);
    expect(second.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 49 });
    expect(ewsRequests()).toBe(0);
  });

  it('updates exactly the changed event, deletes exactly the removed one, and leaves foreign events byte-identical', async () => {
    const instance = `ews-change-${access}`;
    const { ws, target } = ewsWorkspace(instance, access);
    const mailbox = mailboxes[0]!;
    const before = foreignSnapshot(sandbox, mailbox);
    expect(JSON.parse(before).length).toBeGreaterThan(0);
    const events = Array.from({ length: 10 }, (_, n) => lecture(mailbox, n, { location: `Room ${n}`, categories: ['Timetable'], reminderMinutes: 10 }));
    await syncEws(ws, target(), ws.input('v1.ndjson', events));
    const idsBefore = new Map(ours(mailbox, instance).map((e) => [e.subject, e.id]));

    const changed = events
      .map((e, n) => (n === 3 ? { ...e, subject: 'Lecture 3 (moved)', start: '2026-12-04T13:00', end: '2026-12-04T14:30', location: undefined, categories: [], reminderMinutes: undefined } : e))
      .filter((_, n) => n !== 7);
    sandbox.ews.resetStats();
    const result = await syncEws(ws, target(), ws.input('v2.ndjson', changed));
    expect(result.delivery.totals).toMatchObject({ created: 0, updated: 1, deleted: 1, unchanged: 8, failed: 0 });
    expect(ewsWrites()).toBe(2);
    const after = ours(mailbox, instance);
    expect(after).toHaveLength(9);
    const moved = after.find((e) => e.subject === 'Lecture 3 (moved)')!;
    expect(moved.id).toBe(idsBefore.get('Lecture 3'));
    // Cleared fields are cleared; the time is the wall-clock time in the event's zone.
    expect(moved.location?.displayName ?? '').toBe('');
    expect(moved.categories).toEqual([]);
    expect(moved.isReminderOn).toBe(false);
    expect(moved.originalStartTimeZone).toBe('W. Europe Standard Time');
    expect(after.some((e) => e.subject === 'Lecture 7')).toBe(false);
    expect(foreignSnapshot(sandbox, mailbox)).toBe(before);
  });

  it('adopts its tagged events after the database is lost: no duplicate, no write', async () => {
    const instance = `ews-lost-db-${access}`;
    const { ws, target } = ewsWorkspace(instance, access);
    const mailbox = mailboxes[1]!;
    const input = ws.input('t.ndjson', Array.from({ length: 15 }, (_, n) => lecture(mailbox, n)));
    await syncEws(ws, target(), input);
    expect(ours(mailbox, instance)).toHaveLength(15);
    rmSync(join(ws.dir, 'state'), { recursive: true, force: true });
    sandbox.ews.resetStats();
    const again = await syncEws(ws, target(), input);
    expect(again.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 15 });
    expect(ewsWrites()).toBe(0);
    expect(ours(mailbox, instance)).toHaveLength(15);
  });

  it('does not duplicate a create that was sent but never recorded (a crash right after sending)', async () => {
    const instance = `ews-crash-${access}`;
    const { ws, target } = ewsWorkspace(instance, access);
    const mailbox = mailboxes[2]!;
    const input = ws.input('t.ndjson', Array.from({ length: 5 }, (_, n) => lecture(mailbox, n)));
    // The first run's target sends every write, then "dies" before any answer is recorded.
    const real = target();
    const crash = () => new TargetError('fatal', 'Crash', 'simulated crash after sending');
    const crashing: CalendarTarget = {
      kind: 'ews',
      // Its creates may land for 2 × 1 s + 1 s after they were sent: the next run lists once that has passed.
      requestTimeoutMs: 1_000,
      ...(real.batch ? { batch: { ...real.batch, run: async (c, ops) => (await real.batch!.run(c, ops), Promise.reject(crash())) } } : {}),
      listOwned: (c, cursor) => real.listOwned(c, cursor),
      create: async (d, t) => (await real.create(d, t), Promise.reject(crash())),
      update: (d, i) => real.update(d, i),
      remove: (c, i) => real.remove(c, i),
      close: () => real.close(),
    };
    const crashed = await syncEws(ws, crashing, input);
    expect(crashed.delivery.fatal?.code).toBe('Crash');
    expect(ours(mailbox, instance)).toHaveLength(5);
    const recovered = await syncEws(ws, target(), input);
    expect(recovered.delivery.totals).toMatchObject({ created: 0, failed: 0, unchanged: 5 });
    expect(ours(mailbox, instance)).toHaveLength(5);
  });

  it('reports a mailbox it may not use with the remedy, while the others complete', async () => {
    const instance = `ews-denied-${access}`;
    const { ws, target } = ewsWorkspace(instance, access);
    // Delegate: the group has no folder permission on outofscope@; impersonation: students are outside the scope.
    const denied = access === 'delegate' ? 'outofscope@contoso.edu' : usableStudents(seed)[0]!;
    const input = ws.input('t.ndjson', [lecture(denied, 1), lecture(mailboxes[3]!, 200)]);
    const result = await syncEws(ws, target(), input);
    const byMailbox = Object.fromEntries(result.delivery.mailboxes.map((m) => [m.calendar, m]));
    expect(byMailbox[denied]).toMatchObject({ status: 'failed', error: { code: access === 'delegate' ? 'ErrorAccessDenied' : 'ErrorImpersonateUserDenied' } });
    expect(byMailbox[denied]!.error!.remedy).toMatch(access === 'delegate' ? /Add-MailboxFolderPermission/ : /New-ManagementRoleAssignment.*ApplicationImpersonation/);
    expect(byMailbox[denied]!.requests).toBe(1);
    expect(byMailbox[mailboxes[3]!]).toMatchObject({ status: 'ok', created: 1 });
  });

  it('rejects bad records one by one and delivers the valid ones', async () => {
    const instance = `ews-bad-${access}`;
    const { ws, target } = ewsWorkspace(instance, access);
    const mailbox = mailboxes[3]!;
    const path = join(ws.dir, 'mixed.ndjson');
    writeFileSync(
      path,
      `${[
        JSON.stringify(lecture(mailbox, 300, { subject: 'Lecture 300 <&> "ü" 😀', body: { contentType: 'html', content: '<p>a &amp; b</p>' } })),
        '{"calendar": "broken json',
        JSON.stringify(lecture(mailbox, 301, { end: '2026-12-01T07:00' })),
        JSON.stringify(lecture(mailbox, 302, { timeZone: 'Atlantis/Capital' })),
        JSON.stringify(lecture(mailbox, 305)),
      ].join('\n')}\n`,
    );
    const result = await syncEws(ws, target(), path);
    expect(result.input.errors.map((e) => `${e.record}|${e.field}`)).toEqual(expect.arrayContaining(['mixed.ndjson line 2|(record)', 'mixed.ndjson line 3|end', 'mixed.ndjson line 4|timeZone']));
    expect(result.delivery.totals).toMatchObject({ created: 2, failed: 0 });
    expect(ours(mailbox, instance).map((e) => e.subject).sort()).toEqual(['Lecture 300 <&> "ü" 😀', 'Lecture 305']);
  });

  it('never touches an event without its tag, even when the input reuses its id and subject', async () => {
    const instance = `ews-hostile-${access}`;
    const { ws, target } = ewsWorkspace(instance, access);
    const mailbox = mailboxes[0]!;
    const before = foreignSnapshot(sandbox, mailbox);
    const foreign = JSON.parse(before) as Array<{ id: string; subject: string }>;
    await syncEws(ws, target(), ws.input('t.ndjson', foreign.map((f, n) => lecture(mailbox, n, { id: f.id, subject: f.subject }))));
    await syncEws(ws, target(), ws.input('empty.ndjson', []), { allowEmpty: true });
    expect(foreignSnapshot(sandbox, mailbox)).toBe(before);
    expect(ours(mailbox, instance)).toHaveLength(0);
  });
});

describe('across targets: EWS and Graph recognise each other’s events', () => {
  it('events created through EWS are adopted by the Graph target (no write)', async () => {
    const instance = 'cross-ews-to-graph';
    const { ws, target } = ewsWorkspace(instance, 'delegate');
    const mailbox = usableStudents(seed)[6]!;
    const events = Array.from({ length: 8 }, (_, n) => lecture(mailbox, n));
    await syncEws(ws, target(), ws.input('t.ndjson', events));
    expect(ours(mailbox, instance)).toHaveLength(8);

    const graphWs = createWorkspace(sandbox, 'secret', { instance });
    sandbox.resetStats();
    const graph = await runSync({ config: graphWs.config, baseDir: graphWs.dir, inputs: [graphWs.input('t.ndjson', events)], clock: beforeTheLectures() });
    expect(graph.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 8, failed: 0 });
    expect(sandbox.stats().writes).toBe(0);
    expect(ours(mailbox, instance)).toHaveLength(8);

    // And the Graph target updates and deletes them like its own.
    const graph2 = await runSync({ config: graphWs.config, baseDir: graphWs.dir, inputs: [graphWs.input('t2.ndjson', events.slice(1).map((e, n) => (n === 0 ? { ...e, subject: 'via Graph' } : e)))], clock: beforeTheLectures() });
    expect(graph2.delivery.totals).toMatchObject({ updated: 1, deleted: 1, failed: 0 });
  });

  it('events created through Graph are adopted by the EWS target (no write), and EWS changes them in place', async () => {
    const instance = 'cross-graph-to-ews';
    const mailbox = usableStudents(seed)[7]!;
    const events = Array.from({ length: 8 }, (_, n) => lecture(mailbox, n, { location: 'Aula', categories: ['Timetable'] }));
    const graphWs = createWorkspace(sandbox, 'secret', { instance });
    await runSync({ config: graphWs.config, baseDir: graphWs.dir, inputs: [graphWs.input('t.ndjson', events)], clock: beforeTheLectures() });
    const graphIds = new Map(ours(mailbox, instance).map((e) => [e.subject, e.id]));
    expect(graphIds.size).toBe(8);

    const { ws, target } = ewsWorkspace(instance, 'delegate');
    sandbox.ews.resetStats();
    const adopted = await syncEws(ws, target(), ws.input('t.ndjson', events));
    expect(adopted.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 8, failed: 0 });
    expect(ewsWrites()).toBe(0);

    const changed = await syncEws(ws, target(), ws.input('t2.ndjson', events.map((e, n) => (n === 2 ? { ...e, subject: 'via EWS' } : e))));
    expect(changed.delivery.totals).toMatchObject({ created: 0, updated: 1, failed: 0 });
    const after = ours(mailbox, instance);
    expect(after).toHaveLength(8);
    expect(after.find((e) => e.subject === 'via EWS')!.id).toBe(graphIds.get('Lecture 2'));
  });
});
