import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentHash, eventKey, validateEvent } from '../../src/model/event.ts';
import { existingLocalTime, normalizeLocalDateTime, utcMsToZoned, zonedToUtcMs } from '../../src/model/time.ts';
import { validateRecord } from '../../src/sources/records.ts';

const lecture = {
  calendar: 'S0001@Contoso.edu',
  id: 'MATH101-2026-09-01',
  subject: 'Mathematics 101',
  start: '2026-09-01T09:00',
  end: '2026-09-01T10:45',
  timeZone: 'Europe/Amsterdam',
  location: 'Room A1.02',
};

describe('event model', () => {
  it('normalises a timed event and derives key, hash and start instant', () => {
    const result = validateEvent(lecture);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const { event, key, contentHash: hash, startsAtMs } = result.desired;
    expect(event.calendar).toBe('s0001@contoso.edu');
    expect(event.timing).toEqual({ allDay: false, start: '2026-09-01T09:00:00', end: '2026-09-01T10:45:00', timeZone: 'Europe/Amsterdam' });
    expect(event.showAs).toBe('busy');
    expect(event.reminderMinutes).toBeNull();
    expect(key).toBe(eventKey('s0001@contoso.edu', 'MATH101-2026-09-01'));
    expect(hash).toMatch(/^[0-9a-f]{32}$/);
    expect(new Date(startsAtMs).toISOString()).toBe('2026-09-01T07:00:00.000Z');
  });

  it('gives the same hash for the same content however it was written, and a different one for any change', () => {
    const a = validateEvent(lecture);
    const b = validateEvent({ ...lecture, start: '2026-09-01T09:00:00', body: null, categories: [] });
    const c = validateEvent({ ...lecture, location: 'Room A1.03' });
    if (!a.ok || !b.ok || !c.ok) throw new Error('expected valid');
    expect(a.desired.contentHash).toBe(b.desired.contentHash);
    expect(c.desired.contentHash).not.toBe(a.desired.contentHash);
    // The calendar and id are identity, not content.
    expect(contentHash({ ...a.desired.event, id: 'other' })).toBe(a.desired.contentHash);
  });

  it('accepts all-day events with exclusive end dates', () => {
    const result = validateEvent({ calendar: 'a@b.c', id: 'x', subject: 'Exam week', allDay: true, start: '2026-10-05', end: '2026-10-10' });
    expect(result.ok && result.desired.event.timing).toEqual({ allDay: true, startDate: '2026-10-05', endDate: '2026-10-10' });
  });

  it.each([
    [{ ...lecture, end: '2026-09-01T08:00' }, 'end', 'must not be before start'],
    [{ ...lecture, timeZone: 'Mars/Olympus_Mons' }, 'timeZone', 'not a known IANA time zone'],
    [{ ...lecture, timeZone: undefined }, 'timeZone', 'is required'],
    [{ ...lecture, id: undefined }, 'id', 'is required'],
    [{ ...lecture, start: '2026-02-30T09:00' }, 'start', 'not a local date-time'],
    [{ ...lecture, start: '2026-09-01T09:00:00Z' }, 'start', 'no offset'],
    [{ ...lecture, calendar: 'not-an-address' }, 'calendar', 'mailbox address'],
    [{ ...lecture, showAs: 'maybe' }, 'showAs', ''],
    [{ ...lecture, colour: 'red' }, '(record)', 'colour'],
    [{ calendar: 'a@b.c', id: 'x', allDay: true, start: '2026-10-05', end: '2026-10-05' }, 'end', 'must be after start'],
  ])('rejects %j naming the field', (input, field, message) => {
    const result = validateEvent(input);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const problem = result.problems.find((p) => p.field === field);
    expect(problem, JSON.stringify(result.problems)).toBeDefined();
    expect(problem!.message).toContain(message);
  });

  it('never throws and always names a field, whatever it is given (property)', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const result = validateEvent(value);
        if (!result.ok) for (const p of result.problems) expect(p.field.length).toBeGreaterThan(0);
      }),
    );
  });

  it('valid generated events are accepted and keep their wall-clock times (property)', () => {
    const zones = ['Europe/Amsterdam', 'America/New_York', 'Asia/Kolkata', 'Australia/Sydney', 'UTC'];
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2090-01-01T00:00:00Z'), noInvalidDate: true }),
        fc.integer({ min: 1, max: 600 }),
        fc.constantFrom(...zones),
        fc.string({ maxLength: 255 }),
        (start, minutes, zone, subject) => {
          const local = start.toISOString().slice(0, 16);
          const end = new Date(start.getTime() + minutes * 60_000).toISOString().slice(0, 16);
          // Times a DST jump skips are shifted (tested below): here, times that exist.
          fc.pre(existingLocalTime(`${local}:00`, zone).shiftedMs === 0 && existingLocalTime(`${end}:00`, zone).shiftedMs === 0);
          const result = validateEvent({ calendar: 'x@y.z', id: 'id', subject, start: local, end, timeZone: zone });
          expect(result.ok).toBe(true);
          if (result.ok && !result.desired.event.timing.allDay) {
            expect(result.desired.event.timing.start.slice(0, 16)).toBe(local);
            expect(result.desired.event.subject).toBe(subject);
          }
        },
      ),
    );
  });

  it('converts wall-clock time across DST the way the zone rules say', () => {
    expect(new Date(zonedToUtcMs('2026-03-29T01:30:00', 'Europe/Amsterdam')).toISOString()).toBe('2026-03-29T00:30:00.000Z');
    expect(new Date(zonedToUtcMs('2026-03-29T03:30:00', 'Europe/Amsterdam')).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(new Date(zonedToUtcMs('2026-07-01T12:00:00', 'America/New_York')).toISOString()).toBe('2026-07-01T16:00:00.000Z');
  });

  it('gives the offset Intl gives at every minute around transitions that are not on a quarter hour', () => {
    // St. John's changed its clocks at 00:01 local time until 2011 (02:31 and 03:31 UTC): found by the clock
    // matrix, where calpush put 02:31–02:44 UTC on 1 November 2009 an hour late (the quarter hour's offset).
    const intl = (ms: number, zone: string) => {
      const parts = Object.fromEntries(
        new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
          .formatToParts(new Date(ms))
          .map((p) => [p.type, p.value]),
      );
      return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}`;
    };
    const around = [
      ['America/St_Johns', Date.UTC(2009, 10, 1, 2, 31)],
      ['America/St_Johns', Date.UTC(2009, 2, 8, 3, 31)],
      ['Europe/Amsterdam', Date.UTC(2026, 2, 29, 1)],
      ['Australia/Lord_Howe', Date.UTC(2026, 3, 4, 15)],
    ] as const;
    for (const [zone, transition] of around) {
      for (let minute = -40; minute <= 40; minute++) {
        const instant = transition + minute * 60_000;
        expect(utcMsToZoned(instant, zone), `${zone} ${new Date(instant).toISOString()}`).toBe(intl(instant, zone));
      }
    }
  });
});

describe('remembered slot times', () => {
  // normalizeLocalDateTime and zonedToUtcMs keep their answers (a timetable repeats its slot times): asking again,
  // in any order and across zones, must give exactly what computing afresh gives.
  const reference = (value: string): string | null => {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
    if (!m) return null;
    const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '00'].map(Number) as [number, number, number, number, number, number];
    const date = new Date(Date.UTC(y, mo - 1, d));
    if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null;
    return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}`;
  };
  it('answers like the computation, the first time and every time after (fast-check)', () => {
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    const slot = fc
      .tuple(fc.integer({ min: 1999, max: 2031 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.boolean())
      .map(([y, mo, d, h, mi, sec]) => `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}${sec ? ':30' : ''}`);
    fc.assert(
      fc.property(fc.array(fc.oneof(slot, fc.string({ maxLength: 20 })), { minLength: 1, maxLength: 20 }), fc.constantFrom('Europe/Amsterdam', 'America/New_York', 'Australia/Lord_Howe'), (values, zone) => {
        for (const value of [...values, ...values.toReversed()]) {
          const expected = reference(value);
          expect(normalizeLocalDateTime(value)).toBe(expected);
          if (expected) {
            // Outside a DST gap the instant shows the same wall clock again; inside one (spring forward) it is later.
            const instant = zonedToUtcMs(expected, zone);
            expect(utcMsToZoned(instant, zone) >= expected).toBe(true);
            expect(zonedToUtcMs(expected, zone)).toBe(instant);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('a record with several problems', () => {
  it('is reported with all of them at once: a bad enum value does not hide the others', () => {
    const result = validateEvent({ ...lecture, showAs: 'maybe', sensitivity: 'secret', start: '2026-13-01T09:00', reminderMinutes: -5, colour: 'red' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map((p) => p.field).sort()).toEqual(['(record)', 'reminderMinutes', 'sensitivity', 'showAs', 'start']);
  });

  it('checks the times even when another field is wrong, but a field is not reported twice', () => {
    const timed = validateEvent({ ...lecture, showAs: 1, end: '2026-09-01T08:00', timeZone: 'Mars/Olympus_Mons' });
    expect(!timed.ok && timed.problems.map((p) => p.field).sort()).toEqual(['end', 'showAs', 'timeZone']);
    const allDay = validateEvent({ calendar: 'a@b.c', id: 'x', allDay: true, start: '2026-10-05', end: '2026-10-05', timeZone: 'UTC', categories: 'x' });
    expect(!allDay.ok && allDay.problems.map((p) => p.field).sort()).toEqual(['categories', 'end', 'timeZone']);
    const wrongTypes = validateEvent({ calendar: 'a@b.c', id: 'x', start: 9, end: null, timeZone: 5 });
    expect(!wrongTypes.ok && wrongTypes.problems.map((p) => p.field).sort()).toEqual(['end', 'start', 'timeZone']);
  });
});

describe('local times a daylight-saving jump skips (RFC 5545 §3.3.5)', () => {
  // Europe/Amsterdam, 29 March 2026: the clocks go from 02:00 CET straight to 03:00 CEST.
  const gapDay = { calendar: 'a@b.c', id: 'night', timeZone: 'Europe/Amsterdam' };
  const timing = (result: ReturnType<typeof validateEvent>) => (result.ok && !result.desired.event.timing.allDay ? result.desired.event.timing : null);

  it('shifts a start in the gap forwards with the offset before the gap, and warns naming the field', () => {
    const result = validateEvent({ ...gapDay, start: '2026-03-29T02:30', end: '2026-03-29T04:00' });
    expect(timing(result)).toMatchObject({ start: '2026-03-29T03:30:00', end: '2026-03-29T04:00:00' });
    expect(result.ok && new Date(result.desired.startsAtMs).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    expect(result.ok && result.warnings).toEqual([{ field: 'start', message: expect.stringMatching(/2026-03-29T02:30:00 does not exist in Europe\/Amsterdam.*taken as 2026-03-29T03:30:00.*RFC 5545 §3\.3\.5/) }]);
  });

  it('shifts an end in the gap', () => {
    const result = validateEvent({ ...gapDay, start: '2026-03-29T01:00', end: '2026-03-29T02:15' });
    expect(timing(result)).toMatchObject({ start: '2026-03-29T01:00:00', end: '2026-03-29T03:15:00' });
    expect(result.ok && result.warnings.map((w) => w.field)).toEqual(['end']);
  });

  it('moves an event entirely inside the gap forwards whole, keeping its length', () => {
    const result = validateEvent({ ...gapDay, start: '2026-03-29T02:15', end: '2026-03-29T02:45' });
    expect(timing(result)).toMatchObject({ start: '2026-03-29T03:15:00', end: '2026-03-29T03:45:00' });
    expect(result.ok && result.warnings.map((w) => w.field)).toEqual(['start', 'end']);
  });

  it('says so when the shift leaves a zero-length event, and refuses one whose shifted start passes its end', () => {
    const zero = validateEvent({ ...gapDay, start: '2026-03-29T02:30', end: '2026-03-29T03:30' });
    expect(timing(zero)).toMatchObject({ start: '2026-03-29T03:30:00', end: '2026-03-29T03:30:00' });
    expect(zero.ok && zero.warnings.map((w) => w.field)).toEqual(['start', 'end']);
    const inverted = validateEvent({ ...gapDay, start: '2026-03-29T02:30', end: '2026-03-29T03:00' });
    expect(!inverted.ok && inverted.problems).toEqual([{ field: 'start', message: expect.stringContaining('would be 2026-03-29T03:30:00 (RFC 5545 §3.3.5), after the end 2026-03-29T03:00:00') }]);
  });

  it('leaves all-day events, ambiguous times and other days alone', () => {
    const allDay = validateEvent({ calendar: 'a@b.c', id: 'x', allDay: true, start: '2026-03-29', end: '2026-03-30' });
    expect(allDay.ok && allDay.warnings).toEqual([]);
    expect(allDay.ok && allDay.desired.event.timing).toEqual({ allDay: true, startDate: '2026-03-29', endDate: '2026-03-30' });
    // 25 October 2026: 02:30 happens twice (fall back); it exists, and is taken as the first.
    const ambiguous = validateEvent({ ...gapDay, start: '2026-10-25T02:30', end: '2026-10-25T03:30' });
    expect(ambiguous.ok && ambiguous.warnings).toEqual([]);
    expect(timing(ambiguous)).toMatchObject({ start: '2026-10-25T02:30:00' });
    expect(validateEvent({ ...gapDay, start: '2026-03-28T02:30', end: '2026-03-28T03:30' })).toMatchObject({ ok: true, warnings: [] });
  });

  it('reports the warning with the record, calendar and id; the record goes through', () => {
    const result = validateRecord('night.ndjson line 4', { ...gapDay, start: '2026-03-29T02:30', end: '2026-03-29T04:00' });
    expect(result.ok).toBe(true);
    expect(result.ok && result.warnings).toEqual([{ record: 'night.ndjson line 4', calendar: 'a@b.c', id: 'night', field: 'start', message: expect.stringContaining('does not exist') }]);
  });

  // An oracle from Intl alone: the wall clock it shows at an instant, and so the offset there.
  const shown = new Map<string, Intl.DateTimeFormat>();
  const intlLocal = (ms: number, zone: string) => {
    let format = shown.get(zone);
    if (!format) {
      format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
      shown.set(zone, format);
    }
    const p = Object.fromEntries(format.formatToParts(new Date(ms)).map((part) => [part.type, part.value]));
    return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
  };
  const offsetAt = (ms: number, zone: string) => Date.parse(`${intlLocal(ms, zone)}Z`) - ms;
  const asLocal = (ms: number) => new Date(ms).toISOString().slice(0, 19);
  /** The jumps forwards of a zone in a year (instant of the jump, offsets before and after), found with Intl. */
  function gapsIn(zone: string, year: number): Array<{ at: number; before: number; after: number }> {
    const gaps: Array<{ at: number; before: number; after: number }> = [];
    const week = 7 * 86_400_000;
    for (let t = Date.UTC(year, 0, 1); t < Date.UTC(year + 1, 0, 1); t += week) {
      const before = offsetAt(t, zone);
      const after = offsetAt(t + week, zone);
      if (after <= before) continue;
      let [lo, hi] = [t, t + week];
      while (hi - lo > 60_000) {
        const mid = lo + Math.floor((hi - lo) / 120_000) * 60_000;
        if (offsetAt(mid, zone) === before) lo = mid;
        else hi = mid;
      }
      gaps.push({ at: hi, before, after: offsetAt(hi, zone) });
    }
    return gaps;
  }
  const zones = Intl.supportedValuesOf('timeZone');

  it('in every zone, a skipped time becomes what Intl shows at it with the offset before the gap; an existing time stays (fast-check)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...zones), fc.integer({ min: 2000, max: 2037 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 525_600 }), (zone, year, where, minute) => {
        // An existing wall-clock time (what Intl shows at some instant) is kept as it is.
        const instant = Date.UTC(year, 0, 1) + minute * 60_000;
        const existing = intlLocal(instant, zone);
        expect(existingLocalTime(existing, zone)).toEqual({ local: existing, shiftedMs: 0 });
        // A time inside a jump forwards, if the zone has one that year.
        const gaps = gapsIn(zone, year);
        if (!gaps.length) return;
        const gap = gaps[Math.min(gaps.length - 1, Math.floor(where * gaps.length))]!;
        const size = gap.after - gap.before;
        const minuteInGap = Math.min(size / 60_000 - 1, Math.floor((where * size) / 60_000));
        const skipped = asLocal(gap.at + gap.before + minuteInGap * 60_000);
        expect(intlLocal(Date.parse(`${skipped}Z`) - gap.before, zone)).not.toBe(skipped);
        expect(intlLocal(Date.parse(`${skipped}Z`) - gap.after, zone)).not.toBe(skipped);
        const rfc = intlLocal(Date.parse(`${skipped}Z`) - gap.before, zone);
        expect(existingLocalTime(skipped, zone)).toEqual({ local: rfc, shiftedMs: size });
        const result = validateEvent({ calendar: 'a@b.c', id: 'x', start: skipped, end: asLocal(Date.parse(`${rfc}Z`) + 3_600_000), timeZone: zone });
        expect(result.ok && result.desired.event.timing).toMatchObject({ start: rfc });
        expect(result.ok && result.desired.startsAtMs).toBe(Date.parse(`${skipped}Z`) - gap.before);
        expect(result.ok && result.warnings.map((w) => w.field)).toEqual(['start']);
      }),
      { numRuns: 300 },
    );
  });
});
