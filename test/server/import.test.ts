// calpush import: JSON, NDJSON, CSV and .ics files and folders, upsert semantics, per-record errors.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { csvRowToRecord, runImport } from '../../src/cli/commands/import.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { SyncRefused } from '../../src/app/sync.ts';
import { MemoryTarget } from '../support/memory-target.ts';
import { coreConfig, desired } from './helpers.ts';

const A = 's0001@contoso.edu';
const B = 't0001@contoso.edu';
const config = coreConfig();

function workspace(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'calpush-import-'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return dir;
}

const event = (calendar: string, id: string, extra: Record<string, unknown> = {}) => ({
  calendar,
  id,
  subject: `Subject ${id}`,
  start: '2026-12-01T09:00',
  end: '2026-12-01T10:00',
  timeZone: 'Europe/Amsterdam',
  ...extra,
});

const CSV = [
  '\uFEFFcalendar,id,subject,start,end,Time Zone,allDay,location,body,bodyType,categories,showAs,sensitivity,reminderMinutes',
  `${A},csv-1,"Werkcollege, groep 3",2026-12-02T13:00,2026-12-02T14:45,Europe/Amsterdam,,"Zaal 1, tweede verdieping","Regel 1`,
  `Regel 2",,Werkcollege;Verplicht,tentative,private,10`,
  `${A},csv-2,Tentamenweek,2026-12-14,2026-12-19,,yes,,<p>Succes!</p>,html,,free,,`,
  `${B},csv-3,Overleg,2026-12-03T10:00,2026-12-03T11:00,Europe/Amsterdam,false,,,,,,,`,
  `${A},csv-bad,Kapot,2026-12-03T10:00,gisteren,Europe/Amsterdam,,,,,,,,`,
  `${A},csv-short,te weinig kolommen`,
].join('\r\n');

const ICS = [
  'BEGIN:VCALENDAR',
  'VERSION:2.0',
  'PRODID:-//test//EN',
  'BEGIN:VEVENT',
  'UID:ics-1',
  'DTSTAMP:20261101T000000Z',
  'DTSTART;TZID=Europe/Amsterdam:20261207T090000',
  'DTEND;TZID=Europe/Amsterdam:20261207T100000',
  'RRULE:FREQ=DAILY;COUNT=3',
  'SUMMARY:Dagstart',
  'END:VEVENT',
  'END:VCALENDAR',
  '',
].join('\r\n');

