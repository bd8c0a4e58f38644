// The resource agent's requests on Exchange Web Services (targets/meetings.ts), as schema-valid SOAP (messages.xsd /
// types.xsd), one request per call (organizerMeeting: two, FindItem then GetItem — it says so, ORGANIZER_MEETING_COST).
//
// With `AutomateProcessing None` (Pexip's equipment mailbox) the requests stay in the inbox and nothing reaches the
// calendar until they are answered (Microsoft KB 2212449), so the agent reads the inbox:
// - `SyncFolderItems` on the inbox (https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems-operation):
//   MeetingRequest and MeetingCancellation items since the SyncState kept as the cursor (Default shape: no Body);
// - answers are the response objects of `CreateItem` — AcceptItem, TentativelyAcceptItem, DeclineItem with a Body and
//   `MessageDisposition="SendAndSaveCopy"` (SaveOnly: answered without telling the organiser)
//   (https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-meeting-request);
//   answering places the meeting on the mailbox's calendar; `RemoveItem` takes a cancelled one off it;
// - a recurring request's series: `GetItem` of the request with `calendar:Recurrence`
//   (https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurrence-recurrencetype) — FindItem
//   and SyncFolderItems do not return it — for the agent's `recurring` and `occurrences` rules, with the occurrences
//   the organiser moved or deleted (`calendar:ModifiedOccurrences`, `calendar:DeletedOccurrences`) for its conflict rule;
// - bookings: `FindItem` with a CalendarView of the request's time;
// - full mode: the organiser's meeting by `FindItem` with a Restriction on calendar:UID and `GetItem` of its Body, then
//   `UpdateItem` of the Body with `SendMeetingInvitationsOrCancellations="SendToAllAndSaveCopy"` (the organiser's
//   update goes to every attendee) — under impersonation of the organiser (Pexip: "impersonating all users").
import type { Attendee, BookingPage, MeetingChanges, MeetingDesk, MeetingRequest, OrganizerMeeting, Reply, UnreadableItem } from '../meetings.ts';
import { CURSOR_REFUSED, recurrenceRule, seriesLength, SYNC_STATE_NOT_FOUND } from '../meetings.ts';
import { occurrenceCountWithout, type SeriesExceptions } from '../../model/recurrence.ts';
import { TargetError, type ServiceLane } from '../target.ts';
import type { ErrorContext } from './errors.ts';
import { calendarFolder, type RequestContext } from './requests.ts';
import type { Operation, ResponseMessage } from './responses.ts';
import { attr, child, children, el, text, type XmlElement, type XmlValue } from './xml.ts';

export interface EwsConnection {
  context(mailbox: string): RequestContext;
  laneFor(mailbox: string): ServiceLane;
  /** One request of one item; the response message when it succeeded, else its TargetError. */
  call(mailbox: string, operation: Operation, body: XmlElement, what: ErrorContext['operation']): Promise<ResponseMessage>;
}

const RESPONSE_OBJECTS: Record<Reply, string> = { accept: 't:AcceptItem', tentative: 't:TentativelyAcceptItem', decline: 't:DeclineItem' };
/** Changes per SyncFolderItems call (the schema allows 1–512). */
const MAX_CHANGES = 100;

/** The longest SyncState kept or sent: a bound on what an answer may make the store keep. */
const MAX_SYNC_STATE_CHARS = 1_048_576;

/** Items of one CalendarView of the agent's conflict lookup. */
const BOOKINGS_PER_VIEW = 500;

export class EwsMeetingDesk implements MeetingDesk {
  readonly kind = 'ews' as const;
  /** organizerMeeting sends two requests (FindItem, GetItem): what it costs against the budgets. */
  readonly organizerMeetingCost = 2;
  private readonly ews: EwsConnection;
  constructor(ews: EwsConnection) {
    this.ews = ews;
  }

  laneFor(mailbox: string): ServiceLane {
    return this.ews.laneFor(mailbox);
  }

  /** The inbox: by name under impersonation, with the mailbox named for a delegate. */
  private inbox(context: RequestContext): XmlElement {
    return el('t:DistinguishedFolderId', { Id: 'inbox' }, context.access === 'delegate' && el('t:Mailbox', {}, el('t:EmailAddress', {}, context.mailbox)));
  }

