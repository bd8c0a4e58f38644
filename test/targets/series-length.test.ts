// A series' length as the agent counts it from Graph's recurrence (targets/graph/meetings.ts recurrenceOf): an end
// date is counted in the series' zone, `range.recurrenceTimeZone`
// (https://learn.microsoft.com/graph/api/resources/recurrencerange), else the event's own.
import { describe, expect, it } from 'vitest';
import { recurrenceOf } from '../../src/targets/graph/meetings.ts';

const endDated = (extra: Record<string, unknown> = {}) => ({
  pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday', 'wednesday'] },
  range: { type: 'endDate', startDate: '2026-09-14', endDate: '2026-10-05', ...extra },
});

describe("Graph's recurrence counted", () => {
  it('counts an end-dated series by its dates', () => {
    expect(recurrenceOf(endDated())!.occurrences).toBe(7);
  });

  it('ends an end-dated series at the end of its end date in recurrenceTimeZone (a Windows zone name)', () => {
    expect(recurrenceOf(endDated({ recurrenceTimeZone: 'Pacific Standard Time' }))!.until).toBe(Date.parse('2026-10-06T07:00:00Z'));
    expect(recurrenceOf(endDated({ recurrenceTimeZone: 'W. Europe Standard Time' }))!.until).toBe(Date.parse('2026-10-05T22:00:00Z'));
  });

  it("takes the event's zone when the range names none, and the furthest zone when neither can be read", () => {
    expect(recurrenceOf(endDated(), 'Tokyo Standard Time')!.until).toBe(Date.parse('2026-10-05T15:00:00Z'));
    expect(recurrenceOf(endDated({ recurrenceTimeZone: 'Nowhere Standard Time' }))!.until).toBe(Date.parse('2026-10-06T14:00:00Z'));
  });

  it('counts a series whose range cannot be read as without end', () => {
    expect(recurrenceOf({ pattern: { type: 'weekly' }, range: { type: 'endDate', startDate: 'soon', endDate: '2026-10-05' } })!.occurrences).toBeNull();
    expect(recurrenceOf({ pattern: { type: 'hourly' }, range: { type: 'numbered', startDate: '2026-09-14', numberOfOccurrences: 3 } })!.occurrences).toBeNull();
  });
});
