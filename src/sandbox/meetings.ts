// Meetings: what Exchange does when an organiser's event has attendees in the tenant. Requests, updates and
// cancellations travel to each attendee mailbox (a message in its inbox); the attendee's Calendar Attendant places
// and updates its copy of the meeting; a resource's Resource Booking Attendant answers by its policy (booking.ts);
// responses travel back and set the attendee's status on the organiser's copy. Both protocols drive this one engine
// (Graph: graph/service.ts, graph/meeting-actions.ts; EWS: ews/service.ts, ews/meetings.ts), so their views agree.
//
// Sources: https://learn.microsoft.com/graph/api/user-post-events ("the server sends invitations to all the
// attendees"), …/event-update (an attendees-only update goes "to only the attendees that have changed"),
// …/event-delete and …/event-cancel (cancellations), …/event-accept|tentativelyaccept|decline,
// …/resources/eventmessage (the invitee's tentative event; the `event` navigation assumes "the Calendar Attendant
// is set to automatically update the calendar"), https://learn.microsoft.com/powershell/module/exchange/set-calendarprocessing
// (None / AutoUpdate / AutoAccept) and Microsoft KB 2212449 ("Meetings are not processed … with a non-default
// AutomateProcessing parameter value": with None, the meeting "does not appear automatically on your calendar in a
// tentative state").
import { bookingRefusal, checkCalendarProcessing, defaultCalendarProcessing } from './booking.ts';
import { formatInstantUtc, formatWall } from './graph/timezones.ts';
import { changeOccurrence, occurrenceDate } from './graph/occurrences.ts';
import type { EventRecord, EventStore, MeetingResponse, MeetingState, TimePoint } from './graph/store.ts';
import type { MeetingRequestType, MeetingSnapshot, MessageRecord, MessageStore, NewMessage, Person } from './messages.ts';
import type { CalendarProcessing, MailboxSeed, MeetingsBehaviour } from './types.ts';

export type Answer = 'accepted' | 'tentativelyAccepted' | 'declined';

/** How far a change is sent (EWS SendMeetingInvitationsOrCancellations: all, only the added and removed, nobody). */
export type SendScope = 'all' | 'changed' | 'none';