  async changes(mailbox: string, cursor: string | null): Promise<MeetingChanges> {
    // A SyncState is base64 (types.xsd: xs:string, "a base64-encoded form of the synchronization data"); anything
    // else stored as the cursor is never sent.
    if (cursor !== null && (cursor.length > MAX_SYNC_STATE_CHARS || !SYNC_STATE.test(cursor))) throw new TargetError('item', CURSOR_REFUSED, `the stored cursor of ${mailbox} is not a SyncState`);
    const context = this.ews.context(mailbox);
    const body = el(
      'm:SyncFolderItems',
      {},
      el('m:ItemShape', {}, el('t:BaseShape', {}, 'Default')),
      el('m:SyncFolderId', {}, this.inbox(context)),
      cursor !== null && el('m:SyncState', {}, cursor),
      el('m:MaxChangesReturned', {}, String(MAX_CHANGES)),
    );
    let message: ResponseMessage;
    try {
      message = await this.ews.call(mailbox, 'SyncFolderItems', body, 'list');
    } catch (error) {
      if (error instanceof TargetError && error.code === 'ErrorInvalidSyncStateData') throw new TargetError('item', SYNC_STATE_NOT_FOUND, `Exchange no longer knows the SyncState of ${mailbox}'s inbox: ${error.message}`);
      throw error;
    }
    const what = `the SyncFolderItems answer for ${mailbox}'s inbox`;
    const node = message.node;
    const state = text(child(node, 'SyncState'));
    if (!state || state.length > MAX_SYNC_STATE_CHARS || !SYNC_STATE.test(state)) throw unreadable(`${what}: its SyncState is ${state ? `not one (${describeValue(state)})` : 'missing'}`);
    // Optional in messages.xsd: absent, the round is read to its end (as Exchange omits nothing on success).
    const lastNode = child(node, 'IncludesLastItemInRange');
    const last = lastNode ? boolean(lastNode) : true;
    if (last === null) throw unreadable(`${what}: IncludesLastItemInRange is not true or false`);
    const items = [...children(child(node, 'Changes'), 'Create'), ...children(child(node, 'Changes'), 'Update')].flatMap((change) => [
      ...children(change, 'MeetingRequest').map((item) => ({ item, state: 'pending' as const })),
      ...children(change, 'MeetingCancellation').map((item) => ({ item, state: 'cancelled' as const })),
    ]);
    if (items.length > MAX_CHANGES) throw unreadable(`${what}: ${items.length} changes, more than the ${MAX_CHANGES} asked for`);
    const requests: MeetingRequest[] = [];
    const skipped: UnreadableItem[] = [];
    for (const { item, state } of items) {
      const read = requestOf(item, state);
      if (read && 'message' in read) skipped.push(read);
      else if (read) requests.push(read);
    }
    return { requests, cursor: state, more: !last, ...(skipped.length ? { unreadable: skipped } : {}) };
  }

