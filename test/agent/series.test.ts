// A recurring meeting is one request (issue #15): over Graph the agent mailbox's calendarView gives a series as its
// occurrences, over EWS the request says IsRecurring and GetItem reads its Recurrence. Either way the agent decides
// the series by the `recurring` and `occurrences` rules (and, over Graph, the conflict rule over its occurrences),
// answers it once, and leaves it alone afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { occurrenceId } from '../../src/sandbox/graph/occurrences.ts';
import { agentConfig, organizerView, responses, ROOM, startWorld, VMR, type AgentWorld, type Protocol } from './harness.ts';

const T1 = 't0001@contoso.edu';
const T2 = 't0002@contoso.edu';
const PROTOCOLS: Protocol[] = ['graph', 'ews'];

/** A weekly Monday series from 14 September 2026 at `hour` UTC (CEST: within the room's 08–18 Amsterdam hours). */
function series(subject: string, hour: number, range: Record<string, unknown>, attendees: string[] = [ROOM]): Record<string, unknown> {
  const at = (h: number, m: number) => `2026-09-14T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00`;
  return {
    subject,
    start: { dateTime: at(hour, 0), timeZone: 'UTC' },
    end: { dateTime: at(hour, 30), timeZone: 'UTC' },
    attendees: attendees.map((address) => ({ emailAddress: { address }, type: 'resource' })),
    recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'] }, range: { startDate: '2026-09-14', ...range } },
  };
}

type Summary = Awaited<ReturnType<AgentWorld['pass']>>;
const outcomesOf = (summary: Summary, subject: string) => summary.outcomes.filter((o) => o.subject === subject);
const answered = (summary: Summary, subject: string) => outcomesOf(summary, subject).filter((o) => o.outcome !== 'unchanged');

