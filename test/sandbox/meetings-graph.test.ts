// The sandbox learns meetings (issue #15), seen through Graph: an organiser's event with attendees delivers requests
// to attendee mailboxes, resources answer by their calendar processing, responses come back to the organiser's
// tracking, updates and cancellations flow, and an app with access to the organiser's mailbox can update the meeting
// (Pexip's full mode). Driven with plain HTTP, as the other sandbox tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, EQUIPMENT_MAILBOX, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { demoToken, GraphClient, users } from './helpers.ts';

const clock = fixedClock('2026-09-01T08:00:00Z');
const ORGANIZER = 't0001@contoso.edu';
const OTHER_ORGANIZER = 't0002@contoso.edu';
const STUDENT = 's0010@contoso.edu';
const ROOM = 'room-main-101@contoso.edu';
let sandbox: SandboxInternals;
let agent: GraphClient;
let demo: GraphClient;

beforeAll(async () => {
  sandbox = await startSandbox({ clock });
  agent = new GraphClient(sandbox, await demoToken(sandbox, AGENT_CLIENT_ID, AGENT_CLIENT_SECRET));
  demo = await GraphClient.demo(sandbox);
});
afterAll(async () => {
  await sandbox?.close();
});

let slot = 0;
/** A meeting on its own weekday hour in October 2026, so meetings of different tests never clash by accident. */
function meeting(subject: string, attendees: Array<[string, 'required' | 'optional' | 'resource']>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  slot++;
  const day = String(1 + (slot % 27)).padStart(2, '0');
  const hour = String(7 + Math.floor(slot / 27)).padStart(2, '0');
  return {
    subject,
    body: { contentType: 'text', content: `${subject}: agenda` },
    start: { dateTime: `2026-10-${day}T${hour}:00:00`, timeZone: 'W. Europe Standard Time' },
    end: { dateTime: `2026-10-${day}T${hour}:45:00`, timeZone: 'W. Europe Standard Time' },
    location: { displayName: 'Main Building 101' },
    attendees: attendees.map(([address, type]) => ({ emailAddress: { address, name: address.split('@')[0] }, type })),
    ...extra,
  };
}

async function copyOf(mailbox: string, iCalUId: string): Promise<any> {
  const list = await agent.get(`${users(mailbox)}/events?$top=1000`);
  expect(list.status).toBe(200);
  return list.json.value.find((e: any) => e.iCalUId === iCalUId);
}

async function inbox(mailbox: string, query = ''): Promise<any[]> {
  const list = await agent.get(`${users(mailbox)}/mailFolders/inbox/messages?$top=1000${query}`);
  expect(list.status).toBe(200);
  return list.json.value;
}

async function organize(body: Record<string, unknown>, organizer = ORGANIZER): Promise<any> {
  const created = await agent.post(`${users(organizer)}/events`, body);
  expect(created.status).toBe(201);
  return created.json;
}

