// Meetings in EWS: meeting messages in the inbox (MeetingRequest, MeetingCancellation, MeetingResponse items, in
// types.xsd's element order) and the response objects of CreateItem — AcceptItem, TentativelyAcceptItem, DeclineItem
// (https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-meeting-request),
// RemoveItem (a cancelled meeting off the calendar) and CancelCalendarItem (the organiser cancels). The meeting engine
// (../meetings.ts) does the work; Graph and EWS see the same mailboxes.
import { seriesExceptions } from '../graph/occurrences.ts';
import type { EventRecord } from '../graph/store.ts';
import { inboxFolderId, type MessageRecord } from '../messages.ts';
import { MeetingError, type Answer } from '../meetings.ts';
import { ewsIdFromGraph, formatEwsDateTime, mailboxXml, RESPONSE_TYPE_OUT, type Shape } from './items.ts';
import { EwsItemError } from './soap.ts';
import { timeZoneDisplayName, windowsZoneOf } from './timezones.ts';
import { recurrenceXml } from './recurrence.ts';
import { attr, element, esc, NS, tEl, textOf, type XmlElement } from './xml.ts';

/** The response objects CreateItem takes in Items, and what each does. */
export const RESPONSE_OBJECTS: Record<string, Answer | 'remove' | 'cancel'> = {
  AcceptItem: 'accepted',
  TentativelyAcceptItem: 'tentativelyAccepted',
  DeclineItem: 'declined',
  RemoveItem: 'remove',
  CancelCalendarItem: 'cancel',
};

/** ItemClass of each meeting message ([MS-OXOCAL] 2.2.6–2.2.8: IPM.Schedule.Meeting.Request, .Canceled, .Resp.Pos/.Tent/.Neg). */
const ITEM_CLASS: Record<MessageRecord['type'], string> = {
  meetingRequest: 'IPM.Schedule.Meeting.Request',
  meetingCancelled: 'IPM.Schedule.Meeting.Canceled',
  meetingAccepted: 'IPM.Schedule.Meeting.Resp.Pos',
  meetingTenativelyAccepted: 'IPM.Schedule.Meeting.Resp.Tent',
  meetingDeclined: 'IPM.Schedule.Meeting.Resp.Neg',
};

const ELEMENT: Record<MessageRecord['type'], string> = {
  meetingRequest: 'MeetingRequest',
  meetingCancelled: 'MeetingCancellation',
  meetingAccepted: 'MeetingResponse',
  meetingTenativelyAccepted: 'MeetingResponse',
  meetingDeclined: 'MeetingResponse',
};

const REQUEST_TYPE_OUT: Record<string, string> = { newMeetingRequest: 'NewMeetingRequest', fullUpdate: 'FullUpdate', informationalUpdate: 'InformationalUpdate' };
const FREE_BUSY_OUT: Record<string, string> = { free: 'Free', tentative: 'Tentative', busy: 'Busy', oof: 'OOF', workingElsewhere: 'WorkingElsewhere', unknown: 'NoData' };

export function itemClassOf(message: MessageRecord): string {
  return ITEM_CLASS[message.type];
}

function recipientsXml(name: string, people: Array<{ name: string; address: string }>): string {
  return people.length === 0 ? '' : `<t:${name}>${people.map((p) => mailboxXml(p.name, p.address)).join('')}</t:${name}>`;
}

function attendeesXml(name: string, attendees: Array<Record<string, unknown>>, type: string): string {
  const list = attendees.filter((a) => (a['type'] ?? 'required') === type);
  if (list.length === 0) return '';
  const one = (a: Record<string, unknown>) => {
    const e = (a['emailAddress'] as { name?: string; address?: string } | undefined) ?? {};
    return `<t:Attendee>${mailboxXml(e.name ?? e.address ?? '', e.address ?? '')}${tEl('ResponseType', 'Unknown')}</t:Attendee>`;
  };
  return `<t:${name}>${list.map(one).join('')}</t:${name}>`;
}

/**
 * A meeting message as EWS writes it. IdOnly: the ItemId; Default and AllProperties: the properties below (the
 * sandbox does not pick single properties for messages). FindItem and SyncFolderItems never return the Body.
 * `copy` is the mailbox's calendar item of the meeting (AssociatedCalendarItemId), when there is one; `series` the
 * calendar item whose exceptions a series' request gives (the copy, else the organiser's).
 */