  /**
   * A CalendarView of at most 500 items, by start. A view that did not reach the last item
   * (`IncludesLastItemInRange` false) is read on from the start of the last item it returned — CalendarView has no
   * paging offset (https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendarview) —
   * so a booking starting then is read twice (harmless: a conflict is a conflict).
   */
  async bookings(mailbox: string, start: number, end: number, next?: string | null): Promise<BookingPage> {
    const context = this.ews.context(mailbox);
    const from = next ? Number(next) : start;
    const fields = ['calendar:Start', 'calendar:End', 'calendar:UID', 'calendar:LegacyFreeBusyStatus', 'calendar:IsCancelled'];
    const body = el(
      'm:FindItem',
      { Traversal: 'Shallow' },
      el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, fields.map((f) => el('t:FieldURI', { FieldURI: f })))),
      el('m:CalendarView', { MaxEntriesReturned: String(BOOKINGS_PER_VIEW), StartDate: iso(from), EndDate: iso(end) }),
      el('m:ParentFolderIds', {}, calendarFolder(context)),
    );
    const message = await this.ews.call(mailbox, 'FindItem', body, 'list');
    const what = `the CalendarView of ${mailbox} from ${iso(from)}`;
    const root = child(message.node, 'RootFolder');
    if (!root) throw unreadable(`${what}: no RootFolder`);
    const items = children(child(root, 'Items'), 'CalendarItem');
    if (items.length > BOOKINGS_PER_VIEW) throw unreadable(`${what}: ${items.length} items, more than the ${BOOKINGS_PER_VIEW} asked for`);
    const bookings = items
      .filter((item) => text(child(item, 'IsCancelled')) !== 'true' && text(child(item, 'LegacyFreeBusyStatus')) !== 'Free')
      .map((item) => ({ uid: bounded(text(child(item, 'UID')), MAX_ID_CHARS), start: Date.parse(text(child(item, 'Start'))), end: Date.parse(text(child(item, 'End'))) }));
    // A booking whose time cannot be read could be a conflict: the lookup fails rather than miss it.
    const garbled = bookings.find((b) => !Number.isFinite(b.start) || !Number.isFinite(b.end));
    if (garbled) throw unreadable(`${what}: the Start or End of booking ${describeValue(garbled.uid)} is not a time`);
    const last = attr(root, 'IncludesLastItemInRange');
    if (last !== undefined && last !== 'true' && last !== 'false') throw unreadable(`${what}: IncludesLastItemInRange is not true or false`);
    if (last !== 'false' || !items.length) return { bookings, next: null };
    const lastStart = Date.parse(text(child(items[items.length - 1], 'Start')));
    // No later start to read on from (a view full of items starting together): said as more, so the bound is hit.
    return { bookings, next: String(Number.isFinite(lastStart) && lastStart > from ? lastStart : from) };
  }

  async respond(mailbox: string, request: MeetingRequest, reply: Reply, comment: string, notify: boolean): Promise<void> {
    const reference = el('t:ReferenceItemId', { Id: request.itemId, ChangeKey: request.changeKey ?? undefined });
    const response = el(RESPONSE_OBJECTS[reply], {}, comment !== '' && el('t:Body', { BodyType: 'Text' }, comment), reference);
    const body = el('m:CreateItem', { MessageDisposition: notify ? 'SendAndSaveCopy' : 'SaveOnly' }, el('m:Items', {}, response));
    await this.ews.call(mailbox, 'CreateItem', body, 'create');
  }

  /**
   * The request with its series' Recurrence, zone and exceptions (GetItem, IdOnly plus calendar:Recurrence,
   * calendar:StartTimeZoneId, calendar:ModifiedOccurrences and calendar:DeletedOccurrences, all MeetingRequestMessageType's);
   * null when it is gone. The occurrences the organiser moved or deleted are applied where the agent expands and counts
   * the series (model/recurrence.ts): "The ModifiedOccurrences element contains an array of recurring meeting item
   * occurrences that have been modified so that they are different from the original instances of the recurrence
   * master item" (https://learn.microsoft.com/exchange/client-developer/web-service-reference/modifiedoccurrences,
   * https://learn.microsoft.com/exchange/client-developer/web-service-reference/deletedoccurrences).
   */
  async seriesMaster(mailbox: string, request: MeetingRequest): Promise<MeetingRequest | null> {
    const body = el(
      'm:GetItem',
      {},
      el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, SERIES_FIELDS.map((f) => el('t:FieldURI', { FieldURI: f })))),
      el('m:ItemIds', {}, el('t:ItemId', { Id: request.itemId, ChangeKey: request.changeKey ?? undefined })),
    );
    let message: ResponseMessage;
    try {
      message = await this.ews.call(mailbox, 'GetItem', body, 'get');
    } catch (error) {
      if (error instanceof TargetError && error.code === 'ErrorItemNotFound') return null;
      throw error;
    }
    const item = children(child(message.node, 'Items'), 'MeetingRequest')[0] ?? null;
    const { series: _series, ...single } = request;
    const recurrence = recurrenceOf(child(item, 'Recurrence'), bounded(text(child(item, 'StartTimeZoneId')), 64));
    return { ...single, recurrence: withExceptions(recurrence, exceptionsOf(item), request.start) };
  }

  /** RemoveItem: the cancelled meeting off the mailbox's calendar, and its cancellation out of the inbox. */
  async removeCancelled(mailbox: string, request: MeetingRequest): Promise<void> {
    const body = el('m:CreateItem', { MessageDisposition: 'SaveOnly' }, el('m:Items', {}, el('t:RemoveItem', {}, el('t:ReferenceItemId', { Id: request.itemId, ChangeKey: request.changeKey ?? undefined }))));
    await this.ews.call(mailbox, 'CreateItem', body, 'delete');
  }

  async organizerMeeting(organizer: string, uid: string): Promise<OrganizerMeeting | null> {
    const context = this.ews.context(organizer);
    const find = el(
      'm:FindItem',
      { Traversal: 'Shallow' },
      el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, el('t:FieldURI', { FieldURI: 'calendar:IsOrganizer' }))),
      el('m:IndexedPageItemView', { MaxEntriesReturned: '2', Offset: '0', BasePoint: 'Beginning' }),
      el('m:Restriction', {}, el('t:IsEqualTo', {}, el('t:FieldURI', { FieldURI: 'calendar:UID' }), el('t:FieldURIOrConstant', {}, el('t:Constant', { Value: uid })))),
      el('m:ParentFolderIds', {}, calendarFolder(context)),
    );
    const found = await this.ews.call(organizer, 'FindItem', find, 'list');
    const what = `${organizer}'s meeting with UID ${describeValue(uid)}`;
    const root = child(found.node, 'RootFolder');
    if (!root) throw unreadable(`the FindItem answer for ${what}: no RootFolder`);
    const item = children(child(root, 'Items'), 'CalendarItem').find((i) => text(child(i, 'IsOrganizer')) !== 'false');
    if (!item) return null;
    const id = itemIdOf(item, `the FindItem answer for ${what}`);
    const get = el(
      'm:GetItem',
      {},
      el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, el('t:FieldURI', { FieldURI: 'item:Body' }))),
      el('m:ItemIds', {}, el('t:ItemId', { Id: id.itemId, ChangeKey: id.changeKey ?? undefined })),
    );
    const read = await this.ews.call(organizer, 'GetItem', get, 'get');
    const event = child(child(read.node, 'Items'), 'CalendarItem');
    if (!event) throw unreadable(`the GetItem answer for ${what}: no CalendarItem`);
    const itemId = child(event, 'ItemId') ? itemIdOf(event, `the GetItem answer for ${what}`) : id;
    return { ...itemId, body: bodyOf(child(event, 'Body'), `the GetItem answer for ${what}`) };
  }

  async updateOrganizerBody(organizer: string, meeting: OrganizerMeeting, body: OrganizerMeeting['body']): Promise<OrganizerMeeting> {
    const update = el(
      'm:UpdateItem',
      { ConflictResolution: 'AutoResolve', SendMeetingInvitationsOrCancellations: 'SendToAllAndSaveCopy' },
      el(
        'm:ItemChanges',
        {},
        el(
          't:ItemChange',
          {},
          el('t:ItemId', { Id: meeting.itemId, ChangeKey: meeting.changeKey ?? undefined }),
          el('t:Updates', {}, el('t:SetItemField', {}, el('t:FieldURI', { FieldURI: 'item:Body' }), el('t:CalendarItem', {}, el('t:Body', { BodyType: body.contentType === 'html' ? 'HTML' : 'Text' }, body.content)))),
        ),
      ),
    );
    let message: ResponseMessage;
    try {
      message = await this.ews.call(organizer, 'UpdateItem', update, 'update');
    } catch (error) {
      // The organiser changed the meeting since it was read: the agent reads it again (not a retry of the same write).
      if (error instanceof TargetError && (error.code === 'ErrorStaleObject' || error.code === 'ErrorIrresolvableConflict')) {
        throw new TargetError('item', 'ChangedSinceRead', `the organiser's meeting changed since it was read: ${error.message}`, { status: 412 });
      }
      throw error;
    }
    const item = message.items[0];
    return { itemId: item?.itemId ?? meeting.itemId, changeKey: item?.changeKey ?? null, body };
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function addressOf(node: XmlValue | null): string {
  return text(child(child(node, 'Mailbox'), 'EmailAddress')).toLowerCase();
}

function attendees(item: XmlValue, list: string, type: Attendee['type']): Attendee[] {
  return children(child(item, list), 'Attendee')
    .map((a) => ({ address: addressOf(a), type }))
    .filter((a) => a.address !== '');
}

/**
 * A MeetingRequest (pending, or an informational update) or a MeetingCancellation; null for an outdated request; an
 * UnreadableItem naming the field when a field it needs is missing or over its bound.
 */
function requestOf(item: XmlValue, state: 'pending' | 'cancelled'): MeetingRequest | UnreadableItem | null {
  if (state === 'pending' && text(child(item, 'IsOutOfDate')) === 'true') return null;
  const uid = text(child(item, 'UID'));
  const subject = text(child(item, 'Subject'));
  const organizer = addressOf(child(item, 'Organizer')) || addressOf(child(item, 'From'));
  const about = { uid: bounded(uid, MAX_ID_CHARS), subject: bounded(subject, MAX_TEXT_CHARS), organizer: bounded(organizer, MAX_ADDRESS_CHARS) };
  const kind = state === 'pending' ? 'MeetingRequest' : 'MeetingCancellation';
  const problem = (field: string, why: string): UnreadableItem => ({ ...about, message: `a ${kind} of the inbox${uid ? ` (UID ${describeValue(uid)})` : ''}: ${field} ${why}` });
  const id = child(item, 'ItemId');
  if (!id || !attr(id, 'Id')) return problem('ItemId', 'is missing');
  if (!uid) return problem('UID', 'is missing');
  const tooLong = ([['UID', uid, MAX_ID_CHARS], ['ItemId', attr(id, 'Id')!, MAX_ID_CHARS], ['ChangeKey', attr(id, 'ChangeKey') ?? '', MAX_ID_CHARS], ['Subject', subject, MAX_TEXT_CHARS], ['Organizer', organizer, MAX_ADDRESS_CHARS], ['Location', text(child(item, 'Location')), MAX_TEXT_CHARS]] as const).find(([, value, max]) => value.length > max);
  if (tooLong) return problem(tooLong[0], `has ${tooLong[1].length} characters, more than ${tooLong[2]}`);
  const people = [...attendees(item, 'RequiredAttendees', 'required'), ...attendees(item, 'OptionalAttendees', 'optional'), ...attendees(item, 'Resources', 'resource')];
  if (people.length > MAX_ATTENDEES) return problem('the attendees', `are ${people.length}, more than ${MAX_ATTENDEES}`);
  const recurring = text(child(item, 'IsRecurring')) === 'true';
  return {
    uid,
    itemId: attr(id, 'Id')!,
    changeKey: attr(id, 'ChangeKey') ?? null,
    state,
    informational: text(child(item, 'MeetingRequestType')) === 'InformationalUpdate',
    subject,
    organizer,
    start: Date.parse(text(child(item, 'Start'))),
    end: Date.parse(text(child(item, 'End'))),
    isAllDay: text(child(item, 'IsAllDayEvent')) === 'true',
    // A request's Default shape says only that it is recurring: its Recurrence is read by seriesMaster (GetItem);
    // until then a series counts as without end.
    recurrence: recurring ? { occurrences: null } : null,
    ...(recurring && state === 'pending' ? { series: { masterId: attr(id, 'Id')!, kind: 'master' as const } } : {}),
    attendees: people.filter((a) => a.address.length <= MAX_ADDRESS_CHARS),
    location: text(child(item, 'Location')),
  };
}

// ---- reading answers as untrusted (as Graph's: graph/answers.ts) ----------------------------------------------------
// Exchange's answers are read like any input: an element missing where the schema requires it, a value of the wrong
// kind or over its bound is a TargetError `UnreadableAnswer` naming what was read — transient, so the scheduler
// asks again — never a TypeError or an undefined id sent back in the next request (non-negotiable 5).

/** Item ids, change keys and UIDs: Exchange's are a few hundred characters. */
const MAX_ID_CHARS = 4_096;
/** Subjects and locations (Outlook's subject holds 255 characters). */
const MAX_TEXT_CHARS = 4_096;
/** An SMTP address (RFC 5321: 64 + 1 + 255). */
const MAX_ADDRESS_CHARS = 320;
/** Attendees of one request (Exchange's default recipient limit is 500). */
const MAX_ATTENDEES = 10_000;
/** A meeting body calpush reads and writes back (its instructions go into it). */
const MAX_BODY_CHARS = 4_194_304;
/** A SyncState: base64 (types.xsd: "a base64-encoded form of the synchronization data"). */
const SYNC_STATE = /^[A-Za-z0-9+/=\s]+$/;

function unreadable(message: string): TargetError {
  return new TargetError('transient', 'UnreadableAnswer', message);
}

/** A value for a message: itself when short, else its start and length (a huge or garbled value is never echoed whole). */
function describeValue(value: string): string {
  return value.length <= 80 ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, 40))}… (${value.length} characters)`;
}

function bounded(value: string, max: number): string {
  return value.length <= max ? value : value.slice(0, max);
}

/** "true" or "false" (xs:boolean also allows 1 and 0); null for anything else, or nothing. */
function boolean(node: XmlValue | null): boolean | null {
  const value = text(node);
  return value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : null;
}

/** The item's ItemId: present, with an Id and a ChangeKey within bounds. */
function itemIdOf(item: XmlValue, what: string): { itemId: string; changeKey: string | null } {
  const id = child(item, 'ItemId');
  const itemId = attr(id, 'Id');
  const changeKey = attr(id, 'ChangeKey') ?? null;
  if (!itemId) throw unreadable(`${what}: the item has no ItemId`);
  if (itemId.length > MAX_ID_CHARS || (changeKey?.length ?? 0) > MAX_ID_CHARS) throw unreadable(`${what}: its ItemId is longer than ${MAX_ID_CHARS} characters`);
  return { itemId, changeKey };
}

/**
 * The body as Exchange gives it: BodyType HTML or Text (types.xsd BodyTypeType). A body of another type, or over the
 * bound, is not read — calpush writes the body back, and must not turn an HTML body into text or hold a huge one.
 */
function bodyOf(node: XmlValue | null, what: string): OrganizerMeeting['body'] {
  if (!node) return { contentType: 'text', content: '' };
  const type = attr(node, 'BodyType');
  if (type !== 'HTML' && type !== 'Text') throw unreadable(`${what}: the Body's BodyType is ${type === undefined ? 'missing' : describeValue(type)}, not HTML or Text`);
  const content = text(node);
  if (content.length > MAX_BODY_CHARS) throw unreadable(`${what}: the Body has ${content.length} characters, more than ${MAX_BODY_CHARS}`);
  return { contentType: type === 'HTML' ? 'html' : 'text', content };
}