describe('requests reach the attendees', () => {
  it('a user attendee gets a tentative copy (its Calendar Attendant) and a meetingRequest in its inbox', async () => {
    const event = await organize(meeting('Project kickoff', [[STUDENT, 'required']]));
    expect(event.isOrganizer).toBe(true);
    expect(event.responseStatus.response).toBe('organizer');
    expect(event.attendees[0].status.response).toBe('none');
    const copy = await copyOf(STUDENT, event.iCalUId);
    expect(copy).toMatchObject({ isOrganizer: false, responseRequested: true, showAs: 'tentative', subject: 'Project kickoff', organizer: { emailAddress: { address: ORGANIZER } } });
    expect(copy.responseStatus.response).toBe('notResponded');
    expect(copy.id).not.toBe(event.id);
    const messages = (await inbox(STUDENT, '&$expand=microsoft.graph.eventMessage/event')).filter((m) => m.subject === 'Project kickoff');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ '@odata.type': '#microsoft.graph.eventMessageRequest', meetingMessageType: 'meetingRequest', meetingRequestType: 'newMeetingRequest', responseRequested: true, from: { emailAddress: { address: ORGANIZER } } });
    expect(messages[0].event.id).toBe(copy.id);
  });

  it('a room with AutoAccept books itself: accepted, the organiser is told, its copy keeps the organiser’s name only', async () => {
    const event = await organize(meeting('Room booking', [[STUDENT, 'required'], [ROOM, 'resource']]));
    const copy = await copyOf(ROOM, event.iCalUId);
    expect(copy.responseStatus.response).toBe('accepted');
    expect(copy.showAs).toBe('busy');
    // AddOrganizerToSubject / DeleteComments (both default $true with AutoAccept).
    expect(copy.subject).toBe(sandbox.listMailboxes().find((m) => m.address === ORGANIZER)!.displayName);
    expect(copy.bodyPreview).toBe('');
    expect((await inbox(ROOM)).filter((m) => m.subject === 'Room booking')).toEqual([]);
    const responses = (await inbox(ORGANIZER)).filter((m) => m.subject === 'Accepted: Room booking');
    expect(responses).toHaveLength(1);
    expect(responses[0]).toMatchObject({ '@odata.type': '#microsoft.graph.eventMessageResponse', meetingMessageType: 'meetingAccepted', responseType: 'accepted' });
    const tracked = await agent.get(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`);
    expect(tracked.json.attendees.find((a: any) => a.emailAddress.address === ROOM).status.response).toBe('accepted');
    expect(tracked.json.attendees.find((a: any) => a.emailAddress.address === STUDENT).status.response).toBe('none');
  });

  it('the equipment mailbox with AutomateProcessing None only gets the request: no calendar item until it answers', async () => {
    expect(sandbox.meetings.processing(EQUIPMENT_MAILBOX)).toMatchObject({ automateProcessing: 'None', allowConflicts: true, bookingWindowInDays: 1080, maximumDurationInMinutes: 0 });
    const event = await organize(meeting('VMR meeting', [[STUDENT, 'required'], [EQUIPMENT_MAILBOX, 'resource']]));
    expect(await copyOf(EQUIPMENT_MAILBOX, event.iCalUId)).toBeUndefined();
    const requests = (await inbox(EQUIPMENT_MAILBOX, '&$expand=microsoft.graph.eventMessage/event')).filter((m) => m.subject === 'VMR meeting');
    expect(requests).toHaveLength(1);
    expect(requests[0].event).toBeNull();
    const tracked = await agent.get(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`);
    expect(tracked.json.attendees.find((a: any) => a.emailAddress.address === EQUIPMENT_MAILBOX).status.response).toBe('none');
  });

  it('with the tentativeWhenProcessingNone behaviour, the None mailbox gets a tentative copy it can answer through Graph', async () => {
    sandbox.meetings.setBehaviour({ tentativeWhenProcessingNone: true });
    try {
      const event = await organize(meeting('VMR meeting, placed', [[EQUIPMENT_MAILBOX, 'resource']]));
      const copy = await copyOf(EQUIPMENT_MAILBOX, event.iCalUId);
      expect(copy.responseStatus.response).toBe('notResponded');
      const accepted = await agent.post(`${users(EQUIPMENT_MAILBOX)}/events/${encodeURIComponent(copy.id)}/accept`, { comment: 'VMR 4711', sendResponse: true });
      expect(accepted.status).toBe(202);
      expect((await copyOf(EQUIPMENT_MAILBOX, event.iCalUId)).responseStatus.response).toBe('accepted');
    } finally {
      sandbox.meetings.setBehaviour({ tentativeWhenProcessingNone: false });
    }
  });

  it('attendees outside the tenant get nothing, and the organiser keeps them', async () => {
    const event = await organize(meeting('With a guest', [['guest@example.org', 'required']]));
    expect(event.attendees).toHaveLength(1);
    expect(sandbox.listMessages(ORGANIZER).filter((m) => m.subject.endsWith('With a guest'))).toEqual([]);
  });
});

