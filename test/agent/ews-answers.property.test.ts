// Exchange's answers to the agent's EWS desk read as untrusted input, as Graph's are (graph-answers.property.test.ts):
// whatever SOAP answer comes back — any tree of the elements the desk reads, garbled or huge values, or not XML at
// all — the call gives a result or a TargetError, never another exception; what it gives is within its bounds.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EwsMeetingDesk, type EwsConnection } from '../../src/targets/ews/meetings.ts';
import { parseSoapAnswer, type Operation, type ResponseMessage } from '../../src/targets/ews/responses.ts';
import type { MeetingRequest } from '../../src/targets/meetings.ts';
import { TargetError } from '../../src/targets/target.ts';

const VMR = 'vmr-scheduling@contoso.edu';
const START = Date.parse('2026-09-07T08:00:00Z');
const REQUEST = { uid: 'u1', itemId: 'i1', changeKey: null, state: 'pending', informational: false, subject: 's', organizer: 'o@contoso.edu', start: START, end: START + 3_600_000, isAllDay: false, recurrence: null, attendees: [], location: '' } satisfies MeetingRequest;

/** The desk's connection as EwsTarget's: one response message, an Error one as its TargetError, anything else unreadable. */
function answering(bodies: Partial<Record<Operation, string>>): EwsConnection {
  return {
    context: (mailbox: string) => ({ mailbox, access: 'impersonation' }),
    laneFor: () => null,
    call: async (_mailbox: string, operation: Operation): Promise<ResponseMessage> => {
      const parsed = parseSoapAnswer(bodies[operation] ?? '', operation);
      if (parsed.kind !== 'messages') throw new TargetError('transient', 'UnreadableAnswer', `not a ${operation} answer`);
      if (parsed.messages.length !== 1) throw new TargetError('transient', 'ResponseCountMismatch', `${parsed.messages.length} messages`);
      const message = parsed.messages[0]!;
      if (message.responseClass === 'Error') throw new TargetError('item', message.code, message.message);
      return message;
    },
  } as unknown as EwsConnection;
}

function envelope(operation: Operation, inner: string): string {
  return (
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">' +
    `<s:Body><m:${operation}Response><m:ResponseMessages><m:${operation}ResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>${inner}` +
    `</m:${operation}ResponseMessage></m:ResponseMessages></m:${operation}Response></s:Body></s:Envelope>`
  );
}

const escape = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const NAMES = [
  'SyncState', 'IncludesLastItemInRange', 'Changes', 'Create', 'Update', 'Delete', 'MeetingRequest', 'MeetingCancellation', 'ItemId', 'UID', 'Start', 'End', 'Subject',
  'Organizer', 'From', 'Mailbox', 'EmailAddress', 'RequiredAttendees', 'OptionalAttendees', 'Resources', 'Attendee', 'IsOutOfDate', 'MeetingRequestType', 'IsRecurring',
  'IsAllDayEvent', 'Location', 'RootFolder', 'Items', 'CalendarItem', 'Body', 'IsOrganizer', 'LegacyFreeBusyStatus', 'IsCancelled',
  'Recurrence', 'WeeklyRecurrence', 'DaysOfWeek', 'NumberedRecurrence', 'StartDate', 'NumberOfOccurrences', 'StartTimeZoneId',
  'ModifiedOccurrences', 'Occurrence', 'OriginalStart', 'DeletedOccurrences', 'DeletedOccurrence',
] as const;
const value = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('true', 'false', '1', 'yes', 'HTML', 'Text', 'RTF', 'Free', 'Busy', 'InformationalUpdate', 'H4sIAAAA', '2026-09-07T08:00:00Z', '9999-99-99T99:99:99Z', 'ann@contoso.edu', ''),
  fc.constant('x'.repeat(5_000)),
);
const attrs = fc.dictionary(fc.constantFrom('Id', 'ChangeKey', 'BodyType', 'IncludesLastItemInRange'), value, { maxKeys: 3 });
const { node } = fc.letrec<{ node: string }>((tie) => ({
  node: fc
    .record({ name: fc.constantFrom(...NAMES), attrs, content: fc.array(fc.oneof({ depthSize: 'small', withCrossShrink: true }, value.map(escape), tie('node')), { maxLength: 4 }) })
    .map(({ name, attrs: a, content }) => `<t:${name}${Object.entries(a).map(([k, v]) => ` ${k}="${escape(v)}"`).join('')}>${content.join('')}</t:${name}>`),
}));
/** Pages longer than the desk asked for, and a SyncState over its bound. */
const flood = fc.constantFrom(
  `<m:Changes><t:Create>${'<t:MeetingRequest><t:ItemId Id="i"/><t:UID>u</t:UID></t:MeetingRequest>'.repeat(101)}</t:Create></m:Changes>`,
  `<m:RootFolder IncludesLastItemInRange="false"><t:Items>${'<t:CalendarItem><t:Start>2026-09-07T08:00:00Z</t:Start><t:End>2026-09-07T09:00:00Z</t:End></t:CalendarItem>'.repeat(501)}</t:Items></m:RootFolder>`,
  `<m:SyncState>${'A'.repeat(1_048_577)}</m:SyncState>`,
  `<m:Items><t:MeetingRequest><t:DeletedOccurrences>${'<t:DeletedOccurrence><t:Start>2026-09-14T09:00:00Z</t:Start></t:DeletedOccurrence>'.repeat(301)}</t:DeletedOccurrences></t:MeetingRequest></m:Items>`,
);
const inner = fc.array(fc.oneof(node, flood), { maxLength: 4 }).map((nodes) => nodes.join(''));
const answer = (operation: Operation) => fc.oneof({ weight: 4, arbitrary: inner.map((x) => envelope(operation, x)) }, { weight: 1, arbitrary: fc.string() }, { weight: 1, arbitrary: node });