describe.each(PROTOCOLS)('recurring meetings over %s', (protocol) => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startWorld(protocol);
  });
  afterAll(async () => {
    await world?.close();
  });
  const book = (organizer: string, body: Record<string, unknown>) => world.sandbox.outlook(organizer).createEvent(body);

  it('a series within the limit is accepted once, on the series; the organiser gets one answer', async () => {
    const event = book(T1, series('Weekly tutorial', 6, { type: 'numbered', numberOfOccurrences: 4 }));
    const summary = await world.pass();
    expect(answered(summary, 'Weekly tutorial')).toMatchObject([{ outcome: 'accepted', uid: event.iCalUId }]);
    // Over Graph the other occurrences were seen and left alone: their series is answered.
    if (protocol === 'graph') expect(outcomesOf(summary, 'Weekly tutorial').filter((o) => o.outcome === 'unchanged')).toHaveLength(3);
    expect(organizerView(world, T1, event.iCalUId, ROOM).response).toBe('accepted');
    expect(responses(world, T1, 'Weekly tutorial').map((m) => m.type)).toEqual(['meetingAccepted']);
    expect((await world.store.agentMeeting(ROOM, event.iCalUId))!.answer).toBe('accepted');
  });

  it('an answered series is not answered again in later passes', async () => {
    const summary = await world.pass();
    expect(answered(summary, 'Weekly tutorial')).toEqual([]);
    expect(responses(world, T1, 'Weekly tutorial')).toHaveLength(1);
  });

  it('a series over the limit is declined (occurrences)', async () => {
    book(T1, series('Long course', 7, { type: 'numbered', numberOfOccurrences: 8 }));
    const summary = await world.pass();
    expect(answered(summary, 'Long course')).toMatchObject([{ outcome: 'declined', rule: 'occurrences', reason: 'The series has 8 occurrences; at most 5 can be booked.' }]);
    expect(responses(world, T1, 'Long course').map((m) => m.type)).toEqual(['meetingDeclined']);
  });

  it('a series ending by date within the limit is accepted; one without end is declined where a limit is set', async () => {
    book(T1, series('Short block', 9, { type: 'endDate', endDate: '2026-10-05' }));
    book(T1, series('Endless', 10, { type: 'noEnd' }));
    const summary = await world.pass();
    expect(answered(summary, 'Short block')).toMatchObject([{ outcome: 'accepted' }]);
    expect(answered(summary, 'Endless')).toMatchObject([{ outcome: 'declined', rule: 'occurrences', reason: 'A series without an end date cannot be booked: at most 5 occurrences.' }]);
  });

  it('a series one of whose occurrences clashes with a booking of the room is declined (conflict)', async () => {
    // The conflict rule checks every occurrence (the third clashes): Graph's /instances, EWS's Recurrence expanded.
    const clash = '2026-09-28';
    book(T2, { subject: 'Exam', start: { dateTime: `${clash}T11:00:00`, timeZone: 'UTC' }, end: { dateTime: `${clash}T12:00:00`, timeZone: 'UTC' }, attendees: [{ emailAddress: { address: ROOM }, type: 'resource' }] });
    expect(answered(await world.pass(), 'Exam')).toMatchObject([{ outcome: 'accepted' }]);
    book(T1, series('Clashing seminar', 11, { type: 'numbered', numberOfOccurrences: 4 }));
    const summary = await world.pass();
    expect(answered(summary, 'Clashing seminar')).toMatchObject([{ outcome: 'declined', rule: 'conflict' }]);
    expect(answered(summary, 'Clashing seminar')[0]!.reason).toBe('The resource is already booked at the time of the occurrence on 2026-09-28 11:00 UTC.');
  });

  it('a series whose occurrence was moved onto a booking before it was answered is declined at the moved time (conflict)', async () => {
    // Graph: the series' /instances gives the exception at its own time; EWS: the request's ModifiedOccurrences.
    const room = [{ emailAddress: { address: ROOM }, type: 'resource' }];
    book(T2, { subject: 'Lab', start: { dateTime: '2026-09-22T12:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-22T13:00:00', timeZone: 'UTC' }, attendees: room });
    expect(answered(await world.pass(), 'Lab')).toMatchObject([{ outcome: 'accepted' }]);
    const event = book(T1, series('Moved seminar', 12, { type: 'numbered', numberOfOccurrences: 3 }));
    world.sandbox.outlook(T1).updateEvent(occurrenceId(event.id, '2026-09-21'), { start: { dateTime: '2026-09-22T12:15:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-22T12:45:00', timeZone: 'UTC' } });
    const summary = await world.pass();
    expect(answered(summary, 'Moved seminar')).toMatchObject([{ outcome: 'declined', rule: 'conflict', reason: 'The resource is already booked at the time of the occurrence on 2026-09-22 12:15 UTC.' }]);
    expect(responses(world, T1, 'Moved seminar').map((m) => m.type)).toEqual(['meetingDeclined']);
  });

  it('a series whose clashing occurrence the organiser deleted is accepted', async () => {
    const room = [{ emailAddress: { address: ROOM }, type: 'resource' }];
    book(T2, { subject: 'Workshop', start: { dateTime: '2026-10-05T13:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-05T14:00:00', timeZone: 'UTC' }, attendees: room });
    expect(answered(await world.pass(), 'Workshop')).toMatchObject([{ outcome: 'accepted' }]);
    const event = book(T1, series('Thinned seminar', 13, { type: 'numbered', numberOfOccurrences: 4 }));
    world.sandbox.outlook(T1).cancel(occurrenceId(event.id, '2026-10-05'));
    const summary = await world.pass();
    expect(answered(summary, 'Thinned seminar')).toMatchObject([{ outcome: 'accepted' }]);
    expect(organizerView(world, T1, event.iCalUId, ROOM).response).toBe('accepted');
  });

  it('the VMR mailbox accepts a series at the time of another meeting (conflicts allowed), with one alias', async () => {
    book(T2, { subject: 'Other call', start: { dateTime: '2026-09-21T14:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-21T15:00:00', timeZone: 'UTC' }, attendees: [{ emailAddress: { address: VMR }, type: 'resource' }] });
    book(T1, series('Video series', 14, { type: 'numbered', numberOfOccurrences: 3 }, [VMR]));
    const summary = await world.pass();
    expect(answered(summary, 'Video series')).toMatchObject([{ mailbox: VMR, outcome: 'accepted', alias: expect.stringMatching(/^vmr10\d\d$/) }]);
    expect(responses(world, T1, 'Video series').map((m) => m.type)).toEqual(['meetingAccepted']);
  });
});

