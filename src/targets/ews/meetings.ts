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
//   and SyncFolderItems do not return it — for the agent's `recurring` and `occurrences` rules;
// - bookings: `FindItem` with a CalendarView of the request's time;
// - full mode: the organiser's meeting by `FindItem` with a Restriction on calendar:UID and `GetItem` of its Body, then
//   `UpdateItem` of the Body with `SendMeetingInvitationsOrCancellations="SendToAllAndSaveCopy"` (the organiser's
//   update goes to every attendee) — under impersonation of the organiser (Pexip: "impersonating all users").
import type { Attendee, BookingPage, MeetingChanges, MeetingDesk, MeetingRequest, OrganizerMeeting, Reply } from '../meetings.ts';
import { seriesLength, SYNC_STATE_NOT_FOUND } from '../meetings.ts';
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
    const node = message.node;
    const state = text(child(node, 'SyncState'));
    if (!state) throw new TargetError('transient', 'NoSyncState', 'a SyncFolderItems answer carries no SyncState');
    const requests: MeetingRequest[] = [];
    const changes = child(node, 'Changes');
    for (const kind of ['Create', 'Update']) {
      for (const change of children(changes, kind)) {
        for (const item of children(change, 'MeetingRequest')) {
          const request = requestOf(item, 'pending');
          if (request) requests.push(request);
        }
        for (const item of children(change, 'MeetingCancellation')) {
          const request = requestOf(item, 'cancelled');
          if (request) requests.push(request);
        }
      }
    }
    return { requests, cursor: state, more: text(child(node, 'IncludesLastItemInRange')) === 'false' };
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
    const root = child(message.node, 'RootFolder');
    const items = children(child(root, 'Items'), 'CalendarItem');
    const bookings = items
      .filter((item) => text(child(item, 'IsCancelled')) !== 'true' && text(child(item, 'LegacyFreeBusyStatus')) !== 'Free')
      .map((item) => ({ uid: text(child(item, 'UID')), start: Date.parse(text(child(item, 'Start'))), end: Date.parse(text(child(item, 'End'))) }));
    if (attr(root, 'IncludesLastItemInRange') !== 'false' || !items.length) return { bookings, next: null };
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

  /** The request with its series' Recurrence (GetItem, IdOnly plus calendar:Recurrence); null when it is gone. */
  async seriesMaster(mailbox: string, request: MeetingRequest): Promise<MeetingRequest | null> {
    const body = el(
      'm:GetItem',
      {},
      el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, el('t:FieldURI', { FieldURI: 'calendar:Recurrence' }))),
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
    return { ...single, recurrence: recurrenceOf(child(item, 'Recurrence')) };
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
    const item = children(child(child(found.node, 'RootFolder'), 'Items'), 'CalendarItem').find((i) => text(child(i, 'IsOrganizer')) !== 'false');
    const id = item ? child(item, 'ItemId') : null;
    if (!id) return null;
    const get = el(
      'm:GetItem',
      {},
      el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, el('t:FieldURI', { FieldURI: 'item:Body' }))),
      el('m:ItemIds', {}, el('t:ItemId', { Id: attr(id, 'Id')!, ChangeKey: attr(id, 'ChangeKey') })),
    );
    const read = await this.ews.call(organizer, 'GetItem', get, 'get');
    const event = child(child(read.node, 'Items'), 'CalendarItem');
    const itemId = child(event, 'ItemId');
    const bodyNode = child(event, 'Body');
    return {
      itemId: attr(itemId, 'Id') ?? attr(id, 'Id')!,
      changeKey: attr(itemId, 'ChangeKey') ?? attr(id, 'ChangeKey') ?? null,
      body: { contentType: attr(bodyNode, 'BodyType') === 'HTML' ? 'html' : 'text', content: text(bodyNode) },
    };
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

/** A MeetingRequest (pending, or an informational update) or a MeetingCancellation; null for an outdated request. */
function requestOf(item: XmlValue, state: 'pending' | 'cancelled'): MeetingRequest | null {
  const id = child(item, 'ItemId');
  const uid = text(child(item, 'UID'));
  if (!id || !uid || (state === 'pending' && text(child(item, 'IsOutOfDate')) === 'true')) return null;
  const recurring = text(child(item, 'IsRecurring')) === 'true';
  return {
    uid,
    itemId: attr(id, 'Id')!,
    changeKey: attr(id, 'ChangeKey') ?? null,
    state,
    informational: text(child(item, 'MeetingRequestType')) === 'InformationalUpdate',
    subject: text(child(item, 'Subject')),
    organizer: addressOf(child(item, 'Organizer')) || addressOf(child(item, 'From')),
    start: Date.parse(text(child(item, 'Start'))),
    end: Date.parse(text(child(item, 'End'))),
    isAllDay: text(child(item, 'IsAllDayEvent')) === 'true',
    // A request's Default shape says only that it is recurring: its Recurrence is read by seriesMaster (GetItem);
    // until then a series counts as without end.
    recurrence: recurring ? { occurrences: null } : null,
    ...(recurring && state === 'pending' ? { series: { masterId: attr(id, 'Id')!, kind: 'master' as const } } : {}),
    attendees: [...attendees(item, 'RequiredAttendees', 'required'), ...attendees(item, 'OptionalAttendees', 'optional'), ...attendees(item, 'Resources', 'resource')],
    location: text(child(item, 'Location')),
  };
}

const RANGES: Record<string, 'numbered' | 'endDate' | 'noEnd'> = { NumberedRecurrence: 'numbered', EndDateRecurrence: 'endDate', NoEndRecurrence: 'noEnd' };
const PATTERNS: Record<string, 'daily' | 'weekly'> = { DailyRecurrence: 'daily', WeeklyRecurrence: 'weekly' };

/** t:RecurrenceType read: its range (a series without one counts as without end), its pattern for an end date. */
function recurrenceOf(recurrence: XmlValue | null): NonNullable<MeetingRequest['recurrence']> {
  const parts = recurrence && typeof recurrence === 'object' ? Object.keys(recurrence) : [];
  const rangeName = parts.find((name) => name in RANGES);
  const patternName = parts.find((name) => name.endsWith('Recurrence') && !(name in RANGES));
  if (!rangeName) return { occurrences: null };
  const range = child(recurrence, rangeName);
  const pattern = child(recurrence, patternName ?? '');
  const days = text(child(pattern, 'DaysOfWeek')).split(/\s+/).filter(Boolean).length;
  return seriesLength(
    { type: PATTERNS[patternName ?? ''] ?? 'other', interval: Number(text(child(pattern, 'Interval')) || 1), days },
    { type: RANGES[rangeName]!, startDate: text(child(range, 'StartDate')).slice(0, 10), endDate: text(child(range, 'EndDate')).slice(0, 10), count: Number(text(child(range, 'NumberOfOccurrences'))) },
  );
}