async function resultOrTargetError<T>(call: () => Promise<T>, check: (result: T) => void): Promise<void> {
  let result: T;
  try {
    result = await call();
  } catch (error) {
    expect(error).toBeInstanceOf(TargetError);
    return;
  }
  check(result);
}

describe('EWS answers the agent reads', () => {
  it('give the meeting desk a result within its bounds or a TargetError, never another exception', async () => {
    await fc.assert(
      fc.asyncProperty(answer('SyncFolderItems'), answer('FindItem'), answer('GetItem'), answer('UpdateItem'), async (sync, find, get, update) => {
        const desk = new EwsMeetingDesk(answering({ SyncFolderItems: sync, FindItem: find, GetItem: get, UpdateItem: update, CreateItem: update }));
        await resultOrTargetError(() => desk.changes(VMR, null), (page) => {
          expect(page.requests.length).toBeLessThanOrEqual(100);
          expect(page.cursor).toMatch(/^[A-Za-z0-9+/=\s]+$/);
          for (const r of page.requests) {
            expect(r.itemId.length).toBeGreaterThan(0);
            expect(r.uid.length).toBeGreaterThan(0);
            expect(r.itemId.length + r.uid.length + r.subject.length + r.location.length).toBeLessThanOrEqual(4 * 4_096);
          }
        });
        await resultOrTargetError(() => desk.bookings(VMR, START, START + 3_600_000, null), (page) => {
          expect(page.bookings.length).toBeLessThanOrEqual(500);
          for (const b of page.bookings) expect(Number.isFinite(b.start) && Number.isFinite(b.end)).toBe(true);
        });
        await resultOrTargetError(() => desk.organizerMeeting('t0001@contoso.edu', 'u1'), (meeting) => {
          if (meeting) expect(meeting.itemId.length).toBeGreaterThan(0);
        });
        await resultOrTargetError(() => desk.seriesMaster(VMR, { ...REQUEST, recurrence: { occurrences: null }, series: { masterId: 'i1', kind: 'master' } }), (master) => {
          const exceptions = master?.recurrence?.exceptions;
          if (!exceptions) return;
          expect(exceptions.modified.length).toBeLessThanOrEqual(300);
          expect(exceptions.deleted.length).toBeLessThanOrEqual(300);
          for (const o of exceptions.modified) expect([o.originalStart, o.start, o.end].every(Number.isFinite) && o.end >= o.start).toBe(true);
          expect(exceptions.deleted.every(Number.isFinite)).toBe(true);
        });
        await resultOrTargetError(() => desk.respond(VMR, REQUEST, 'accept', 'ok', true), () => {});
        await resultOrTargetError(() => desk.updateOrganizerBody('t0001@contoso.edu', { itemId: 'i', changeKey: null, body: { contentType: 'html', content: '' } }, { contentType: 'html', content: '<p/>' }), () => {});
      }),
      { numRuns: 60 },
    );
  });
});