describe('an exception of an answered series, over the sandbox (graph)', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startWorld('graph');
  });
  afterAll(async () => {
    await world?.close();
  });
  const room = [{ emailAddress: { address: ROOM }, type: 'resource' }];

  it('an occurrence moved onto a booking is declined on its own; the rest of the series stands', async () => {
    world.sandbox.outlook(T2).createEvent({ subject: 'Lab', start: { dateTime: '2026-09-22T13:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-22T14:00:00', timeZone: 'UTC' }, attendees: room });
    const event = world.sandbox.outlook(T1).createEvent(series('Moving tutorial', 12, { type: 'numbered', numberOfOccurrences: 3 }));
    const first = await world.pass();
    expect(answered(first, 'Lab')).toMatchObject([{ outcome: 'accepted' }]);
    expect(answered(first, 'Moving tutorial')).toMatchObject([{ outcome: 'accepted' }]);
    // The organiser moves the second occurrence (Monday 21 September) onto the lab's time.
    world.sandbox.outlook(T1).updateEvent(occurrenceId(event.id, '2026-09-21'), { start: { dateTime: '2026-09-22T13:15:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-22T13:45:00', timeZone: 'UTC' } });
    const second = await world.pass();
    expect(answered(second, 'Moving tutorial')).toMatchObject([{ outcome: 'declined', rule: 'conflict', reason: 'The resource is already booked at this time.' }]);
    // The series stays accepted; the organiser got the one decline, for the moved occurrence.
    expect(organizerView(world, T1, event.iCalUId, ROOM).response).toBe('accepted');
    expect(responses(world, T1, 'Moving tutorial').map((m) => m.type).sort()).toEqual(['meetingAccepted', 'meetingDeclined']);
    expect((await world.store.agentMeeting(ROOM, event.iCalUId))!.answer).toBe('accepted');
    expect(answered(await world.pass(), 'Moving tutorial')).toEqual([]);
  });
});

describe('the occurrences rule counts an EWS series without its deleted occurrences', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startWorld('ews');
  });
  afterAll(async () => {
    await world?.close();
  });

  it('a series of 7 with 2 deleted is within the limit of 5 (DeletedOccurrences); one of 7 with 1 deleted is not', async () => {
    const thinned = world.sandbox.outlook(T1).createEvent(series('Thinned course', 14, { type: 'numbered', numberOfOccurrences: 7 }));
    const longer = world.sandbox.outlook(T1).createEvent(series('Longer course', 15, { type: 'numbered', numberOfOccurrences: 7 }));
    for (const date of ['2026-09-21', '2026-10-12']) world.sandbox.outlook(T1).cancel(occurrenceId(thinned.id, date));
    world.sandbox.outlook(T1).cancel(occurrenceId(longer.id, '2026-09-21'));
    const summary = await world.pass();
    expect(answered(summary, 'Thinned course')).toMatchObject([{ outcome: 'accepted' }]);
    expect(answered(summary, 'Longer course')).toMatchObject([{ outcome: 'declined', rule: 'occurrences', reason: 'The series has 6 occurrences; at most 5 can be booked.' }]);
  });
});

describe('an EWS series whose exceptions cannot be read (more than calpush reads)', () => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startWorld('ews', agentConfig('full', { recurring: { allowed: true, maxOccurrences: null } }));
  });
  afterAll(async () => {
    await world?.close();
  });

  it('is answered tentatively, with the reason', async () => {
    const daily = { ...series('Daily drop-in', 8, {}), recurrence: { pattern: { type: 'daily', interval: 1 }, range: { type: 'numbered', startDate: '2026-09-14', numberOfOccurrences: 400 } } };
    const event = world.sandbox.outlook(T1).createEvent(daily);
    for (let day = 1; day <= 301; day++) world.sandbox.outlook(T1).cancel(occurrenceId(event.id, new Date(Date.parse('2026-09-14T00:00:00Z') + day * 86_400_000).toISOString().slice(0, 10)));
    const summary = await world.pass();
    expect(answered(summary, 'Daily drop-in')).toMatchObject([
      { outcome: 'tentative', rule: 'conflict', reason: "The series' moved or deleted occurrences could not be read: it has 301 deleted occurrences, more than the 300 calpush reads. A person will confirm the booking." },
    ]);
  });
});

describe.each(PROTOCOLS)('a room that takes no recurring meetings, over %s', (protocol) => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startWorld(protocol, agentConfig('full', { recurring: { allowed: false } }));
  });
  afterAll(async () => {
    await world?.close();
  });

  it('declines a series (recurring) and still accepts a single meeting', async () => {
    world.sandbox.outlook(T1).createEvent(series('Series', 6, { type: 'numbered', numberOfOccurrences: 2 }));
    world.sandbox.outlook(T1).createEvent({ subject: 'Single', start: { dateTime: '2026-09-15T07:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-15T07:30:00', timeZone: 'UTC' }, attendees: [{ emailAddress: { address: ROOM }, type: 'resource' }] });
    const summary = await world.pass();
    expect(answered(summary, 'Series')).toMatchObject([{ outcome: 'declined', rule: 'recurring', reason: 'This resource does not accept recurring meetings.' }]);
    expect(answered(summary, 'Single')).toMatchObject([{ outcome: 'accepted' }]);
  });
});
