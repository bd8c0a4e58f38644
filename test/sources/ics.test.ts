import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/model/event.ts';
import { canonicalTimeZone, existingLocalTime } from '../../src/model/time.ts';
import { parseIcs, type IcsOptions, type IcsParseResult } from '../../src/sources/ics.ts';

const HORIZON = { fromMs: Date.parse('2026-08-01T00:00:00Z'), toMs: Date.parse('2027-02-01T00:00:00Z') };
const OPTIONS: IcsOptions = { calendar: 'm.jansen@example.edu', defaultTimeZone: 'Europe/Amsterdam', horizon: HORIZON };

type Input = Record<string, unknown> & { id: string; start: string; end: string; subject: string };

function fixture(name: string): Buffer {
  return readFileSync(new URL(`../fixtures/ics/${name}`, import.meta.url));
}

function parse(text: string | Uint8Array, options: Partial<IcsOptions> = {}): IcsParseResult {
  return parseIcs(text, { ...OPTIONS, ...options });
}

function inputs(result: IcsParseResult): Input[] {
  return result.inputs.map(({ input }) => input as Input);
}

function byId(result: IcsParseResult): Map<string, Input> {
  return new Map(inputs(result).map((input) => [input.id, input]));
}

/** A calendar around the given lines, CRLF as RFC 5545 wants. */
function calendar(...lines: string[]): string {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//calpush tests//EN', ...lines, 'END:VCALENDAR', ''].join('\r\n');
}

function vevent(...lines: string[]): string[] {
  return ['BEGIN:VEVENT', 'DTSTAMP:20260901T000000Z', ...lines, 'END:VEVENT'];
}

function expectAllValid(result: IcsParseResult): void {
  for (const { input, record } of result.inputs) {
    const validation = validateEvent(input);
    expect(validation.ok ? [] : validation.problems.map((p) => `${record}: ${p.field} ${p.message}`)).toEqual([]);
  }
}

const AMSTERDAM_VTIMEZONE = [
  'BEGIN:VTIMEZONE',
  'TZID:Europe/Amsterdam',
  'BEGIN:DAYLIGHT',
  'TZOFFSETFROM:+0100',
  'TZOFFSETTO:+0200',
  'TZNAME:CEST',
  'DTSTART:19700329T020000',
  'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU',
  'END:DAYLIGHT',
  'BEGIN:STANDARD',
  'TZOFFSETFROM:+0200',
  'TZOFFSETTO:+0100',
  'TZNAME:CET',
  'DTSTART:19701025T030000',
  'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU',
  'END:STANDARD',
  'END:VTIMEZONE',
];

// ---------------------------------------------------------------------------------------------------------------

describe('Outlook / Exchange export (Windows TZIDs, X-MICROSOFT-CDO, octet-folded UTF-8, CRLF)', () => {
  const result = parse(fixture('outlook-exchange.ics'), { origin: 'outlook-exchange.ics' });
  const events = byId(result);
  const UID = '040000008200E00074C5B7101A82E00800000000D0B1C6D2A21EDB01000000000000000010000000A1B2C3D4E5F60718293A4B5C6D7E8F90';
  const series = inputs(result).filter((input) => input.id.startsWith(`${UID}@`));

  it('reads every event without errors, and every input passes validateEvent', () => {
    expect(result.errors).toEqual([]);
    expect(result.heldIds).toEqual([]);
    expect(result.inputs).toHaveLength(14 + 3);
    expectAllValid(result);
  });

  it('expands the weekly series until UNTIL, drops the EXDATE and keeps 10:00 local across the DST change', () => {
    expect(series.map((input) => input.id.slice(UID.length + 1))).toEqual([
      '20260908T080000Z',
      '20260915T080000Z',
      '20260922T080000Z',
      '20260929T080000Z',
      '20261006T080000Z',
      '20261013T080000Z',
      '20261020T080000Z',
      // 20261027 is an EXDATE; from 25 October the zone is on CET, so 10:00 local is 09:00 UTC
      '20261103T090000Z',
      '20261110T090000Z',
      '20261117T090000Z',
      '20261124T090000Z',
      '20261201T090000Z',
      '20261208T090000Z',
      '20261215T090000Z', // UNTIL=20261215T090000Z is inclusive
    ]);
    for (const input of series.filter((i) => !i.id.endsWith('20261110T090000Z'))) {
      expect(input.start.slice(11)).toBe('10:00:00');
      expect(input.end.slice(11)).toBe('11:00:00');
      expect(input.timeZone).toBe('Europe/Berlin'); // "W. Europe Standard Time" through windows-iana
    }
  });

  it('maps the series content: HTML body from X-ALT-DESC, location, reminder', () => {
    const first = events.get(`${UID}@20260908T080000Z`)!;
    expect(first).toMatchObject({
      calendar: 'm.jansen@example.edu',
      subject: 'Werkoverleg onderwijsteam',
      start: '2026-09-08T10:00:00',
      end: '2026-09-08T11:00:00',
      allDay: false,
      location: 'Vergaderzaal 2.14',
      showAs: 'busy',
      sensitivity: 'normal',
      reminderMinutes: 15,
      categories: [],
    });
    const body = first.body as { contentType: string; content: string };
    expect(body.contentType).toBe('html');
    expect(body.content).toContain('<P DIR=LTR><SPAN LANG="nl-nl"><FONT FACE="Calibri">Agenda: roosterwijzigingen, tentamens');
    expect(body.content).toContain('\n<HTML>\n');
  });

  it('replaces the moved occurrence with its override, under the original occurrence id', () => {
    expect(events.get(`${UID}@20261110T090000Z`)).toMatchObject({
      subject: 'Werkoverleg onderwijsteam (verplaatst)',
      start: '2026-11-11T14:00:00',
      end: '2026-11-11T15:00:00',
      timeZone: 'Europe/Berlin',
      location: 'Vergaderzaal 0.02 (begane grond)',
      body: 'Verplaatst i.v.m. open dag.',
      reminderMinutes: null,
    });
  });

  it('maps OOF, PRIVATE, all-day FREE with categories, CONFIDENTIAL TENTATIVE with a one-day reminder', () => {
    const all = inputs(result).filter((input) => !input.id.includes('@'));
    const [oof, allDay, confidential] = all;
    expect(oof!.id).toBe('040000008200E00074C5B7101A82E008000000004F6A2B8C9D1EDB01000000000000000010000000FFEEDDCCBBAA99887766554433221100');
    expect(oof).toMatchObject({ subject: 'Studiedag – afwezig', showAs: 'oof', sensitivity: 'private', start: '2026-09-25T08:30:00', end: '2026-09-25T17:00:00' });
    expect(allDay).toMatchObject({ subject: 'Deadline cijferinvoer blok 1', allDay: true, start: '2026-10-16', end: '2026-10-17', showAs: 'free', categories: ['Onderwijs', 'Deadline'] });
    expect(allDay).not.toHaveProperty('timeZone');
    expect(confidential).toMatchObject({ showAs: 'tentative', sensitivity: 'confidential', reminderMinutes: 1440, location: 'Kamer 3.07 – Universiteitsbibliotheek, Heidelberglaan 3' });
  });

  it('rejoins UTF-8 characters that the exporter split across a fold', () => {
    const bytes = fixture('outlook-exchange.ics');
    // The fixture really does split "ü" (C3|BC) and "🎓" (F0 9F|8E 93) across folds.
    expect(bytes.includes(Buffer.from([0x72, 0xc3, 0x0d, 0x0a, 0x20, 0xbc]))).toBe(true);
    expect(bytes.includes(Buffer.from([0xf0, 0x9f, 0x0d, 0x0a, 0x20, 0x8e, 0x93]))).toBe(true);
    const confidential = inputs(result).find((input) => input.sensitivity === 'confidential')!;
    expect(confidential.subject).toBe(
      'Overleg examencommissie en studieadviseurs over: Prüfungsergebnisse – Café-overleg in de Ørsted-zaal en Minnaert 2 ✓ 🎓 blok 1',
    );
  });
});

