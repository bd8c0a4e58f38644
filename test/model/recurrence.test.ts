// The agent's own expansion of a series (src/model/recurrence.ts): EWS gives a request's series as its Recurrence only.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { occurrenceCount, occurrenceCountWithout, occurrencesWithin, recurrenceDates, type RecurrenceRule } from '../../src/model/recurrence.ts';

const weekly = (days: string[], range: RecurrenceRule['range']): RecurrenceRule => ({ pattern: { type: 'weekly', interval: 1, daysOfWeek: days }, range });
const at = (iso: string) => Date.parse(iso);

describe('recurrence expansion', () => {
  it('walks a weekly pattern on two days to its end date, and counts it exactly', () => {
    const rule = weekly(['monday', 'wednesday'], { type: 'endDate', startDate: '2026-09-14', endDate: '2026-10-05' });
    expect([...recurrenceDates(rule)]).toEqual(['2026-09-14', '2026-09-16', '2026-09-21', '2026-09-23', '2026-09-28', '2026-09-30', '2026-10-05']);
    expect(occurrenceCount(rule)).toBe(7);
  });

  it('keeps the wall-clock time in the series zone across a daylight-saving change', () => {
    // Europe/Amsterdam leaves summer time on 25 October 2026: 11:00 local is 09:00 UTC before, 10:00 UTC after.
    const rule = weekly(['monday'], { type: 'numbered', startDate: '2026-10-19', numberOfOccurrences: 3 });
    const { occurrences, complete } = occurrencesWithin(rule, { start: at('2026-10-19T09:00:00Z'), end: at('2026-10-19T10:00:00Z') }, 'Europe/Amsterdam', { start: 0, end: at('2027-01-01T00:00:00Z') }, 50);
    expect(complete).toBe(true);
    expect(occurrences.map((o) => new Date(o.start).toISOString())).toEqual(['2026-10-19T09:00:00.000Z', '2026-10-26T10:00:00.000Z', '2026-11-02T10:00:00.000Z']);
  });

  it('gives the occurrences within the window only, at most the bound (then incomplete)', () => {
    const rule: RecurrenceRule = { pattern: { type: 'daily', interval: 1, daysOfWeek: [] }, range: { type: 'noEnd', startDate: '2026-01-01' } };
    const first = { start: at('2026-01-01T08:00:00Z'), end: at('2026-01-01T09:00:00Z') };
    const within = occurrencesWithin(rule, first, 'UTC', { start: at('2026-03-01T08:30:00Z'), end: at('2026-03-04T00:00:00Z') }, 50);
    expect(within.occurrences.map((o) => new Date(o.start).toISOString().slice(0, 10))).toEqual(['2026-03-01', '2026-03-02', '2026-03-03']);
    expect(within).toMatchObject({ complete: true });
    const bounded = occurrencesWithin(rule, first, 'UTC', { start: 0, end: at('2030-01-01T00:00:00Z') }, 50);
    expect(bounded.occurrences).toHaveLength(50);
    expect(bounded.complete).toBe(false);
  });

  it('is bounded whatever the rule (property)', () => {
    const types = ['daily', 'weekly', 'absoluteMonthly', 'relativeMonthly', 'absoluteYearly', 'relativeYearly'] as const;
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.integer({ min: -5, max: 1000 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 100_000 }), (type, interval, dayOfMonth, count) => {
        const rule: RecurrenceRule = { pattern: { type, interval, daysOfWeek: ['monday'], dayOfMonth, month: 2, index: 'last' }, range: { type: 'numbered', startDate: '2026-01-01', numberOfOccurrences: count } };
        const { occurrences } = occurrencesWithin(rule, { start: at('2026-01-01T08:00:00Z'), end: at('2026-01-01T09:00:00Z') }, 'UTC', { start: 0, end: 8.64e15 }, 50);
        expect(occurrences.length).toBeLessThanOrEqual(50);
        expect([...recurrenceDates(rule)].length).toBeLessThanOrEqual(count);
      }),
      { numRuns: 60 },
    );
  });
});