/** Why a response or a cancellation is refused; the protocol adapters turn it into their own error. */
export class MeetingError extends Error {
  readonly reason: 'isOrganizer' | 'isNotOrganizer' | 'notMeeting' | 'cancelled' | 'outOfDate';
  constructor(reason: MeetingError['reason'], message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface Directory {
  mailbox(address: string): MailboxSeed | undefined;
}


/** The state of an organiser's meeting before an update, to tell what changed. */
export interface MeetingBefore {
  start: number;
  end: number;
  location: string;
  attendees: string[];
  startPoint: EventRecord['start'];
  endPoint: EventRecord['end'];
}

export class Meetings {
  readonly behaviour: MeetingsBehaviour;
  private readonly store: EventStore;
  private readonly messages: MessageStore;
  private readonly directory: Directory;
  private readonly now: () => number;
  private readonly settings = new Map<string, Partial<CalendarProcessing>>();

  constructor(options: { store: EventStore; messages: MessageStore; directory: Directory; now: () => number; behaviour?: Partial<MeetingsBehaviour> }) {
    this.store = options.store;
    this.messages = options.messages;
    this.directory = options.directory;
    this.now = options.now;
    this.behaviour = { tentativeWhenProcessingNone: false, ...options.behaviour };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Calendar processing

  processing(address: string): CalendarProcessing {
    const mailbox = this.directory.mailbox(address);
    const kind = mailbox?.kind ?? 'user';
    return { ...defaultCalendarProcessing(kind), ...mailbox?.calendarProcessing, ...this.settings.get(address.toLowerCase()) };
  }

  /** Set-CalendarProcessing at run time. */
  setProcessing(address: string, settings: Partial<CalendarProcessing>): void {
    const mailbox = this.directory.mailbox(address);
    if (!mailbox) throw new Error(`sandbox: no mailbox '${address}' in the tenant`);
    checkCalendarProcessing(mailbox.kind, settings, mailbox.address);
    this.settings.set(mailbox.address.toLowerCase(), { ...this.settings.get(mailbox.address.toLowerCase()), ...settings });
  }

  // -------------------------------------------------------------------------------------------------------------
  // The organiser's side

  /** After the organiser's event is created: a meeting when it has attendees; invitations unless `send` is none. */
  created(record: EventRecord, send: SendScope): void {
    if (attendeeAddresses(record).length === 0) return;
    record.meeting = { organizer: { name: record.organizerName, address: record.mailbox }, isOrganizer: true, response: 'organizer', isCancelled: false, sequence: 0, requestSent: send !== 'none' };
    if (send === 'none') return;
    for (const address of this.recipients(record)) this.deliverRequest(address, record, 'newMeetingRequest');
  }

  /** The organiser's meeting as it was, before an update (attendeesBefore must be read before the update). */
  before(record: EventRecord): MeetingBefore {
    return { start: record.start.instant, end: record.end.instant, location: locationOf(record), attendees: attendeeAddresses(record), startPoint: record.start, endPoint: record.end };
  }

  /**
   * The attendee statuses Graph and EWS keep when the organiser rewrites the attendee list: a PATCH or UpdateItem
   * names the attendees again without their responses, which the organiser's tracking keeps.
   */
  keepStatuses(record: EventRecord, attendees: unknown): unknown {
    if (!Array.isArray(attendees)) return attendees;
    const known = new Map(((record.fields['attendees'] as Array<Record<string, unknown>> | undefined) ?? []).map((a) => [addressOf(a), a['status']]));
    return attendees.map((a: Record<string, unknown>) => {
      const status = known.get(addressOf(a));
      const fresh = a['status'] as { response?: string } | undefined;
      return status !== undefined && (fresh === undefined || fresh.response === 'none') ? { ...a, status } : a;
    });
  }

  /** After the organiser's meeting was updated: updates to attendees, requests to added ones, cancellations to removed ones. */
  updated(record: EventRecord, before: MeetingBefore, send: SendScope): void {
    if (record.meeting && !record.meeting.isOrganizer) return; // an attendee's own edit stays in its copy
    if (!record.meeting) return this.created(record, send);
    if (send === 'none') return;
    const now = new Set(attendeeAddresses(record));
    const removed = before.attendees.filter((a) => !now.has(a));
    const added = [...now].filter((a) => !before.attendees.includes(a));
    const moved = before.start !== record.start.instant || before.end !== record.end.instant || before.location !== locationOf(record);
    this.store.modify(record, (r) => {
      r.meeting!.sequence++;
      r.meeting!.requestSent = true;
    });
    for (const address of removed.filter((a) => this.isRecipient(a, record))) this.deliverCancellation(address, record, undefined);
    for (const address of this.recipients(record)) {
      if (added.includes(address)) this.deliverRequest(address, record, 'newMeetingRequest');
      else if (send === 'all') this.deliverRequest(address, record, moved ? 'fullUpdate' : 'informationalUpdate', moved ? before : undefined);
    }
  }

  /** The organiser cancels (Graph cancel or delete, EWS CancelCalendarItem or DeleteItem with cancellations): before the item goes. */
  cancelled(record: EventRecord, comment: string | undefined, send: SendScope): void {
    if (!record.meeting?.isOrganizer || send === 'none') return;
    for (const address of this.recipients(record)) this.deliverCancellation(address, record, comment);
  }

  /**
   * The organiser moves one occurrence of a series on its own (it becomes an exception) or cancels it (event-cancel
   * on the occurrence's id): kept on the organiser's master (a cancelled one deleted) and on each attendee's copy,
   * where a moved occurrence asks for a response of its own and a cancelled one is marked cancelled
   * (graph/occurrences.ts). The sandbox sends no message for either: attendees see it in their calendar.
   */
  occurrenceChanged(master: EventRecord, date: string, change: { start: TimePoint; end: TimePoint } | 'cancelled'): void {
    this.store.modify(master, (r) => changeOccurrence(r, date, change === 'cancelled' ? { deleted: true } : change));
    if (!master.meeting?.isOrganizer) return;
    for (const address of this.recipients(master)) {
      const copy = this.store.findByICalUId(address, master.iCalUId);
      if (!copy?.meeting || copy.meeting.isOrganizer) continue;
      this.store.modify(copy, (r) => changeOccurrence(r, date, change === 'cancelled' ? { cancelled: true } : { ...change, response: 'notResponded' }));
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // The attendee's side

  /**
   * An attendee answers, through its calendar copy (Graph) or the request message (EWS). Returns nothing; throws
   * MeetingError for the organiser's own meeting, a cancelled one, an outdated request or an item that is no meeting.
   */
  respond(mailbox: string, target: { event: EventRecord } | { message: MessageRecord }, answer: Answer, options: { comment?: string; sendResponse: boolean }): void {
    let copy: EventRecord | undefined;
    let meeting: MeetingSnapshot;
    let subject: string;
    let body: MessageRecord['body'];
    if ('event' in target && target.event.occurrenceOf) return this.respondToOccurrence(mailbox, target.event, answer, options);
    if ('event' in target) {
      copy = target.event;
      if (!copy.meeting) throw new MeetingError('notMeeting', 'The item is not a meeting: there is nobody to respond to.');
      if (copy.meeting.isOrganizer) throw new MeetingError('isOrganizer', "You can't respond to a meeting you organized.");
      if (copy.meeting.isCancelled) throw new MeetingError('cancelled', 'The meeting has been cancelled.');
      meeting = snapshotOf(copy);
      subject = String(copy.fields['subject'] ?? '');
      body = bodyOf(copy);
    } else {
      const message = target.message;
      if (message.type !== 'meetingRequest') throw new MeetingError('notMeeting', 'Only a meeting request can be answered.');
      if (message.isOutOfDate) throw new MeetingError('outOfDate', 'The meeting request is out of date: a later update or cancellation has arrived.');
      copy = this.store.findByICalUId(mailbox, message.meeting.iCalUId);
      if (copy?.meeting?.isCancelled) throw new MeetingError('cancelled', 'The meeting has been cancelled.');
      meeting = message.meeting;
      subject = message.subject;
      body = message.body;
      // Answering the request puts (or brings up to date) the meeting on the calendar, even without a Calendar Attendant.
      if (!copy && answer !== 'declined') copy = this.placeCopy(mailbox, meeting, subject, body, 'notResponded');
      else if (copy && copy.meeting && copy.meeting.sequence < meeting.sequence) this.refreshCopy(copy, meeting, subject, body);
    }
    this.answer(mailbox, copy, meeting, subject, answer, options);
  }

  /** An answer to one occurrence (its id): kept on the attendee's master for that date only; a declined one leaves it. */
  private respondToOccurrence(mailbox: string, occurrence: EventRecord, answer: Answer, options: { comment?: string; sendResponse: boolean }): void {
    const master = this.store.get(mailbox, occurrence.occurrenceOf!.id);
    if (!master?.meeting || !occurrence.meeting) throw new MeetingError('notMeeting', 'The item is not a meeting: there is nobody to respond to.');
    if (master.meeting.isOrganizer) throw new MeetingError('isOrganizer', "You can't respond to a meeting you organized.");
    if (occurrence.meeting.isCancelled) throw new MeetingError('cancelled', 'The meeting has been cancelled.');
    const date = occurrenceDate(occurrence.id)!.date;
    const now = this.now();
    this.store.modify(master, (r) => changeOccurrence(r, date, { response: answer, responseTime: now, ...(answer === 'declined' ? { deleted: true } : {}) }));
    if (options.sendResponse) this.reply(mailbox, snapshotOf(occurrence), String(occurrence.fields['subject'] ?? ''), answer, options.comment, false);
  }

  /** EWS RemoveItem: the attendee takes a cancelled meeting off its calendar (the cancellation leaves the inbox too). */
  removeCancelled(mailbox: string, message: MessageRecord): void {
    if (message.type !== 'meetingCancelled') throw new MeetingError('notMeeting', 'Only a meeting cancellation can be removed.');
    const copy = this.store.findByICalUId(mailbox, message.meeting.iCalUId);
    if (copy?.meeting?.isOrganizer) throw new MeetingError('isOrganizer', "The organizer can't remove the meeting from an attendee's calendar.");
    if (copy) this.store.delete(mailbox, copy.id);
    this.messages.delete(mailbox, message.id);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Delivery

  private isRecipient(address: string, record: EventRecord): boolean {
    return this.inTenant(address) && address.toLowerCase() !== record.mailbox.toLowerCase();
  }

  /** Only mailboxes of this tenant receive anything; external and unknown addresses are not modelled (no NDR). */
  private inTenant(address: string): boolean {
    const mailbox = this.directory.mailbox(address);
    return mailbox !== undefined && mailbox.state !== 'noMailbox';
  }

  private recipients(record: EventRecord): string[] {
    return attendeeAddresses(record).filter((a) => this.isRecipient(a, record));
  }

  private attendantOn(processing: CalendarProcessing): boolean {
    return processing.automateProcessing !== 'None' || this.behaviour.tentativeWhenProcessingNone;
  }

  private deliverRequest(address: string, organizer: EventRecord, requestType: MeetingRequestType, before?: MeetingBefore): void {
    const processing = this.processing(address);
    const meeting = snapshotOf(organizer);
    this.retireOlderMessages(address, meeting.iCalUId, processing);
    const message = this.messages.deliver(address, {
      ...envelope(organizer),
      type: 'meetingRequest',
      subject: String(organizer.fields['subject'] ?? ''),
      body: bodyOf(organizer),
      meeting,
      requestType,
      ...(before ? { previous: { start: before.startPoint, end: before.endPoint, location: before.location } } : {}),
    });
    if (!this.attendantOn(processing)) return;
    // The Calendar Attendant: new requests tentatively on the calendar (AddNewRequestsTentatively), updates applied.
    let copy = this.store.findByICalUId(address, meeting.iCalUId);
    if (copy) this.refreshCopy(copy, meeting, message.subject, message.body, requestType === 'fullUpdate');
    else if (processing.addNewRequestsTentatively) copy = this.placeCopy(address, meeting, message.subject, message.body, 'notResponded');
    const mailbox = this.directory.mailbox(address);
    if (processing.automateProcessing === 'AutoAccept' && mailbox && mailbox.kind !== 'user') this.book(address, copy, message, processing);
  }

  /** The Resource Booking Attendant: accept or decline by the resource's policy, with the reason in the response. */
  private book(address: string, copy: EventRecord | undefined, message: MessageRecord, processing: CalendarProcessing): void {
    const meeting = message.meeting;
    if (!copy) copy = this.placeCopy(address, meeting, message.subject, message.body, 'notResponded');
    const others = this.store.list(address).filter((e) => e.iCalUId !== meeting.iCalUId);
    const refusal = bookingRefusal(processing, { start: meeting.start.instant, end: meeting.end.instant, isRecurring: meeting.isRecurring, others }, this.now());
    const answer: Answer = refusal ? 'declined' : 'accepted';
    const reason = refusal ?? 'Your request was accepted.';
    if (!refusal) {
      // AddOrganizerToSubject / DeleteSubject / DeleteComments: what the resource's calendar keeps of the request.
      const subject = processing.addOrganizerToSubject ? meeting.organizer.name : processing.deleteSubject ? '' : message.subject;
      this.store.update(copy, { subject, ...(processing.deleteComments ? { body: { contentType: 'text', content: '' } } : {}) });
    }
    this.answer(address, copy, meeting, message.subject, answer, { sendResponse: true, ...(processing.enableResponseDetails ? { comment: reason } : {}) });
  }

  private deliverCancellation(address: string, organizer: EventRecord, comment: string | undefined): void {
    const processing = this.processing(address);
    const meeting = snapshotOf(organizer);
    this.retireOlderMessages(address, meeting.iCalUId, processing);
    const subject = `Canceled: ${String(organizer.fields['subject'] ?? '')}`;
    this.messages.deliver(address, { ...envelope(organizer), type: 'meetingCancelled', subject, body: comment !== undefined ? { contentType: 'text', content: comment } : bodyOf(organizer), meeting });
    if (!this.attendantOn(processing)) return;
    // The Calendar Attendant marks the attendee's copy cancelled; it stays until the attendee removes it
    // (RemoveCanceledMeetings defaults to $false for resources too).
    const copy = this.store.findByICalUId(address, meeting.iCalUId);
    if (copy?.meeting && !copy.meeting.isOrganizer) {
      this.store.update(copy, { subject });
      this.store.modify(copy, (r) => {
        r.meeting!.isCancelled = true;
        r.meeting!.sequence = meeting.sequence;
      });
    }
  }

  /** Earlier requests of a meeting: deleted by the Calendar Attendant (RemoveOldMeetingMessages), else marked out of date. */
  private retireOlderMessages(address: string, iCalUId: string, processing: CalendarProcessing): void {
    for (const old of this.messages.ofMeeting(address, iCalUId).filter((m) => m.type === 'meetingRequest')) {
      if (this.attendantOn(processing) && processing.removeOldMeetingMessages) this.messages.delete(address, old.id);
      else if (!old.isOutOfDate) this.messages.update(old, (m) => (m.isOutOfDate = true));
    }
  }

  private answer(mailbox: string, copy: EventRecord | undefined, meeting: MeetingSnapshot, subject: string, answer: Answer, options: { comment?: string; sendResponse: boolean }): void {
    const now = this.now();
    if (copy && answer === 'declined') this.store.delete(mailbox, copy.id); // a declined meeting leaves the calendar (Outlook moves it to Deleted Items) [VERIFY]
    else if (copy) {
      this.store.update(copy, { showAs: answer === 'accepted' ? meeting.showAs : 'tentative' });
      this.store.modify(copy, (r) => {
        r.meeting!.response = answer;
        r.meeting!.responseTime = now;
      });
    }
    // The answered request leaves the inbox ("The event message will be deleted", microsoft-graph-docs issue #9756).
    for (const request of this.messages.ofMeeting(mailbox, meeting.iCalUId).filter((m) => m.type === 'meetingRequest')) this.messages.delete(mailbox, request.id);
    if (options.sendResponse) this.reply(mailbox, meeting, subject, answer, options.comment, true);
  }

  /** The response to the organiser (when it asked for one), and its tracking on the organiser's copy. */
  private reply(mailbox: string, meeting: MeetingSnapshot, subject: string, answer: Answer, comment: string | undefined, tracked: boolean): void {
    if (!meeting.responseRequested) return;
    const now = this.now();
    const attendee = this.directory.mailbox(mailbox)!;
    const prefix = answer === 'accepted' ? 'Accepted' : answer === 'tentativelyAccepted' ? 'Tentative' : 'Declined';
    const organizer = meeting.organizer;
    if (!this.inTenant(organizer.address)) return;
    this.messages.deliver(organizer.address, {
      type: answer === 'accepted' ? 'meetingAccepted' : answer === 'tentativelyAccepted' ? 'meetingTenativelyAccepted' : 'meetingDeclined',
      subject: `${prefix}: ${subject}`,
      body: { contentType: 'text', content: comment ?? '' },
      from: { name: attendee.displayName, address: attendee.address },
      to: [organizer],
      cc: [],
      meeting,
      response: answer,
    });
    if (tracked) this.track(organizer.address, meeting.iCalUId, attendee.address, answer, now);
  }

  /** The organiser's Calendar Attendant records a response on its copy (the meeting's tracking). */
  private track(organizer: string, iCalUId: string, attendee: string, answer: Answer, at: number): void {
    if (!this.attendantOn(this.processing(organizer))) return;
    const record = this.store.findByICalUId(organizer, iCalUId);
    if (!record?.meeting?.isOrganizer) return;
    this.store.modify(record, (r) => {
      const list = (r.fields['attendees'] as Array<Record<string, unknown>> | undefined) ?? [];
      r.fields['attendees'] = list.map((a) => (addressOf(a) === attendee.toLowerCase() ? { ...a, status: { response: answer, time: formatInstantUtc(at) } } : a));
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Attendee copies

  private placeCopy(address: string, meeting: MeetingSnapshot, subject: string, body: MessageRecord['body'], response: MeetingResponse): EventRecord {
    const mailbox = this.directory.mailbox(address)!;
    const state: MeetingState = { organizer: meeting.organizer, isOrganizer: false, response, isCancelled: false, sequence: meeting.sequence, requestSent: false, intendedShowAs: meeting.showAs };
    return this.store.create(mailbox.address.toLowerCase(), mailbox.displayName, { ...copyFields(meeting, subject, body), showAs: 'tentative' }, { iCalUId: meeting.iCalUId, meeting: state });
  }

  /** An update reaches an existing copy; a full update (time or place moved) asks for a new response [VERIFY]. */
  private refreshCopy(copy: EventRecord, meeting: MeetingSnapshot, subject: string, body: MessageRecord['body'], full = false): void {
    const processing = this.processing(copy.mailbox);
    const booked = processing.automateProcessing === 'AutoAccept' && copy.meeting?.response === 'accepted';
    const fields = copyFields(meeting, subject, body);
    if (booked) {
      // A resource keeps what its booking attendant made of the subject and body.
      delete fields['subject'];
      delete fields['body'];
    }
    this.store.update(copy, full ? { ...fields, showAs: 'tentative' } : fields);
    this.store.modify(copy, (r) => {
      r.meeting!.sequence = meeting.sequence;
      r.meeting!.intendedShowAs = meeting.showAs;
      if (full) r.meeting!.response = 'notResponded';
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------

function addressOf(attendee: Record<string, unknown>): string {
  return String((attendee['emailAddress'] as { address?: unknown } | undefined)?.address ?? '').toLowerCase();
}

export function attendeeAddresses(record: EventRecord): string[] {
  const list = (record.fields['attendees'] as Array<Record<string, unknown>> | undefined) ?? [];
  return [...new Set(list.map(addressOf).filter((a) => a !== ''))];
}

function locationOf(record: EventRecord): string {
  return String(((record.fields['location'] as { displayName?: unknown } | undefined) ?? {}).displayName ?? '');
}

function bodyOf(record: EventRecord): MessageRecord['body'] {
  const body = (record.fields['body'] as { contentType?: string; content?: string } | undefined) ?? {};
  return { contentType: (body.contentType ?? 'text').toLowerCase() === 'html' ? 'html' : 'text', content: body.content ?? '' };
}

function snapshotOf(record: EventRecord): MeetingSnapshot {
  const f = record.fields;
  const meeting = record.meeting;
  return {
    iCalUId: record.iCalUId,
    organizer: meeting?.organizer ?? { name: record.organizerName, address: record.mailbox },
    start: record.start,
    end: record.end,
    isAllDay: f['isAllDay'] === true,
    location: locationOf(record),
    attendees: structuredClone((f['attendees'] as Array<Record<string, unknown>> | undefined) ?? []),
    responseRequested: f['responseRequested'] !== false,
    allowNewTimeProposals: f['allowNewTimeProposals'] !== false,
    showAs: meeting && !meeting.isOrganizer ? (meeting.intendedShowAs ?? 'busy') : String(f['showAs'] ?? 'busy'),
    sequence: meeting?.sequence ?? 0,
    isRecurring: f['recurrence'] !== undefined && f['recurrence'] !== null,
    recurrence: structuredClone(f['recurrence'] ?? null),
  };
}

function envelope(organizer: EventRecord): Pick<NewMessage, 'from' | 'to' | 'cc'> {
  const list = (organizer.fields['attendees'] as Array<Record<string, unknown>> | undefined) ?? [];
  const people = (type: string): Person[] =>
    list.filter((a) => (a['type'] ?? 'required') === type).map((a) => {
      const e = (a['emailAddress'] as { name?: string; address?: string } | undefined) ?? {};
      return { name: e.name ?? e.address ?? '', address: e.address ?? '' };
    });
  return { from: { name: organizer.organizerName, address: organizer.mailbox }, to: people('required'), cc: people('optional') };
}

/** The Graph body of an attendee's copy: what the organiser sent. */
function copyFields(meeting: MeetingSnapshot, subject: string, body: MessageRecord['body']): Record<string, unknown> {
  return {
    subject,
    body,
    start: { dateTime: formatWall(meeting.start.wall), timeZone: meeting.start.zone.name },
    end: { dateTime: formatWall(meeting.end.wall), timeZone: meeting.end.zone.name },
    isAllDay: meeting.isAllDay,
    location: { displayName: meeting.location },
    attendees: structuredClone(meeting.attendees),
    responseRequested: meeting.responseRequested,
    allowNewTimeProposals: meeting.allowNewTimeProposals,
    // An attendee's copy of a series is a series (its calendarView shows the occurrences, occurrences.ts).
    ...(meeting.recurrence ? { recurrence: structuredClone(meeting.recurrence) } : {}),
  };
}