describe('calpush import', () => {
  it('reads JSON, NDJSON, CSV and .ics from a folder, adds and changes, and removes nothing', async () => {
    const store = new SqliteStore(':memory:');
    await store.applyDesiredOps([
      { kind: 'upsert', desired: desired(A, 'already-there') },
      { kind: 'upsert', desired: desired(A, 'json-1', { subject: 'old subject' }) },
    ]);
    const dir = workspace({
      'a/events.json': JSON.stringify([event(A, 'json-1'), event(B, 'json-2')]),
      'a/more.ndjson': `${JSON.stringify(event(A, 'nd-1'))}\n${JSON.stringify(event(B, 'nd-2', { allDay: true, start: '2026-12-05', end: '2026-12-06', timeZone: undefined }))}\n`,
      'b/rooster.csv': CSV,
      [`b/${A}.ics`]: ICS,
      'b/notes.txt': 'not an input',
    });
    const reads: number[] = [];
    const result = await runImport({ config, baseDir: dir, paths: [dir], store, deliver: false, onRead: (p) => reads.push(p.filesDone) });
    expect(result.input).toMatchObject({ files: 4, accepted: 10, rejected: 2 });
    expect(result.desired).toMatchObject({ added: 9, changed: 1, removed: 0 });
    expect(result.calendars).toEqual([A, B]);
    expect(reads.at(-1)).toBe(4);
    const ids = (await store.desiredFor(A)).map((r) => r.sourceId).sort();
    expect(ids).toEqual(['already-there', 'csv-1', 'csv-2', 'ics-1@20261207T080000Z', 'ics-1@20261208T080000Z', 'ics-1@20261209T080000Z', 'json-1', 'nd-1'].sort());
    expect((await store.desiredFor(B)).map((r) => r.sourceId).sort()).toEqual(['csv-3', 'json-2', 'nd-2']);
    expect(result.input.errors.map((e) => [e.record, e.field])).toEqual([
      ['rooster.csv line 6', 'end'],
      ['rooster.csv line 7', '(record)'],
    ]);
    expect(result.delivery.totals.created).toBe(0);
  });

  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('reports the line a bad CSV record starts on (%s line ends, quoted newlines, blank lines)', async (_, eol) => {
    const lines = [
      'calendar,id,subject,start,end,timeZone,body',
      `${A},ok-1,Fine,2026-12-02T13:00,2026-12-02T14:00,Europe/Amsterdam,`,
      `${A},bad-3,Broken,2026-12-02T13:00,never,Europe/Amsterdam,`,
      `${A},ok-4,"Two${eol}lines",2026-12-02T13:00,2026-12-02T14:00,Europe/Amsterdam,"and${eol}a${eol}body"`,
      `${A},bad-8,Broken,2026-12-02T13:00,never,Europe/Amsterdam,`,
      '',
      `${A},bad-10,Broken,2026-12-02T13:00,2026-12-02T14:00,Nowhere/City,"quoted, with a comma"`,
      `${A},bad-11,Broken,2026-12-02T13:00,never,Europe/Amsterdam,`,
    ];
    const dir = workspace({ 'lines.csv': lines.join(eol) });
    const result = await runImport({ config, baseDir: dir, paths: [dir], store: new SqliteStore(':memory:'), deliver: false });
    // Each bad record's id names the line it starts on in the file as an editor shows it.
    expect(result.input.errors.map((e) => [e.record, e.id])).toEqual([
      ['lines.csv line 3', 'bad-3'],
      ['lines.csv line 8', 'bad-8'],
      ['lines.csv line 10', 'bad-10'],
      ['lines.csv line 11', 'bad-11'],
    ]);
    expect(result.input.accepted).toBe(2);
  });

  it('converts CSV cells: quoted commas and newlines, categories, all-day, HTML bodies, numbers', async () => {
    const store = new SqliteStore(':memory:');
    const dir = workspace({ 'r.csv': CSV });
    await runImport({ config, baseDir: dir, paths: [join(dir, 'r.csv')], store, deliver: false });
    const rows = new Map((await store.desiredFor(A)).map((r) => [r.sourceId, r.event]));
    expect(rows.get('csv-1')).toMatchObject({
      subject: 'Werkcollege, groep 3',
      location: 'Zaal 1, tweede verdieping',
      body: { contentType: 'text', content: 'Regel 1\r\nRegel 2' },
      categories: ['Werkcollege', 'Verplicht'],
      showAs: 'tentative',
      sensitivity: 'private',
      reminderMinutes: 10,
      timing: { allDay: false, start: '2026-12-02T13:00:00', end: '2026-12-02T14:45:00', timeZone: 'Europe/Amsterdam' },
    });
    expect(rows.get('csv-2')).toMatchObject({ timing: { allDay: true, startDate: '2026-12-14', endDate: '2026-12-19' }, body: { contentType: 'html', content: '<p>Succes!</p>' }, showAs: 'free' });
    expect(csvRowToRecord({ allDay: 'perhaps', reminderMinutes: 'soon', bodyType: 'rtf' })).toEqual({ allDay: 'perhaps', reminderMinutes: 'soon', bodyType: 'rtf' });
  });

  it('reports each bad record with file, line and field, and applies the good ones', async () => {
    const store = new SqliteStore(':memory:');
    const dir = workspace({
      'x.ndjson': [JSON.stringify(event(A, 'ok')), '{broken', JSON.stringify(event(A, 'bad', { timeZone: 'Nowhere/City' })), JSON.stringify({ id: 'no-calendar' })].join('\n'),
    });
    const result = await runImport({ config, baseDir: dir, paths: [dir], store, deliver: false });
    expect(result.input.accepted).toBe(1);
    expect(result.input.errors.map((e) => `${e.record} ${e.field}`)).toEqual(['x.ndjson line 2 (record)', 'x.ndjson line 3 timeZone', 'x.ndjson line 4 calendar', 'x.ndjson line 4 start', 'x.ndjson line 4 end', 'x.ndjson line 4 timeZone']);
    expect((await store.desiredFor(A)).map((r) => r.sourceId)).toEqual(['ok']);
  });

  it('imports nothing when a file cannot be read at all (a CSV with unknown columns, a broken JSON document)', async () => {
    const cases: Array<Record<string, string>> = [{ 'bad.csv': 'calendar,id,start,end,colour\n' }, { 'bad.json': '[{"calendar": ' }];
    for (const bad of cases) {
      const store = new SqliteStore(':memory:');
      const dir = workspace({ 'good.ndjson': JSON.stringify(event(A, 'ok')), ...bad });
      const error = await runImport({ config, baseDir: dir, paths: [dir], store, deliver: false }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SyncRefused);
      expect((error as Error).message).toMatch(/nothing was imported/);
      expect(await store.desiredFor(A)).toEqual([]);
    }
  });

  it('applies neither record of an id given twice, and refuses calendars outside --calendar or mailboxes', async () => {
    const store = new SqliteStore(':memory:');
    const dir = workspace({ '1.json': JSON.stringify([event(A, 'dup', { subject: 'first' })]), '2.json': JSON.stringify([event(A, 'dup', { subject: 'second' }), event(B, 'other')]) });
    const result = await runImport({ config, baseDir: dir, paths: [dir], store, deliver: false, calendar: A });
    expect(result.input.errors.map((e) => e.field).sort()).toEqual(['calendar', 'id', 'id']);
    expect(await store.desiredFor(A)).toEqual([]);
    const restricted = await runImport({ config: coreConfig({ mailboxes: [B] }), baseDir: dir, paths: [join(dir, '2.json')], store, deliver: false });
    expect(restricted.input.errors.map((e) => e.message)).toEqual(['is not one of the mailboxes in the config']);
    expect((await store.desiredFor(B)).map((r) => r.sourceId)).toEqual(['other']);
  });

  it('takes the calendar of .ics files and calendar-less CSV files from --calendar', async () => {
    const store = new SqliteStore(':memory:');
    const dir = workspace({ 'feed.ics': ICS, 'rooms.csv': 'id,subject,start,end,timeZone\nr1,Boeking,2026-12-09T09:00,2026-12-09T10:00,Europe/Amsterdam\n' });
    const result = await runImport({ config, baseDir: dir, paths: [dir], store, deliver: false, calendar: 'Room-1@Contoso.edu' });
    expect(result.input.rejected).toBe(0);
    expect((await store.desiredFor('room-1@contoso.edu')).length).toBe(4);
  });

  it('delivers what it recorded', async () => {
    const store = new SqliteStore(':memory:');
    const target = new MemoryTarget();
    const dir = workspace({ 'e.json': JSON.stringify([event(A, 'a'), event(A, 'b')]) });
    const result = await runImport({ config, baseDir: dir, paths: [dir], store, target });
    expect(result.delivery.totals).toMatchObject({ created: 2, failed: 0 });
    expect(target.subjects(A)).toEqual(['Subject a', 'Subject b']);
    expect(readFileSync(join(dir, 'e.json'), 'utf8')).toContain('"a"');
  });
});
