// The walking skeleton's scenarios, end to end: the real sync path against the sandbox on loopback.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { runSync } from '../../src/app/sync.ts';
import { beforeTheLectures, createWorkspace as baseWorkspace, foreignSnapshot, lecture, tagged, usableStudents, type Workspace } from './harness.ts';

let sandbox: Sandbox;
let students: string[];
const seed = defaultTenantSeed();

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
  students = usableStudents(seed).slice(0, 4);
});
afterAll(async () => {
  await sandbox?.close();
});

function timetable(count = 12) {
  return students.flatMap((student) => Array.from({ length: count }, (_, n) => lecture(student, n)));
}

async function sync(ws: Workspace, input: string, extra: Partial<Parameters<typeof runSync>[0]> = {}) {
  return runSync({ config: ws.config, baseDir: ws.dir, inputs: [input], clock: beforeTheLectures(), ...extra });
}

describe.each(['chain', 'parallel', 'off'] as const)('Graph sync against the sandbox (batch: %s)', (batchMode) => {
  const createWorkspace = (sb: Sandbox, credential: 'secret' | 'certificate' = 'secret', extra: Record<string, unknown> = {}) =>
    baseWorkspace(sb, credential, { ...extra, instance: `${String(extra.instance ?? 'test')}-${batchMode}`, batch: batchMode });

  it('creates everything on the first run and sends no write request on the second', async () => {
    const ws = createWorkspace(sandbox);
    const input = ws.input('timetable.ndjson', timetable());
    sandbox.resetStats();
    const first = await sync(ws, input);
    expect(first.delivery.totals).toMatchObject({ created: 48, updated: 0, deleted: 0, failed: 0, failedMailboxes: 0 });
    for (const student of students) expect(tagged(sandbox, student).filter((e) => JSON.stringify(e).includes(`;test-${batchMode};`))).toHaveLength(12);
    expect(sandbox.stats().writes).toBe(48);

    sandbox.resetStats();
    const second = await sync(ws, input);
    expect(second.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 48 });
    expect(sandbox.stats().writes).toBe(0);
    expect(sandbox.stats().requests).toBe(0);
  });

  it('changes exactly the changed event, deletes exactly the removed one, and leaves foreign events byte-identical', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'change-test' });
    const mailbox = students[1]!;
    const before = foreignSnapshot(sandbox, mailbox);
    expect(JSON.parse(before).length).toBeGreaterThan(0); // the seed put someone's own appointments there
    const events = Array.from({ length: 10 }, (_, n) => lecture(mailbox, n));
    await sync(ws, ws.input('v1.ndjson', events));
    const ours = () => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;change-test-${batchMode};`));
    const idsBefore = new Map(ours().map((e) => [e.subject, e.id]));

    const changed = events.map((e, n) => (n === 3 ? { ...e, subject: 'Lecture 3 (moved)', location: 'Aula' } : e)).filter((_, n) => n !== 7);
    sandbox.resetStats();
    const result = await sync(ws, ws.input('v2.ndjson', changed));
    expect(result.delivery.totals).toMatchObject({ created: 0, updated: 1, deleted: 1, unchanged: 8 });
    expect(sandbox.stats().writes).toBe(2);
    const after = ours();
    expect(after).toHaveLength(9);
    const moved = after.find((e) => e.subject === 'Lecture 3 (moved)')!;
    expect(moved.id).toBe(idsBefore.get('Lecture 3'));
    expect(moved.location?.displayName).toBe('Aula');
    expect(after.some((e) => e.subject === 'Lecture 7')).toBe(false);
    expect(foreignSnapshot(sandbox, mailbox)).toBe(before);
  });

  it('adopts its tagged events after the SQLite file is lost: no duplicate, no write', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'lost-db' });
    const mailbox = students[2]!;
    const input = ws.input('t.ndjson', Array.from({ length: 15 }, (_, n) => lecture(mailbox, n)));
    await sync(ws, input);
    const count = () => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;lost-db-${batchMode};`)).length;
    expect(count()).toBe(15);
    rmSync(join(ws.dir, 'state'), { recursive: true, force: true });
    sandbox.resetStats();
    const again = await sync(ws, input);
    expect(again.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 15 });
    expect(sandbox.stats().writes).toBe(0);
    expect(count()).toBe(15);
  });

  it('recovers from a create whose answer never arrived without duplicating it', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'lost-answer' });
    const mailbox = students[3]!;
    sandbox.faults.dropResponseAfterCreate(2, mailbox);
    const result = await sync(ws, ws.input('t.ndjson', Array.from({ length: 6 }, (_, n) => lecture(mailbox, n))));
    sandbox.faults.clear();
    expect(result.delivery.totals).toMatchObject({ created: 6, failed: 0 });
    const ours = tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;lost-answer-${batchMode};`));
    expect(ours).toHaveLength(6);
    expect(new Set(ours.map((e) => e.subject)).size).toBe(6);
  });

  it('retries after Retry-After on 503 and still delivers', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'retry' });
    const mailbox = students[0]!;
    sandbox.faults.failNext(2, 503, { mailbox, retryAfterSeconds: 1 });
    const t0 = Date.now();
    const result = await sync(ws, ws.input('t.ndjson', [lecture(mailbox, 100)]));
    expect(result.delivery.totals).toMatchObject({ created: 1, failed: 0 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    sandbox.faults.clear();
  });

  it('reports 403 and 404 mailboxes with their reason while the others complete', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'denied' });
    const all = seed.mailboxes;
    const outOfScope = all.find((m) => m.address.startsWith('outofscope'))!.address;
    const unlicensed = all.find((m) => m.state === 'restDisabled')!.address;
    const input = ws.input('t.ndjson', [lecture(outOfScope, 1), lecture(unlicensed, 1), lecture(students[0]!, 200), lecture(students[1]!, 200)]);
    sandbox.resetStats();
    const result = await sync(ws, input);
    const byMailbox = Object.fromEntries(result.delivery.mailboxes.map((m) => [m.calendar, m]));
    expect(byMailbox[outOfScope]).toMatchObject({ status: 'failed', error: { code: 'ErrorAccessDenied' } });
    expect(byMailbox[outOfScope]!.error!.remedy).toMatch(/scope|ApplicationAccessPolicy/);
    expect(byMailbox[unlicensed]).toMatchObject({ status: 'failed', error: { code: 'MailboxNotEnabledForRESTAPI' } });
    expect(byMailbox[students[0]!]).toMatchObject({ status: 'ok', created: 1 });
    expect(byMailbox[students[1]!]).toMatchObject({ status: 'ok', created: 1 });
    // Not retried hot: one request each.
    expect(byMailbox[outOfScope]!.requests).toBe(1);
    expect(byMailbox[unlicensed]!.requests).toBe(1);
  });

  it('rejects bad records one by one, naming line and field, and delivers the valid ones in the same input', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'bad-input' });
    const mailbox = students[0]!;
    const path = join(ws.dir, 'mixed.ndjson');
    const lines = [
      JSON.stringify(lecture(mailbox, 300)),
      '{"calendar": "broken json',
      JSON.stringify(lecture(mailbox, 301, { end: '2026-12-01T07:00' })),
      JSON.stringify(lecture(mailbox, 302, { timeZone: 'Atlantis/Capital' })),
      JSON.stringify({ ...lecture(mailbox, 303), id: undefined }),
      JSON.stringify(lecture(mailbox, 304)),
      JSON.stringify(lecture(mailbox, 304, { subject: 'same id again' })),
      JSON.stringify(lecture(mailbox, 305)),
    ];
    (await import('node:fs')).writeFileSync(path, `${lines.join('\n')}\n`);
    const result = await sync(ws, path);
    const errors = result.input.errors.map((e) => `${e.record}|${e.field}`);
    expect(errors).toEqual(
      expect.arrayContaining(['mixed.ndjson line 2|(record)', 'mixed.ndjson line 3|end', 'mixed.ndjson line 4|timeZone', 'mixed.ndjson line 5|id', 'mixed.ndjson line 6|id', 'mixed.ndjson line 7|id']),
    );
    expect(result.input.rejected).toBe(6);
    expect(result.delivery.totals.created).toBe(2);
    const subjects = tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;bad-input-${batchMode};`)).map((e) => e.subject).sort();
    expect(subjects).toEqual(['Lecture 300', 'Lecture 305']);
  });

  it('never touches an event without its tag, whatever the input says', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'hostile' });
    const mailbox = students[1]!;
    const foreign = JSON.parse(foreignSnapshot(sandbox, mailbox)) as Array<{ id: string; subject: string }>;
    const before = foreignSnapshot(sandbox, mailbox);
    // Records that reuse a foreign event's Graph id and subject as their own id, then an empty replacement.
    const input = ws.input('t.ndjson', foreign.map((f, n) => lecture(mailbox, n, { id: f.id, subject: f.subject })));
    await sync(ws, input);
    await sync(ws, ws.input('empty.ndjson', []), { allowEmpty: true });
    expect(foreignSnapshot(sandbox, mailbox)).toBe(before);
  });

  it('leaves events tagged by another calpush instance alone', async () => {
    const mailbox = students[2]!;
    const a = createWorkspace(sandbox, 'secret', { instance: 'inst-a' });
    const b = createWorkspace(sandbox, 'secret', { instance: 'inst-b' });
    await sync(a, a.input('a.ndjson', [lecture(mailbox, 400)]));
    const snapshot = JSON.stringify(tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;inst-a-${batchMode};`)));
    await sync(b, b.input('b.ndjson', [lecture(mailbox, 401)]));
    await sync(b, b.input('b-empty.ndjson', []), { allowEmpty: true });
    expect(JSON.stringify(tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;inst-a-${batchMode};`)))).toBe(snapshot);
    expect(tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;inst-b-${batchMode};`))).toHaveLength(0);
  });

  it('refuses an input without any valid event instead of wiping the calendars', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'valve' });
    const mailbox = students[3]!;
    await sync(ws, ws.input('t.ndjson', [lecture(mailbox, 500)]));
    // The record's own error is the reason, and --allow-empty would only wipe the calendar: it is not suggested.
    const refused = sync(ws, ws.input('broken.ndjson', [{ nonsense: true }]));
    await expect(refused).rejects.toThrow(/has no valid event.*The input's problems: broken\.ndjson line 1: calendar .*Fix them and run again\.$/);
    await expect(refused).rejects.not.toThrow(/--allow-empty/);
    await expect(sync(ws, ws.input('empty.ndjson', []))).rejects.toThrow(/has no valid event.*run again with --allow-empty\.$/);
    expect(tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;valve-${batchMode};`))).toHaveLength(1);
  });
});
