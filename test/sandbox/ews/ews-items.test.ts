// The sandbox's EWS endpoint: calendar items (CreateItem, UpdateItem, DeleteItem, GetItem, FindItem) over the event
// store the Graph side uses. Hand-written SOAP requests; all of them (and every success response) are validated
// with xmllint against Microsoft's schema at the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from 'node:https';
import { EWS_DELEGATE_ACCOUNTS, EWS_IMPERSONATION_ACCOUNT, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../../src/sandbox/index.ts';
import { GraphClient, users } from '../helpers.ts';
import { agentFor, all, first, impersonationHeader, itemIds, M, messages, post, receivedResponses, sentRequests, soap, T, text, xmllintFailures, type Auth, type EwsResponse } from './helpers.ts';

const GUID = '7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c';
const GRAPH_TAG = `String {${GUID}} Name CalpushKey`;
const TAG_URI = `<t:ExtendedFieldURI PropertySetId="${GUID}" PropertyName="CalpushKey" PropertyType="String"/>`;
const STUDENT = 's0003@contoso.edu';
const STUDENT2 = 's0020@contoso.edu';

let sandbox: SandboxInternals;
let agent: Agent;
let graph: GraphClient;
const delegate: Auth = { kind: 'basic', user: EWS_DELEGATE_ACCOUNTS[0]!, password: EWS_PASSWORD };

function calendar(mailbox?: string): string {
  return mailbox ? `<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>${mailbox}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>` : `<t:DistinguishedFolderId Id="calendar"/>`;
}

function calendarItem(o: { subject: string; start: string; end: string; key?: string; zone?: string; location?: string; extra?: string; body?: string }): string {
  return `<t:CalendarItem>
        <t:Subject>${o.subject}</t:Subject>
        <t:Body BodyType="Text">${o.body ?? 'Maths for group 3B'}</t:Body>
        <t:Categories><t:String>Timetable</t:String></t:Categories>
        <t:ReminderIsSet>false</t:ReminderIsSet>
        ${o.key ? `<t:ExtendedProperty>${TAG_URI}<t:Value>${o.key}</t:Value></t:ExtendedProperty>` : ''}
        <t:Start>${o.start}</t:Start>
        <t:End>${o.end}</t:End>
        <t:IsAllDayEvent>false</t:IsAllDayEvent>
        <t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus>
        <t:Location>${o.location ?? 'Room 101'}</t:Location>
        ${o.extra ?? ''}
        ${o.zone ? `<t:StartTimeZone Id="${o.zone}"/><t:EndTimeZone Id="${o.zone}"/>` : ''}
      </t:CalendarItem>`;
}

function createItem(items: string[], folder: string, attrs = 'SendMeetingInvitations="SendToNone"'): string {
  return `<m:CreateItem ${attrs}>
      <m:SavedItemFolderId>${folder}</m:SavedItemFolderId>
      <m:Items>${items.join('')}</m:Items>
    </m:CreateItem>`;
}

function getItem(ids: Array<{ id: string; changeKey?: string }>, shape = 'AllProperties', additional = TAG_URI): string {
  return `<m:GetItem>
      <m:ItemShape><t:BaseShape>${shape}</t:BaseShape><t:AdditionalProperties>${additional}</t:AdditionalProperties></m:ItemShape>
      <m:ItemIds>${ids.map((i) => `<t:ItemId Id="${i.id}"/>`).join('')}</m:ItemIds>
    </m:GetItem>`;
}

async function ews(body: string, auth: Auth = delegate, header?: string, extra: Record<string, string> = {}): Promise<EwsResponse> {
  return post(sandbox.ewsUrl, agent, soap(body, header), auth, { 'x-anchormailbox': STUDENT, ...extra });
}

beforeAll(async () => {
  sandbox = await startSandbox({ throttling: { enabled: false } });
  agent = agentFor(sandbox.caPem);
  graph = await GraphClient.demo(sandbox);
});

afterAll(async () => {
  agent.destroy();
  await sandbox.close();
});

describe('EWS calendar items', () => {
  let created: { id: string; changeKey: string };

  it('CreateItem creates a tagged calendar item that Graph sees with its extended property', async () => {
    const res = await ews(createItem([calendarItem({ subject: 'Maths 3B', start: '2026-09-01T08:00:00', end: '2026-09-01T08:45:00', key: 'lesson-1@rev1', zone: 'W. Europe Standard Time' })], calendar(STUDENT)));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    expect(first(res.root, T, 'ServerVersionInfo')?.getAttribute('MajorVersion')).toBe('15');
    const [msg] = messages(res);
    expect(msg).toMatchObject({ cls: 'Success', code: 'NoError' });
    created = itemIds(res)[0]!;
    expect(created.id).toMatch(/^AAMkA/);
    expect(created.changeKey).not.toBe('');

    // Graph: same event, id in REST form ("/" → "-", "+" → "_"), changeKey identical, extended property visible.
    const graphId = created.id.replace(/\//g, '-').replace(/\+/g, '_');
    const g = await graph.get(`${users(STUDENT)}/events/${encodeURIComponent(graphId)}?$expand=singleValueExtendedProperties($filter=id eq '${GRAPH_TAG}')`);
    expect(g.status).toBe(200);
    expect(g.json.subject).toBe('Maths 3B');
    expect(g.json.changeKey).toBe(created.changeKey);
    expect(g.json.start).toEqual({ dateTime: '2026-09-01T06:00:00.0000000', timeZone: 'UTC' });
    expect(g.json.originalStartTimeZone).toBe('W. Europe Standard Time');
    expect(g.json.location.displayName).toBe('Room 101');
    expect(g.json.categories).toEqual(['Timetable']);
    expect(g.json.isReminderOn).toBe(false);
    expect(g.json.singleValueExtendedProperties).toEqual([{ id: GRAPH_TAG, value: 'lesson-1@rev1' }]);
  });

  it('GetItem returns the item with AllProperties and the requested extended property, times in UTC', async () => {
    const res = await ews(getItem([created]));
    const [msg] = messages(res);
    expect(msg?.cls).toBe('Success');
    const item = first(res.root, T, 'CalendarItem')!;
    expect(text(item, T, 'Subject')).toBe('Maths 3B');
    expect(text(item, T, 'Start')).toBe('2026-09-01T06:00:00Z');
    expect(text(item, T, 'End')).toBe('2026-09-01T06:45:00Z');
    expect(first(item, T, 'StartTimeZone')?.getAttribute('Id')).toBe('W. Europe Standard Time');
    expect(text(item, T, 'LegacyFreeBusyStatus')).toBe('Busy');
    expect(first(item, T, 'Body')?.getAttribute('BodyType')).toBe('Text');
    const ext = first(item, T, 'ExtendedProperty')!;
    expect(first(ext, T, 'ExtendedFieldURI')?.getAttribute('PropertyName')).toBe('CalpushKey');
    expect(first(ext, T, 'ExtendedFieldURI')?.getAttribute('PropertySetId')?.toLowerCase()).toBe(GUID);
    expect(text(ext, T, 'Value')).toBe('lesson-1@rev1');
  });

  it('several items in one CreateItem get one response message each; a bad one fails alone', async () => {
    const res = await ews(
      createItem(
        [
          calendarItem({ subject: 'A', start: '2026-09-02T08:00:00Z', end: '2026-09-02T09:00:00Z', key: 'batch-a' }),
          calendarItem({ subject: 'B (end before start)', start: '2026-09-02T10:00:00Z', end: '2026-09-02T09:00:00Z', key: 'batch-b' }),
          calendarItem({ subject: 'C', start: '2026-09-02T11:00:00Z', end: '2026-09-02T12:00:00Z', key: 'batch-c' }),
        ],
        calendar(STUDENT2),
      ),
    );
    const list = messages(res);
    expect(list.map((m) => m.cls)).toEqual(['Success', 'Error', 'Success']);
    expect(list[1]!.code).toBe('ErrorCalendarEndDateIsEarlierThanStartDate');
    expect(sandbox.listEvents(STUDENT2).map((e) => e.subject)).toEqual(['A', 'C']);
  });

  it('CreateItem without SendMeetingInvitations is refused for calendar items', async () => {
    const res = await ews(createItem([calendarItem({ subject: 'X', start: '2026-09-03T08:00:00Z', end: '2026-09-03T09:00:00Z' })], calendar(STUDENT2), ''));
    expect(messages(res)[0]).toMatchObject({ cls: 'Error', code: 'ErrorSendMeetingInvitationsRequired' });
  });

  it('Start/End: StartTimeZone, TimeZoneContext and UTC values', async () => {
    const context = `<t:RequestServerVersion Version="Exchange2013"/><t:TimeZoneContext><t:TimeZoneDefinition Id="Pacific Standard Time"/></t:TimeZoneContext>`;
    const res = await ews(
      createItem(
        [
          calendarItem({ subject: 'tz-context', start: '2026-09-04T08:00:00', end: '2026-09-04T09:00:00' }),
          calendarItem({ subject: 'tz-item-overrides-context', start: '2026-09-04T08:00:00', end: '2026-09-04T09:00:00', zone: 'W. Europe Standard Time' }),
          calendarItem({ subject: 'tz-utc', start: '2026-09-04T08:00:00Z', end: '2026-09-04T09:00:00Z', zone: 'W. Europe Standard Time' }),
        ],
        calendar(STUDENT2),
      ),
      delegate,
      context,
    );
    expect(messages(res).every((m) => m.cls === 'Success')).toBe(true);
    const byName = (s: string) => sandbox.listEvents(STUDENT2).find((e) => e.subject === s)!;
    expect(byName('tz-context').start.dateTime).toBe('2026-09-04T15:00:00.0000000'); // PDT = UTC-7
    expect(byName('tz-item-overrides-context').start.dateTime).toBe('2026-09-04T06:00:00.0000000'); // CEST = UTC+2
    expect(byName('tz-utc').start.dateTime).toBe('2026-09-04T08:00:00.0000000');
  });

  it('UpdateItem sets fields and the extended property; the ChangeKey changes on every update', async () => {
    const res = await ews(`<m:UpdateItem ConflictResolution="AutoResolve" SendMeetingInvitationsOrCancellations="SendToNone">
      <m:ItemChanges><t:ItemChange>
        <t:ItemId Id="${created.id}" ChangeKey="${created.changeKey}"/>
        <t:Updates>
          <t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>Maths 3B (moved)</t:Subject></t:CalendarItem></t:SetItemField>
          <t:SetItemField><t:FieldURI FieldURI="calendar:Location"/><t:CalendarItem><t:Location>Room 202</t:Location></t:CalendarItem></t:SetItemField>
          <t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>2026-09-01T10:00:00Z</t:Start></t:CalendarItem></t:SetItemField>
          <t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem><t:End>2026-09-01T10:45:00Z</t:End></t:CalendarItem></t:SetItemField>
          <t:SetItemField>${TAG_URI}<t:CalendarItem><t:ExtendedProperty>${TAG_URI}<t:Value>lesson-1@rev2</t:Value></t:ExtendedProperty></t:CalendarItem></t:SetItemField>
          <t:AppendToItemField><t:FieldURI FieldURI="item:Body"/><t:CalendarItem><t:Body BodyType="Text"> (moved)</t:Body></t:CalendarItem></t:AppendToItemField>
        </t:Updates>
      </t:ItemChange></m:ItemChanges>
    </m:UpdateItem>`);
    expect(messages(res)[0]).toMatchObject({ cls: 'Success', code: 'NoError' });
    const updated = itemIds(res)[0]!;
    expect(updated.id).toBe(created.id);
    expect(updated.changeKey).not.toBe(created.changeKey);
    expect(text(res.root, T, 'Count')).toBe('0');
    const event = sandbox.listEvents(STUDENT).find((e) => e.subject === 'Maths 3B (moved)')!;
    expect(event.changeKey).toBe(updated.changeKey);
    expect(event.start).toEqual({ dateTime: '2026-09-01T10:00:00.0000000', timeZone: 'UTC' });
    expect(event['originalStartTimeZone']).toBe('W. Europe Standard Time');
    expect((event.location as { displayName: string }).displayName).toBe('Room 202');
    expect(event.body.content).toContain('Maths for group 3B (moved)');
    expect(event.singleValueExtendedProperties).toEqual([{ id: GRAPH_TAG, value: 'lesson-1@rev2' }]);
    created = { ...created, changeKey: updated.changeKey };
  });

  it('a stale ChangeKey → ErrorIrresolvableConflict (NeverOverwrite) or ErrorStaleObject even under AlwaysOverwrite; none → ErrorChangeKeyRequiredForWriteOperations', async () => {
    const change = (ck: string, mode: string, subject: string) => `<m:UpdateItem ConflictResolution="${mode}" SendMeetingInvitationsOrCancellations="SendToNone">
      <m:ItemChanges><t:ItemChange><t:ItemId Id="${created.id}" ChangeKey="${ck}"/><t:Updates>
        <t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>${subject}</t:Subject></t:CalendarItem></t:SetItemField>
      </t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`;
    const stale = 'CQAAABYAAADZGACZRqzVTa0dsDzORSItAAAU2dwB';
    const conflict = await ews(change(stale, 'NeverOverwrite', 'never'));
    expect(messages(conflict)[0]).toMatchObject({ cls: 'Error', code: 'ErrorIrresolvableConflict' });
    expect(all(conflict.root, M, 'Items')).toHaveLength(1);
    const fresh = await ews(change(created.changeKey, 'NeverOverwrite', 'Maths 3B (current key)'));
    expect(messages(fresh)[0]?.cls).toBe('Success');
    // "the caller must pass in a correct and current change key … even when conflict resolution is set to always
    // overwrite" (responsecode, ErrorChangeKeyRequiredForWriteOperations; ErrorStaleObject).
    created = itemIds(fresh)[0]!;
    const staleOverwrite = await ews(change(stale, 'AlwaysOverwrite', 'Maths 3B (overwritten)'));
    expect(messages(staleOverwrite)[0]).toMatchObject({ cls: 'Error', code: 'ErrorStaleObject' });
    const noKey = await ews(change(created.changeKey, 'AlwaysOverwrite', 'Maths 3B (overwritten)').replace(/ ChangeKey="[^"]*"/, ''));
    expect(messages(noKey)[0]).toMatchObject({ cls: 'Error', code: 'ErrorChangeKeyRequiredForWriteOperations' });
    const overwrite = await ews(change(created.changeKey, 'AlwaysOverwrite', 'Maths 3B (overwritten)'));
    expect(messages(overwrite)[0]?.cls).toBe('Success');
    created = itemIds(overwrite)[0]!;
    const missing = await ews(change(created.changeKey, 'AutoResolve', 'x').replace(' SendMeetingInvitationsOrCancellations="SendToNone"', ''));
    expect(messages(missing)[0]).toMatchObject({ cls: 'Error', code: 'ErrorSendMeetingInvitationsOrCancellationsRequired' });
  });

  it('DeleteItemField removes the extended property (Graph no longer sees it)', async () => {
    const res = await ews(`<m:UpdateItem ConflictResolution="AlwaysOverwrite" SendMeetingInvitationsOrCancellations="SendToNone">
      <m:ItemChanges><t:ItemChange><t:ItemId Id="${created.id}" ChangeKey="${created.changeKey}"/><t:Updates>
        <t:DeleteItemField>${TAG_URI}</t:DeleteItemField>
        <t:DeleteItemField><t:FieldURI FieldURI="item:Categories"/></t:DeleteItemField>
      </t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`);
    expect(messages(res)[0]?.cls).toBe('Success');
    const event = sandbox.listEvents(STUDENT).find((e) => e.id === created.id.replace(/\//g, '-').replace(/\+/g, '_'))!;
    expect(event.singleValueExtendedProperties).toBeUndefined();
    expect(event.categories).toEqual([]);
    created = itemIds(res)[0]!;
  });

  it('an event created through Graph is found through EWS by its extended property (Restriction IsEqualTo)', async () => {
    const g = await graph.post(`${users(STUDENT)}/events`, {
      subject: 'Physics (Graph)',
      start: { dateTime: '2026-09-05T09:00:00', timeZone: 'W. Europe Standard Time' },
      end: { dateTime: '2026-09-05T10:00:00', timeZone: 'W. Europe Standard Time' },
      singleValueExtendedProperties: [{ id: GRAPH_TAG, value: 'lesson-graph@rev1' }],
    });
    expect(g.status).toBe(201);
    const res = await ews(`<m:FindItem Traversal="Shallow">
      <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>${TAG_URI}<t:FieldURI FieldURI="calendar:Start"/><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>
      <m:IndexedPageItemView MaxEntriesReturned="100" Offset="0" BasePoint="Beginning"/>
      <m:Restriction><t:IsEqualTo>${TAG_URI}<t:FieldURIOrConstant><t:Constant Value="lesson-graph@rev1"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>
      <m:ParentFolderIds>${calendar(STUDENT)}</m:ParentFolderIds>
    </m:FindItem>`);
    expect(messages(res)[0]?.cls).toBe('Success');
    const items = all(res.root, T, 'CalendarItem');
    expect(items).toHaveLength(1);
    expect(first(items[0], T, 'ItemId')?.getAttribute('Id')).toBe(String(g.json.id).replace(/-/g, '/').replace(/_/g, '+'));
    expect(first(items[0], T, 'ItemId')?.getAttribute('ChangeKey')).toBe(g.json.changeKey);
    expect(text(items[0], T, 'Subject')).toBe('Physics (Graph)');
    expect(text(items[0], T, 'Start')).toBe('2026-09-05T07:00:00Z');
    expect(text(first(items[0], T, 'ExtendedProperty'), T, 'Value')).toBe('lesson-graph@rev1');
    // IdOnly + AdditionalProperties: nothing else.
    expect(first(items[0], T, 'LegacyFreeBusyStatus')).toBeUndefined();
  });

  it('FindItem pages with IndexedPageItemView (Exists restriction, offsets, TotalItemsInView, IncludesLastItemInRange)', async () => {
    const mailbox = 's0010@contoso.edu';
    const items = [1, 2, 3, 4, 5].map((n) => calendarItem({ subject: `Page ${n}`, start: `2026-09-1${n}T08:00:00Z`, end: `2026-09-1${n}T09:00:00Z`, key: `page-${n}` }));
    expect(messages(await ews(createItem(items, calendar(mailbox)))).every((m) => m.cls === 'Success')).toBe(true);
    // One foreign event without the tag in the same calendar.
    sandbox.addEvent(mailbox, { subject: 'Foreign', start: { dateTime: '2026-09-12T12:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-12T13:00:00', timeZone: 'UTC' } });
    const page = async (offset: number) => {
      const res = await ews(`<m:FindItem Traversal="Shallow">
        <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>${TAG_URI}</t:AdditionalProperties></m:ItemShape>
        <m:IndexedPageItemView MaxEntriesReturned="2" Offset="${offset}" BasePoint="Beginning"/>
        <m:Restriction><t:Exists>${TAG_URI}</t:Exists></m:Restriction>
        <m:SortOrder><t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="calendar:Start"/></t:FieldOrder></m:SortOrder>
        <m:ParentFolderIds>${calendar(mailbox)}</m:ParentFolderIds>
      </m:FindItem>`);
      const root = first(res.root, M, 'RootFolder')!;
      return {
        next: Number(root.getAttribute('IndexedPagingOffset')),
        total: Number(root.getAttribute('TotalItemsInView')),
        last: root.getAttribute('IncludesLastItemInRange'),
        keys: all(res.root, T, 'Value').map((v) => v.textContent),
      };
    };
    expect(await page(0)).toEqual({ next: 2, total: 5, last: 'false', keys: ['page-1', 'page-2'] });
    expect(await page(2)).toEqual({ next: 4, total: 5, last: 'false', keys: ['page-3', 'page-4'] });
    expect(await page(4)).toEqual({ next: 5, total: 5, last: 'true', keys: ['page-5'] });
  });

  it('CalendarView returns the items in the window; a Restriction with it is refused', async () => {
    const mailbox = 's0010@contoso.edu';
    const view = (max: number, extra = '') => `<m:FindItem Traversal="Shallow">
        <m:ItemShape><t:BaseShape>Default</t:BaseShape><t:AdditionalProperties>${TAG_URI}</t:AdditionalProperties></m:ItemShape>
        <m:CalendarView MaxEntriesReturned="${max}" StartDate="2026-09-12T00:00:00Z" EndDate="2026-09-14T00:00:00Z"/>
        ${extra}
        <m:ParentFolderIds>${calendar(mailbox)}</m:ParentFolderIds>
      </m:FindItem>`;
    const res = await ews(view(10));
    const root = first(res.root, M, 'RootFolder')!;
    expect(all(res.root, T, 'Subject').map((s) => s.textContent)).toEqual(['Page 2', 'Foreign', 'Page 3']);
    expect(root.getAttribute('TotalItemsInView')).toBe('3');
    expect(root.getAttribute('IncludesLastItemInRange')).toBe('true');
    expect(first(res.root, T, 'Body')).toBeUndefined(); // FindItem never returns Body
    const truncated = await ews(view(2));
    expect(first(truncated.root, M, 'RootFolder')?.getAttribute('IncludesLastItemInRange')).toBe('false');
    expect(all(truncated.root, T, 'CalendarItem')).toHaveLength(2);
    const refused = await ews(view(10, `<m:Restriction><t:Exists>${TAG_URI}</t:Exists></m:Restriction>`));
    expect(messages(refused)[0]).toMatchObject({ cls: 'Error', code: 'ErrorInvalidRestriction', text: 'Restrictions and sort order may not be specified for a CalendarView.' });
  });

  it('DeleteItem deletes (Graph 404 afterwards); unknown and malformed ids fail per item', async () => {
    const res = await ews(`<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToNone">
      <m:ItemIds><t:ItemId Id="${created.id}" ChangeKey="${created.changeKey}"/><t:ItemId Id="${created.id}"/><t:ItemId Id="not-an-id"/></m:ItemIds>
    </m:DeleteItem>`);
    expect(messages(res).map((m) => `${m.cls}:${m.code}`)).toEqual(['Success:NoError', 'Error:ErrorItemNotFound', 'Error:ErrorInvalidIdMalformed']);
    const g = await graph.get(`${users(STUDENT)}/events/${encodeURIComponent(created.id.replace(/\//g, '-').replace(/\+/g, '_'))}`);
    expect(g.status).toBe(404);
    const again = await ews(getItem([created]));
    expect(messages(again)[0]).toMatchObject({ cls: 'Error', code: 'ErrorItemNotFound', text: 'The specified object was not found in the store.' });
    const noCancellations = await ews(`<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="${itemIds(await ews(createItem([calendarItem({ subject: 'tmp', start: '2026-09-20T08:00:00Z', end: '2026-09-20T09:00:00Z' })], calendar(STUDENT))))[0]!.id}"/></m:ItemIds></m:DeleteItem>`);
    expect(messages(noCancellations)[0]).toMatchObject({ cls: 'Error', code: 'ErrorSendMeetingCancellationsRequired' });
  });

  it('impersonation: the rooms account creates in a room calendar without a Mailbox element', async () => {
    const room = sandbox.listMailboxes().find((m) => m.kind === 'room')!.address;
    const res = await post(
      sandbox.ewsUrl,
      agent,
      soap(createItem([calendarItem({ subject: 'Booked by svc-rooms', start: '2026-09-21T08:00:00Z', end: '2026-09-21T09:00:00Z', key: 'room-1' })], calendar()), impersonationHeader(room)),
      { kind: 'basic', user: EWS_IMPERSONATION_ACCOUNT, password: EWS_PASSWORD },
      { 'x-anchormailbox': room },
    );
    expect(messages(res)[0]?.cls).toBe('Success');
    expect(sandbox.listEvents(room).some((e) => e.subject === 'Booked by svc-rooms')).toBe(true);
    expect(sandbox.ews.stats().perAccount[EWS_IMPERSONATION_ACCOUNT]).toMatchObject({ impersonated: 1, anchorMailboxMissing: 0, anchorMailboxMismatch: 0 });
  });

  it('GetRoomLists and GetRooms list the tenant room lists', async () => {
    const lists = await ews(`<m:GetRoomLists/>`);
    const addresses = all(lists.root, T, 'EmailAddress').map((e) => e.textContent);
    expect(addresses).toContain('rooms@contoso.edu');
    const rooms = await ews(`<m:GetRooms><m:RoomList><t:EmailAddress>rooms-main@contoso.edu</t:EmailAddress></m:RoomList></m:GetRooms>`);
    expect(all(rooms.root, T, 'Room').length).toBeGreaterThan(0);
    expect(all(rooms.root, T, 'EmailAddress').every((e) => (e.textContent ?? '').startsWith('room-main-'))).toBe(true);
  });

  it('every request sent above validates against messages.xsd, and so does every success response', () => {
    expect(xmllintFailures(sentRequests)).toEqual([]);
    expect(xmllintFailures(receivedResponses)).toEqual([]);
  });
});