describe("a series' exceptions applied to its expansion (EWS ModifiedOccurrences / DeletedOccurrences)", () => {
  // A weekly Monday series at 09:00 Amsterdam from 7 September 2026: daylight-saving time changes within it.
  const rule = weekly(['monday'], { type: 'numbered', startDate: '2026-09-07', numberOfOccurrences: 12 });
  const first = { start: at('2026-09-07T07:00:00Z'), end: at('2026-09-07T08:00:00Z') };
  const zone = 'Europe/Amsterdam';
  const everything = { start: 0, end: at('2027-06-01T00:00:00Z') };
  const plain = occurrencesWithin(rule, first, zone, everything, 50).occurrences;
  const key = (o: { start: number; end: number }) => `${o.start}/${o.end}`;
  const count = (list: Array<{ start: number; end: number }>, o: { start: number; end: number }) => list.filter((x) => key(x) === key(o)).length;
  /** Indexes of occurrences, their new times (anywhere within a year), and windows of any part of the series. */
  const exceptions = fc.record({
    deleted: fc.uniqueArray(fc.integer({ min: 0, max: 11 }), { maxLength: 12 }),
    moved: fc.uniqueArray(fc.record({ index: fc.integer({ min: 0, max: 11 }), start: fc.integer({ min: at('2026-08-01T00:00:00Z'), max: at('2027-08-01T00:00:00Z') }), minutes: fc.integer({ min: 0, max: 600 }) }), { selector: (m) => m.index, maxLength: 12 }),
    window: fc.tuple(fc.integer({ min: at('2026-08-01T00:00:00Z'), max: at('2027-08-01T00:00:00Z') }), fc.integer({ min: 0, max: 400 * 86_400_000 })),
  });

  it('deleting occurrences never adds one, and takes out exactly the deleted ones (property)', () => {
    fc.assert(
      fc.property(exceptions, ({ deleted }) => {
        const gone = deleted.map((i) => plain[i]!.start);
        const { occurrences, complete } = occurrencesWithin(rule, first, zone, everything, 50, { modified: [], deleted: gone });
        expect(complete).toBe(true);
        expect(occurrences).toEqual(plain.filter((o) => !gone.includes(o.start)));
        expect(occurrenceCountWithout(rule, first, zone, gone)).toBe(12 - deleted.length);
      }),
      { numRuns: 100 },
    );
  });

  it('a moved occurrence appears exactly once, at its new time, and not at its original one (property)', () => {
    fc.assert(
      fc.property(exceptions, ({ moved, deleted, window: [from, length] }) => {
        const modified = moved.map((m) => ({ originalStart: plain[m.index]!.start, start: m.start, end: m.start + m.minutes * 60_000 }));
        const gone = deleted.map((i) => plain[i]!.start);
        const window = { start: from, end: from + length };
        const { occurrences } = occurrencesWithin(rule, first, zone, window, 50, { modified, deleted: gone });
        const overlaps = (o: { start: number; end: number }) => o.start < window.end && o.end > window.start;
        const expected = [
          ...plain.filter((o) => !gone.includes(o.start) && !modified.some((m) => m.originalStart === o.start)),
          ...modified.filter((m) => !gone.includes(m.originalStart)).map((m) => ({ start: m.start, end: m.end })),
        ].filter(overlaps);
        // Each expected once (a moved one may land on another occurrence's time: then both are there), in order.
        expect(occurrences.map(key).sort()).toEqual(expected.map(key).sort());
        for (const o of expected) expect(count(occurrences, o)).toBe(count(expected, o));
        expect(occurrences.map((o) => o.start)).toEqual([...occurrences.map((o) => o.start)].sort((a, b) => a - b));
        // Deleting never adds one: without the deletions there are at least as many.
        expect(occurrencesWithin(rule, first, zone, window, 50, { modified, deleted: [] }).occurrences.length).toBeGreaterThanOrEqual(occurrences.length);
      }),
      { numRuns: 150 },
    );
  });

  it('the bound holds with moved occurrences merged in: the first `max` by time, then incomplete', () => {
    const modified = [{ originalStart: plain[11]!.start, start: at('2026-09-01T06:00:00Z'), end: at('2026-09-01T07:00:00Z') }];
    const { occurrences, complete } = occurrencesWithin(rule, first, zone, everything, 3, { modified, deleted: [plain[0]!.start] });
    expect(complete).toBe(false);
    expect(occurrences.map((o) => new Date(o.start).toISOString())).toEqual(['2026-09-01T06:00:00.000Z', '2026-09-14T07:00:00.000Z', '2026-09-21T07:00:00.000Z']);
  });

  it('counts without the deleted occurrences only what is an occurrence of the series (a start that is none takes nothing)', () => {
    expect(occurrenceCountWithout(rule, first, zone, [plain[1]!.start, plain[1]!.start + 60_000, at('2030-01-07T08:00:00Z')])).toBe(11);
    expect(occurrenceCountWithout(weekly(['monday'], { type: 'noEnd', startDate: '2026-09-07' }), first, zone, [plain[1]!.start])).toBeNull();
  });
});
