// The agent's own expansion of a series (src/model/recurrence.ts): EWS gives a request's series as its Recurrence only.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { occurrenceCount, occurrencesWithin, recurrenceDates, type RecurrenceRule } from '../../src/model/recurrence.ts';

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