export function renderMessage(m: MessageRecord, shape: Shape, copy: EventRecord | undefined, series: EventRecord | undefined = copy): string {
  const name = ELEMENT[m.type];
  const id = `<t:ItemId Id="${esc(ewsIdFromGraph(m.id))}" ChangeKey="${esc(m.changeKey)}"/>`;
  // calendar:Recurrence, calendar:ModifiedOccurrences, calendar:DeletedOccurrences and calendar:StartTimeZoneId asked
  // for by GetItem: the series' range (recurrence.ts), its exceptions and the zone its dates are in; the sandbox picks
  // no other property.
  const recurrence = !shape.forFind && m.type === 'meetingRequest' ? recurrenceXml(m.meeting.recurrence) : '';
  const exceptions = recurrence && series ? exceptionsXml(series) : { modified: '', deleted: '' };
  const asked = (uri: string) => shape.additional.some((f) => f.kind === 'field' && f.uri === uri);
  if (shape.base === 'IdOnly') {
    const picked = (asked('calendar:Recurrence') ? recurrence : '') + (asked('calendar:ModifiedOccurrences') ? exceptions.modified : '') + (asked('calendar:DeletedOccurrences') ? exceptions.deleted : '');
    return `<t:${name}>${id}${picked}${asked('calendar:StartTimeZoneId') && m.type === 'meetingRequest' ? tEl('StartTimeZoneId', windowsZoneOf(m.meeting.start.zone)) : ''}</t:${name}>`;
  }
  const meeting = m.meeting;
  const body = shape.forFind ? '' : `<t:Body BodyType="${m.body.contentType === 'html' ? 'HTML' : 'Text'}">${esc(m.body.content)}</t:Body>`;
  const item =
    id +
    `<t:ParentFolderId Id="${esc(inboxFolderId(m.mailbox))}" ChangeKey="AQAAAA=="/>` +
    tEl('ItemClass', ITEM_CLASS[m.type]) +
    tEl('Subject', m.subject) +
    tEl('Sensitivity', 'Normal') +
    body +
    tEl('DateTimeReceived', formatEwsDateTime(m.createdMs)) +
    tEl('Size', 1024 + Buffer.byteLength(m.body.content)) +
    tEl('Importance', 'Normal') +
    tEl('IsSubmitted', false) +
    tEl('IsDraft', false) +
    tEl('IsFromMe', false) +
    tEl('IsResend', false) +
    tEl('IsUnmodified', true) +
    tEl('DateTimeSent', formatEwsDateTime(m.createdMs)) +
    tEl('DateTimeCreated', formatEwsDateTime(m.createdMs)) +
    tEl('DisplayCc', m.cc.map((p) => p.name).join('; ')) +
    tEl('DisplayTo', m.to.map((p) => p.name).join('; ')) +
    tEl('HasAttachments', false) +
    tEl('Culture', 'en-US') +
    tEl('LastModifiedTime', formatEwsDateTime(m.modifiedMs));
  const message =
    `<t:Sender>${mailboxXml(m.from.name, m.from.address)}</t:Sender>` +
    recipientsXml('ToRecipients', m.to) +
    recipientsXml('CcRecipients', m.cc) +
    tEl('IsReadReceiptRequested', false) +
    tEl('IsDeliveryReceiptRequested', false) +
    `<t:From>${mailboxXml(m.from.name, m.from.address)}</t:From>` +
    tEl('InternetMessageId', m.internetMessageId) +
    tEl('IsRead', m.isRead) +
    tEl('IsResponseRequested', m.type === 'meetingRequest' && meeting.responseRequested);
  const responseType = m.response ? RESPONSE_TYPE_OUT[m.response] : copy?.meeting ? RESPONSE_TYPE_OUT[copy.meeting.response] : 'NoResponseReceived';
  const meetingMessage =
    (copy ? `<t:AssociatedCalendarItemId Id="${esc(ewsIdFromGraph(copy.id))}" ChangeKey="${esc(copy.changeKey)}"/>` : '') +
    tEl('IsDelegated', false) +
    tEl('IsOutOfDate', m.isOutOfDate) +
    tEl('HasBeenProcessed', copy !== undefined) +
    tEl('ResponseType', responseType ?? 'Unknown') +
    tEl('UID', meeting.iCalUId) +
    tEl('IsOrganizer', false);
  return `<t:${name}>${item}${message}${meetingMessage}${specific(m, copy, recurrence + exceptions.modified + exceptions.deleted)}</t:${name}>`;
}

