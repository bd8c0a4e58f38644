// iCalendar features the parser must read right or refuse with a reason: RDATE with PERIOD and DATE values, RSCALE
// (RFC 7529), a property RFC 5545 allows once given twice, STATUS:CANCELLED, durations and intervals too large to
// compute, and the skip ahead for long-running series (it must never change an occurrence).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/model/event.ts';
import { joinLines, parseIcs, type IcsOptions, type IcsParseResult } from '../../src/sources/ics.ts';

const HORIZON = { fromMs: Date.parse('2026-08-01T00:00:00Z'), toMs: Date.parse('2027-02-01T00:00:00Z') };
const OPTIONS: IcsOptions = { calendar: 'm.jansen@example.edu', defaultTimeZone: 'Europe/Amsterdam', horizon: HORIZON };

const calendar = (...lines: string[]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//calpush tests//EN', ...lines, 'END:VCALENDAR', ''].join('\r\n');
const vevent = (...lines: string[]) => ['BEGIN:VEVENT', 'DTSTAMP:20260901T000000Z', ...lines, 'END:VEVENT'];
const parse = (text: string | Uint8Array, options: Partial<IcsOptions> = {}) => parseIcs(text, { ...OPTIONS, ...options });
type Input = { id: string; start: string; end: string; allDay: boolean; timeZone?: string };
const inputs = (result: IcsParseResult) => result.inputs.map(({ input }) => input as unknown as Input);
const timings = (result: IcsParseResult) => inputs(result).map((i) => [i.id, i.start, i.end]);

function expectAllValid(result: IcsParseResult): void {
  for (const { input, record } of result.inputs) {
    const validation = validateEvent(input);
    expect(validation.ok ? [] : validation.problems.map((p) => `${record}: ${p.field} ${p.message}`)).toEqual([]);
  }
}

describe('RDATE', () => {
  it('PERIOD values are occurrences with their own end (an explicit end or a duration), next to DTSTART', () => {
    const result = parse(
      calendar(
        ...vevent(
          'UID:p',
          'DTSTART;TZID=Europe/Amsterdam:20260901T090000',
          'DTEND;TZID=Europe/Amsterdam:20260901T100000',
          'RDATE;VALUE=PERIOD:20260902T070000Z/20260902T100000Z,20260903T070000Z/PT30M',
        ),
      ),
    );
    expect(result.errors).toEqual([]);
    expect(timings(result)).toEqual([
      ['p@20260901T070000Z', '2026-09-01T09:00:00', '2026-09-01T10:00:00'],
      // The periods are in UTC: their occurrences are written in the series' zone like every other.
      ['p@20260902T070000Z', '2026-09-02T07:00:00', '2026-09-02T10:00:00'],
      ['p@20260903T070000Z', '2026-09-03T07:00:00', '2026-09-03T07:30:00'],
    ]);
    expectAllValid(result);
  });

  it('PERIOD values in the zone of DTSTART keep it', () => {
    const result = parse(
      calendar(...vevent('UID:pz', 'DTSTART;TZID=Europe/Amsterdam:20260901T090000', 'DURATION:PT1H', 'RDATE;VALUE=PERIOD;TZID=Europe/Amsterdam:20260904T140000/PT2H')),
    );
    expect(result.errors).toEqual([]);
    expect(inputs(result).map((i) => [i.id, i.start, i.end, i.timeZone])).toEqual([
      ['pz@20260901T070000Z', '2026-09-01T09:00:00', '2026-09-01T10:00:00', 'Europe/Amsterdam'],
      ['pz@20260904T120000Z', '2026-09-04T14:00:00', '2026-09-04T16:00:00', 'Europe/Amsterdam'],
    ]);
  });

  it('DATE values in an all-day series are all-day occurrences', () => {
    const result = parse(calendar(...vevent('UID:d', 'DTSTART;VALUE=DATE:20260901', 'RDATE;VALUE=DATE:20260905,20260910')));
    expect(result.errors).toEqual([]);
    expect(timings(result)).toEqual([
      ['d@20260901', '2026-09-01', '2026-09-02'],
      ['d@20260905', '2026-09-05', '2026-09-06'],
      ['d@20260910', '2026-09-10', '2026-09-11'],
    ]);
  });

  it("DATE values in a timed series take DTSTART's time of day and zone", () => {
    const result = parse(calendar(...vevent('UID:dt', 'DTSTART;TZID=Europe/Amsterdam:20260901T090000', 'DTEND;TZID=Europe/Amsterdam:20260901T100000', 'RDATE;VALUE=DATE:20260905')));
    expect(result.errors).toEqual([]);
    expect(inputs(result).map((i) => [i.id, i.start, i.end, i.allDay])).toEqual([
      ['dt@20260901T070000Z', '2026-09-01T09:00:00', '2026-09-01T10:00:00', false],
      ['dt@20260905T070000Z', '2026-09-05T09:00:00', '2026-09-05T10:00:00', false],
    ]);
  });

  it('a PERIOD with a negative or absurd duration is an error naming the series, which is held', () => {
    const result = parse(calendar(...vevent('UID:bad-period', 'DTSTART:20260901T090000Z', 'RDATE;VALUE=PERIOD:20260902T090000Z/P99999W')));
    expect(result.inputs).toEqual([]);
    expect(result.errors).toEqual([expect.objectContaining({ id: 'bad-period', field: 'RDATE', record: expect.stringContaining('UID=bad-period') })]);
    expect(result.heldSeries).toEqual(['bad-period']);
  });
});

describe('RSCALE (RFC 7529)', () => {
  it.each([
    ['RSCALE=CHINESE;FREQ=YEARLY', /series UID=lunar uses RSCALE=CHINESE \(RFC 7529\); calpush expands Gregorian rules only/],
    ['RSCALE=GREGORIAN;FREQ=MONTHLY;SKIP=FORWARD', /series UID=lunar uses SKIP=FORWARD \(RFC 7529\)/],
    ['RSCALE=HEBREW;FREQ=YEARLY;BYMONTH=5L', /series UID=lunar uses RSCALE=HEBREW/],
    ['FREQ=YEARLY;BYMONTH=5L', /series UID=lunar names a leap month \(BYMONTH=5L/],
  ])('%s: the series is refused with a reason naming its UID, and held', (rule, message) => {
    const result = parse(calendar(...vevent('UID:lunar', 'DTSTART;VALUE=DATE:20260901', `RRULE:${rule}`)));
    expect(result.inputs).toEqual([]);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatchObject({ id: 'lunar', field: 'RRULE', record: expect.stringContaining('UID=lunar') });
    expect(result.errors[0]!.message).toMatch(message);
    expect(result.heldSeries).toEqual(['lunar']);
  });

  it('RSCALE=GREGORIAN (with SKIP=OMIT, the default) is an ordinary rule', () => {
    const result = parse(calendar(...vevent('UID:greg', 'DTSTART;VALUE=DATE:20260901', 'RRULE:RSCALE=GREGORIAN;FREQ=WEEKLY;COUNT=3;SKIP=OMIT')));
    expect(result.errors).toEqual([]);
    expect(inputs(result).map((i) => i.start)).toEqual(['2026-09-01', '2026-09-08', '2026-09-15']);
  });
});

describe('a property RFC 5545 allows once, given twice', () => {
  it.each(['DTSTART', 'DTEND', 'DURATION'])('two %s: an error naming the UID and the property; the event is held', (name) => {
    const lines = {
      DTSTART: ['DTSTART:20260901T090000Z', 'DTSTART:20260901T100000Z', 'DTEND:20260901T110000Z'],
      DTEND: ['DTSTART:20260901T090000Z', 'DTEND:20260901T100000Z', 'DTEND:20260901T110000Z'],
      DURATION: ['DTSTART:20260901T090000Z', 'DURATION:PT1H', 'DURATION:PT2H'],
    }[name]!;
    const result = parse(calendar(...vevent('UID:twice', 'SUMMARY:Which one?', ...lines), ...vevent('UID:fine', 'DTSTART:20260902T090000Z')));
    expect(inputs(result).map((i) => i.id)).toEqual(['fine']);
    expect(result.errors).toEqual([
      { record: 'VEVENT UID=twice (line 4)', id: 'twice', field: name, message: 'appears 2 times; RFC 5545 allows one per VEVENT, so which one is meant cannot be known' },
    ]);
    expect(result.heldIds).toEqual(['twice']);
  });

  it('two DTSTART in a recurring series hold the whole series', () => {
    const result = parse(calendar(...vevent('UID:rec', 'DTSTART:20260901T090000Z', 'DTSTART:20260901T100000Z', 'RRULE:FREQ=DAILY;COUNT=3')));
    expect(result.errors).toEqual([expect.objectContaining({ id: 'rec', field: 'DTSTART' })]);
    expect(result.heldSeries).toEqual(['rec']);
  });
});

describe('STATUS:CANCELLED', () => {
  const weekly = ['DTSTART;TZID=Europe/Amsterdam:20260907T091500', 'DTEND;TZID=Europe/Amsterdam:20260907T110000', 'RRULE:FREQ=WEEKLY;COUNT=4'];

  it('a cancelled single event is left out and reported as cancelled', () => {
    const result = parse(calendar(...vevent('UID:gone', 'DTSTART:20260901T090000Z', 'STATUS:CANCELLED'), ...vevent('UID:kept', 'DTSTART:20260901T090000Z')));
    expect(inputs(result).map((i) => i.id)).toEqual(['kept']);
    expect(result.cancelledIds).toEqual(['gone']);
    expect(result.cancelledSeries).toEqual([]);
  });

  it('a cancelled occurrence (an override) is left out and reported by its occurrence id', () => {
    const result = parse(
      calendar(
        ...vevent('UID:s', ...weekly),
        ...vevent('UID:s', 'RECURRENCE-ID;TZID=Europe/Amsterdam:20260914T091500', 'DTSTART;TZID=Europe/Amsterdam:20260914T091500', 'STATUS:CANCELLED'),
      ),
    );
    expect(inputs(result).map((i) => i.id)).toEqual(['s@20260907T071500Z', 's@20260921T071500Z', 's@20260928T071500Z']);
    expect(result.cancelledIds).toEqual(['s@20260914T071500Z']);
  });

  it('a cancelled RANGE=THISANDFUTURE override cancels the occurrences from there on', () => {
    const result = parse(
      calendar(
        ...vevent('UID:s', ...weekly),
        ...vevent('UID:s', 'RECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Europe/Amsterdam:20260921T091500', 'DTSTART;TZID=Europe/Amsterdam:20260921T091500', 'STATUS:CANCELLED'),
      ),
    );
    expect(inputs(result).map((i) => i.id)).toEqual(['s@20260907T071500Z', 's@20260914T071500Z']);
    expect(result.cancelledIds.sort()).toEqual(['s@20260921T071500Z', 's@20260928T071500Z']);
  });

  it('a cancelled series is reported by its UID', () => {
    const result = parse(calendar(...vevent('UID:s', ...weekly, 'STATUS:CANCELLED')));
    expect(result.inputs).toEqual([]);
    expect(result.cancelledSeries).toEqual(['s']);
  });
});

describe('values too large to compute are refused before ical.js sees them', () => {
  it.each([
    ['DURATION:P999999999999999999W', 'DURATION', /P999999999999999999W is longer than 3660 days/],
    ['DURATION:PT99999999999999999999S', 'DURATION', /is longer than 3660 days/],
    ['DTEND:99991231T000000Z', 'DTEND', /is more than 3660 days after DTSTART/],
  ])('%s → an error on %s', (line, field, message) => {
    const started = performance.now();
    const result = parse(calendar(...vevent('UID:long', 'DTSTART:20260901T090000Z', line)));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(result.errors).toEqual([expect.objectContaining({ id: 'long', field, message: expect.stringMatching(message) })]);
    expect(result.heldIds).toEqual(['long']);
  });

  it('a huge DURATION on a series holds the series (its occurrences are still known)', () => {
    const result = parse(calendar(...vevent('UID:s', 'DTSTART:20260901T090000Z', 'DURATION:P999999999999999999W', 'RRULE:FREQ=DAILY;COUNT=3')));
    expect(result.inputs).toEqual([]);
    expect(result.errors).toEqual([expect.objectContaining({ id: 's', field: 'DURATION' })]);
    expect(result.heldIds.sort()).toEqual(['s@20260901T090000Z', 's@20260902T090000Z', 's@20260903T090000Z']);
  });

  it('a huge INTERVAL is refused naming the series (ical.js steps by it month by month)', () => {
    const started = performance.now();
    const interval = parse(calendar(...vevent('UID:i', 'DTSTART:20260901T090000Z', 'RRULE:FREQ=DAILY;INTERVAL=99999999999')));
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(interval.errors).toEqual([expect.objectContaining({ id: 'i', field: 'RRULE', message: 'INTERVAL=99999999999 is more than 10000' })]);
    expect(interval.heldSeries).toEqual(['i']);
  });

  it('a VTIMEZONE whose rules are not yearly is not used (ical.js would expand FREQ=SECONDLY from year 1)', () => {
    const zone = ['BEGIN:VTIMEZONE', 'TZID:Custom', 'BEGIN:STANDARD', 'DTSTART:00010101T000000', 'RRULE:FREQ=SECONDLY', 'TZOFFSETFROM:+0100', 'TZOFFSETTO:+0100', 'END:STANDARD', 'END:VTIMEZONE'];
    const result = parse(calendar(...zone, ...vevent('UID:z', 'DTSTART;TZID=Custom:20260901T090000')));
    expect(result.errors).toEqual([expect.objectContaining({ id: 'z', field: 'DTSTART', message: expect.stringMatching(/TZID "Custom" .* its VTIMEZONE has a rule that does not repeat every year/) })]);
  });
});

describe('limits of the whole file', () => {
  it('a file with more events than maxEvents is refused as a whole', () => {
    const events = Array.from({ length: 11 }, (_, n) => vevent(`UID:e${n}`, 'DTSTART:20260901T090000Z')).flat();
    const result = parse(calendar(...events), { maxEvents: 10, origin: 'many.ics' });
    expect(result.refusal).toEqual({ limit: 'events', message: 'has more than 10 events (VEVENT components)' });
    expect(result.inputs).toEqual([]);
    expect(result.errors).toEqual([{ record: '(file)', field: '(file)', message: 'many.ics: has more than 10 events (VEVENT components)' }]);
    expect(parse(calendar(...events.slice(0, -5)), { maxEvents: 10 }).refusal).toBeUndefined();
  });

  it('so is a file whose series expand to more than maxEvents occurrences (200 series × 5,000 = 1,000,000 events)', () => {
    const series = Array.from({ length: 200 }, (_, n) => vevent(`UID:s${n}`, 'DTSTART:20260801T000000Z', 'DURATION:PT1M', 'RRULE:FREQ=HOURLY')).flat();
    const text = calendar(...series);
    expect(text.length).toBeLessThan(32_000);
    const result = parse(text, { maxEvents: 20_000 });
    expect(result.refusal).toEqual({ limit: 'events', message: 'has more than 20000 events (single events and occurrences of recurring series in the horizon)' });
    expect(result.inputs).toEqual([]);
  });

  it("once the file's expansion budget is spent, the remaining series are held with a reason", () => {
    const series = Array.from({ length: 50 }, (_, n) => vevent(`UID:s${n}`, 'DTSTART:19700101T000000Z', 'RRULE:FREQ=SECONDLY')).flat();
    const started = performance.now();
    const result = parse(calendar(...series, ...vevent('UID:single', 'DTSTART:20260901T090000Z')));
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(inputs(result).map((i) => i.id)).toEqual(['single']);
    expect(result.heldSeries).toHaveLength(50);
    expect(result.errors.at(-1)!.message).toMatch(/recurrence rules took more than 150000 steps of expansion beyond what their occurrences in the horizon pay for/);
  });
});

describe('series that began long ago skip ahead to the horizon without changing an occurrence', () => {
  const zones = ['Europe/Amsterdam', 'America/New_York', 'Australia/Lord_Howe', null, 'UTC'] as const;
  const rule = fc.record({
    freq: fc.constantFrom('SECONDLY', 'MINUTELY', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'),
    interval: fc.integer({ min: 1, max: 5 }),
    byday: fc.option(fc.subarray(['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'], { minLength: 1 }), { nil: undefined }),
    bymonth: fc.option(fc.subarray([1, 2, 3, 6, 8, 9, 10, 11, 12], { minLength: 1 }), { nil: undefined }),
    bymonthday: fc.option(fc.subarray([1, 13, 28, 29, 30, 31], { minLength: 1 }), { nil: undefined }),
    byhour: fc.option(fc.subarray([0, 9, 13, 23], { minLength: 1 }), { nil: undefined }),
    until: fc.option(fc.date({ min: new Date('2026-06-01T00:00:00Z'), max: new Date('2027-06-01T00:00:00Z'), noInvalidDate: true }), { nil: undefined }),
  });

  it('the same occurrences with and without skipping ahead', () => {
    fc.assert(
      fc.property(
        rule,
        fc.date({ min: new Date('1995-01-01T00:00:00Z'), max: new Date('2026-07-01T00:00:00Z'), noInvalidDate: true }),
        fc.constantFrom(...zones),
        fc.boolean(),
        (r, start, zone, allDay) => {
          const sub = ['SECONDLY', 'MINUTELY', 'HOURLY'].includes(r.freq);
          if (sub && allDay) return;
          // Sub-daily rules start within two weeks of the horizon: stepping from further back spends the budget.
          const at = sub ? new Date(Date.parse('2026-07-20T00:00:00Z') + (start.getTime() % (10 * 86_400_000))) : start;
          const day = at.toISOString().slice(0, 10).replaceAll('-', '');
          const time = at.toISOString().slice(11, 19).replaceAll(':', '');
          const dtstart = allDay ? `DTSTART;VALUE=DATE:${day}` : zone === 'UTC' ? `DTSTART:${day}T${time}Z` : zone ? `DTSTART;TZID=${zone}:${day}T${time}` : `DTSTART:${day}T${time}`;
          const parts = [`FREQ=${r.freq}`, `INTERVAL=${r.interval}`];
          if (r.byday) parts.push(`BYDAY=${r.byday.join(',')}`);
          if (r.bymonth) parts.push(`BYMONTH=${r.bymonth.join(',')}`);
          if (r.bymonthday && r.freq !== 'WEEKLY') parts.push(`BYMONTHDAY=${r.bymonthday.join(',')}`);
          if (r.byhour && !allDay) parts.push(`BYHOUR=${r.byhour.join(',')}`);
          if (r.until) parts.push(`UNTIL=${allDay ? r.until.toISOString().slice(0, 10).replaceAll('-', '') : `${r.until.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`}`);
          const text = calendar(...vevent('UID:ff', dtstart, allDay ? 'DURATION:P1D' : 'DURATION:PT45M', `RRULE:${parts.join(';')}`));
          const skipped = parse(text);
          const stepped = parse(text, { expandFromStart: true });
          if (stepped.errors.length) return; // ran into a budget or a limit stepping from DTSTART: nothing to compare
          expect(skipped.errors).toEqual([]);
          expect(timings(skipped)).toEqual(timings(stepped));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('monthly weekday series ("second Wednesday") skip ahead by whole years without changing an occurrence', () => {
  // The dates are python-dateutil's rrule for the same rule (dateutil leaves out a DTSTART the rule does not match, as calpush does).
  const quarterlyFifth = (start: string) => calendar(...vevent('UID:q', `DTSTART;TZID=Europe/Amsterdam:${start}`, 'DURATION:PT1H', 'RRULE:FREQ=MONTHLY;INTERVAL=3;BYDAY=5MO,5FR'));
  const wide = { horizon: { fromMs: Date.parse('2026-01-01T00:00:00Z'), toMs: Date.parse('2028-06-01T00:00:00Z') } };
  const days = (result: IcsParseResult) => inputs(result).map((i) => i.start.slice(0, 10));

  it('a fifth weekday every third month stays in the months counted from DTSTART when DTSTART\'s month has none (ical.js shifts them a month)', () => {
    const result = parse(quarterlyFifth('20040901T183000'), wide);
    expect(result.errors).toEqual([]);
    expect(days(result)).toEqual(['2026-03-30', '2026-06-29', '2027-03-29', '2027-12-31', '2028-03-31']);
    expect(days(parse(quarterlyFifth('20040901T183000'), { ...wide, expandFromStart: true }))).toEqual(days(result));
  });

  it('so does one that starts inside the horizon', () => {
    expect(days(parse(quarterlyFifth('20260401T183000'), wide))).toEqual(['2026-07-31', '2026-10-30', '2027-01-29', '2027-04-30', '2027-07-30', '2027-10-29', '2028-01-31']);
    expect(days(parse(quarterlyFifth('20260901T183000'), wide))).toEqual(['2027-03-29', '2027-12-31', '2028-03-31']);
  });

  it('the same occurrences with and without skipping ahead', () => {
    const weekday = fc.tuple(fc.constantFrom('', '1', '2', '3', '4', '5', '-1', '-2'), fc.constantFrom('MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU')).map(([n, d]) => `${n}${d}`);
    fc.assert(
      fc.property(
        fc.uniqueArray(weekday, { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 18 }),
        fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2026-07-01T00:00:00Z'), noInvalidDate: true }),
        fc.constantFrom('Europe/Amsterdam', 'America/New_York', null),
        fc.boolean(),
        (days, interval, start, zone, allDay) => {
          const day = start.toISOString().slice(0, 10).replaceAll('-', '');
          const dtstart = allDay ? `DTSTART;VALUE=DATE:${day}` : zone ? `DTSTART;TZID=${zone}:${day}T183000` : `DTSTART:${day}T183000`;
          const text = calendar(...vevent('UID:m', dtstart, allDay ? 'DURATION:P1D' : 'DURATION:PT1H', `RRULE:FREQ=MONTHLY;INTERVAL=${interval};BYDAY=${days.join(',')}`));
          const stepped = parse(text, { expandFromStart: true });
          if (stepped.errors.length) return;
          const skipped = parse(text);
          expect(skipped.errors).toEqual([]);
          expect(timings(skipped)).toEqual(timings(stepped));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('slips of real exporters, found in the public test files of python-icalendar', () => {
  const fixture = (name: string) => readFileSync(new URL(`../fixtures/ics/${name}`, import.meta.url));
  const wide = { horizon: { fromMs: Date.parse('2026-10-01T00:00:00Z'), toMs: Date.parse('2027-12-01T00:00:00Z') } };

  it('dates without VALUE=DATE, an all-day DTEND equal to DTSTART, and empty RDATE and EXDATE lines', () => {
    const result = parse(readFileSync(new URL('../fixtures/ics/holidays-dates.ics', import.meta.url)), wide);
    expect(result.errors).toEqual([]);
    expect(timings(result)).toEqual([
      ['kerst-2026@rooster.example.edu', '2026-12-25', '2026-12-26'],
      ['kerstvakantie-2026@rooster.example.edu', '2026-12-19', '2027-01-04'],
      ['studiedagen-2027@rooster.example.edu@20270210', '2027-02-10', '2027-02-11'],
      ['studiedagen-2027@rooster.example.edu@20270415', '2027-04-15', '2027-04-16'],
      ['studiedagen-2027@rooster.example.edu@20270603', '2027-06-03', '2027-06-04'],
    ]);
    expectAllValid(result);
  });

  it("blanks in a rule's BYDAY list, and a zone named only by its VTIMEZONE (Exchange's CDO)", () => {
    const result = parse(fixture('exchange-cdo.ics'), wide);
    expect(result.errors).toEqual([]);
    // UTC+1 in November: 10:00 local is 09:00 UTC; UNTIL ends the series after Friday.
    expect(inputs(result).map((i) => [i.start, i.end, i.timeZone])).toEqual(
      ['02', '03', '04', '05', '06'].map((day) => [`2026-11-${day}T09:00:00`, `2026-11-${day}T09:30:00`, 'UTC']),
    );
  });

  it('a date value where a date-time is meant is not taken for a date when it has a time, or VALUE says otherwise', () => {
    const result = parse(calendar(...vevent('UID:v', 'DTSTART;VALUE=DATE-TIME:20261101', 'DTEND:20261101T100000Z')));
    expect(result.errors).toEqual([expect.objectContaining({ id: 'v', field: 'DTSTART' })]);
  });
});

describe('LOCATION lines joined without the quadratic regular expression', () => {
  const blanks = /[ \t]*\r?\n[ \t]*/g;

  it('joins exactly as the regular expression did', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(' ', '\t', '\r', '\n', '\r\n', 'a', 'Room', ','), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        expect(joinLines(text).trim()).toBe(text.replace(blanks, ', ').trim());
      }),
      { numRuns: 500 },
    );
  });

  it('takes linear time on a long run of blanks (the regular expression took 40 s on 200 KB)', () => {
    const text = `Room A${' '.repeat(1_000_000)}x\n${'\t'.repeat(1_000_000)}B`;
    const started = performance.now();
    expect(joinLines(text)).toBe(`Room A${' '.repeat(1_000_000)}x, B`);
    expect(performance.now() - started).toBeLessThan(200);
  });
});
