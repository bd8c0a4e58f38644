import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentHash, eventKey, validateEvent } from '../../src/model/event.ts';
import { normalizeLocalDateTime, utcMsToZoned, zonedToUtcMs } from '../../src/model/time.ts';

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
