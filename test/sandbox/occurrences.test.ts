// The sandbox's Graph expands a series as Graph does (src/sandbox/graph/occurrences.ts): calendarView, its delta and
// /instances give the occurrences (type, seriesMasterId, their own id and iCalUId, their own times) and never the
// master; the master is read by its id with its recurrence; a series without end expands only within the window.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { MAX_OCCURRENCES, occurrenceICalUId } from '../../src/sandbox/graph/occurrences.ts';
import { demoToken, GraphClient, users } from './helpers.ts';

const clock = fixedClock('2026-09-01T08:00:00Z');
const ORGANIZER = 't0001@contoso.edu';
const STUDENT = 's0010@contoso.edu';
let sandbox: SandboxInternals;
let agent: GraphClient;

beforeAll(async () => {
  sandbox = await startSandbox({ clock });
  agent = new GraphClient(sandbox, await demoToken(sandbox, AGENT_CLIENT_ID, AGENT_CLIENT_SECRET));
});
afterAll(async () => {
  await sandbox?.close();
});

function series(subject: string, hour: string, range: Record<string, unknown>, pattern: Record<string, unknown> = { type: 'weekly', interval: 1, daysOfWeek: ['monday', 'wednesday'] }): Record<string, unknown> {
  return {
    subject,
    start: { dateTime: `2026-10-05T${hour}:00:00`, timeZone: 'W. Europe Standard Time' },
    end: { dateTime: `2026-10-05T${hour}:30:00`, timeZone: 'W. Europe Standard Time' },
    attendees: [{ emailAddress: { address: STUDENT }, type: 'required' }],
    recurrence: { pattern, range: { startDate: '2026-10-05', ...range } },
  };
}

async function view(mailbox: string, start: string, end: string, path = 'calendarView'): Promise<any[]> {
  const out: any[] = [];
  let url: string | undefined = `${users(mailbox)}/${path}?startDateTime=${start}&endDateTime=${end}&$top=100`;
  while (url) {
    const page = await agent.get(url);
    expect(page.status).toBe(200);
    out.push(...page.json.value);
    url = page.json['@odata.nextLink'];
  }
  return out;
}

