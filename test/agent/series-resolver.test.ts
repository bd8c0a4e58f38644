// The series resolver (src/agent/series.ts) against a fake desk: a master is read once per pass, an answered
// series' occurrences are left alone, an exception of an answered series is decided on its own, and the occurrences
// the conflict rule checks are bounded (incomplete past the bound).
import { describe, expect, it } from 'vitest';
import { decide, ROOM_DEFAULTS } from '../../src/agent/policy.ts';
import { MAX_CHECKED_OCCURRENCES, SeriesResolver } from '../../src/agent/series.ts';
import type { MeetingDesk, MeetingRequest, OccurrencePage } from '../../src/targets/meetings.ts';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-09-01T08:00:00Z');
const WINDOW = { start: NOW, end: NOW + 1100 * 24 * HOUR };

function request(overrides: Partial<MeetingRequest> = {}): MeetingRequest {
  return { uid: 'occ-uid', itemId: 'occ-1', changeKey: null, state: 'pending', informational: false, subject: 'Seminar', organizer: 't0001@contoso.edu', start: NOW + 24 * HOUR, end: NOW + 25 * HOUR, isAllDay: false, recurrence: null, attendees: [], location: '', series: { masterId: 'master-1', kind: 'occurrence' }, ...overrides };
}

function fakeDesk(master: Partial<MeetingRequest>, occurrenceCount = 4) {
  const reads = { masters: 0, pages: 0 };
  const desk = {
    kind: 'graph',
    async seriesMaster() {
      reads.masters++;
      return request({ uid: 'master-uid', itemId: 'master-1', recurrence: { occurrences: occurrenceCount }, series: undefined, ...master });
    },
    async occurrences(_mailbox: string, _master: MeetingRequest, _start: number, _end: number, next?: string | null): Promise<OccurrencePage> {
      reads.pages++;
      const from = Number(next ?? 0);
      const page = Array.from({ length: Math.min(50, occurrenceCount - from) }, (_, i) => ({ start: NOW + (from + i + 1) * 7 * 24 * HOUR, end: NOW + (from + i + 1) * 7 * 24 * HOUR + HOUR }));
      return { occurrences: page, next: from + 50 < occurrenceCount ? String(from + 50) : null };
    },
  } as unknown as MeetingDesk;
  return { desk, reads };
}

const direct = <T>(work: () => Promise<T>) => work();

describe('SeriesResolver', () => {
  it('resolves occurrences to their master, read once per pass; after the answer the others are left alone', async () => {
    const { desk, reads } = fakeDesk({});
    const series = new SeriesResolver(desk, 'room@contoso.edu', direct);
    const first = await series.resolve(request(), WINDOW);
    expect(first).toMatchObject({ request: { itemId: 'master-1', uid: 'master-uid', recurrence: { occurrences: 4 } }, complete: true });
    expect((first as { occurrences: unknown[] }).occurrences).toHaveLength(4);
    series.answer((first as { request: MeetingRequest }).request);
    expect(await series.resolve(request({ itemId: 'occ-2' }), WINDOW)).toEqual({ settled: 'its series was answered in this pass' });
    expect(reads.masters).toBe(1);
  });

  it('an answered series: its occurrences are settled, a pending exception is decided on its own time', async () => {
    const { desk } = fakeDesk({ state: 'answered' });
    const series = new SeriesResolver(desk, 'room@contoso.edu', direct);
    expect(await series.resolve(request(), WINDOW)).toEqual({ settled: 'its series is answered already' });
    const moved = request({ itemId: 'exc-1', uid: 'exc-uid', start: NOW + 50 * HOUR, end: NOW + 51 * HOUR, series: { masterId: 'master-1', kind: 'exception' } });
    const resolved = await series.resolve(moved, WINDOW);
    expect(resolved).toMatchObject({ request: { itemId: 'exc-1', uid: 'exc-uid', start: NOW + 50 * HOUR, recurrence: null }, occurrences: null });
    expect((resolved as { request: MeetingRequest }).request.series).toBeUndefined();
  });

  it('a cancelled occurrence of a standing series is settled; a cancelled series is the master cancelled', async () => {
    const standing = new SeriesResolver(fakeDesk({}).desk, 'room@contoso.edu', direct);
    expect(await standing.resolve(request({ state: 'cancelled' }), WINDOW)).toEqual({ settled: 'one occurrence was cancelled; the series stands' });
    const cancelled = new SeriesResolver(fakeDesk({ state: 'cancelled' }).desk, 'room@contoso.edu', direct);
    expect(await cancelled.resolve(request({ state: 'cancelled' }), WINDOW)).toMatchObject({ request: { itemId: 'master-1', state: 'cancelled' } });
  });

  it('checks at most MAX_CHECKED_OCCURRENCES occurrences: past it the series is incomplete', async () => {
    const { desk, reads } = fakeDesk({}, 120);
    const resolved = await new SeriesResolver(desk, 'room@contoso.edu', direct).resolve(request(), WINDOW);
    expect(resolved).toMatchObject({ complete: false });
    expect((resolved as { occurrences: unknown[] }).occurrences).toHaveLength(MAX_CHECKED_OCCURRENCES);
    expect(reads.pages).toBe(2);
  });
});