describe('string input', () => {
  it('gives the same result as bytes when no character is split across a fold', () => {
    for (const name of ['google.ics', 'apple.ics', 'timetable.ics']) {
      expect(parse(fixture(name).toString('utf8'))).toEqual(parse(fixture(name)));
    }
  });
});

describe('Exchange TZID that is a display name ("(UTC+01:00) Amsterdam, Berlin, …")', () => {
  const result = parse(fixture('exchange-display-tzid.ics'));

  it('converts through the VTIMEZONE to UTC, so each occurrence keeps 09:00 local', () => {
    expect(result.errors).toEqual([]);
    expectAllValid(result);
    expect(inputs(result).map((i) => [i.id.split('@')[1], i.start, i.end, i.timeZone])).toEqual([
      ['20261013T070000Z', '2026-10-13T07:00:00', '2026-10-13T07:30:00', 'UTC'],
      ['20261020T070000Z', '2026-10-20T07:00:00', '2026-10-20T07:30:00', 'UTC'],
      ['20261027T080000Z', '2026-10-27T08:00:00', '2026-10-27T08:30:00', 'UTC'],
      ['20261103T080000Z', '2026-11-03T08:00:00', '2026-11-03T08:30:00', 'UTC'],
    ]);
    expect(inputs(result)[0]).toMatchObject({ subject: 'Spreekuur', location: 'Kamer 4.12', reminderMinutes: 10, showAs: 'busy' });
  });
});

describe('Google Calendar export (X-WR-TIMEZONE, Europe/Amsterdam VTIMEZONE)', () => {
  const result = parse(fixture('google.ics'));
  const events = byId(result);
  const UID = '5n1k3j0p8d0q2t7m9r4c6v8b1a@google.com';

  it('expands the series with the override listed before the master and the cancelled occurrence removed', () => {
    expect(result.errors).toEqual([]);
    expect(result.heldIds).toEqual([]);
    expectAllValid(result);
    expect(inputs(result).filter((i) => i.id.startsWith(`${UID}@`)).map((i) => [i.id.slice(UID.length + 1), i.start, i.subject])).toEqual([
      ['20261006T070000Z', '2026-10-06T09:00:00', 'Colloquium'],
      ['20261013T070000Z', '2026-10-13T09:00:00', 'Colloquium'],
      ['20261020T070000Z', '2026-10-20T13:00:00', 'Colloquium — gastcollege (middag)'],
      ['20261027T080000Z', '2026-10-27T09:00:00', 'Colloquium'],
      // 20261103: STATUS:CANCELLED override
      ['20261110T080000Z', '2026-11-10T09:00:00', 'Colloquium'],
    ]);
    expect(events.get(`${UID}@20261006T070000Z`)).toMatchObject({
      timeZone: 'Europe/Amsterdam',
      end: '2026-10-06T10:00:00',
      location: 'Buys Ballotgebouw, zaal 169',
      body: 'Wekelijks colloquium van de vakgroep. Iedereen is welkom!\nLink: https://meet.google.com/abc-defg-hij',
      reminderMinutes: 30, // TRIGGER:-P0DT0H30M0S
    });
    expect(events.get(`${UID}@20261020T070000Z`)).toMatchObject({ reminderMinutes: null, body: 'Gastspreker: prof. dr. Émilie Durand (Université de Lyon)' });
  });

  it('keeps UTC times in UTC, all-day ranges end-exclusive, tentative events tentative, cancelled events out', () => {
    expect(events.get('2q9v7t5r3p1n0m8k6j4h2g0f9e@google.com')).toMatchObject({
      start: '2026-09-18T12:00:00',
      end: '2026-09-18T13:30:00',
      timeZone: 'UTC',
      location: null,
      body: null,
    });
    expect(events.get('7c4e2a0b8d6f4h2j0l8n6p4r2t@google.com')).toMatchObject({ allDay: true, start: '2026-12-24', end: '2026-12-27', showAs: 'free' });
    expect(events.get('0a1b2c3d4e5f6g7h8i9j0k1l2m@google.com')).toMatchObject({ showAs: 'tentative', start: '2026-11-11T15:00:00' });
    expect(events.has('9z8y7x6w5v4u3t2s1r0q9p8o7n@google.com')).toBe(false);
    expect(result.inputs).toHaveLength(5 + 3);
  });
});

describe('Apple Calendar export (floating times, VALARMs)', () => {
  const result = parse(fixture('apple.ics'));
  const events = byId(result);

  it('puts floating times in defaultTimeZone and reads the first real alarm', () => {
    expect(result.errors).toEqual([]);
    expectAllValid(result);
    expect(events.get('6D6F8A0E-3B2C-4E8F-9A1D-2F4B5C6D7E8F')).toMatchObject({
      subject: 'Tandarts',
      start: '2026-09-12T11:00:00',
      end: '2026-09-12T11:30:00',
      timeZone: 'Europe/Amsterdam',
      location: 'Tandartspraktijk De Linde, Lindelaan 4, 3571 AB Utrecht',
      reminderMinutes: 30, // the ACTION:NONE placeholder alarm before it is skipped
    });
  });

  it('expands a yearly all-day birthday to the one occurrence in the horizon, with its day-before reminder', () => {
    expect(events.get('C1D2E3F4-A5B6-4C7D-8E9F-0A1B2C3D4E5F@20261103')).toMatchObject({
      subject: 'Verjaardag Sanne 🎂',
      allDay: true,
      start: '2026-11-03',
      end: '2026-11-04',
      showAs: 'free',
      reminderMinutes: 900,
    });
    expect([...events.keys()].filter((id) => id.startsWith('C1D2E3F4'))).toHaveLength(1);
  });

  it('ignores Apple default alarms (a device setting) and follows defaultTimeZone for ids of floating series', () => {
    const rehearsals = inputs(result).filter((i) => i.id.startsWith('E7F8A9B0'));
    expect(rehearsals.map((i) => [i.id.split('@')[1], i.start, i.reminderMinutes])).toEqual([
      ['20260915T173000Z', '2026-09-15T19:30:00', null],
      ['20260922T173000Z', '2026-09-22T19:30:00', null],
      ['20260929T173000Z', '2026-09-29T19:30:00', null],
    ]);
    const newYork = parse(fixture('apple.ics'), { defaultTimeZone: 'America/New_York' });
    const first = inputs(newYork).find((i) => i.id.startsWith('E7F8A9B0'))!;
    expect(first).toMatchObject({ id: 'E7F8A9B0-C1D2-4E3F-8A4B-5C6D7E8F9A0B@20260915T233000Z', start: '2026-09-15T19:30:00', timeZone: 'America/New_York' });
  });
});