/** What seriesMaster asks GetItem for (types.xsd UnindexedFieldURIType). */
const SERIES_FIELDS = ['calendar:Recurrence', 'calendar:ModifiedOccurrences', 'calendar:DeletedOccurrences', 'calendar:StartTimeZoneId'];
/**
 * Moved, and deleted, occurrences of one series read, at most each: an organiser changes a few; past the bound the
 * series' conflict check is incomplete (tentative) rather than a huge answer held.
 */
export const MAX_SERIES_EXCEPTIONS = 300;
/** xs:dateTime with its zone (Exchange writes UTC, `Z`): a time without one would be read in the machine's zone. */
const ZONED_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$/;

/** The series' moved and deleted occurrences (OccurrenceInfoType, DeletedOccurrenceInfoType), or why they cannot be read. */
function exceptionsOf(item: XmlValue | null): SeriesExceptions | { unreadable: string } {
  const modified = children(child(item, 'ModifiedOccurrences'), 'Occurrence');
  const deleted = children(child(item, 'DeletedOccurrences'), 'DeletedOccurrence');
  if (modified.length > MAX_SERIES_EXCEPTIONS) return { unreadable: `it has ${modified.length} moved occurrences, more than the ${MAX_SERIES_EXCEPTIONS} calpush reads` };
  if (deleted.length > MAX_SERIES_EXCEPTIONS) return { unreadable: `it has ${deleted.length} deleted occurrences, more than the ${MAX_SERIES_EXCEPTIONS} calpush reads` };
  const moved: Array<{ originalStart: number; start: number; end: number }> = [];
  for (const [n, occurrence] of modified.entries()) {
    const [originalStart, start, end] = ['OriginalStart', 'Start', 'End'].map((field) => timeOf(child(occurrence, field)));
    const garbled = [['OriginalStart', originalStart], ['Start', start], ['End', end]].find(([, value]) => value === null);
    if (garbled) return { unreadable: `the ${garbled[0]} of its moved occurrence ${n + 1} is not a time (${describeValue(text(child(occurrence, garbled[0] as string)))})` };
    if (end! < start!) return { unreadable: `its moved occurrence ${n + 1} ends before it starts` };
    moved.push({ originalStart: originalStart!, start: start!, end: end! });
  }
  const gone: number[] = [];
  for (const [n, occurrence] of deleted.entries()) {
    const start = timeOf(child(occurrence, 'Start'));
    if (start === null) return { unreadable: `the Start of its deleted occurrence ${n + 1} is not a time (${describeValue(text(child(occurrence, 'Start')))})` };
    gone.push(start);
  }
  return { modified: moved, deleted: gone };
}