describe('an EWS answer the desk cannot read is an UnreadableAnswer naming what was read', () => {
  const meetingRequest = (inner: string) => `<t:MeetingRequest>${inner}</t:MeetingRequest>`;
  const sync = (changes: string, state = 'H4sIAAAAAAAE') => envelope('SyncFolderItems', `<m:SyncState>${state}</m:SyncState><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes><t:Create>${changes}</t:Create></m:Changes>`);
  const good = (uid: string, subject = 'Review') => meetingRequest(`<t:ItemId Id="id-${uid}" ChangeKey="ck"/><t:Subject>${subject}</t:Subject><t:UID>${uid}</t:UID><t:Start>2026-09-07T08:00:00Z</t:Start><t:End>2026-09-07T09:00:00Z</t:End><t:Organizer><t:Mailbox><t:EmailAddress>ann@contoso.edu</t:EmailAddress></t:Mailbox></t:Organizer>`);

  async function failure(call: () => Promise<unknown>): Promise<TargetError> {
    const error = await call().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect((error as TargetError).code).toBe('UnreadableAnswer');
    return error as TargetError;
  }

  it('a request without an ItemId Id, or with a field over its bound, is reported by its UID and field; the readable ones go through', async () => {
    const noId = meetingRequest('<t:ItemId ChangeKey="ck"/><t:UID>no-id</t:UID><t:Subject>Lost</t:Subject>');
    const desk = new EwsMeetingDesk(answering({ SyncFolderItems: sync(good('ok') + noId + good('long', 's'.repeat(5_000))) }));
    const page = await desk.changes(VMR, null);
    expect(page.requests.map((r) => r.uid)).toEqual(['ok']);
    expect(page.unreadable).toEqual([
      expect.objectContaining({ uid: 'no-id', subject: 'Lost', message: expect.stringMatching(/MeetingRequest.*"no-id".*ItemId is missing/) }),
      expect.objectContaining({ uid: 'long', message: expect.stringContaining('Subject has 5000 characters, more than 4096') }),
    ]);
  });

  it('a SyncState that is not one, or more changes than asked for, fails the page', async () => {
    expect((await failure(() => new EwsMeetingDesk(answering({ SyncFolderItems: sync(good('a'), 'not a sync state!') })).changes(VMR, null))).message).toContain('SyncState is not one');
    expect((await failure(() => new EwsMeetingDesk(answering({ SyncFolderItems: sync(good('a').repeat(101)) })).changes(VMR, null))).message).toContain('101 changes, more than the 100 asked for');
  });

  describe("a recurring request's exceptions (GetItem: ModifiedOccurrences, DeletedOccurrences)", () => {
    const SERIES = { ...REQUEST, recurrence: { occurrences: null }, series: { masterId: 'i1', kind: 'master' as const } };
    const recurrence = '<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-09-07</t:StartDate><t:NumberOfOccurrences>6</t:NumberOfOccurrences></t:NumberedRecurrence></t:Recurrence>';
    const occurrence = (original: string, start: string, end: string) => `<t:Occurrence><t:ItemId Id="occ" ChangeKey="ck"/><t:Start>${start}</t:Start><t:End>${end}</t:End><t:OriginalStart>${original}</t:OriginalStart></t:Occurrence>`;
    const deleted = (start: string) => `<t:DeletedOccurrence><t:Start>${start}</t:Start></t:DeletedOccurrence>`;
    const get = (inner: string) => envelope('GetItem', `<m:Items><t:MeetingRequest><t:ItemId Id="i1" ChangeKey="c1"/>${recurrence}${inner}<t:StartTimeZoneId>UTC</t:StartTimeZoneId></t:MeetingRequest></m:Items>`);
    const read = (inner: string) => new EwsMeetingDesk(answering({ GetItem: get(inner) })).seriesMaster(VMR, SERIES);

    it('are read, and the series is counted without its deleted occurrences', async () => {
      const master = await read(`<t:ModifiedOccurrences>${occurrence('2026-09-14T08:00:00Z', '2026-09-15T12:00:00Z', '2026-09-15T13:00:00Z')}</t:ModifiedOccurrences><t:DeletedOccurrences>${deleted('2026-09-21T08:00:00Z')}${deleted('2026-09-28T08:00:00Z')}</t:DeletedOccurrences>`);
      expect(master!.recurrence).toMatchObject({
        occurrences: 4,
        exceptions: { modified: [{ originalStart: Date.parse('2026-09-14T08:00:00Z'), start: Date.parse('2026-09-15T12:00:00Z'), end: Date.parse('2026-09-15T13:00:00Z') }], deleted: [Date.parse('2026-09-21T08:00:00Z'), Date.parse('2026-09-28T08:00:00Z')] },
      });
      expect(master!.recurrence!.exceptionsUnreadable).toBeUndefined();
      // None said: the range's count.
      expect((await read(''))!.recurrence).toMatchObject({ occurrences: 6 });
    });

    it('that cannot be read leave the series counted by its range, with the reason (its check then incomplete), never an exception', async () => {
      const cases: Array<[string, string]> = [
        [`<t:ModifiedOccurrences>${occurrence('2026-09-14T08:00:00Z', 'garbled', '2026-09-15T13:00:00Z')}</t:ModifiedOccurrences>`, 'the Start of its moved occurrence 1 is not a time ("garbled")'],
        [`<t:ModifiedOccurrences>${occurrence('2026-09-14T08:00:00Z', '2026-09-15T13:00:00Z', '2026-09-15T12:00:00Z')}</t:ModifiedOccurrences>`, 'its moved occurrence 1 ends before it starts'],
        // Without its zone a time would be read in the machine's.
        [`<t:DeletedOccurrences>${deleted('2026-09-21T08:00:00Z')}${deleted('2026-09-28T08:00:00')}</t:DeletedOccurrences>`, 'the Start of its deleted occurrence 2 is not a time ("2026-09-28T08:00:00")'],
        [`<t:DeletedOccurrences>${deleted('2026-09-21T08:00:00Z').repeat(301)}</t:DeletedOccurrences>`, 'it has 301 deleted occurrences, more than the 300 calpush reads'],
        [`<t:ModifiedOccurrences>${occurrence('2026-09-14T08:00:00Z', '2026-09-15T12:00:00Z', '2026-09-15T13:00:00Z').repeat(301)}</t:ModifiedOccurrences>`, 'it has 301 moved occurrences, more than the 300 calpush reads'],
      ];
      for (const [inner, why] of cases) {
        const master = await read(inner);
        expect(master!.recurrence).toMatchObject({ occurrences: 6, exceptionsUnreadable: `The series' moved or deleted occurrences could not be read: ${why}.` });
        expect(master!.recurrence!.exceptions).toBeUndefined();
      }
    });
  });

  it('a booking whose time cannot be read fails the conflict lookup rather than be missed', async () => {
    const view = envelope('FindItem', '<m:RootFolder IncludesLastItemInRange="true"><t:Items><t:CalendarItem><t:UID>b</t:UID><t:Start>garbled</t:Start><t:End>2026-09-07T09:00:00Z</t:End><t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus></t:CalendarItem></t:Items></m:RootFolder>');
    expect((await failure(() => new EwsMeetingDesk(answering({ FindItem: view })).bookings(VMR, START, START + 3_600_000, null))).message).toContain('the Start or End of booking "b" is not a time');
  });

  it('an organiser’s meeting whose body is neither HTML nor Text, or whose ItemId has no Id, is not read (its body is written back)', async () => {
    const found = envelope('FindItem', '<m:RootFolder><t:Items><t:CalendarItem><t:ItemId Id="i1" ChangeKey="c1"/></t:CalendarItem></t:Items></m:RootFolder>');
    const rtf = envelope('GetItem', '<m:Items><t:CalendarItem><t:ItemId Id="i1" ChangeKey="c2"/><t:Body BodyType="RTF">{\\rtf1}</t:Body></t:CalendarItem></m:Items>');
    expect((await failure(() => new EwsMeetingDesk(answering({ FindItem: found, GetItem: rtf })).organizerMeeting('t0001@contoso.edu', 'u1'))).message).toContain('BodyType is "RTF", not HTML or Text');
    const noId = envelope('FindItem', '<m:RootFolder><t:Items><t:CalendarItem><t:ItemId ChangeKey="c1"/></t:CalendarItem></t:Items></m:RootFolder>');
    expect((await failure(() => new EwsMeetingDesk(answering({ FindItem: noId })).organizerMeeting('t0001@contoso.edu', 'u1'))).message).toContain('the item has no ItemId');
  });
});