describe('timetable feed (weekly lectures, EXDATE, moved RECURRENCE-ID, LF line endings)', () => {
  const result = parse(fixture('timetable.ics'));
  const events = byId(result);
  const LECTURE = 'INFOMDB.HC.2026-S1.1@mytimetable.example.edu';

  it('produces the lectures, tutorials and exam; the cancelled guest lecture is simply absent', () => {
    expect(fixture('timetable.ics').includes(0x0d)).toBe(false);
    expect(result.errors).toEqual([]);
    expect(result.heldIds).toEqual([]);
    expectAllValid(result);
    expect(result.inputs).toHaveLength(9 + 8 + 1);
    expect(events.has('INFOMDB.GC.2026-S1.1@mytimetable.example.edu')).toBe(false);
  });

  it('lists the lectures by original start; the autumn-break EXDATE is gone and 09:15 stays 09:15 after DST', () => {
    const lectures = inputs(result).filter((i) => i.id.startsWith(`${LECTURE}@`));
    expect(lectures.map((i) => [i.id.slice(LECTURE.length + 1), i.start, i.end])).toEqual([
      ['20260907T071500Z', '2026-09-07T09:15:00', '2026-09-07T11:00:00'],
      ['20260914T071500Z', '2026-09-14T09:15:00', '2026-09-14T11:00:00'],
      ['20260921T071500Z', '2026-09-21T09:15:00', '2026-09-21T11:00:00'],
      ['20260928T071500Z', '2026-09-28T09:15:00', '2026-09-28T11:00:00'],
      ['20261005T071500Z', '2026-10-08T13:15:00', '2026-10-08T15:00:00'],
      ['20261012T071500Z', '2026-10-12T09:15:00', '2026-10-12T11:00:00'],
      ['20261026T081500Z', '2026-10-26T09:15:00', '2026-10-26T11:00:00'],
      ['20261102T081500Z', '2026-11-02T09:15:00', '2026-11-02T11:00:00'],
      ['20261109T081500Z', '2026-11-09T09:15:00', '2026-11-09T11:00:00'],
    ]);
    expect(events.get(`${LECTURE}@20261005T071500Z`)).toMatchObject({
      subject: 'Databases - Hoorcollege (verplaatst)',
      location: 'Educatorium - Alfa',
      categories: ['Hoorcollege', 'INFOMDB'],
    });
    expect(events.get(`${LECTURE}@20260907T071500Z`)).toMatchObject({
      subject: 'Databases - Hoorcollege',
      location: 'Ruppert - Blauw',
      categories: ['Hoorcollege', 'INFOMDB'], // two CATEGORIES lines
      body: 'Docent: dr. A. de Vries\nGroepen: INFOMDB-1, INFOMDB-2\nType: Hoorcollege',
      timeZone: 'Europe/Amsterdam',
    });
  });

  it('expands BYDAY=TU,TH with COUNT', () => {
    const tutorials = inputs(result).filter((i) => i.id.startsWith('INFOMDB.WC'));
    expect(tutorials.map((i) => i.start.slice(0, 10))).toEqual([
      '2026-09-08', '2026-09-10', '2026-09-15', '2026-09-17', '2026-09-22', '2026-09-24', '2026-09-29', '2026-10-01',
    ]);
  });

  it('only expands occurrences that start inside the horizon', () => {
    const narrow = parse(fixture('timetable.ics'), { horizon: { fromMs: Date.parse('2026-10-01T00:00:00Z'), toMs: Date.parse('2026-10-27T00:00:00Z') } });
    const ids = inputs(narrow).filter((i) => i.id.startsWith(`${LECTURE}@`)).map((i) => i.id.slice(LECTURE.length + 1));
    expect(ids).toEqual(['20261005T071500Z', '20261012T071500Z', '20261026T081500Z']);
    // single events are not limited to the horizon
    expect(byId(narrow).has('INFOMDB.TE.2026-S1.1@mytimetable.example.edu')).toBe(true);
  });
});

describe('a feed with broken records', () => {
  const result = parse(fixture('broken.ics'), { origin: 'broken.ics' });

  it('keeps the good events', () => {
    expect(inputs(result).map((i) => [i.id, i.start, i.end])).toEqual([
      ['good-1@rooster.example.edu', '2026-09-14T09:00:00', '2026-09-14T10:00:00'],
      ['good-2@rooster.example.edu', '2026-09-21', '2026-09-22'], // DATE without DTEND lasts one day
    ]);
    expectAllValid(result);
  });

  it('reports each broken VEVENT once, in file order, naming UID and line', () => {
    expect(result.errors.map((e) => [e.record, e.field, e.id])).toEqual([
      ['(file)', '(file)', undefined],
      ['VEVENT UID=bad-date@rooster.example.edu (broken.ics, line 10)', 'DTSTART', 'bad-date@rooster.example.edu'],
      ['VEVENT (broken.ics, line 16)', 'UID', undefined],
      ['VEVENT UID=unknown-zone@rooster.example.edu (broken.ics, line 21)', 'DTSTART', 'unknown-zone@rooster.example.edu'],
      ['VEVENT UID=garbage-line@rooster.example.edu (broken.ics, line 27)', '(record)', 'garbage-line@rooster.example.edu'],
      ['VEVENT UID=bad-rule@rooster.example.edu (broken.ics, line 34)', '(record)', 'bad-rule@rooster.example.edu'],
      ['VEVENT UID=unclosed@rooster.example.edu (broken.ics, line 41)', '(record)', 'unclosed@rooster.example.edu'],
      ['VEVENT UID=cut-off@rooster.example.edu (broken.ics, line 51)', '(record)', 'cut-off@rooster.example.edu'],
    ]);
    const messages = result.errors.map((e) => e.message);
    expect(messages[0]).toMatch(/^broken\.ics: ends before END:VCALENDAR/);
    expect(messages[1]).toBe('"20260931T090000" is not a valid date-time');
    expect(messages[3]).toMatch(/TZID "Mars\/Olympus_Mons" is neither an IANA nor a Windows time zone name/);
    expect(messages[5]).toMatch(/invalid frequency "SOMETIMES"/);
    expect(messages[6]).toMatch(/not closed: BEGIN:VEVENT \(line 46\)/);
  });

  it('holds the ids it could not deliver; a broken series is held as a whole', () => {
    expect(result.heldIds.sort()).toEqual(
      ['bad-date@rooster.example.edu', 'cut-off@rooster.example.edu', 'garbage-line@rooster.example.edu', 'unclosed@rooster.example.edu', 'unknown-zone@rooster.example.edu'].sort(),
    );
    expect(result.heldSeries).toEqual(['bad-rule@rooster.example.edu']);
  });
});