describe('a series in the expanded views', () => {
  it('calendarView gives each occurrence (weekly Mon+Wed, 7 numbered), in the zone across the DST change, never the master', async () => {
    const master = (await agent.post(`${users(ORGANIZER)}/events`, series('Weekly seminar', '10', { type: 'numbered', numberOfOccurrences: 7 }))).json;
    expect(master.type).toBe('seriesMaster');
    const seen = (await view(STUDENT, '2026-10-01T00:00:00Z', '2026-12-01T00:00:00Z')).filter((e) => e.subject === 'Weekly seminar');
    expect(seen.map((e) => e.start.dateTime.slice(0, 16))).toEqual([
      '2026-10-05T08:00', '2026-10-07T08:00', '2026-10-12T08:00', '2026-10-14T08:00', '2026-10-19T08:00', '2026-10-21T08:00',
      // Amsterdam leaves summer time on 25 October 2026: 10:00 local is 09:00 UTC from then on.
      '2026-10-26T09:00',
    ]);
    const copy = (await agent.get(`${users(STUDENT)}/events?$top=1000`)).json.value.find((e: any) => e.iCalUId === master.iCalUId);
    expect(copy).toMatchObject({ type: 'seriesMaster', recurrence: { range: { type: 'numbered', numberOfOccurrences: 7 } } });
    for (const occurrence of seen) expect(occurrence).toMatchObject({ type: 'occurrence', seriesMasterId: copy.id, recurrence: null, responseStatus: { response: 'notResponded' } });
    expect(new Set(seen.map((e) => e.id)).size).toBe(7);
    expect(seen.map((e) => e.iCalUId)).toEqual(['2026-10-05', '2026-10-07', '2026-10-12', '2026-10-14', '2026-10-19', '2026-10-21', '2026-10-26'].map((d) => occurrenceICalUId(master.iCalUId, d)));
    expect(seen[0].iCalUId).not.toBe(master.iCalUId);
    // The master by its id, with its recurrence; an occurrence by its id.
    const read = await agent.get(`${users(STUDENT)}/events/${encodeURIComponent(copy.id)}?$select=type,recurrence,iCalUId`);
    expect(read.json).toMatchObject({ type: 'seriesMaster', iCalUId: master.iCalUId, recurrence: { pattern: { type: 'weekly' } } });
    expect((await agent.get(`${users(STUDENT)}/events/${encodeURIComponent(seen[2].id)}`)).json).toMatchObject({ type: 'occurrence', seriesMasterId: copy.id });
    // /instances of the master: the same occurrences.
    const instances = await view(STUDENT, '2026-10-01T00:00:00Z', '2026-12-01T00:00:00Z', `events/${encodeURIComponent(copy.id)}/instances`);
    expect(instances.map((e) => e.id)).toEqual(seen.map((e) => e.id));
  });

  it('a series without end expands only within the window, at most MAX_OCCURRENCES', async () => {
    await agent.post(`${users(ORGANIZER)}/events`, series('Daily stand-up', '08', { type: 'noEnd' }, { type: 'daily', interval: 1 }));
    const week = (await view(STUDENT, '2026-11-02T00:00:00Z', '2026-11-09T00:00:00Z')).filter((e) => e.subject === 'Daily stand-up');
    expect(week).toHaveLength(7);
    const years = (await view(STUDENT, '2026-10-01T00:00:00Z', '2030-10-01T00:00:00Z')).filter((e) => e.subject === 'Daily stand-up');
    expect(years).toHaveLength(MAX_OCCURRENCES);
  });

  it('answering the master answers every occurrence; delta gives the occurrences', async () => {
    const master = (await agent.post(`${users(ORGANIZER)}/events`, series('Reading group', '14', { type: 'endDate', endDate: '2026-10-14' }))).json;
    const delta = (await agent.get(`${users(STUDENT)}/calendarView/delta?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z`, { prefer: 'odata.maxpagesize=200' })).json.value.filter((e: any) => e.subject === 'Reading group');
    expect(delta.map((e: any) => e.type)).toEqual(['occurrence', 'occurrence', 'occurrence', 'occurrence']);
    const masterId = delta[0].seriesMasterId;
    expect((await agent.post(`${users(STUDENT)}/events/${encodeURIComponent(masterId)}/accept`, { sendResponse: true })).status).toBe(202);
    const after = (await view(STUDENT, '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z')).filter((e) => e.subject === 'Reading group');
    expect(after.map((e) => e.responseStatus.response)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    const organizer = (await agent.get(`${users(ORGANIZER)}/events/${encodeURIComponent(master.id)}`)).json;
    expect(organizer.attendees[0].status.response).toBe('accepted');
  });
});

describe('exceptions and cancelled occurrences (the organiser changes one occurrence)', () => {
  const within = (mailbox: string, subject: string, path?: string) => view(mailbox, '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z', path).then((all) => all.filter((e) => e.subject === subject));

  it("a moved occurrence is an exception at its own time in the attendee's calendarView, delta and /instances, asking for a response again", async () => {
    const master = (await agent.post(`${users(ORGANIZER)}/events`, series('Moved seminar', '12', { type: 'numbered', numberOfOccurrences: 4 }))).json;
    const before = await within(STUDENT, 'Moved seminar');
    const masterId = before[0].seriesMasterId;
    expect((await agent.post(`${users(STUDENT)}/events/${encodeURIComponent(masterId)}/accept`, { sendResponse: false })).status).toBe(202);
    // The organiser moves the third occurrence (Monday 12 October) to Tuesday 13 October, 15:00 Amsterdam.
    const third = (await within(ORGANIZER, 'Moved seminar'))[2];
    const moved = await agent.patch(`${users(ORGANIZER)}/events/${encodeURIComponent(third.id)}`, { start: { dateTime: '2026-10-13T15:00:00', timeZone: 'W. Europe Standard Time' }, end: { dateTime: '2026-10-13T16:00:00', timeZone: 'W. Europe Standard Time' } });
    expect(moved.status).toBe(200);
    expect(moved.json).toMatchObject({ type: 'exception', id: third.id, seriesMasterId: master.id, start: { dateTime: '2026-10-13T13:00:00.0000000' } });
    const after = await within(STUDENT, 'Moved seminar');
    expect(after.map((e) => [e.type, e.start.dateTime.slice(0, 16), e.responseStatus.response])).toEqual([
      ['occurrence', '2026-10-05T10:00', 'accepted'],
      ['occurrence', '2026-10-07T10:00', 'accepted'],
      ['exception', '2026-10-13T13:00', 'notResponded'],
      ['occurrence', '2026-10-14T10:00', 'accepted'],
    ]);
    const instances = await within(STUDENT, 'Moved seminar', `events/${encodeURIComponent(masterId)}/instances`);
    expect(instances.map((e) => e.type)).toEqual(['occurrence', 'occurrence', 'exception', 'occurrence']);
    const delta = (await agent.get(`${users(STUDENT)}/calendarView/delta?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z`, { prefer: 'odata.maxpagesize=200' })).json.value.filter((e: any) => e.subject === 'Moved seminar');
    expect(delta.find((e: any) => e.type === 'exception')).toMatchObject({ start: { dateTime: '2026-10-13T13:00:00.0000000' }, seriesMasterId: masterId });
    // Declining the exception by its id answers it only: it leaves the attendee's series, the rest stands.
    const exception = after[2];
    expect((await agent.post(`${users(STUDENT)}/events/${encodeURIComponent(exception.id)}/decline`, { comment: 'Busy then', sendResponse: true })).status).toBe(202);
    const answered = await within(STUDENT, 'Moved seminar');
    expect(answered.map((e) => [e.start.dateTime.slice(0, 10), e.responseStatus.response])).toEqual([['2026-10-05', 'accepted'], ['2026-10-07', 'accepted'], ['2026-10-14', 'accepted']]);
    expect((await agent.get(`${users(STUDENT)}/events/${encodeURIComponent(masterId)}`)).json.responseStatus.response).toBe('accepted');
    expect((await agent.get(`${users(ORGANIZER)}/messages?$top=100`)).json.value.filter((m: any) => m.subject === 'Declined: Moved seminar')).toHaveLength(1);
  });

  it("a cancelled occurrence leaves the organiser's series and is marked cancelled in the attendee's", async () => {
    await agent.post(`${users(ORGANIZER)}/events`, series('Cancelled once', '13', { type: 'numbered', numberOfOccurrences: 3 }));
    const second = (await within(ORGANIZER, 'Cancelled once'))[1];
    expect((await agent.post(`${users(ORGANIZER)}/events/${encodeURIComponent(second.id)}/cancel`, { comment: 'No class' })).status).toBe(202);
    expect((await within(ORGANIZER, 'Cancelled once')).map((e) => e.start.dateTime.slice(0, 10))).toEqual(['2026-10-05', '2026-10-12']);
    const attendee = await within(STUDENT, 'Cancelled once');
    expect(attendee.map((e) => [e.start.dateTime.slice(0, 10), e.isCancelled])).toEqual([['2026-10-05', false], ['2026-10-07', true], ['2026-10-12', false]]);
    // A cancelled occurrence cannot be answered.
    expect((await agent.post(`${users(STUDENT)}/events/${encodeURIComponent(attendee[1].id)}/accept`, {})).status).toBe(400);
  });
});
