// Meetings through EWS (issue #15): CreateItem with SendMeetingInvitations sends requests, the inbox holds
// MeetingRequest / MeetingCancellation / MeetingResponse items, AcceptItem / TentativelyAcceptItem / DeclineItem
// answer (on the request or the calendar item), UpdateItem and DeleteItem send updates and cancellations,
// RemoveItem and CancelCalendarItem; the Graph view of the same mailboxes agrees. Every request and every success
// answer is validated against Microsoft's schema at the end.
import type { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../../src/model/clock.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, EQUIPMENT_MAILBOX, EWS_DELEGATE_ACCOUNTS, EWS_IMPERSONATION_ACCOUNT, EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../../src/sandbox/index.ts';
import { demoToken, GraphClient, users } from '../helpers.ts';
import { agentFor, all, first, impersonationHeader, itemIds, M, messages, post, receivedResponses, sentRequests, soap, T, text, xmllintFailures, type Auth, type EwsResponse } from './helpers.ts';

const ORGANIZER = 't0003@contoso.edu';
const STUDENT = 's0030@contoso.edu';
const ROOM = 'room-lib-103@contoso.edu';
const scheduling: Auth = { kind: 'basic', user: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD };
const rooms: Auth = { kind: 'basic', user: EWS_IMPERSONATION_ACCOUNT, password: EWS_PASSWORD };
const delegate: Auth = { kind: 'basic', user: EWS_DELEGATE_ACCOUNTS[0]!, password: EWS_PASSWORD };

let sandbox: SandboxInternals;
let agent: Agent;
let graph: GraphClient;

beforeAll(async () => {
  sandbox = await startSandbox({ clock: fixedClock('2026-09-01T08:00:00Z') });
  agent = agentFor(sandbox.caPem);
  graph = new GraphClient(sandbox, await demoToken(sandbox, AGENT_CLIENT_ID, AGENT_CLIENT_SECRET));
});
afterAll(async () => {
  agent?.destroy();
  await sandbox?.close();
});

/** A request as `mailbox` (impersonated by the account that may). */
function as(mailbox: string, body: string, auth: Auth = mailbox === EQUIPMENT_MAILBOX || mailbox.startsWith('room-') ? rooms : scheduling): Promise<EwsResponse> {
  return post(sandbox.ewsUrl, agent, soap(body, impersonationHeader(mailbox)), auth, { 'x-anchormailbox': mailbox });
}

let hour = 7;
function meetingItem(subject: string, attendees: { required?: string[]; resources?: string[] }, start?: string): string {
  hour++;
  const from = start ?? `2026-10-05T${String(hour).padStart(2, '0')}:00:00Z`;
  const to = new Date(Date.parse(from) + 45 * 60_000).toISOString().replace('.000', '');
  const list = (element: string, addresses: string[] | undefined) =>
    addresses?.length ? `<t:${element}>${addresses.map((a) => `<t:Attendee><t:Mailbox><t:EmailAddress>${a}</t:EmailAddress></t:Mailbox></t:Attendee>`).join('')}</t:${element}>` : '';
  return `<t:CalendarItem>
        <t:Subject>${subject}</t:Subject>
        <t:Body BodyType="Text">${subject} agenda</t:Body>
        <t:Start>${from}</t:Start>
        <t:End>${to}</t:End>
        <t:Location>Library 103</t:Location>
        ${list('RequiredAttendees', attendees.required)}
        ${list('Resources', attendees.resources)}
      </t:CalendarItem>`;
}

async function organize(subject: string, attendees: { required?: string[]; resources?: string[] }, send = 'SendToAllAndSaveCopy', start?: string): Promise<{ id: string; changeKey: string }> {
  const created = await as(ORGANIZER, `<m:CreateItem SendMeetingInvitations="${send}"><m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items>${meetingItem(subject, attendees, start)}</m:Items></m:CreateItem>`);
  expect(messages(created)[0]?.code).toBe('NoError');
  return itemIds(created)[0]!;
}

const INBOX = '<t:DistinguishedFolderId Id="inbox"/>';

async function inbox(mailbox: string, restriction = ''): Promise<EwsResponse> {
  return as(mailbox, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="100" Offset="0" BasePoint="Beginning"/>${restriction}<m:ParentFolderIds>${INBOX}</m:ParentFolderIds></m:FindItem>`);
}

/** The ids of the inbox items whose subject is `subject`. */
async function requestsFor(mailbox: string, subject: string, element = 'MeetingRequest'): Promise<Array<{ id: string; changeKey: string }>> {
  const found = await inbox(mailbox);
  return all(found.root, T, element)
    .filter((item) => text(item, T, 'Subject') === subject)
    .map((item) => ({ id: first(item, T, 'ItemId')!.getAttribute('Id')!, changeKey: first(item, T, 'ItemId')!.getAttribute('ChangeKey')! }));
}

function getItem(mailbox: string, id: string, shape = 'AllProperties'): Promise<EwsResponse> {
  return as(mailbox, `<m:GetItem><m:ItemShape><t:BaseShape>${shape}</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="${id}"/></m:ItemIds></m:GetItem>`);
}

function respond(mailbox: string, element: string, id: string, disposition = 'SendAndSaveCopy', body = ''): Promise<EwsResponse> {
  const attribute = disposition ? ` MessageDisposition="${disposition}"` : '';
  return as(mailbox, `<m:CreateItem${attribute}><m:Items><t:${element}>${body}<t:ReferenceItemId Id="${id}"/></t:${element}></m:Items></m:CreateItem>`);
}

async function calendarCopy(mailbox: string, iCalUId: string): Promise<any> {
  const list = await graph.get(`${users(mailbox)}/events?$top=1000`);
  return list.json.value.find((e: any) => e.iCalUId === iCalUId);
}

async function uidOf(mailbox: string, id: string): Promise<string> {
  return text((await getItem(mailbox, id)).root, T, 'UID')!;
}

describe('requests', () => {
  it('SendToAllAndSaveCopy sends; the equipment mailbox (None) has a MeetingRequest and no calendar item until it accepts', async () => {
    const meeting = await organize('VMR via EWS', { required: [STUDENT], resources: [EQUIPMENT_MAILBOX] });
    const organizerItem = await getItem(ORGANIZER, meeting.id);
    expect(text(organizerItem.root, T, 'MeetingRequestWasSent')).toBe('true');
    expect(text(organizerItem.root, T, 'MyResponseType')).toBe('Organizer');
    expect(text(organizerItem.root, T, 'AppointmentState')).toBe('1');
    const [request] = await requestsFor(EQUIPMENT_MAILBOX, 'VMR via EWS');
    expect(request).toBeDefined();
    const full = await getItem(EQUIPMENT_MAILBOX, request!.id);
    expect(messages(full)[0]!.code).toBe('NoError');
    expect(text(full.root, T, 'ItemClass')).toBe('IPM.Schedule.Meeting.Request');
    expect(text(full.root, T, 'MeetingRequestType')).toBe('NewMeetingRequest');
    expect(text(full.root, T, 'Body')).toBe('VMR via EWS agenda');
    expect(first(full.root, T, 'AssociatedCalendarItemId')).toBeUndefined();
    const uid = text(full.root, T, 'UID')!;
    expect(await calendarCopy(EQUIPMENT_MAILBOX, uid)).toBeUndefined();
    // The user attendee's Calendar Attendant placed it: AssociatedCalendarItemId names the tentative copy.
    const [studentRequest] = await requestsFor(STUDENT, 'VMR via EWS');
    const studentView = await getItem(STUDENT, studentRequest!.id);
    const copyId = first(studentView.root, T, 'AssociatedCalendarItemId')!.getAttribute('Id')!;
    const copy = await getItem(STUDENT, copyId);
    expect(text(copy.root, T, 'MyResponseType')).toBe('NoResponseReceived');
    expect(text(copy.root, T, 'AppointmentState')).toBe('3');
    expect(text(first(copy.root, T, 'Organizer'), T, 'EmailAddress')).toBe(ORGANIZER);
  });

  it('AcceptItem on the request: the calendar item appears accepted, the organiser is told, Graph sees the same', async () => {
    await organize('Accept me (EWS)', { resources: [EQUIPMENT_MAILBOX] });
    const [request] = await requestsFor(EQUIPMENT_MAILBOX, 'Accept me (EWS)');
    const uid = await uidOf(EQUIPMENT_MAILBOX, request!.id);
    const accepted = await respond(EQUIPMENT_MAILBOX, 'AcceptItem', request!.id, 'SendAndSaveCopy', '<t:Body BodyType="Text">VMR alias 1234</t:Body>');
    expect(messages(accepted)[0]!.code).toBe('NoError');
    expect(first(accepted.root, M, 'Items')!.childNodes.length).toBe(0);
    expect(await requestsFor(EQUIPMENT_MAILBOX, 'Accept me (EWS)')).toEqual([]);
    const copy = await calendarCopy(EQUIPMENT_MAILBOX, uid);
    expect(copy.responseStatus.response).toBe('accepted');
    const [response] = await requestsFor(ORGANIZER, 'Accepted: Accept me (EWS)', 'MeetingResponse');
    const responseItem = await getItem(ORGANIZER, response!.id);
    expect(text(responseItem.root, T, 'ItemClass')).toBe('IPM.Schedule.Meeting.Resp.Pos');
    expect(text(responseItem.root, T, 'ResponseType')).toBe('Accept');
    expect(text(responseItem.root, T, 'Body')).toBe('VMR alias 1234');
    const organizerEvent = await calendarCopy(ORGANIZER, uid);
    expect(organizerEvent.attendees[0].status.response).toBe('accepted');
    const ewsView = await getItem(ORGANIZER, organizerEvent.id.replace(/-/g, '/').replace(/_/g, '+'));
    expect(text(first(ewsView.root, T, 'Resources'), T, 'ResponseType')).toBe('Accept');
    expect(text(first(ewsView.root, T, 'Resources'), T, 'LastResponseTime')).toBe('2026-09-01T08:00:00Z');
  });

  it('DeclineItem with a Body and TentativelyAcceptItem on the calendar item', async () => {
    await organize('Decline me (EWS)', { resources: [EQUIPMENT_MAILBOX] });
    const [request] = await requestsFor(EQUIPMENT_MAILBOX, 'Decline me (EWS)');
    const declined = await respond(EQUIPMENT_MAILBOX, 'DeclineItem', request!.id, 'SendAndSaveCopy', '<t:Body BodyType="Text">Outside the allowed domains.</t:Body>');
    expect(messages(declined)[0]!.code).toBe('NoError');
    const [response] = await requestsFor(ORGANIZER, 'Declined: Decline me (EWS)', 'MeetingResponse');
    expect(text((await getItem(ORGANIZER, response!.id)).root, T, 'Body')).toBe('Outside the allowed domains.');
    const meeting = await organize('Maybe (EWS)', { required: [STUDENT] });
    const uid = await uidOf(ORGANIZER, meeting.id);
    const copy = await calendarCopy(STUDENT, uid);
    const tentative = await respond(STUDENT, 'TentativelyAcceptItem', copy.id.replace(/-/g, '/').replace(/_/g, '+'));
    expect(messages(tentative)[0]!.code).toBe('NoError');
    expect((await calendarCopy(STUDENT, uid)).responseStatus.response).toBe('tentativelyAccepted');
    expect((await calendarCopy(ORGANIZER, uid)).attendees[0].status.response).toBe('tentativelyAccepted');
  });

  it('SaveOnly records the answer without telling the organiser; SendToNone sends nothing', async () => {
    const meeting = await organize('Not sent', { required: [STUDENT] }, 'SendToNone');
    expect(text((await getItem(ORGANIZER, meeting.id)).root, T, 'MeetingRequestWasSent')).toBe('false');
    expect(await requestsFor(STUDENT, 'Not sent')).toEqual([]);
    await organize('Save only', { resources: [EQUIPMENT_MAILBOX] });
    const [request] = await requestsFor(EQUIPMENT_MAILBOX, 'Save only');
    expect(messages(await respond(EQUIPMENT_MAILBOX, 'AcceptItem', request!.id, 'SaveOnly'))[0]!.code).toBe('NoError');
    expect(await requestsFor(ORGANIZER, 'Accepted: Save only', 'MeetingResponse')).toEqual([]);
  });

  it('refusals: no MessageDisposition, the organiser’s own meeting, an out-of-date request, a delegate in someone’s inbox', async () => {
    const meeting = await organize('Refusals', { resources: [EQUIPMENT_MAILBOX] });
    const [request] = await requestsFor(EQUIPMENT_MAILBOX, 'Refusals');
    expect(messages(await respond(EQUIPMENT_MAILBOX, 'AcceptItem', request!.id, ''))[0]!.code).toBe('ErrorMessageDispositionRequired');
    expect(messages(await respond(ORGANIZER, 'AcceptItem', meeting.id))[0]!.code).toBe('ErrorCalendarIsOrganizerForAccept');
    expect(messages(await respond(ORGANIZER, 'DeclineItem', meeting.id))[0]!.code).toBe('ErrorCalendarIsOrganizerForDecline');
    // The organiser changes the body: the None mailbox keeps the first request, now out of date.
    const current = itemIds(await getItem(ORGANIZER, meeting.id, 'IdOnly'))[0]!;
    await as(ORGANIZER, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" SendMeetingInvitationsOrCancellations="SendToAllAndSaveCopy"><m:ItemChanges><t:ItemChange><t:ItemId Id="${current.id}" ChangeKey="${current.changeKey}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Body"/><t:CalendarItem><t:Body BodyType="Text">New agenda</t:Body></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`);
    expect(messages(await respond(EQUIPMENT_MAILBOX, 'AcceptItem', request!.id))[0]!.code).toBe('ErrorCalendarMeetingRequestIsOutOfDate');
    const denied = await post(sandbox.ewsUrl, agent, soap(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>${STUDENT}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:ParentFolderIds></m:FindItem>`), delegate);
    expect(messages(denied)[0]!.code).toBe('ErrorAccessDenied');
    const calendarView = await as(STUDENT, `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:CalendarView StartDate="2026-10-01T00:00:00Z" EndDate="2026-11-01T00:00:00Z"/><m:ParentFolderIds>${INBOX}</m:ParentFolderIds></m:FindItem>`);
    expect(messages(calendarView)[0]!.code).toBe('ErrorCalendarFolderIsInvalidForCalendarView');
  });

  it('FindItem restricted to meeting requests by ItemClass; GetFolder of the inbox', async () => {
    const restricted = await inbox(EQUIPMENT_MAILBOX, '<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="item:ItemClass"/><t:FieldURIOrConstant><t:Constant Value="IPM.Schedule.Meeting.Request"/></t:FieldURIOrConstant></t:IsEqualTo></m:Restriction>');
    const classes = all(restricted.root, T, 'ItemClass').map((e) => e.textContent);
    expect(classes.length).toBeGreaterThan(0);
    expect(new Set(classes)).toEqual(new Set(['IPM.Schedule.Meeting.Request']));
    const folder = await as(EQUIPMENT_MAILBOX, `<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds>${INBOX}</m:FolderIds></m:GetFolder>`);
    expect(text(folder.root, T, 'DisplayName')).toBe('Inbox');
    expect(Number(text(folder.root, T, 'TotalCount'))).toBe(sandbox.listMessages(EQUIPMENT_MAILBOX).length);
  });
});

describe('updates and cancellations', () => {
  it('UpdateItem SendToAllAndSaveCopy moves every copy (FullUpdate); SendToNone tells nobody', async () => {
    const meeting = await organize('Move me (EWS)', { required: [STUDENT] });
    const uid = await uidOf(ORGANIZER, meeting.id);
    const update = (send: string, start: string, changeKey: string) =>
      as(ORGANIZER, `<m:UpdateItem ConflictResolution="AlwaysOverwrite" SendMeetingInvitationsOrCancellations="${send}"><m:ItemChanges><t:ItemChange><t:ItemId Id="${meeting.id}" ChangeKey="${changeKey}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="calendar:Start"/><t:CalendarItem><t:Start>${start}</t:Start></t:CalendarItem></t:SetItemField><t:SetItemField><t:FieldURI FieldURI="calendar:End"/><t:CalendarItem><t:End>${start.replace('T09', 'T10')}</t:End></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`);
    let changeKey = itemIds(await getItem(ORGANIZER, meeting.id, 'IdOnly'))[0]!.changeKey;
    const sent = await update('SendToAllAndSaveCopy', '2026-10-20T09:00:00Z', changeKey);
    expect(messages(sent)[0]!.code).toBe('NoError');
    expect((await calendarCopy(STUDENT, uid)).start.dateTime).toBe('2026-10-20T09:00:00.0000000');
    const [updateRequest] = await requestsFor(STUDENT, 'Move me (EWS)');
    const view = await getItem(STUDENT, updateRequest!.id);
    expect(text(view.root, T, 'MeetingRequestType')).toBe('FullUpdate');
    expect(text(view.root, T, 'AppointmentSequenceNumber')).toBe('1');
    changeKey = itemIds(sent)[0]!.changeKey;
    expect(messages(await update('SendToNone', '2026-10-21T09:00:00Z', changeKey))[0]!.code).toBe('NoError');
    expect((await calendarCopy(STUDENT, uid)).start.dateTime).toBe('2026-10-20T09:00:00.0000000');
  });

  it('DeleteItem with SendToAllAndSaveCopy cancels for everyone; RemoveItem takes the cancelled meeting off the calendar', async () => {
    const meeting = await organize('Cancel me (EWS)', { required: [STUDENT], resources: [EQUIPMENT_MAILBOX] });
    const uid = await uidOf(ORGANIZER, meeting.id);
    const [request] = await requestsFor(EQUIPMENT_MAILBOX, 'Cancel me (EWS)');
    await respond(EQUIPMENT_MAILBOX, 'AcceptItem', request!.id);
    const deleted = await as(ORGANIZER, `<m:DeleteItem DeleteType="MoveToDeletedItems" SendMeetingCancellations="SendToAllAndSaveCopy"><m:ItemIds><t:ItemId Id="${meeting.id}"/></m:ItemIds></m:DeleteItem>`);
    expect(messages(deleted)[0]!.code).toBe('NoError');
    // The user's Calendar Attendant marks its copy cancelled; the None mailbox's copy waits for someone to act.
    const studentCopy = await getItem(STUDENT, (await calendarCopy(STUDENT, uid)).id.replace(/-/g, '/').replace(/_/g, '+'));
    expect(text(studentCopy.root, T, 'IsCancelled')).toBe('true');
    expect(text(studentCopy.root, T, 'AppointmentState')).toBe('7');
    expect((await calendarCopy(EQUIPMENT_MAILBOX, uid)).isCancelled).toBe(false);
    const [cancellation] = await requestsFor(EQUIPMENT_MAILBOX, 'Canceled: Cancel me (EWS)', 'MeetingCancellation');
    expect(text((await getItem(EQUIPMENT_MAILBOX, cancellation!.id)).root, T, 'ItemClass')).toBe('IPM.Schedule.Meeting.Canceled');
    expect(messages(await respond(EQUIPMENT_MAILBOX, 'RemoveItem', cancellation!.id))[0]!.code).toBe('NoError');
    expect(await calendarCopy(EQUIPMENT_MAILBOX, uid)).toBeUndefined();
    expect(await requestsFor(EQUIPMENT_MAILBOX, 'Canceled: Cancel me (EWS)', 'MeetingCancellation')).toEqual([]);
  });

  it('CancelCalendarItem: only the organiser, with a body for the attendees', async () => {
    const meeting = await organize('Cancelled with a note', { required: [STUDENT] });
    const uid = await uidOf(ORGANIZER, meeting.id);
    const copy = await calendarCopy(STUDENT, uid);
    expect(messages(await respond(STUDENT, 'CancelCalendarItem', copy.id.replace(/-/g, '/').replace(/_/g, '+')))[0]!.code).toBe('ErrorCalendarIsNotOrganizer');
    expect(messages(await respond(ORGANIZER, 'CancelCalendarItem', meeting.id, 'SendAndSaveCopy', '<t:Body BodyType="Text">Moved online.</t:Body>'))[0]!.code).toBe('NoError');
    const [cancellation] = await requestsFor(STUDENT, 'Canceled: Cancelled with a note', 'MeetingCancellation');
    expect(text((await getItem(STUDENT, cancellation!.id)).root, T, 'Body')).toBe('Moved online.');
    expect(messages(await getItem(ORGANIZER, meeting.id))[0]!.code).toBe('ErrorItemNotFound');
  });

  it('a room books itself through EWS requests too, and DeleteItem of an inbox message works', async () => {
    const meeting = await organize('Library booking', { resources: [ROOM] }, 'SendToAllAndSaveCopy', '2026-10-22T09:00:00Z');
    const uid = await uidOf(ORGANIZER, meeting.id);
    const roomCopy = await calendarCopy(ROOM, uid);
    expect(roomCopy.responseStatus.response).toBe('accepted');
    const view = await getItem(ROOM, roomCopy.id.replace(/-/g, '/').replace(/_/g, '+'));
    expect(text(view.root, T, 'MyResponseType')).toBe('Accept');
    const [response] = await requestsFor(ORGANIZER, 'Accepted: Library booking', 'MeetingResponse');
    const deleted = await as(ORGANIZER, `<m:DeleteItem DeleteType="HardDelete"><m:ItemIds><t:ItemId Id="${response!.id}"/></m:ItemIds></m:DeleteItem>`);
    expect(messages(deleted)[0]!.code).toBe('NoError');
    expect(await requestsFor(ORGANIZER, 'Accepted: Library booking', 'MeetingResponse')).toEqual([]);
  });
});