describe('files that are not iCalendar', () => {
  it.each([
    ['empty', ''],
    ['plain text', 'hello world'],
    ['an HTML login page', '<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body></body></html>'],
    ['JSON', '{"events": []}'],
    ['a bare VEVENT', 'BEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260901T090000Z\r\nEND:VEVENT\r\n'],
  ])('%s → one "(file)" error', (_, text) => {
    const result = parse(text, { origin: 'feed.ics' });
    expect(result.inputs).toEqual([]);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ record: '(file)', field: '(file)' });
    expect(result.errors[0]!.message).toMatch(/^feed\.ics: is not an iCalendar file/);
  });

  it('an empty calendar is a valid, empty feed', () => {
    expect(parse(calendar())).toEqual({ inputs: [], errors: [], heldIds: [], heldSeries: [], cancelledIds: [], cancelledSeries: [] });
  });
});

describe('text handling', () => {
  const single = (...lines: string[]) => calendar(...vevent('UID:t1', 'DTSTART:20260901T090000Z', 'DTEND:20260901T100000Z', ...lines));

  it('accepts a UTF-8 BOM, LF or bare CR line endings, and tab folds', () => {
    for (const text of [`\uFEFF${single('SUMMARY:Caf', ' é')}`, single('SUMMARY:Caf', '\té').replaceAll('\r\n', '\n'), single('SUMMARY:Caf', ' é').replaceAll('\r\n', '\r')]) {
      const result = parse(text);
      expect(result.errors).toEqual([]);
      expect(inputs(result)[0]!.subject).toBe('Café');
    }
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(single('SUMMARY:Café'))]);
    expect(inputs(parse(bytes))[0]!.subject).toBe('Café');
  });

  it('reads Windows-1252 and UTF-16 files', () => {
    const cp1252 = Buffer.from(single('SUMMARY:Caf\u00e9 \u0080').replace('\u0080', '\u00a4'), 'latin1');
    cp1252[cp1252.indexOf(0xa4)] = 0x80; // € in Windows-1252
    expect(inputs(parse(cp1252))[0]!.subject).toBe('Café €');
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(single('SUMMARY:Zürich'), 'utf16le')]);
    expect(inputs(parse(utf16))[0]!.subject).toBe('Zürich');
  });

  it('unescapes TEXT values and X-ALT-DESC, and prefers the HTML body', () => {
    const result = parse(single('SUMMARY:a\\, b\\; c \\\\ d', 'DESCRIPTION:line 1\\nline 2\\N', 'X-ALT-DESC;FMTTYPE=text/html:<p>a\\, b\\nc</p>'));
    const input = inputs(result)[0]!;
    expect(input.subject).toBe('a, b; c \\ d');
    expect(input.body).toEqual({ contentType: 'html', content: '<p>a, b\nc</p>' });
    expect(inputs(parse(single('DESCRIPTION:line 1\\nline 2\\n\\n')))[0]!.body).toBe('line 1\nline 2');
  });

  it('truncates a subject longer than 255 characters with "…" (without splitting a surrogate pair)', () => {
    const long = `${'x'.repeat(253)}😀tail`;
    const input = inputs(parse(single(`SUMMARY:${long}`)))[0]!;
    expect(input.subject).toBe(`${'x'.repeat(253)}…`);
    expect(input.subject.length).toBeLessThanOrEqual(255);
    expect(validateEvent(input).ok).toBe(true);
    const exact = 'y'.repeat(255);
    expect(inputs(parse(single(`SUMMARY:${exact}`)))[0]!.subject).toBe(exact);
  });

  it('merges CATEGORIES lines and comma lists, trims, drops duplicates and keeps at most 25', () => {
    const many = Array.from({ length: 30 }, (_, i) => `C${i}`).join(',');
    const input = inputs(parse(single('CATEGORIES:Lecture, Exam ,lecture,', `CATEGORIES:Room\\, big,${many}`)))[0]!;
    expect((input.categories as string[]).slice(0, 4)).toEqual(['Lecture', 'Exam', 'Room, big', 'C0']);
    expect(input.categories).toHaveLength(25);
    expect(validateEvent(input).ok).toBe(true);
  });

  it('maps TRANSP, STATUS, CLASS and X-MICROSOFT-CDO-BUSYSTATUS', () => {
    const show = (...lines: string[]) => inputs(parse(single(...lines)))[0]!;
    expect(show().showAs).toBe('busy');
    expect(show('TRANSP:TRANSPARENT').showAs).toBe('free');
    expect(show('STATUS:TENTATIVE').showAs).toBe('tentative');
    expect(show('STATUS:CONFIRMED', 'TRANSP:OPAQUE').showAs).toBe('busy');
    expect(show('TRANSP:OPAQUE', 'X-MICROSOFT-CDO-BUSYSTATUS:WORKINGELSEWHERE').showAs).toBe('workingElsewhere');
    expect(show('CLASS:PUBLIC').sensitivity).toBe('normal');
    expect(show('CLASS:PRIVATE').sensitivity).toBe('private');
    expect(show('CLASS:CONFIDENTIAL').sensitivity).toBe('confidential');
    expect(show('CLASS:X-SECRET').sensitivity).toBe('normal');
  });

  it('takes the first alarm triggered before the start, relative to it', () => {
    const reminder = (...alarms: string[][]) => inputs(parse(single(...alarms.flatMap((a) => ['BEGIN:VALARM', 'ACTION:DISPLAY', ...a, 'END:VALARM']))))[0]!.reminderMinutes;
    expect(reminder()).toBeNull();
    expect(reminder(['TRIGGER:-PT10M'])).toBe(10);
    expect(reminder(['TRIGGER;RELATED=END:-PT5M'], ['TRIGGER:PT5M'], ['TRIGGER;VALUE=DATE-TIME:20260901T080000Z'], ['TRIGGER:-P1DT2H'])).toBe(26 * 60);
    expect(reminder(['TRIGGER:PT0S'])).toBe(0);
    expect(reminder(['TRIGGER:-P8W'])).toBe(40_320); // capped at the four weeks calpush accepts
  });

  it('SUMMARY missing → empty subject; no body, location or categories → null/null/[]', () => {
    expect(inputs(parse(single()))[0]).toEqual({
      calendar: 'm.jansen@example.edu',
      id: 't1',
      subject: '',
      body: null,
      start: '2026-09-01T09:00:00',
      end: '2026-09-01T10:00:00',
      timeZone: 'UTC',
      allDay: false,
      location: null,
      categories: [],
      showAs: 'busy',
      sensitivity: 'normal',
      reminderMinutes: null,
    });
  });
});