describe('SeriesResolver over an EWS series (its Recurrence expanded, its exceptions applied)', () => {
  const weekly = { pattern: { type: 'weekly' as const, interval: 1, daysOfWeek: ['monday'] }, range: { type: 'numbered' as const, startDate: '2026-09-07', numberOfOccurrences: 4 } };
  const monday = (date: string, hour = 9) => Date.parse(`${date}T${String(hour).padStart(2, '0')}:00:00Z`);
  const ews = (recurrence: NonNullable<MeetingRequest['recurrence']>) => {
    const master = request({ itemId: 'req-1', start: monday('2026-09-07'), end: monday('2026-09-07', 10), recurrence, series: { masterId: 'req-1', kind: 'master' } });
    const desk = { kind: 'ews', seriesMaster: async () => ({ ...master, series: undefined }) } as unknown as MeetingDesk;
    return new SeriesResolver(desk, 'room@contoso.edu', direct).resolve(master, WINDOW);
  };

  it('a deleted occurrence is not checked; a moved one is checked at its new time only', async () => {
    const exceptions = { modified: [{ originalStart: monday('2026-09-14'), start: monday('2026-09-15', 13), end: monday('2026-09-15', 14) }], deleted: [monday('2026-09-21')] };
    const resolved = await ews({ occurrences: 3, rule: weekly, zone: 'UTC', exceptions });
    expect(resolved).toMatchObject({ complete: true });
    expect((resolved as { occurrences: Array<{ start: number }> }).occurrences.map((o) => new Date(o.start).toISOString().slice(0, 13))).toEqual(['2026-09-07T09', '2026-09-15T13', '2026-09-28T09']);
  });

  it('exceptions that could not be read leave the check incomplete, with the reason', async () => {
    const resolved = await ews({ occurrences: 4, rule: weekly, zone: 'UTC', exceptionsUnreadable: "The series' moved or deleted occurrences could not be read: it has 301 deleted occurrences, more than the 300 calpush reads." });
    expect(resolved).toMatchObject({ complete: false, incomplete: expect.stringContaining('301 deleted occurrences') });
    expect((resolved as { occurrences: unknown[] }).occurrences).toHaveLength(4);
  });
});

describe('the policy over a series', () => {
  const policy = { ...ROOM_DEFAULTS, recurring: { allowed: true, maxOccurrences: 10 } };
  const base = { uid: 'series', organizer: 'ann@contoso.edu', start: NOW - 7 * 24 * HOUR, end: NOW - 7 * 24 * HOUR + HOUR, isAllDay: false, attendeeCount: 1 };
  it('a series whose first occurrence has passed is in the past only once its last has ended', () => {
    expect(decide({ ...base, recurrence: { occurrences: 5, until: NOW + 30 * 24 * HOUR } }, policy, { now: NOW, busy: [] }).answer).toBe('accept');
    expect(decide({ ...base, recurrence: { occurrences: 5, until: NOW - HOUR } }, policy, { now: NOW, busy: [] })).toMatchObject({ rule: 'past' });
  });
  it('the conflict rule checks every occurrence given, and ignores the series’ own occurrences', () => {
    const occurrences = [1, 2, 3].map((week) => ({ start: NOW + week * 7 * 24 * HOUR, end: NOW + week * 7 * 24 * HOUR + HOUR }));
    const series = { ...base, start: occurrences[0]!.start, end: occurrences[0]!.end, recurrence: { occurrences: 3 }, occurrences, seriesMasterId: 'm1' };
    const other = { uid: 'other', start: occurrences[2]!.start, end: occurrences[2]!.end };
    expect(decide(series, policy, { now: NOW, busy: [other] })).toMatchObject({ answer: 'decline', rule: 'conflict' });
    expect(decide(series, policy, { now: NOW, busy: [{ ...other, uid: 'occurrence-3', seriesMasterId: 'm1' }] }).answer).toBe('accept');
  });
});
