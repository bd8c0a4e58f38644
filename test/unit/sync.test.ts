// runSync and previewSync over files, an in-memory store and an in-memory target, at fixed moments: retention as
// time passes (files: .ics and NDJSON), which calendars a sync replaces, warnings, and --dry-run.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitCodeForPreview } from '../../src/cli/commands/sync.ts';
import { previewImport, runImport } from '../../src/cli/commands/import.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { validateEvent } from '../../src/model/event.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { previewSync, runSync, type SyncOptions } from '../../src/app/sync.ts';
import { TargetError } from '../../src/targets/target.ts';
import { MemoryTarget } from '../support/memory-target.ts';
import { coreConfig } from '../server/helpers.ts';

const A = 's0001@contoso.edu';
const B = 's0002@contoso.edu';
const DAY = 86_400_000;

function workspace(): { dir: string; write(name: string, content: string): string; ndjson(name: string, events: object[]): string } {
  const dir = mkdtempSync(join(tmpdir(), 'calpush-sync-'));
  const write = (name: string, content: string) => {
    writeFileSync(join(dir, name), content);
    return join(dir, name);
  };
  return { dir, write, ndjson: (name, events) => write(name, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`) };
}

const lesson = (calendar: string, id: string, date: string, extra: Record<string, unknown> = {}) => ({
  calendar,
  id,
  subject: `Lesson ${id}`,
  start: `${date}T09:00`,
  end: `${date}T10:00`,
  timeZone: 'Europe/Amsterdam',
  ...extra,
});

/** A daily lecture for `count` days from 1 September 2026, 09:00 Amsterdam, as an exporter writes it. */
const dailySeries = (count: number) =>
  [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//test//EN',
    'BEGIN:VEVENT',
    'UID:daily',
    'DTSTAMP:20260801T000000Z',
    'DTSTART;TZID=Europe/Amsterdam:20260901T090000',
    'DTEND;TZID=Europe/Amsterdam:20260901T100000',
    `RRULE:FREQ=DAILY;COUNT=${count}`,
    'SUMMARY:Daily lecture',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');

const config = coreConfig();
const START = Date.parse('2026-09-01T06:00:00Z');

function setup() {
  const store = new SqliteStore(':memory:');
  const target = new MemoryTarget();
  const ws = workspace();
  const clock = fixedClock(START);
  const options = (inputs: string[], extra: Partial<SyncOptions> = {}): SyncOptions => ({ config, baseDir: ws.dir, inputs, store, target, clock, ...extra });
  return { store, target, ws, clock, options };
}

describe('retention: files re-synced as time passes', () => {
  it('a clock moved 60 days forward keeps every past occurrence and event; future events still follow the input', async () => {
    const { store, target, ws, clock, options } = setup();
    const ics = ws.write(`${A}.ics`, dailySeries(90));
    // The timetable export of the first term, and one for the second.
    const firstTerm = ['2026-09-03', '2026-09-10', '2026-09-17'].map((date, n) => lesson(A, `term1-${n}`, date));
    const secondTerm = ['2026-11-05', '2026-11-12', '2026-11-19'].map((date, n) => lesson(A, `term2-${n}`, date));
    const first = await runSync(options([ics, ws.ndjson('export.ndjson', [...firstTerm, ...secondTerm])]));
    expect(first.delivery.totals).toMatchObject({ created: 96, failed: 0 });
    const delivered = target.subjects(A);

    clock.advance(60 * DAY);
    // 60 days on: the expansion window starts 1 October 06:00 UTC (30 September's lecture is out of it), and the
    // export holds only the second term, one lesson of which (in the future) was cancelled.
    const later = await runSync(options([ics, ws.ndjson('export.ndjson', secondTerm.slice(1))]));
    expect(later.desired).toEqual({ added: 0, changed: 0, removed: 1, unchanged: 62, kept: 33 });
    expect(later.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 1, failed: 0 });
    expect(target.subjects(A)).toEqual(delivered.filter((s) => s !== 'Lesson term2-0'));
    const ids = (await store.desiredFor(A)).map((r) => r.sourceId);
    expect(ids.filter((id) => id.startsWith('daily@'))).toHaveLength(90);
    expect(ids.filter((id) => id.startsWith('term1-'))).toHaveLength(3);
  });

  it('changes a past event the input still holds, and with "prune" removes ended events after afterDays', async () => {
    const { store, ws, clock, options } = setup();
    const pruning = { ...options([]), config: coreConfig({ retention: { past: 'prune', afterDays: 10 } }) };
    const events = [lesson(A, 'sep-3', '2026-09-03'), lesson(A, 'sep-28', '2026-09-28'), lesson(A, 'sep-30', '2026-09-30'), lesson(A, 'oct-20', '2026-10-20')];
    await runSync({ ...pruning, inputs: [ws.ndjson('a.ndjson', events)] });
    clock.set('2026-10-05T12:00:00Z');
    // The input corrects sep-28 and leaves out sep-3 (ended 32 days ago) and sep-30 (ended 5 days ago).
    const result = await runSync({ ...pruning, inputs: [ws.ndjson('b.ndjson', [{ ...events[1]!, subject: 'Corrected afterwards' }, events[3]!])] });
    expect(result.desired).toEqual({ added: 0, changed: 1, removed: 1, unchanged: 1, kept: 1 });
    expect((await store.desiredFor(A)).map((r) => [r.sourceId, r.event.subject]).sort()).toEqual([
      ['oct-20', 'Lesson oct-20'],
      ['sep-28', 'Corrected afterwards'],
      ['sep-30', 'Lesson sep-30'],
    ]);
  });
});

describe('which calendars a sync replaces (docs/api.md, "Mixing sources")', () => {
  it('without --calendar or mailboxes: the calendars in the input and those sync manages, not those of the API or a feed', async () => {
    const { store, ws, options } = setup();
    const desired = (calendar: string, id: string) => {
      const r = validateEvent(lesson(calendar, id, '2026-12-01'));
      if (!r.ok) throw new Error('invalid');
      return r.desired;
    };
    const apiCalendar = 'api@contoso.edu';
    const feedCalendar = 'feed@contoso.edu';
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(apiCalendar, 'pushed') }]);
    const feed = await store.beginDesiredImport();
    await feed.add([{ desired: desired(feedCalendar, 'from-feed'), record: 'feed' }]);
    await feed.finish({ calendars: [feedCalendar], refuseEmpty: false, source: 'feed', retention: null });
    await runSync(options([ws.ndjson('1.ndjson', [lesson(A, 'a', '2026-12-01'), lesson(B, 'b', '2026-12-01')])]));

    // B is sync's now; a later input without B empties it. The API's and the feed's calendars stay as they are.
    const result = await runSync(options([ws.ndjson('2.ndjson', [lesson(A, 'a', '2026-12-01')])]));
    expect(result.desired.removed).toBe(1);
    expect(result.delivery.mailboxes.map((m) => m.calendar).sort()).toEqual([A, B]);
    expect(await store.desiredFor(B)).toEqual([]);
    expect((await store.desiredFor(apiCalendar)).map((r) => r.sourceId)).toEqual(['pushed']);
    expect((await store.desiredFor(feedCalendar)).map((r) => r.sourceId)).toEqual(['from-feed']);

    // Named with --calendar, the API's calendar is replaced (and from then on managed by sync).
    await runSync(options([ws.ndjson('3.ndjson', [lesson(apiCalendar, 'from-sync', '2026-12-01')])], { calendars: [apiCalendar] }));
    expect((await store.desiredFor(apiCalendar)).map((r) => r.sourceId)).toEqual(['from-sync']);

    // A calendar sync managed becomes the API's once the API writes to it: a sync without it leaves it alone.
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'pushed-later') }]);
    await runSync(options([ws.ndjson('4.ndjson', [lesson(B, 'b', '2026-12-01')])]));
    expect((await store.desiredFor(A)).map((r) => r.sourceId).sort()).toEqual(['a', 'pushed-later']);
    // With `mailboxes`, every listed calendar is replaced, whoever set it.
    await runSync({ ...options([ws.ndjson('5.ndjson', [lesson(B, 'b', '2026-12-01')])]), config: coreConfig({ mailboxes: [A, B] }) });
    expect(await store.desiredFor(A)).toEqual([]);
    expect((await store.desiredFor(feedCalendar)).map((r) => r.sourceId)).toEqual(['from-feed']);
  });
});

describe('warnings', () => {
  it('a local time in a DST gap goes through shifted, and the result names the record', async () => {
    const { store, ws, options } = setup();
    const input = ws.ndjson('night.ndjson', [lesson(A, 'ok', '2026-03-28'), { ...lesson(A, 'night', '2026-03-29'), start: '2026-03-29T02:30', end: '2026-03-29T04:00' }]);
    const result = await runSync(options([input]));
    expect(result.input).toMatchObject({ accepted: 2, rejected: 0, errors: [] });
    expect(result.input.warnings).toEqual([{ record: 'night.ndjson line 2', calendar: A, id: 'night', field: 'start', message: expect.stringContaining('taken as 2026-03-29T03:30:00') }]);
    expect((await store.desiredFor(A)).find((r) => r.sourceId === 'night')!.event.timing).toMatchObject({ start: '2026-03-29T03:30:00' });
  });
});

describe('--dry-run', () => {
  /** Everything the store holds that a dry run must not change. */
  const storeState = async (store: SqliteStore) =>
    JSON.stringify({
      mailboxes: await store.mailboxes(),
      desired: await Promise.all((await store.calendars()).map((c) => store.desiredFor(c))),
      delivered: await Promise.all((await store.calendars()).map((c) => store.deliveredFor(c))),
      pending: await Promise.all((await store.calendars()).map((c) => store.pendingOps(c))),
      leases: await Promise.all((await store.calendars()).map((c) => store.leaseHolder(c))),
    });

  it('plans exactly what the real run then does, sending nothing and recording nothing', async () => {
    const { store, target, ws, options } = setup();
    const events = Array.from({ length: 14 }, (_, n) => lesson(n < 12 ? A : B, `e${n}`, `2026-12-${String(n + 1).padStart(2, '0')}`));
    await runSync(options([ws.ndjson('1.ndjson', events)]));
    const changed = [
      ...events.filter((e) => e.id !== 'e4').map((e) => (e.id === 'e2' ? { ...e, subject: 'Moved' } : e)),
      lesson(A, 'new', '2026-12-20'),
      events[7]!,
    ];
    const input = ws.ndjson('2.ndjson', changed);
    const before = await storeState(store);
    const requests = target.requests;

    const preview = await previewSync(options([input]));
    expect(target.requests).toBe(requests);
    expect(await storeState(store)).toBe(before);
    // e7 is given twice: refused, held, as in a real run.
    expect(preview.input.errors.map((e) => [e.id, e.field])).toEqual([
      ['e7', 'id'],
      ['e7', 'id'],
    ]);
    expect(preview.desired).toEqual({ added: 1, changed: 1, removed: 1, unchanged: 11, kept: 0 });
    expect(preview.plan.mailboxes).toEqual([
      { calendar: A, basis: 'store', target: 'default', create: { count: 1, ids: ['new'] }, update: { count: 1, ids: ['e2'] }, delete: { count: 1, ids: ['e4'] }, unchanged: 10 },
    ]);
    expect(preview.plan).toMatchObject({ unchangedMailboxes: 1, totals: { create: 1, update: 1, delete: 1, notListed: 0, failedMailboxes: 0 } });
    expect(exitCodeForPreview(preview)).toBe(1);

    const real = await runSync(options([input]));
    expect(real.desired).toEqual(preview.desired);
    expect(real.delivery.totals).toMatchObject({ created: 1, updated: 1, deleted: 1 });
  });

  it('lists a mailbox the store has no record of with read-only requests, and keeps the listing to itself', async () => {
    const { target, ws, options } = setup();
    const events = Array.from({ length: 5 }, (_, n) => lesson(A, `e${n}`, `2026-12-0${n + 1}`));
    await runSync(options([ws.ndjson('1.ndjson', events)]));
    const writes = target.writes.length;
    // The store is lost; the calendar still holds our five events.
    const fresh = new SqliteStore(':memory:');
    const preview = await previewSync(options([ws.ndjson('2.ndjson', events.slice(1))], { store: fresh }));
    expect(preview.plan.mailboxes).toEqual([{ calendar: A, basis: 'listed', target: 'default', create: { count: 0, ids: [] }, update: { count: 0, ids: [] }, delete: { count: 1, ids: [expect.stringMatching(/^key:[0-9a-f]{32}$/)] }, unchanged: 4 }]);
    expect(target.writes.length).toBe(writes);
    expect(await fresh.mailboxes()).toEqual([]);
    expect(await fresh.calendars()).toEqual([]);

    // Without a way to list (the listing fails for this mailbox): said so, and exit status 1.
    target.forbidden.add(A);
    const forbidden = await previewSync(options([ws.ndjson('3.ndjson', events)], { store: fresh }));
    expect(forbidden.plan.mailboxes[0]).toMatchObject({ basis: 'not-listed', create: { count: 5 }, error: { code: 'ErrorAccessDenied' }, note: expect.stringContaining('a real run lists it first') });
    expect(exitCodeForPreview(forbidden)).toBe(1);
    target.forbidden.clear();
    target.fatal = new TargetError('fatal', 'InvalidClientSecret', 'the secret is wrong', { remedy: 'fix the secret' });
    const fatal = await previewSync(options([ws.ndjson('4.ndjson', events)], { store: fresh }));
    expect(fatal.plan.fatal).toEqual({ code: 'InvalidClientSecret', message: 'the secret is wrong', remedy: 'fix the secret' });
    expect(fatal.plan.mailboxes[0]!.error).toBeUndefined();
    expect(exitCodeForPreview(fatal)).toBe(3);
    expect(await fresh.calendars()).toEqual([]);
  });

  it('shows what retention keeps, and refuses an empty input like a real run', async () => {
    const { store, ws, clock, options } = setup();
    await runSync(options([ws.ndjson('1.ndjson', [lesson(A, 'past', '2026-09-02'), lesson(A, 'future', '2026-12-01')])]));
    clock.set('2026-10-01T00:00:00Z');
    const preview = await previewSync(options([ws.ndjson('2.ndjson', [lesson(A, 'other', '2026-12-02')])]));
    expect(preview.desired).toEqual({ added: 1, changed: 0, removed: 1, unchanged: 0, kept: 1 });
    expect(preview.plan.mailboxes[0]).toMatchObject({ create: { ids: ['other'] }, delete: { ids: ['future'] }, unchanged: 1 });
    await expect(previewSync(options([ws.ndjson('empty.ndjson', [])]))).rejects.toThrow(/--allow-empty/);
    expect((await store.desiredFor(A)).map((r) => r.sourceId).sort()).toEqual(['future', 'past']);
  });

  it('import --dry-run: what would be added and created, nothing recorded or sent', async () => {
    const { store, target, ws } = setup();
    ws.ndjson('a.ndjson', [lesson(A, 'x', '2026-12-01'), lesson(B, 'y', '2026-12-02')]);
    const preview = await previewImport({ config, baseDir: ws.dir, paths: [ws.dir], store, target });
    expect(preview.desired).toMatchObject({ added: 2, removed: 0 });
    expect(preview.plan.totals).toMatchObject({ create: 2, delete: 0 });
    expect(preview.plan.mailboxes.map((m) => m.basis)).toEqual(['listed', 'listed']);
    expect(target.writes).toEqual([]);
    expect(await store.calendars()).toEqual([]);
    const real = await runImport({ config, baseDir: ws.dir, paths: [ws.dir], store, target });
    expect(real.delivery.totals.created).toBe(2);
  });
});