/**
 * The series' exceptions as its calendar item has them (so Graph's /instances and EWS agree): moved
 * occurrences as ModifiedOccurrences (OccurrenceInfoType: ItemId, Start, End, OriginalStart — "occurrences that have
 * been modified so that they are different from the original instances of the recurrence master item",
 * https://learn.microsoft.com/exchange/client-developer/web-service-reference/modifiedoccurrences), cancelled ones as
 * DeletedOccurrences (DeletedOccurrenceInfoType: Start, here the occurrence's original start,
 * https://learn.microsoft.com/exchange/client-developer/web-service-reference/deletedoccurrences [VERIFY: the page
 * says "the start time of a deleted occurrence"]). Each is '' when there is none (the arrays are NonEmpty in types.xsd).
 */
function exceptionsXml(series: EventRecord): { modified: string; deleted: string } {
  const { modified, deleted } = seriesExceptions(series);
  const occurrence = (o: EventRecord) => `<t:Occurrence><t:ItemId Id="${esc(ewsIdFromGraph(o.id))}" ChangeKey="${esc(series.changeKey)}"/>${tEl('Start', formatEwsDateTime(o.start.instant))}${tEl('End', formatEwsDateTime(o.end.instant))}${tEl('OriginalStart', formatEwsDateTime(o.occurrenceOf!.originalStart!))}</t:Occurrence>`;
  return {
    modified: modified.length ? `<t:ModifiedOccurrences>${modified.map(occurrence).join('')}</t:ModifiedOccurrences>` : '',
    deleted: deleted.length ? `<t:DeletedOccurrences>${deleted.map((start) => `<t:DeletedOccurrence>${tEl('Start', formatEwsDateTime(start))}</t:DeletedOccurrence>`).join('')}</t:DeletedOccurrences>` : '',
  };
}

/** The elements of MeetingRequestMessageType, MeetingCancellationMessageType or MeetingResponseMessageType. */
function specific(m: MessageRecord, copy: EventRecord | undefined, recurrence: string): string {
  const meeting = m.meeting;
  const times = tEl('Start', formatEwsDateTime(meeting.start.instant)) + tEl('End', formatEwsDateTime(meeting.end.instant));
  const location = meeting.location ? tEl('Location', meeting.location) : '';
  if (m.type !== 'meetingRequest') return times + location + tEl('CalendarItemType', 'Single');
  return (
    tEl('MeetingRequestType', REQUEST_TYPE_OUT[m.requestType ?? 'newMeetingRequest']!) +
    tEl('IntendedFreeBusyStatus', FREE_BUSY_OUT[meeting.showAs] ?? 'Busy') +
    times +
    tEl('IsAllDayEvent', meeting.isAllDay) +
    tEl('LegacyFreeBusyStatus', 'Tentative') +
    location +
    tEl('IsMeeting', true) +
    tEl('IsCancelled', false) +
    tEl('IsRecurring', meeting.isRecurring) +
    tEl('MeetingRequestWasSent', true) +
    tEl('CalendarItemType', meeting.isRecurring ? 'RecurringMaster' : 'Single') +
    tEl('MyResponseType', copy?.meeting ? (RESPONSE_TYPE_OUT[copy.meeting.response] ?? 'Unknown') : 'NoResponseReceived') +
    `<t:Organizer>${mailboxXml(meeting.organizer.name, meeting.organizer.address)}</t:Organizer>` +
    attendeesXml('RequiredAttendees', meeting.attendees, 'required') +
    attendeesXml('OptionalAttendees', meeting.attendees, 'optional') +
    attendeesXml('Resources', meeting.attendees, 'resource') +
    tEl('TimeZone', timeZoneDisplayName(meeting.start.zone, new Date(meeting.start.instant).getUTCFullYear())) +
    tEl('AppointmentSequenceNumber', meeting.sequence) +
    // PidLidAppointmentStateFlags: asfMeeting | asfReceived ([MS-OXOCAL] 2.2.1.10)
    tEl('AppointmentState', 3) +
    recurrence
  );
}

/** What a response object names, resolved by the EWS service (rights checked). */
export type ReferencedItem = { kind: 'message'; message: MessageRecord; mailbox: string } | { kind: 'event'; record: EventRecord; mailbox: string };

