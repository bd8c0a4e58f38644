// Graph's answers to the agent's desk and the room directory read as untrusted input: whatever body comes back —
// JSON of any shape, or not JSON at all — the call gives a result or a TargetError, never another exception (a
// TypeError escaping a pass, or a garbled room-list page keeping `calpush serve` from starting).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GraphMeetingDesk, type GraphConnection } from '../../src/targets/graph/meetings.ts';
import { GraphRoomDirectory } from '../../src/targets/graph/rooms.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import type { MeetingRequest } from '../../src/targets/meetings.ts';
import { TargetError } from '../../src/targets/target.ts';

const BASE = 'https://graph.example/v1.0';
const WINDOW = { start: Date.parse('2026-09-01T00:00:00Z'), end: Date.parse('2026-12-01T00:00:00Z') };
const REQUEST = { uid: 'u1', itemId: 'i1', changeKey: null, state: 'pending', informational: false, subject: 's', organizer: 'o@contoso.edu', start: 0, end: 1, isAllDay: false, recurrence: null, attendees: [], location: '' } satisfies MeetingRequest;

/** A JSON value shaped like Graph's answers (value lists of events, links), hostile in every field. */
const event = fc.dictionary(
  fc.constantFrom('id', 'iCalUId', 'subject', 'isOrganizer', 'isCancelled', 'showAs', 'organizer', 'responseStatus', 'start', 'end', 'attendees', 'recurrence', 'body', 'changeKey', '@odata.etag', 'location', 'emailAddress', 'displayName', '@removed'),
  fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.record({ dateTime: fc.jsonValue({ maxDepth: 1 }), timeZone: fc.jsonValue({ maxDepth: 1 }) }), fc.record({ emailAddress: fc.jsonValue({ maxDepth: 2 }) }), fc.record({ range: fc.jsonValue({ maxDepth: 2 }), pattern: fc.jsonValue({ maxDepth: 2 }) })),
);
const page = fc.record(
  { value: fc.oneof(fc.array(fc.oneof(event, fc.jsonValue({ maxDepth: 1 })), { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })), '@odata.nextLink': fc.oneof(fc.constant(`${BASE}/next`), fc.jsonValue({ maxDepth: 1 })), '@odata.deltaLink': fc.oneof(fc.constant(`${BASE}/delta`), fc.jsonValue({ maxDepth: 1 })) },
  { requiredKeys: [] },
);
const body = fc.oneof(page.map((p) => JSON.stringify(p)), event.map((e) => JSON.stringify(e)), fc.jsonValue().map((v) => JSON.stringify(v)), fc.string());

async function resultOrTargetError(call: () => Promise<unknown>): Promise<void> {
  try {
    await call();
  } catch (error) {
    expect(error).toBeInstanceOf(TargetError);
  }
}

function answering(answer: string): GraphConnection {
  return { base: BASE, mailboxPath: (m: string) => `/users/${encodeURIComponent(m)}`, send: async () => ({ status: 200, headers: {}, body: answer }) } as unknown as GraphConnection;
}

describe('Graph answers the agent reads', () => {
  it('give the meeting desk a result or a TargetError, never another exception', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (answer) => {
        const desk = new GraphMeetingDesk(answering(answer));
        await resultOrTargetError(() => desk.changes('room@contoso.edu', null, WINDOW));
        await resultOrTargetError(() => desk.bookings('room@contoso.edu', WINDOW.start, WINDOW.end));
        await resultOrTargetError(() => desk.organizerMeeting('o@contoso.edu', 'u1'));
        await resultOrTargetError(() => desk.updateOrganizerBody('o@contoso.edu', { itemId: 'i1', changeKey: null, body: { contentType: 'text', content: '' } }, { contentType: 'text', content: 'x' }));
        await resultOrTargetError(() => desk.respond('room@contoso.edu', REQUEST, 'accept', '', false));
      }),
      { numRuns: 300 },
    );
  });

  it('give the room directory a page of rooms or a TargetError, never another exception', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (answer) => {
        const rooms = new GraphRoomDirectory({ base: BASE, get: async () => ({ status: 200, headers: {}, body: answer }) as never });
        await resultOrTargetError(() => rooms.rooms('rooms@contoso.edu', null));
      }),
      { numRuns: 300 },
    );
  });

  it('a link that is not a URL (a hostile @odata.nextLink kept as the cursor) is a TargetError, not a TypeError', async () => {
    const target = new GraphTarget({ instance: 't', tenantId: 'tenant', clientId: 'client', credential: { kind: 'secret', secret: 'x' }, authorityHost: 'https://login.example', graphBaseUrl: BASE, scope: 'https://graph.microsoft.com/.default', allDayTimeZone: 'UTC' });
    try {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.string(), fc.constant('http://[::1'), fc.constant('not a url')), async (cursor) => {
          fc.pre(!URL.canParse(cursor));
          await expect(target.meetings().changes('room@contoso.edu', cursor, WINDOW)).rejects.toBeInstanceOf(TargetError);
          await expect(target.rooms().rooms('rooms@contoso.edu', cursor)).rejects.toBeInstanceOf(TargetError);
        }),
        { numRuns: 100 },
      );
    } finally {
      await target.close();
    }
  });
});

describe('the bookings of a room over Graph', () => {
  it('are read on through @odata.nextLink', async () => {
    const pages = [
      { value: [{ iCalUId: 'a', showAs: 'busy', start: { dateTime: '2026-09-07T08:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-07T09:00:00', timeZone: 'UTC' } }], '@odata.nextLink': `${BASE}/users/room/calendarView?$skiptoken=2` },
      { value: [{ iCalUId: 'b', showAs: 'tentative', start: { dateTime: '2026-09-07T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-07T10:00:00', timeZone: 'UTC' } }] },
    ];
    const urls: string[] = [];
    const desk = new GraphMeetingDesk({ base: BASE, mailboxPath: () => '/users/room', send: async (_m: string, _method: string, url: string) => (urls.push(url), { status: 200, headers: {}, body: JSON.stringify(pages[urls.length - 1]) }) } as unknown as GraphConnection);
    const first = await desk.bookings('room@contoso.edu', WINDOW.start, WINDOW.end);
    expect(first).toEqual({ bookings: [{ uid: 'a', start: Date.parse('2026-09-07T08:00:00Z'), end: Date.parse('2026-09-07T09:00:00Z') }], next: `${BASE}/users/room/calendarView?$skiptoken=2` });
    const second = await desk.bookings('room@contoso.edu', WINDOW.start, WINDOW.end, first.next);
    expect(second).toEqual({ bookings: [{ uid: 'b', start: Date.parse('2026-09-07T09:00:00Z'), end: Date.parse('2026-09-07T10:00:00Z') }], next: null });
    expect(urls[1]).toBe(first.next);
  });
});