function timeOf(node: XmlValue | null): number | null {
  const value = text(node);
  const ms = ZONED_DATE_TIME.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isFinite(ms) ? ms : null;
}

/**
 * The recurrence with its exceptions, counted without the deleted occurrences (the agent's `occurrences` rule); when
 * they cannot be read, with the reason (the conflict check is then incomplete) and counted as the range says.
 */
function withExceptions(recurrence: NonNullable<MeetingRequest['recurrence']>, exceptions: SeriesExceptions | { unreadable: string }, first: number): NonNullable<MeetingRequest['recurrence']> {
  if ('unreadable' in exceptions) return { ...recurrence, exceptionsUnreadable: `The series' moved or deleted occurrences could not be read: ${exceptions.unreadable}.` };
  if (!recurrence.rule || (!exceptions.modified.length && !exceptions.deleted.length)) return recurrence;
  const occurrences = Number.isFinite(first) ? occurrenceCountWithout(recurrence.rule, { start: first }, recurrence.zone ?? 'UTC', exceptions.deleted) : recurrence.occurrences;
  return { ...recurrence, occurrences, exceptions };
}

const RANGES: Record<string, 'numbered' | 'endDate' | 'noEnd'> = { NumberedRecurrence: 'numbered', EndDateRecurrence: 'endDate', NoEndRecurrence: 'noEnd' };
const PATTERNS: Record<string, string> = {
  DailyRecurrence: 'daily',
  WeeklyRecurrence: 'weekly',
  AbsoluteMonthlyRecurrence: 'absoluteMonthly',
  RelativeMonthlyRecurrence: 'relativeMonthly',
  AbsoluteYearlyRecurrence: 'absoluteYearly',
  RelativeYearlyRecurrence: 'relativeYearly',
};
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
/** DayOfWeekType's names for several days (types.xsd): Day, Weekday, WeekendDay. */
const DAY_GROUPS: Record<string, string[]> = { day: ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'], weekday: ['monday', 'tuesday', 'wednesday', 'thursday', 'friday'], weekendday: ['saturday', 'sunday'] };

/**
 * t:RecurrenceType read into Graph's shape (targets/meetings.ts recurrenceRule): its pattern and range, counted in the
 * series' zone (StartTimeZoneId, a Windows zone name); a series whose Recurrence cannot be read counts as without end.
 */
function recurrenceOf(recurrence: XmlValue | null, zoneId: string): NonNullable<MeetingRequest['recurrence']> {
  const parts = recurrence && typeof recurrence === 'object' ? Object.keys(recurrence) : [];
  const rangeName = parts.find((name) => name in RANGES);
  const patternName = parts.find((name) => name in PATTERNS);
  if (!rangeName || !patternName) return { occurrences: null };
  const range = child(recurrence, rangeName);
  const pattern = child(recurrence, patternName);
  const days = text(child(pattern, 'DaysOfWeek')).toLowerCase().split(/\s+/).filter(Boolean).slice(0, 7).flatMap((day) => DAY_GROUPS[day] ?? [day]);
  const number = (name: string) => (text(child(pattern, name)) ? Number(text(child(pattern, name))) : undefined);
  const month = MONTHS.indexOf(text(child(pattern, 'Month')).toLowerCase()) + 1;
  const rule = recurrenceRule(
    { type: PATTERNS[patternName], interval: number('Interval') ?? 1, daysOfWeek: days, dayOfMonth: number('DayOfMonth'), month: month || undefined, index: text(child(pattern, 'DayOfWeekIndex')).toLowerCase() || undefined, firstDayOfWeek: text(child(pattern, 'FirstDayOfWeek')).toLowerCase() || undefined },
    { type: RANGES[rangeName], startDate: text(child(range, 'StartDate')), endDate: text(child(range, 'EndDate')), numberOfOccurrences: Number(text(child(range, 'NumberOfOccurrences'))) },
  );
  return seriesLength(rule, zoneId || null);
}