describe('responses', () => {
  it('accept, tentativelyAccept and decline: 202, the copy and the organiser’s tracking follow, the request leaves the inbox', async () => {
    const attendees: Array<[string, 'required']> = [['s0011@contoso.edu', 'required'], ['s0012@contoso.edu', 'required'], ['s0013@contoso.edu', 'required']];
    const event = await organize(meeting('Answer me', attendees));
    const answers = [['accept', 'accepted'], ['tentativelyAccept', 'tentativelyAccepted'], ['decline', 'declined']] as const;
    for (const [i, [action]] of answers.entries()) {
      const copy = await copyOf(attendees[i]![0], event.iCalUId);
      const answered = await agent.post(`${users(attendees[i]![0])}/events/${encodeURIComponent(copy.id)}/${action}`, { comment: `${action} from ${i}`, sendResponse: true });
      expect(answered.status).toBe(202);
      expect(answered.json).toBeUndefined();
    }
    expect((await copyOf('s0011@contoso.edu', event.iCalUId)).showAs).toBe('busy');
    expect((await copyOf('s0012@contoso.edu', event.iCalUId)).showAs).toBe('tentative');
    expect(await copyOf('s0013@contoso.edu', event.iCalUId)).toBeUndefined();
    for (const [address] of attendees) expect((await inbox(address)).filter((m) => m.subject === 'Answer me')).toEqual([]);
    const tracked = await agent.get(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`);
    expect(tracked.json.attendees.map((a: any) => a.status.response)).toEqual(['accepted', 'tentativelyAccepted', 'declined']);
    const responses = (await inbox(ORGANIZER)).filter((m) => m.subject.endsWith(': Answer me'));
    expect(responses.map((m) => m.meetingMessageType).sort()).toEqual(['meetingAccepted', 'meetingDeclined', 'meetingTenativelyAccepted']);
    expect(responses.find((m) => m.responseType === 'declined').body.content).toBe('decline from 2');
  });

  it('sendResponse false: the copy changes, the organiser hears nothing', async () => {
    const event = await organize(meeting('Quiet', [['s0014@contoso.edu', 'required']]));
    const copy = await copyOf('s0014@contoso.edu', event.iCalUId);
    expect((await agent.post(`${users('s0014@contoso.edu')}/events/${encodeURIComponent(copy.id)}/accept`, { sendResponse: false })).status).toBe(202);
    expect((await copyOf('s0014@contoso.edu', event.iCalUId)).responseStatus.response).toBe('accepted');
    expect((await agent.get(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`)).json.attendees[0].status.response).toBe('none');
    expect((await inbox(ORGANIZER)).filter((m) => m.subject.endsWith(': Quiet'))).toEqual([]);
  });

  it('the organiser cannot answer its own meeting; an attendee cannot cancel; bad parameters are refused', async () => {
    const event = await organize(meeting('Mine', [['s0015@contoso.edu', 'required']]));
    const own = await agent.post(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}/accept`, {});
    expect(own.status).toBe(400);
    const copy = await copyOf('s0015@contoso.edu', event.iCalUId);
    const cancel = await agent.post(`${users('s0015@contoso.edu')}/events/${encodeURIComponent(copy.id)}/cancel`, { comment: 'no' });
    expect(cancel.status).toBe(400);
    expect(cancel.json.error.message).toBe("Your request can't be completed. You need to be an organizer to cancel a meeting.");
    expect((await agent.post(`${users('s0015@contoso.edu')}/events/${encodeURIComponent(copy.id)}/accept`, { sendresponse: 'yes' })).status).toBe(400);
    expect((await agent.post(`${users('s0015@contoso.edu')}/events/${encodeURIComponent(copy.id)}/accept`, { bogus: 1 })).status).toBe(400);
    expect((await agent.post(`${users('s0015@contoso.edu')}/events/AAMkAnotThere/accept`, {})).status).toBe(404);
    expect((await agent.get(`${users('s0015@contoso.edu')}/events/${encodeURIComponent(copy.id)}/accept`)).status).toBe(405);
    // A proposal needs sendResponse (event-decline: "returns HTTP 400 if … sendResponse parameter is set to false").
    const proposal = { start: { dateTime: '2026-10-20T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-20T11:00:00', timeZone: 'UTC' } };
    expect((await agent.post(`${users('s0015@contoso.edu')}/events/${encodeURIComponent(copy.id)}/decline`, { proposedNewTime: proposal, sendResponse: false })).status).toBe(400);
  });

  it('answers need Calendars.ReadWrite; inbox messages need Mail.Read', async () => {
    const event = await organize(meeting('Permissions', [['s0016@contoso.edu', 'required']]));
    const copy = await copyOf('s0016@contoso.edu', event.iCalUId);
    expect((await demo.get(`${users('s0016@contoso.edu')}/messages`)).status).toBe(403);
    expect((await demo.post(`${users('s0016@contoso.edu')}/events/${encodeURIComponent(copy.id)}/accept`, {})).status).toBe(202);
  });
});

describe('updates and cancellations flow to the attendees', () => {
  it('moving the meeting updates every copy, asks for a new response and says where it was', async () => {
    const event = await organize(meeting('Moving', [['s0017@contoso.edu', 'required'], [ROOM, 'resource']]));
    const copy = await copyOf('s0017@contoso.edu', event.iCalUId);
    await agent.post(`${users('s0017@contoso.edu')}/events/${encodeURIComponent(copy.id)}/accept`, {});
    const moved = await agent.patch(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`, { start: { dateTime: '2026-11-02T14:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-11-02T15:00:00', timeZone: 'UTC' } });
    expect(moved.status).toBe(200);
    expect(moved.json.attendees.find((a: any) => a.emailAddress.address === 's0017@contoso.edu').status.response).toBe('accepted');
    const after = await copyOf('s0017@contoso.edu', event.iCalUId);
    expect(after.start.dateTime).toBe('2026-11-02T14:00:00.0000000');
    expect(after.responseStatus.response).toBe('notResponded');
    const updates = (await inbox('s0017@contoso.edu')).filter((m) => m.subject === 'Moving');
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ meetingRequestType: 'fullUpdate', previousStartDateTime: { timeZone: 'UTC' } });
    expect(updates[0].previousStartDateTime.dateTime).toBe(event.start.dateTime);
    // The room re-books the new time.
    expect((await copyOf(ROOM, event.iCalUId)).start.dateTime).toBe('2026-11-02T14:00:00.0000000');
    expect((await copyOf(ROOM, event.iCalUId)).responseStatus.response).toBe('accepted');
  });

  it('an attendee’s edit stays in its own copy: the organiser’s meeting and inbox do not change', async () => {
    const event = await organize(meeting('Mine to change', [['s0018@contoso.edu', 'required']]));
    const copy = await copyOf('s0018@contoso.edu', event.iCalUId);
    const edited = await agent.patch(`${users('s0018@contoso.edu')}/events/${encodeURIComponent(copy.id)}`, { subject: 'My own title', categories: ['Blue'] });
    expect(edited.status).toBe(200);
    expect((await agent.get(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`)).json.subject).toBe('Mine to change');
    expect(sandbox.listMessages(ORGANIZER).filter((m) => m.iCalUId === event.iCalUId)).toEqual([]);
  });

  it('adding and removing attendees: only they hear of it when only attendees change', async () => {
    const event = await organize(meeting('Who comes', [['s0019@contoso.edu', 'required'], ['s0020@contoso.edu', 'required']]));
    const changed = await agent.patch(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`, { attendees: [{ emailAddress: { address: 's0019@contoso.edu' }, type: 'required' }, { emailAddress: { address: 's0021@contoso.edu' }, type: 'optional' }] });
    expect(changed.status).toBe(200);
    expect(sandbox.listMessages('s0019@contoso.edu').filter((m) => m.iCalUId === event.iCalUId).map((m) => m.requestType)).toEqual(['newMeetingRequest']);
    // The removed attendee's Calendar Attendant replaces the outdated request with the cancellation (RemoveOldMeetingMessages).
    expect(sandbox.listMessages('s0020@contoso.edu').filter((m) => m.iCalUId === event.iCalUId).map((m) => m.type)).toEqual(['meetingCancelled']);
    expect((await copyOf('s0020@contoso.edu', event.iCalUId)).isCancelled).toBe(true);
    expect((await copyOf('s0021@contoso.edu', event.iCalUId)).responseStatus.response).toBe('notResponded');
  });

  it('cancel: each copy is marked cancelled, a cancellation with the comment arrives, the organiser’s event is gone', async () => {
    const event = await organize(meeting('Called off', [['s0022@contoso.edu', 'required'], [ROOM, 'resource']]));
    const cancelled = await agent.post(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}/cancel`, { Comment: 'Sorry, ill.' });
    expect(cancelled.status).toBe(202);
    expect((await agent.get(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`)).status).toBe(404);
    const copy = await copyOf('s0022@contoso.edu', event.iCalUId);
    expect(copy).toMatchObject({ isCancelled: true, subject: 'Canceled: Called off' });
    const messages = (await inbox('s0022@contoso.edu')).filter((m) => m.subject === 'Canceled: Called off');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ '@odata.type': '#microsoft.graph.eventMessage', meetingMessageType: 'meetingCancelled', body: { content: 'Sorry, ill.' } });
    expect((await copyOf(ROOM, event.iCalUId)).isCancelled).toBe(true);
    // A cancelled meeting cannot be accepted any more.
    expect((await agent.post(`${users('s0022@contoso.edu')}/events/${encodeURIComponent(copy.id)}/accept`, {})).status).toBe(400);
  });

  it('deleting the organiser’s meeting sends the cancellations too', async () => {
    const event = await organize(meeting('Deleted', [['s0023@contoso.edu', 'required']]));
    expect((await agent.delete(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`)).status).toBe(204);
    expect((await copyOf('s0023@contoso.edu', event.iCalUId)).isCancelled).toBe(true);
  });

  it('full mode (Pexip): an app with access to the organiser’s mailbox adds joining instructions; attendees get them as an update', async () => {
    const event = await organize(meeting('Video call', [['s0024@contoso.edu', 'required'], [EQUIPMENT_MAILBOX, 'resource']]));
    const body = { contentType: 'html', content: '<p>Video call: agenda</p><p>Join: <a href="https://vmr.contoso.edu/4711">VMR 4711</a>, dial 4711</p>' };
    const updated = await agent.patch(`${users(ORGANIZER)}/events/${encodeURIComponent(event.id)}`, { body });
    expect(updated.status).toBe(200);
    const copy = await copyOf('s0024@contoso.edu', event.iCalUId);
    expect(copy.body.content).toContain('VMR 4711');
    expect(copy.responseStatus.response).toBe('notResponded');
    const updates = (await inbox('s0024@contoso.edu')).filter((m) => m.subject === 'Video call');
    expect(updates.map((m) => m.meetingRequestType)).toEqual(['informationalUpdate']);
    // The equipment mailbox (None) keeps both requests; the first is out of date.
    const vmr = (await inbox(EQUIPMENT_MAILBOX)).filter((m) => m.subject === 'Video call');
    expect(vmr.map((m) => [m.meetingRequestType, m.isOutOfDate])).toEqual([['informationalUpdate', false], ['newMeetingRequest', true]]);
  });
});

describe('rooms decide by their calendar processing', () => {
  const room = 'room-sci-102@contoso.edu';

  it('a clashing booking is declined with the reason; AllowConflicts lets it in', async () => {
    const first = await organize(meeting('First booking', [[room, 'resource']], { start: { dateTime: '2026-10-12T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-12T10:00:00', timeZone: 'UTC' } }));
    const second = await organize(meeting('Clashing booking', [[room, 'resource']], { start: { dateTime: '2026-10-12T09:30:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-12T10:30:00', timeZone: 'UTC' } }), OTHER_ORGANIZER);
    expect((await copyOf(room, first.iCalUId)).responseStatus.response).toBe('accepted');
    expect(await copyOf(room, second.iCalUId)).toBeUndefined();
    const declined = (await inbox(OTHER_ORGANIZER)).find((m) => m.subject === 'Declined: Clashing booking');
    expect(declined).toMatchObject({ meetingMessageType: 'meetingDeclined', responseType: 'declined' });
    expect(declined.body.content).toMatch(/already booked/);
    expect((await agent.get(`${users(OTHER_ORGANIZER)}/events/${encodeURIComponent(second.id)}`)).json.attendees[0].status.response).toBe('declined');
    sandbox.meetings.setProcessing(room, { allowConflicts: true });
    try {
      const third = await organize(meeting('Allowed clash', [[room, 'resource']], { start: { dateTime: '2026-10-12T09:15:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-12T09:45:00', timeZone: 'UTC' } }), OTHER_ORGANIZER);
      expect((await copyOf(room, third.iCalUId)).responseStatus.response).toBe('accepted');
    } finally {
      sandbox.meetings.setProcessing(room, { allowConflicts: false });
    }
  });

  it('BookingWindowInDays and MaximumDurationInMinutes decline; the settings are checked as Set-CalendarProcessing checks them', async () => {
    const far = await organize(meeting('Too far', [[room, 'resource']], { start: { dateTime: '2027-06-01T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2027-06-01T10:00:00', timeZone: 'UTC' } }));
    expect(await copyOf(room, far.iCalUId)).toBeUndefined();
    expect(sandbox.listMessages(ORGANIZER).find((m) => m.subject === 'Declined: Too far')?.body).toMatch(/180 days/);
    sandbox.meetings.setProcessing(room, { maximumDurationInMinutes: 30 });
    const long = await organize(meeting('Too long', [[room, 'resource']], { start: { dateTime: '2026-10-13T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-13T10:00:00', timeZone: 'UTC' } }));
    expect(await copyOf(room, long.iCalUId)).toBeUndefined();
    sandbox.meetings.setProcessing(room, { maximumDurationInMinutes: 1440 });
    expect(() => sandbox.meetings.setProcessing(room, { bookingWindowInDays: 1081 })).toThrow(/0 through 1080/);
    expect(() => sandbox.meetings.setProcessing(STUDENT, { automateProcessing: 'AutoAccept' })).toThrow(/user mailbox/);
  });

  it('an event written straight into a room’s calendar is not a request: nobody answers it', async () => {
    const direct = await agent.post(`${users(room)}/events`, { subject: 'Direct', start: { dateTime: '2026-10-14T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-14T10:00:00', timeZone: 'UTC' } });
    expect(direct.status).toBe(201);
    expect(direct.json.responseStatus.response).toBe('organizer');
    expect(sandbox.listMessages(room).filter((m) => m.subject === 'Direct')).toEqual([]);
  });
});

describe('the inbox through Graph', () => {
  it('messages page, read one, mark it read and delete it; /messages and /mailFolders/inbox/messages agree', async () => {
    for (let n = 0; n < 3; n++) await organize(meeting(`Paged ${n}`, [['s0025@contoso.edu', 'required']]));
    const first = await agent.get(`${users('s0025@contoso.edu')}/messages?$top=2`);
    expect(first.json.value).toHaveLength(2);
    const second = await agent.get(first.json['@odata.nextLink']);
    expect(second.json.value).toHaveLength(1);
    const viaFolder = await agent.get(`${users('s0025@contoso.edu')}/mailFolders('inbox')/messages?$top=10&$select=subject`);
    expect(viaFolder.json.value.map((m: any) => m.subject)).toEqual(['Paged 2', 'Paged 1', 'Paged 0']);
    const id = viaFolder.json.value[0].id;
    const read = await agent.patch(`${users('s0025@contoso.edu')}/messages/${encodeURIComponent(id)}`, { isRead: true });
    expect(read.status).toBe(200);
    expect(read.json.isRead).toBe(true);
    expect((await agent.patch(`${users('s0025@contoso.edu')}/messages/${encodeURIComponent(id)}`, { subject: 'no' })).status).toBe(400);
    expect((await agent.delete(`${users('s0025@contoso.edu')}/messages/${encodeURIComponent(id)}`)).status).toBe(204);
    expect((await agent.get(`${users('s0025@contoso.edu')}/messages/${encodeURIComponent(id)}`)).status).toBe(404);
    expect((await agent.get(`${users('s0025@contoso.edu')}/messages?$filter=isRead eq false`)).status).toBe(400);
  });
});