describe('Graph and EWS agree', () => {
  it('on one mailbox’s meeting copies and inbox', async () => {
    await organize('Agreement', { required: [STUDENT] });
    const ewsInbox = await inbox(STUDENT);
    const ewsSubjects = all(ewsInbox.root, T, 'Subject').map((e) => e.textContent).sort();
    const graphInbox = await graph.get(`${users(STUDENT)}/messages?$top=1000&$select=subject`);
    expect(graphInbox.json.value.map((m: any) => m.subject).sort()).toEqual(ewsSubjects);
    const graphEvents = (await graph.get(`${users(STUDENT)}/events?$top=1000`)).json.value.filter((e: any) => !e.isOrganizer);
    expect(graphEvents.length).toBeGreaterThan(0);
    for (const event of graphEvents) {
      const view = await getItem(STUDENT, event.id.replace(/-/g, '/').replace(/_/g, '+'));
      const my = { notResponded: 'NoResponseReceived', accepted: 'Accept', tentativelyAccepted: 'Tentative', declined: 'Decline', none: 'Unknown' } as Record<string, string>;
      expect(text(view.root, T, 'MyResponseType')).toBe(my[event.responseStatus.response]);
      expect(text(view.root, T, 'IsCancelled')).toBe(String(event.isCancelled));
      expect(text(first(view.root, T, 'Organizer'), T, 'EmailAddress')).toBe(event.organizer.emailAddress.address);
      expect(text(view.root, T, 'UID')).toBe(event.iCalUId);
      expect(text(view.root, T, 'Subject')).toBe(event.subject);
    }
  });
});

