// The bookings of a room over EWS: a CalendarView that did not reach the last item (IncludesLastItemInRange false)
// is read on from the start of the last item it returned.
import { describe, expect, it } from 'vitest';
import { EwsMeetingDesk, type EwsConnection } from '../../src/targets/ews/meetings.ts';
import { parseXml, serialize } from '../../src/targets/ews/xml.ts';

const START = Date.parse('2026-09-07T00:00:00Z');
const END = Date.parse('2026-09-08T00:00:00Z');

function item(uid: string, start: string, end: string): string {
  return `<CalendarItem><UID>${uid}</UID><Start>${start}</Start><End>${end}</End><LegacyFreeBusyStatus>Busy</LegacyFreeBusyStatus></CalendarItem>`;
}

function desk(answers: string[]) {
  const views: string[] = [];
  const connection = {
    context: (mailbox: string) => ({ mailbox, access: 'impersonation' }),
    laneFor: () => null,
    call: async (_mailbox: string, _operation: string, body: Parameters<EwsConnection['call']>[2]) => {
      views.push(/StartDate="([^"]+)"/.exec(serialize(body))![1]!);
      return { responseClass: 'Success', code: 'NoError', message: '', values: {}, node: parseXml(answers[views.length - 1]!)!['m'] };
    },
  } as unknown as EwsConnection;
  return { desk: new EwsMeetingDesk(connection), views };
}

describe('the bookings of a room over EWS', () => {
  it('are read on from the last item’s start while the view does not include the last item in range', async () => {
    const { desk: ews, views } = desk([
      `<m><RootFolder IncludesLastItemInRange="false"><Items>${item('a', '2026-09-07T08:00:00Z', '2026-09-07T09:00:00Z')}${item('b', '2026-09-07T10:00:00Z', '2026-09-07T11:00:00Z')}</Items></RootFolder></m>`,
      `<m><RootFolder IncludesLastItemInRange="true"><Items>${item('b', '2026-09-07T10:00:00Z', '2026-09-07T11:00:00Z')}${item('c', '2026-09-07T12:00:00Z', '2026-09-07T13:00:00Z')}</Items></RootFolder></m>`,
    ]);
    const first = await ews.bookings('room@contoso.edu', START, END);
    expect(first.bookings.map((b) => b.uid)).toEqual(['a', 'b']);
    expect(first.next).toBe(String(Date.parse('2026-09-07T10:00:00Z')));
    const second = await ews.bookings('room@contoso.edu', START, END, first.next);
    expect(second).toMatchObject({ next: null });
    expect(second.bookings.map((b) => b.uid)).toEqual(['b', 'c']);
    expect(views).toEqual(['2026-09-07T00:00:00Z', '2026-09-07T10:00:00Z']);
  });
});