describe('time zones', () => {
  const at = (tzid: string, extra: string[] = []) =>
    parse(calendar(...extra, ...vevent('UID:z1', `DTSTART;TZID=${tzid}:20260901T090000`, `DTEND;TZID=${tzid}:20260901T103000`)));

  it.each([
    ['Europe/Amsterdam', 'Europe/Amsterdam'],
    ['"Europe/Amsterdam"', 'Europe/Amsterdam'],
    ['/freeassociation.sourceforge.net/Tzfile/Europe/Amsterdam', 'Europe/Amsterdam'],
    ['/freeassociation.sourceforge.net/Europe/Amsterdam', 'Europe/Amsterdam'],
    // ICU's canonical name for it may be the older America/Buenos_Aires: whatever canonicalTimeZone() says
    ['/mozilla.org/20050126_1/America/Argentina/Buenos_Aires', canonicalTimeZone('America/Argentina/Buenos_Aires')!],
    ['/citadel.org/20190914_1/Asia/Tokyo', 'Asia/Tokyo'],
    ['W. Europe Standard Time', 'Europe/Berlin'],
    ['Romance Standard Time', 'Europe/Paris'],
    ['Eastern Standard Time', 'America/New_York'],
    ['GMT Standard Time', 'Europe/London'],
    ['w. europe standard time', 'Europe/Berlin'],
    ['UTC', 'UTC'],
  ])('TZID %s → %s, wall-clock time as written', (tzid, zone) => {
    const result = at(tzid);
    expect(result.errors).toEqual([]);
    expect(inputs(result)[0]).toMatchObject({ start: '2026-09-01T09:00:00', end: '2026-09-01T10:30:00', timeZone: zone });
    expectAllValid(result);
  });

  it('an unresolvable TZID with a VTIMEZONE is converted to UTC; without one it is an error', () => {
    const custom = ['BEGIN:VTIMEZONE', 'TZID:Customized Time Zone', 'BEGIN:STANDARD', 'DTSTART:16010101T000000', 'TZOFFSETFROM:+0530', 'TZOFFSETTO:+0530', 'END:STANDARD', 'END:VTIMEZONE'];
    expect(inputs(at('Customized Time Zone', custom))[0]).toMatchObject({ start: '2026-09-01T03:30:00', end: '2026-09-01T05:00:00', timeZone: 'UTC' });
    const missing = at('Customized Time Zone');
    expect(missing.inputs).toEqual([]);
    expect(missing.errors).toEqual([expect.objectContaining({ id: 'z1', field: 'DTSTART' })]);
    expect(missing.heldIds).toEqual(['z1']);
  });

  it('floating times use X-WR-TIMEZONE when the feed declares one, else defaultTimeZone; a bad default is an error', () => {
    const floating = vevent('UID:f1', 'DTSTART:20260901T090000', 'DTEND:20260901T100000');
    expect(inputs(parse(calendar(...floating)))[0]!.timeZone).toBe('Europe/Amsterdam');
    expect(inputs(parse(calendar('X-WR-TIMEZONE:America/Chicago', ...floating)))[0]!.timeZone).toBe('America/Chicago');
    const bad = parse(calendar(...floating), { defaultTimeZone: 'Mars/Base' });
    expect(bad.errors[0]).toMatchObject({ field: 'DTSTART', id: 'f1' });
    expect(bad.errors[0]!.message).toMatch(/defaultTimeZone "Mars\/Base"/);
  });

  it('DTEND in another zone than DTSTART is expressed in the start zone', () => {
    const result = parse(calendar(...vevent('UID:flight', 'DTSTART;TZID=Europe/Amsterdam:20260901T090000', 'DTEND;TZID=America/New_York:20260901T113000')));
    expect(inputs(result)[0]).toMatchObject({ start: '2026-09-01T09:00:00', end: '2026-09-01T17:30:00', timeZone: 'Europe/Amsterdam' });
  });

  it('an occurrence at 09:00 Europe/Amsterdam stays 09:00 local across both DST changes', () => {
    const result = parse(
      calendar(...AMSTERDAM_VTIMEZONE, ...vevent('UID:dst', 'DTSTART;TZID=Europe/Amsterdam:20260302T090000', 'DTEND;TZID=Europe/Amsterdam:20260302T100000', 'RRULE:FREQ=WEEKLY;COUNT=40')),
      { horizon: { fromMs: Date.parse('2026-01-01T00:00:00Z'), toMs: Date.parse('2027-01-01T00:00:00Z') } },
    );
    const all = inputs(result);
    expect(all).toHaveLength(40);
    expect(new Set(all.map((i) => i.start.slice(11)))).toEqual(new Set(['09:00:00']));
    expect(all.find((i) => i.start.startsWith('2026-03-23'))!.id).toBe('dst@20260323T080000Z');
    expect(all.find((i) => i.start.startsWith('2026-03-30'))!.id).toBe('dst@20260330T070000Z');
    expect(all.find((i) => i.start.startsWith('2026-10-26'))!.id).toBe('dst@20261026T080000Z');
  });
});

describe('durations and missing ends', () => {
  const one = (...lines: string[]) => parse(calendar(...vevent('UID:d1', ...lines)));

  it('DURATION gives the end; days are calendar days, hours are elapsed time', () => {
    expect(inputs(one('DTSTART;TZID=Europe/Amsterdam:20260901T090000', 'DURATION:PT1H30M'))[0]).toMatchObject({ end: '2026-09-01T10:30:00' });
    expect(inputs(one('DTSTART;TZID=Europe/Amsterdam:20261024T120000', 'DURATION:P1D'))[0]).toMatchObject({ end: '2026-10-25T12:00:00' });
    // 24 elapsed hours across the end of DST is 23:00 wall-clock time the next day
    expect(inputs(one('DTSTART;TZID=Europe/Amsterdam:20261024T120000', 'DURATION:PT24H'))[0]).toMatchObject({ end: '2026-10-25T11:00:00' });
    expect(inputs(one('DTSTART;VALUE=DATE:20260901', 'DURATION:P2D'))[0]).toMatchObject({ allDay: true, start: '2026-09-01', end: '2026-09-03' });
  });

  it('without DTEND and DURATION: a date lasts one day, a date-time ends at its start (a zero-length appointment)', () => {
    expect(inputs(one('DTSTART;VALUE=DATE:20260901'))[0]).toMatchObject({ start: '2026-09-01', end: '2026-09-02' });
    const instant = inputs(one('DTSTART:20260901T090000Z'))[0]!;
    expect(instant).toMatchObject({ start: '2026-09-01T09:00:00', end: '2026-09-01T09:00:00' });
    expect(validateEvent(instant).ok).toBe(true);
  });

  it('a DATE start with a DATE-TIME end, or a negative DURATION, is an error for that event', () => {
    expect(one('DTSTART;VALUE=DATE:20260901', 'DTEND:20260902T090000Z').errors[0]).toMatchObject({ field: 'DTEND', id: 'd1' });
    expect(one('DTSTART:20260901T090000Z', 'DURATION:-PT1H').errors[0]).toMatchObject({ field: 'DURATION', id: 'd1' });
  });
});