describe('a recurring meeting', () => {
  it('its MeetingRequest is RecurringMaster, and GetItem reads its Recurrence (AllProperties, or IdOnly with calendar:Recurrence)', async () => {
    const created = await graph.post(`${users(ORGANIZER)}/events`, {
      subject: 'Recurring review',
      start: { dateTime: '2026-09-14T15:00:00', timeZone: 'UTC' },
      end: { dateTime: '2026-09-14T15:30:00', timeZone: 'UTC' },
      attendees: [{ emailAddress: { address: STUDENT }, type: 'required' }],
      recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'] }, range: { type: 'numbered', startDate: '2026-09-14', numberOfOccurrences: 6 } },
    });
    expect(created.status).toBe(201);
    const [request] = await requestsFor(STUDENT, 'Recurring review');
    // SyncFolderItems and FindItem do not return Recurrence.
    expect(first((await inbox(STUDENT)).root, T, 'Recurrence') ?? null).toBeNull();
    const full = await getItem(STUDENT, request!.id);
    expect(text(full.root, T, 'IsRecurring')).toBe('true');
    expect(text(full.root, T, 'CalendarItemType')).toBe('RecurringMaster');
    const picked = await as(STUDENT, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="calendar:Recurrence"/></t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="${request!.id}"/></m:ItemIds></m:GetItem>`);
    for (const answer of [full, picked]) {
      const recurrence = first(answer.root, T, 'Recurrence')!;
      expect(text(first(recurrence, T, 'WeeklyRecurrence')!, T, 'DaysOfWeek')).toBe('Monday');
      expect(text(first(recurrence, T, 'NumberedRecurrence')!, T, 'NumberOfOccurrences')).toBe('6');
    }
  });
});

describe("a recurring meeting's exceptions", () => {
  it('GetItem of its request gives the moved occurrences (ModifiedOccurrences) and the cancelled ones (DeletedOccurrences), as Graph\'s /instances has them', async () => {
    const created = await graph.post(`${users(ORGANIZER)}/events`, {
      subject: 'Changed review',
      start: { dateTime: '2026-09-14T16:00:00', timeZone: 'UTC' },
      end: { dateTime: '2026-09-14T16:30:00', timeZone: 'UTC' },
      attendees: [{ emailAddress: { address: STUDENT }, type: 'required' }],
      recurrence: { pattern: { type: 'weekly', interval: 1, daysOfWeek: ['monday'] }, range: { type: 'numbered', startDate: '2026-09-14', numberOfOccurrences: 4 } },
    });
    expect(created.status).toBe(201);
    const occurrence = (date: string) => `${users(ORGANIZER)}/events/${encodeURIComponent(`${created.json.id}_OCC${date.replace(/-/g, '')}`)}`;
    expect((await graph.patch(occurrence('2026-09-21'), { start: { dateTime: '2026-09-22T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-22T09:30:00', timeZone: 'UTC' } })).status).toBe(200);
    expect((await graph.post(`${occurrence('2026-09-28')}/cancel`, { comment: 'No review' })).status).toBe(202);
    const [request] = await requestsFor(STUDENT, 'Changed review');
    const fields = ['calendar:Recurrence', 'calendar:ModifiedOccurrences', 'calendar:DeletedOccurrences', 'calendar:StartTimeZoneId'].map((f) => `<t:FieldURI FieldURI="${f}"/>`).join('');
    const picked = await as(STUDENT, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>${fields}</t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="${request!.id}"/></m:ItemIds></m:GetItem>`);
    const full = await getItem(STUDENT, request!.id);
    for (const answer of [picked, full]) {
      const moved = all(first(answer.root, T, 'ModifiedOccurrences')!, T, 'Occurrence');
      expect(moved.map((o) => [text(o, T, 'OriginalStart'), text(o, T, 'Start'), text(o, T, 'End')])).toEqual([['2026-09-21T16:00:00Z', '2026-09-22T09:00:00Z', '2026-09-22T09:30:00Z']]);
      expect(first(moved[0]!, T, 'ItemId')!.getAttribute('Id')).toBeTruthy();
      expect(all(first(answer.root, T, 'DeletedOccurrences')!, T, 'DeletedOccurrence').map((o) => text(o, T, 'Start'))).toEqual(['2026-09-28T16:00:00Z']);
    }
    // Graph's view of the same mailbox: the moved occurrence at its own time, the cancelled one cancelled.
    const copy = (await graph.get(`${users(STUDENT)}/calendarView?startDateTime=2026-09-01T00:00:00Z&endDateTime=2026-10-31T00:00:00Z&$top=500`)).json.value.find((e: { subject: string }) => e.subject === 'Changed review');
    const instances = (await graph.get(`${users(STUDENT)}/events/${encodeURIComponent(copy.seriesMasterId)}/instances?startDateTime=2026-09-01T00:00:00Z&endDateTime=2026-10-31T00:00:00Z`)).json.value;
    expect(instances.map((e: any) => [e.type, e.start.dateTime.slice(0, 16), e.isCancelled])).toEqual([
      ['occurrence', '2026-09-14T16:00', false],
      ['exception', '2026-09-22T09:00', false],
      ['occurrence', '2026-09-28T16:00', true],
      ['occurrence', '2026-10-05T16:00', false],
    ]);
  });

  it('a series without exceptions gives neither element (both are non-empty arrays in types.xsd)', async () => {
    const [request] = await requestsFor(STUDENT, 'Recurring review');
    const picked = await as(STUDENT, `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="calendar:ModifiedOccurrences"/><t:FieldURI FieldURI="calendar:DeletedOccurrences"/></t:AdditionalProperties></m:ItemShape><m:ItemIds><t:ItemId Id="${request!.id}"/></m:ItemIds></m:GetItem>`);
    expect(messages(picked)[0]?.code).toBe('NoError');
    expect(first(picked.root, T, 'ModifiedOccurrences') ?? null).toBeNull();
    expect(first(picked.root, T, 'DeletedOccurrences') ?? null).toBeNull();
  });
});

describe('schema', () => {
  it('every request sent and every success answer is valid against messages.xsd / types.xsd', () => {
    expect(xmllintFailures(sentRequests)).toEqual([]);
    expect(xmllintFailures(receivedResponses)).toEqual([]);
  });
});