export interface ResponseContext {
  resolve(idEl: XmlElement | undefined): ReferencedItem;
  respond(mailbox: string, target: { event: EventRecord } | { message: MessageRecord }, answer: Answer, options: { comment?: string; sendResponse: boolean }): void;
  removeCancelled(mailbox: string, message: MessageRecord): void;
  cancel(record: EventRecord, comment: string | undefined): void;
}

const ORGANIZER_CODES: Record<string, string> = { accepted: 'ErrorCalendarIsOrganizerForAccept', tentativelyAccepted: 'ErrorCalendarIsOrganizerForTentative', declined: 'ErrorCalendarIsOrganizerForDecline', remove: 'ErrorCalendarIsOrganizerForRemove' };
const CANCELLED_CODES: Record<string, string> = { accepted: 'ErrorCalendarIsCancelledForAccept', tentativelyAccepted: 'ErrorCalendarIsCancelledForTentative', declined: 'ErrorCalendarIsCancelledForDecline', remove: 'ErrorCalendarIsCancelledForRemove' };
const INVALID_ITEM_CODES: Record<string, string> = { accepted: 'ErrorInvalidItemForOperationAcceptItem', tentativelyAccepted: 'ErrorInvalidItemForOperationTentative', declined: 'ErrorInvalidItemForOperationDeclineItem', remove: 'ErrorInvalidItemForOperationRemoveItem', cancel: 'ErrorInvalidItemForOperationCancelItem' };

/**
 * One response object of a CreateItem. "If the MessageDisposition property is not set on the CreateItemType, an
 * ErrorMessageDispositionRequired error will be returned" (AcceptItemType class). SendAndSaveCopy and SendOnly send
 * the response; SaveOnly keeps it as a draft — the sandbox then records the answer without sending it ([VERIFY]).
 * The answer is `<m:Items/>`, as in the successful accept example. The errors are the responsecode page's
 * ErrorCalendarIsOrganizerFor…, ErrorCalendarIsCancelledFor…, ErrorCalendarMeetingRequestIsOutOfDate and
 * ErrorInvalidItemForOperation… (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode).
 */
export function respondToItem(item: XmlElement, disposition: string | undefined, context: ResponseContext): void {
  const action = RESPONSE_OBJECTS[item.localName ?? '']!;
  if (disposition === undefined) throw new EwsItemError('ErrorMessageDispositionRequired', 'MessageDisposition attribute is required.');
  const target = context.resolve(element(item, NS.t, 'ReferenceItemId'));
  const bodyEl = element(item, NS.t, 'Body');
  const comment = bodyEl ? textOf(bodyEl) : undefined;
  try {
    if (action === 'cancel') {
      if (target.kind !== 'event') throw new EwsItemError(INVALID_ITEM_CODES['cancel']!, 'Only a calendar item can be cancelled.');
      if (!target.record.meeting?.isOrganizer) throw new EwsItemError('ErrorCalendarIsNotOrganizer', 'Only the organizer can cancel the meeting.');
      context.cancel(target.record, comment);
      return;
    }
    if (action === 'remove') {
      if (target.kind !== 'message') throw new EwsItemError(INVALID_ITEM_CODES['remove']!, 'Only a meeting cancellation can be removed.');
      context.removeCancelled(target.mailbox, target.message);
      return;
    }
    const options = { sendResponse: disposition !== 'SaveOnly', ...(comment !== undefined && comment !== '' ? { comment } : {}) };
    context.respond(target.mailbox, target.kind === 'event' ? { event: target.record } : { message: target.message }, action, options);
  } catch (error) {
    if (!(error instanceof MeetingError)) throw error;
    switch (error.reason) {
      case 'isOrganizer':
        throw new EwsItemError(ORGANIZER_CODES[action] ?? 'ErrorInvalidOperation', error.message);
      case 'cancelled':
        throw new EwsItemError(CANCELLED_CODES[action] ?? 'ErrorInvalidOperation', error.message);
      case 'outOfDate':
        throw new EwsItemError('ErrorCalendarMeetingRequestIsOutOfDate', error.message);
      default:
        throw new EwsItemError(INVALID_ITEM_CODES[action] ?? 'ErrorInvalidOperation', error.message);
    }
  }
}

/** The ChangeKey a ReferenceItemId may carry is not checked (as for DeleteItem in this sandbox). */
export function referenceId(item: XmlElement): string | undefined {
  return attr(element(item, NS.t, 'ReferenceItemId'), 'Id');
}