describe('recurrence', () => {
  const series = (lines: string[], extra: string[] = [], options: Partial<IcsOptions> = {}) => parse(calendar(...vevent('UID:s', ...lines), ...extra), options);
  const weekly = ['DTSTART;TZID=Europe/Amsterdam:20260907T091500', 'DTEND;TZID=Europe/Amsterdam:20260907T110000', 'RRULE:FREQ=WEEKLY;COUNT=6', 'SUMMARY:Lecture'];

  it('EXDATE in UTC and RECURRENCE-ID in UTC match occurrences of a TZID series', () => {
    const result = series(
      [...weekly, 'EXDATE:20260914T071500Z'],
      vevent('UID:s', 'RECURRENCE-ID:20260921T071500Z', 'DTSTART;TZID=Europe/Amsterdam:20260922T140000', 'DTEND;TZID=Europe/Amsterdam:20260922T150000', 'SUMMARY:Moved'),
    );
    expect(inputs(result).map((i) => [i.id, i.start, i.subject])).toEqual([
      ['s@20260907T071500Z', '2026-09-07T09:15:00', 'Lecture'],
      ['s@20260921T071500Z', '2026-09-22T14:00:00', 'Moved'],
      ['s@20260928T071500Z', '2026-09-28T09:15:00', 'Lecture'],
      ['s@20261005T071500Z', '2026-10-05T09:15:00', 'Lecture'],
      ['s@20261012T071500Z', '2026-10-12T09:15:00', 'Lecture'],
    ]);
  });

  it('an override that moves an occurrence out of the horizon removes it; one that moves it in adds it', () => {
    const horizon = { fromMs: Date.parse('2026-09-10T00:00:00Z'), toMs: Date.parse('2026-10-01T00:00:00Z') };
    const result = series(
      weekly,
      [
        ...vevent('UID:s', 'RECURRENCE-ID;TZID=Europe/Amsterdam:20260914T091500', 'DTSTART;TZID=Europe/Amsterdam:20261015T091500', 'DTEND;TZID=Europe/Amsterdam:20261015T110000'),
        ...vevent('UID:s', 'RECURRENCE-ID;TZID=Europe/Amsterdam:20261012T091500', 'DTSTART;TZID=Europe/Amsterdam:20260916T091500', 'DTEND;TZID=Europe/Amsterdam:20260916T110000'),
      ],
      { horizon },
    );
    expect(inputs(result).map((i) => [i.id, i.start])).toEqual([
      ['s@20261012T071500Z', '2026-09-16T09:15:00'],
      ['s@20260921T071500Z', '2026-09-21T09:15:00'],
      ['s@20260928T071500Z', '2026-09-28T09:15:00'],
    ]);
  });

  it('RANGE=THISANDFUTURE shifts this and later occurrences, which keep their original ids', () => {
    const result = series(
      weekly,
      vevent('UID:s', 'RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Amsterdam:20260928T091500', 'DTSTART;TZID=Europe/Amsterdam:20260928T131500', 'DTEND;TZID=Europe/Amsterdam:20260928T150000', 'SUMMARY:Lecture (afternoon)'),
    );
    expect(inputs(result).map((i) => [i.id.slice(2), i.start, i.end, i.subject])).toEqual([
      ['20260907T071500Z', '2026-09-07T09:15:00', '2026-09-07T11:00:00', 'Lecture'],
      ['20260914T071500Z', '2026-09-14T09:15:00', '2026-09-14T11:00:00', 'Lecture'],
      ['20260921T071500Z', '2026-09-21T09:15:00', '2026-09-21T11:00:00', 'Lecture'],
      ['20260928T071500Z', '2026-09-28T13:15:00', '2026-09-28T15:00:00', 'Lecture (afternoon)'],
      ['20261005T071500Z', '2026-10-05T13:15:00', '2026-10-05T15:00:00', 'Lecture (afternoon)'],
      ['20261012T071500Z', '2026-10-12T13:15:00', '2026-10-12T15:00:00', 'Lecture (afternoon)'],
    ]);
  });

  it('a cancelled series produces nothing, holds nothing, and is reported as cancelled', () => {
    const result = series([...weekly, 'STATUS:CANCELLED']);
    expect(result).toEqual({ inputs: [], errors: [], heldIds: [], heldSeries: [], cancelledIds: [], cancelledSeries: ['s'] });
  });

  it('overrides without their series in the feed are occurrences of their own', () => {
    const result = parse(calendar(...vevent('UID:o', 'RECURRENCE-ID;TZID=Europe/Amsterdam:20260907T091500', 'DTSTART;TZID=Europe/Amsterdam:20260908T091500', 'DTEND;TZID=Europe/Amsterdam:20260908T110000')));
    expect(inputs(result).map((i) => [i.id, i.start])).toEqual([['o@20260907T071500Z', '2026-09-08T09:15:00']]);
  });

  it('RDATE adds occurrences, with their own ids; DTSTART counts as the first one unless an EXDATE removes it', () => {
    const excluded = series(['DTSTART:20260907T071500Z', 'DTEND:20260907T090000Z', 'RDATE:20260910T071500Z', 'EXDATE:20260907T071500Z']);
    expect(inputs(excluded).map((i) => i.id)).toEqual(['s@20260910T071500Z']);
    const earlier = series(['DTSTART:20260907T071500Z', 'DTEND:20260907T090000Z', 'RDATE:20260903T071500Z']);
    expect(inputs(earlier).map((i) => i.id)).toEqual(['s@20260903T071500Z', 's@20260907T071500Z']);
    const result = series(['DTSTART;TZID=Europe/Amsterdam:20260907T091500', 'DTEND;TZID=Europe/Amsterdam:20260907T110000', 'RDATE;TZID=Europe/Amsterdam:20260910T091500,20260917T130000']);
    expect(inputs(result).map((i) => [i.id, i.start, i.end])).toEqual([
      ['s@20260907T071500Z', '2026-09-07T09:15:00', '2026-09-07T11:00:00'],
      ['s@20260910T071500Z', '2026-09-10T09:15:00', '2026-09-10T11:00:00'],
      ['s@20260917T110000Z', '2026-09-17T13:00:00', '2026-09-17T14:45:00'],
    ]);
  });

  it('skips dates a rule cannot have (no 29 February in common years), as RFC 5545 requires', () => {
    const horizon = { fromMs: Date.parse('2024-01-01T00:00:00Z'), toMs: Date.parse('2033-01-01T00:00:00Z') };
    const result = series(['DTSTART;VALUE=DATE:20240229', 'RRULE:FREQ=YEARLY', 'SUMMARY:Leap day'], [], { horizon });
    expect(inputs(result).map((i) => i.start)).toEqual(['2024-02-29', '2028-02-29', '2032-02-29']);
    const monthly = series(['DTSTART:20260131T090000Z', 'DTEND:20260131T100000Z', 'RRULE:FREQ=MONTHLY;COUNT=4'], [], { horizon });
    expect(inputs(monthly).map((i) => i.start.slice(0, 10))).toEqual(['2026-01-31', '2026-03-31', '2026-05-31', '2026-07-31']);
  });

  it('reads UNTIL given as a date as the whole day, and UTC UNTIL/EXDATE of a floating series in its zone', () => {
    const dateUntil = series(['DTSTART;TZID=Europe/Amsterdam:20260901T090000', 'DTEND;TZID=Europe/Amsterdam:20260901T100000', 'RRULE:FREQ=WEEKLY;UNTIL=20260915']);
    expect(inputs(dateUntil).map((i) => i.start)).toEqual(['2026-09-01T09:00:00', '2026-09-08T09:00:00', '2026-09-15T09:00:00']);
    // 09:00 in Amsterdam is 07:00Z in September
    const floating = series(['DTSTART:20260901T090000', 'DTEND:20260901T100000', 'RRULE:FREQ=WEEKLY;UNTIL=20260922T070000Z', 'EXDATE:20260908T070000Z']);
    expect(inputs(floating).map((i) => [i.id, i.start, i.timeZone])).toEqual([
      ['s@20260901T070000Z', '2026-09-01T09:00:00', 'Europe/Amsterdam'],
      ['s@20260915T070000Z', '2026-09-15T09:00:00', 'Europe/Amsterdam'],
      ['s@20260922T070000Z', '2026-09-22T09:00:00', 'Europe/Amsterdam'],
    ]);
  });

  it('expands a series that began years before the horizon, only inside the horizon', () => {
    const result = series(['DTSTART:20180101T120000Z', 'DTEND:20180101T123000Z', 'RRULE:FREQ=DAILY']);
    expect(result.inputs).toHaveLength(184); // 1 Aug 2026 up to (not including) 1 Feb 2027
    expect(inputs(result)[0]!.id).toBe('s@20260801T120000Z');
    expect(inputs(result).at(-1)!.id).toBe('s@20270131T120000Z');
  });

  it('caps a series at 5000 occurrences, with an error naming the UID, and holds the rest of the series', () => {
    const result = series(['DTSTART:20260801T000000Z', 'DTEND:20260801T001500Z', 'RRULE:FREQ=MINUTELY;INTERVAL=30', 'SUMMARY:Too often']);
    expect(result.inputs).toHaveLength(5000);
    expect(result.errors).toEqual([expect.objectContaining({ id: 's', field: 'RRULE' })]);
    expect(result.errors[0]!.message).toMatch(/UID=s has more than 5000 occurrences/);
    expect(result.heldSeries).toEqual(['s']);
  });

  it('rejects rules that can never match instead of searching forever', () => {
    const started = Date.now();
    for (const rule of ['FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30', 'FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31', 'FREQ=DAILY;BYWEEKNO=1;BYMONTH=6']) {
      const result = series(['DTSTART:20260105T090000Z', 'DTEND:20260105T100000Z', `RRULE:${rule}`]);
      expect(result.inputs).toEqual([]);
      expect(result.errors).toEqual([expect.objectContaining({ id: 's', field: 'RRULE' })]);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('of duplicate UIDs the higher SEQUENCE wins and the other is reported', () => {
    const result = parse(
      calendar(
        ...vevent('UID:dup', 'SEQUENCE:1', 'DTSTART:20260901T090000Z', 'DTEND:20260901T100000Z', 'SUMMARY:old'),
        ...vevent('UID:dup', 'SEQUENCE:2', 'DTSTART:20260902T090000Z', 'DTEND:20260902T100000Z', 'SUMMARY:new'),
      ),
    );
    expect(inputs(result).map((i) => [i.id, i.subject])).toEqual([['dup', 'new']]);
    expect(result.errors).toEqual([expect.objectContaining({ id: 'dup', field: 'UID', record: 'VEVENT UID=dup (line 4)' })]);
    expect(result.heldIds).toEqual([]);
  });

  it('reads concatenated calendars', () => {
    const text = calendar(...vevent('UID:a', 'DTSTART:20260901T090000Z', 'DTEND:20260901T100000Z')) + calendar(...vevent('UID:b', 'DTSTART:20260902T090000Z', 'DTEND:20260902T100000Z'));
    expect(inputs(parse(text)).map((i) => i.id)).toEqual(['a', 'b']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Properties

/** Folds a content line at 75 octets; with splitChars it cuts blindly, splitting UTF-8 sequences as some exporters do. */
function foldBytes(line: string, splitChars: boolean): Buffer[] {
  const bytes = Buffer.from(line, 'utf8');
  const parts: Buffer[] = [];
  let pos = 0;
  let limit = 75;
  while (bytes.length - pos > limit) {
    let cut = pos + limit;
    if (!splitChars) while ((bytes[cut]! & 0xc0) === 0x80) cut--;
    parts.push(bytes.subarray(pos, cut));
    pos = cut;
    limit = 74;
  }
  parts.push(bytes.subarray(pos));
  return parts.map((part, i) => (i === 0 ? part : Buffer.concat([Buffer.from(' '), part])));
}

function escapeText(value: string): string {
  return value.replace(/[\\;,]/g, (c) => `\\${c}`);
}

function basic(local: string): string {
  return local.replaceAll('-', '').replaceAll(':', '');
}

function addMinutes(local: string, minutes: number): string {
  return new Date(Date.parse(`${local}Z`) + minutes * 60_000).toISOString().slice(0, 19);
}

const ZONES = [
  { tzid: 'Europe/Amsterdam', zone: 'Europe/Amsterdam' },
  { tzid: 'W. Europe Standard Time', zone: 'Europe/Berlin' },
  { tzid: 'America/New_York', zone: 'America/New_York' },
  { tzid: '/freeassociation.sourceforge.net/Australia/Lord_Howe', zone: 'Australia/Lord_Howe' },
  { tzid: null, zone: 'UTC', utc: true },
  { tzid: null, zone: 'Europe/Amsterdam' }, // floating → defaultTimeZone
] as const;

describe('properties', () => {
  it('never throws, whatever the text', () => {
    const icsish = fc.array(
      fc.oneof(
        fc.constantFrom('BEGIN:VCALENDAR', 'END:VCALENDAR', 'BEGIN:VEVENT', 'END:VEVENT', 'BEGIN:VALARM', 'END:VALARM', 'BEGIN:VTIMEZONE', 'END:VTIMEZONE', 'UID:x', 'RRULE:FREQ=DAILY;COUNT=3', 'DTSTART:20260901T090000Z', 'DTSTART;VALUE=DATE:20260901', 'DTSTART;TZID=Nowhere:20260901T090000', 'RECURRENCE-ID:20260902T090000Z', 'EXDATE:20260903T090000Z', 'TRIGGER:-PT5M', ' folded', ''),
        fc.string(),
      ),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), icsish.map((lines) => lines.join('\r\n'))), (text) => {
        const result = parseIcs(text, OPTIONS);
        expect(Array.isArray(result.inputs) && Array.isArray(result.errors) && Array.isArray(result.heldIds)).toBe(true);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        parseIcs(bytes, OPTIONS);
      }),
      { numRuns: 200 },
    );
  });

  it('a feed cut off anywhere never throws, reports the cut, and whatever it still yields is valid', () => {
    const files = ['outlook-exchange.ics', 'google.ics', 'apple.ics', 'timetable.ics'].map(fixture);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: files.length - 1 }), fc.double({ min: 0, max: 1, noNaN: true }), (index, fraction) => {
        const bytes = files[index]!;
        const cut = bytes.subarray(0, Math.floor(bytes.length * fraction));
        const result = parseIcs(cut, OPTIONS);
        expectAllValid(result);
        if (cut.length > 0 && cut.length < bytes.length - 15) expect(result.errors.some((e) => e.record === '(file)')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('a single VEVENT with any subject and time round-trips to an input validateEvent accepts', () => {
    const subject = fc
      .string({ unit: 'grapheme', maxLength: 120 })
      .map((s) => s.replace(/[\u0000-\u001f\u007f]/g, ''))
      .filter((s) => s.length <= 255);
    fc.assert(
      fc.property(
        subject,
        fc.constantFrom(...ZONES),
        fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2030-12-31T23:59:00Z'), noInvalidDate: true }),
        fc.integer({ min: 1, max: 24 * 60 * 3 }),
        fc.boolean(),
        fc.constantFrom('\r\n', '\n'),
        (summary, zone, date, minutes, splitChars, eol) => {
          const start = new Date(Math.floor(date.getTime() / 60_000) * 60_000).toISOString().slice(0, 19);
          const end = addMinutes(start, minutes);
          const when = (name: string, local: string) =>
            'utc' in zone ? `${name}:${basic(local)}Z` : zone.tzid ? `${name};TZID=${zone.tzid}:${basic(local)}` : `${name}:${basic(local)}`;
          const lines = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//calpush tests//EN', 'BEGIN:VEVENT', 'UID:prop-1', 'DTSTAMP:20260101T000000Z', when('DTSTART', start), when('DTEND', end), `SUMMARY:${escapeText(summary)}`, 'END:VEVENT', 'END:VCALENDAR'];
          const bytes = Buffer.concat(lines.flatMap((line) => foldBytes(line, splitChars).flatMap((part) => [part, Buffer.from(eol)])));
          const result = parseIcs(bytes, OPTIONS);
          expect(result.errors).toEqual([]);
          expect(result.inputs).toHaveLength(1);
          const validation = validateEvent(result.inputs[0]!.input);
          // A wall-clock time a daylight-saving jump skips (Lord Howe's clocks go 02:00 → 02:30) is placed as
          // RFC 5545 §3.3.5 says: with the offset before the gap, so forwards by the size of the jump.
          const placed = (local: string) => ('utc' in zone ? { local, shiftedMs: 0 } : existingLocalTime(local, zone.zone));
          const [placedStart, placedEnd] = [placed(start), placed(end)];
          if (placedStart.local > placedEnd.local) {
            expect(validation.ok).toBe(false); // shifted past its own end: refused, not delivered back to front
            return;
          }
          if (!validation.ok) throw new Error(JSON.stringify(validation.problems));
          const event = validation.desired.event;
          expect(event.subject).toBe(summary);
          expect(event.id).toBe('prop-1');
          expect(event.timing).toEqual({ allDay: false, start: placedStart.local, end: placedEnd.local, timeZone: zone.zone });
          const warnedShift = (field: string) => validation.warnings.some((w) => w.field === field && /does not exist/.test(w.message));
          expect([warnedShift('start'), warnedShift('end')]).toEqual([placedStart.shiftedMs !== 0, placedEnd.shiftedMs !== 0]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('an end in Lord Howe\'s 30-minute spring-forward gap is placed after it (the counterexample CI found)', () => {
    // 2030-10-06 is the first Sunday of October: Lord Howe's clocks go from 02:00 LHST to 02:30 LHDT.
    const text = calendar(...vevent('UID:lh', 'DTSTART;TZID=Australia/Lord_Howe:20301006T015900', 'DTEND;TZID=Australia/Lord_Howe:20301006T020000'));
    const result = parse(text, { horizon: { fromMs: Date.parse('2030-01-01T00:00:00Z'), toMs: Date.parse('2031-01-01T00:00:00Z') } });
    expect(result.errors).toEqual([]);
    const validation = validateEvent(result.inputs[0]!.input);
    if (!validation.ok) throw new Error(JSON.stringify(validation.problems));
    expect(validation.desired.event.timing).toEqual({ allDay: false, start: '2030-10-06T01:59:00', end: '2030-10-06T02:30:00', timeZone: 'Australia/Lord_Howe' });
    expect(validation.warnings).toEqual([{ field: 'end', message: expect.stringMatching(/2030-10-06T02:00:00 does not exist in Australia\/Lord_Howe .* taken as 2030-10-06T02:30:00/) }]);
  });

  it('a weekly series keeps its wall-clock time in every zone and gives every occurrence its own id', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES.filter((z) => z.tzid !== null)),
        fc.integer({ min: 0, max: 23 }),
        fc.constantFrom(0, 15, 30, 45),
        fc.integer({ min: 0, max: 360 }),
        (zone, hour, minute, dayOffset) => {
          const day = new Date(Date.parse('2026-01-01T00:00:00Z') + dayOffset * 86_400_000).toISOString().slice(0, 10);
          const start = `${day}T${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00`;
          const text = calendar(...vevent('UID:wk', `DTSTART;TZID=${zone.tzid}:${basic(start)}`, `DTEND;TZID=${zone.tzid}:${basic(addMinutes(start, 50))}`, 'RRULE:FREQ=WEEKLY;COUNT=60'));
          const result = parse(text, { horizon: { fromMs: Date.parse('2025-01-01T00:00:00Z'), toMs: Date.parse('2029-01-01T00:00:00Z') } });
          expect(result.errors).toEqual([]);
          const all = inputs(result);
          expect(all).toHaveLength(60);
          expect(new Set(all.map((i) => i.id)).size).toBe(60);
          for (const input of all) expect(input.start.slice(11)).toBe(start.slice(11));
        },
      ),
      { numRuns: 60 },
    );
  });
});
