// The resource agent's requests on Microsoft Graph (targets/meetings.ts): one request per call.
//
// - Reading: `GET /users/{m}/calendarView/delta` (https://learn.microsoft.com/graph/api/event-delta,
//   https://learn.microsoft.com/graph/delta-query-events): the first round returns the meetings of the window, later
//   rounds what changed, through @odata.nextLink to an @odata.deltaLink kept as the cursor. A meeting request is the
//   mailbox's copy of someone else's meeting (`isOrganizer` false) whose `responseStatus` is `none` / `notResponded`.
//   Graph answers through that calendar copy only — the `event` of an eventMessage "assumes … the Calendar Attendant
//   is set to automatically update the calendar" (https://learn.microsoft.com/graph/api/resources/eventmessage) — so a
//   mailbox the agent serves over Graph runs the Calendar Attendant: `AutomateProcessing AutoUpdate`, which places
//   requests tentatively and leaves the decision to a delegate (Set-CalendarProcessing), here calpush.
//   A recurring meeting comes as its occurrences and exceptions (`type` occurrence / exception, `seriesMasterId`,
//   `recurrence` null — https://learn.microsoft.com/graph/api/resources/event), never as its series master: each is a
//   request with `series`, and the agent reads the master once (`GET /users/{m}/events/{seriesMasterId}` with its
//   recurrence, https://learn.microsoft.com/graph/api/event-get) and its occurrences
//   (`GET …/events/{id}/instances`, https://learn.microsoft.com/graph/api/event-list-instances) to decide the series
//   and answer the master once.
// - Bookings: `GET /users/{m}/calendarView` of the request's time.
// - Answering: `POST /users/{m}/events/{id}/accept | tentativelyAccept | decline` with `comment` and `sendResponse`
//   (https://learn.microsoft.com/graph/api/event-accept, …/event-tentativelyaccept, …/event-decline).
// - Full mode: the organiser's meeting by `$filter=iCalUId eq '…'`, its body replaced by `PATCH` with If-Match
//   (https://learn.microsoft.com/graph/api/event-update: the organiser's update goes to the attendees).
import type { HttpResponse } from '../http.ts';
import type { Attendee, BookingPage, MeetingChanges, MeetingDesk, MeetingRequest, OccurrencePage, OrganizerMeeting, Reply } from '../meetings.ts';
import { CURSOR_REFUSED, recurrenceRule, seriesLength, SYNC_STATE_NOT_FOUND } from '../meetings.ts';
import { TargetError } from '../target.ts';
import { answerObject, collection, isJsonObject, link, text, type JsonObject } from './answers.ts';

export interface GraphConnection {
  base: string;
  mailboxPath(mailbox: string): string;
  send(mailbox: string, method: string, url: string, body: unknown, context: 'mailbox' | 'item', headers: Record<string, string>): Promise<HttpResponse>;
}

/** Times in UTC ("UTC assumed" without it, event-delta), pages of 50. */
const READ_PREFER = 'outlook.timezone="UTC", odata.maxpagesize=50';
/** A delta link longer than this is no link Graph gave (they carry a token of a few hundred characters). */
const MAX_CURSOR_CHARS = 65_536;
const ACTIONS: Record<Reply, string> = { accept: 'accept', tentative: 'tentativelyAccept', decline: 'decline' };
/** What the agent reads of a series master: what requestOf reads of any event. */
const MASTER_SELECT = 'iCalUId,subject,isOrganizer,isCancelled,isAllDay,organizer,responseStatus,start,end,location,attendees,recurrence,originalStartTimeZone,type,changeKey';

/** What Graph should send; each field is read as untrusted (answers.ts `text`, type checks), whatever came. */
interface GraphEvent {
  id?: string;
  '@removed'?: unknown;
  changeKey?: string;
  '@odata.etag'?: string;
  iCalUId?: string;
  subject?: string;
  isOrganizer?: boolean;
  isCancelled?: boolean;
  isAllDay?: boolean;
  showAs?: string;
  organizer?: { emailAddress?: { address?: string } };
  responseStatus?: { response?: string };
  start?: { dateTime?: string; timeZone?: string };
  end?: { dateTime?: string; timeZone?: string };
  location?: { displayName?: string };
  attendees?: Array<{ type?: string; emailAddress?: { address?: string } }>;
  type?: string;
  seriesMasterId?: string;
  recurrence?: { pattern?: Record<string, unknown>; range?: Record<string, unknown> & { recurrenceTimeZone?: string } } | null;
  originalStartTimeZone?: string;
  body?: { contentType?: string; content?: string };
}

export class GraphMeetingDesk implements MeetingDesk {
  readonly kind = 'graph' as const;
  private readonly graph: GraphConnection;
  constructor(graph: GraphConnection) {
    this.graph = graph;
  }

  private users(mailbox: string): string {
    return `${this.graph.base}${this.graph.mailboxPath(mailbox)}`;
  }

  /**
   * A link Graph gave as @odata.nextLink / @odata.deltaLink: a URL of this service's origin on a calendarView delta.
   * Anything else is never sent — the request carries the app's token, and must not go elsewhere.
   */
  private isDeltaLink(cursor: string): boolean {
    if (cursor.length > MAX_CURSOR_CHARS || !URL.canParse(cursor)) return false;
    const url = new URL(cursor);
    return url.origin === new URL(this.graph.base).origin && /\/calendarView\/delta$/i.test(url.pathname);
  }

  async changes(mailbox: string, cursor: string | null, window: { start: number; end: number }): Promise<MeetingChanges> {
    if (cursor !== null && !this.isDeltaLink(cursor)) throw new TargetError('item', CURSOR_REFUSED, `the stored cursor of ${mailbox} is not a calendarView delta link of ${new URL(this.graph.base).origin}`);
    const url = cursor ?? `${this.users(mailbox)}/calendarView/delta?startDateTime=${iso(window.start)}&endDateTime=${iso(window.end)}`;
    let response: HttpResponse;
    try {
      response = await this.graph.send(mailbox, 'GET', url, undefined, 'mailbox', { prefer: READ_PREFER });
    } catch (error) {
      // "older delta tokens are deleted" (delta-query-overview): 410 Gone, start the round again.
      if (error instanceof TargetError && error.status === 410) throw new TargetError('item', SYNC_STATE_NOT_FOUND, `Graph no longer knows the delta token of ${mailbox}: ${error.message}`, { status: 410 });
      // A token Graph cannot read (400 Bad Request on our own link): the link is the problem, not the request.
      if (error instanceof TargetError && error.status === 400 && cursor !== null) throw new TargetError('item', CURSOR_REFUSED, `Graph refused the delta link of ${mailbox}: ${error.message}`, { status: 400 });
      throw error;
    }
    const what = `the calendarView delta page of ${mailbox}`;
    const page = answerObject(response.body, what);
    const requests = collection(page, what).flatMap((event) => requestOf(event as GraphEvent) ?? []);
    const next = link(page, '@odata.nextLink', what);
    const delta = link(page, '@odata.deltaLink', what);
    if (!next && !delta) throw new TargetError('transient', 'NoDeltaLink', 'a calendarView delta page carries neither @odata.nextLink nor @odata.deltaLink');
    return { requests, cursor: (next ?? delta)!, more: Boolean(next) };
  }

  /** A calendarView page (pages of 50, READ_PREFER); the next through @odata.nextLink (https://learn.microsoft.com/graph/paging). */
  async bookings(mailbox: string, start: number, end: number, next?: string | null): Promise<BookingPage> {
    const url = next ?? `${this.users(mailbox)}/calendarView?startDateTime=${iso(start)}&endDateTime=${iso(end)}&$select=iCalUId,start,end,showAs,isCancelled,seriesMasterId&$top=500`;
    const response = await this.graph.send(mailbox, 'GET', url, undefined, 'mailbox', { prefer: READ_PREFER });
    const what = `the calendarView of ${mailbox}`;
    const page = answerObject(response.body, what);
    const events = collection(page, what) as GraphEvent[];
    const bookings = events
      .filter((e) => !e.isCancelled && (e.showAs === 'busy' || e.showAs === 'tentative' || e.showAs === 'oof' || e.showAs === 'workingElsewhere'))
      .map((e) => {
        const seriesMasterId = text(e.seriesMasterId);
        return { uid: text(e.iCalUId) ?? text(e.id) ?? '', start: instant(e.start), end: instant(e.end), ...(seriesMasterId ? { seriesMasterId } : {}) };
      });
    return { bookings, next: link(page, '@odata.nextLink', what) ?? null };
  }

  /** The series master by its id (event-get), as a request; null when the mailbox no longer has it (404). */
  async seriesMaster(mailbox: string, request: MeetingRequest): Promise<MeetingRequest | null> {
    const masterId = request.series?.masterId ?? request.itemId;
    const url = `${this.users(mailbox)}/events/${encodeURIComponent(masterId)}?$select=${MASTER_SELECT}`;
    let response: HttpResponse;
    try {
      response = await this.graph.send(mailbox, 'GET', url, undefined, 'item', { prefer: READ_PREFER });
    } catch (error) {
      if (error instanceof TargetError && error.status === 404) return null;
      throw error;
    }
    const master = answerObject(response.body, `the series master ${masterId} of ${mailbox}`) as GraphEvent;
    return requestOf({ ...master, id: text(master.id) ?? masterId });
  }

  /** A page of the series' occurrences and exceptions (event-list-instances: cancelled ones are not listed). */
  async occurrences(mailbox: string, master: MeetingRequest, start: number, end: number, next?: string | null): Promise<OccurrencePage> {
    const url = next ?? `${this.users(mailbox)}/events/${encodeURIComponent(master.itemId)}/instances?startDateTime=${iso(start)}&endDateTime=${iso(end)}&$select=start,end,isCancelled&$top=50`;
    const response = await this.graph.send(mailbox, 'GET', url, undefined, 'mailbox', { prefer: READ_PREFER });
    const what = `the occurrences of ${master.subject || master.uid} in ${mailbox}`;
    const page = answerObject(response.body, what);
    const occurrences = (collection(page, what) as GraphEvent[]).filter((e) => e.isCancelled !== true).map((e) => ({ start: instant(e.start), end: instant(e.end) }));
    return { occurrences, next: link(page, '@odata.nextLink', what) ?? null };
  }

  async respond(mailbox: string, request: MeetingRequest, reply: Reply, comment: string, notify: boolean): Promise<void> {
    const url = `${this.users(mailbox)}/events/${encodeURIComponent(request.itemId)}/${ACTIONS[reply]}`;
    await this.graph.send(mailbox, 'POST', url, { comment, sendResponse: notify }, 'item', {});
  }

  async organizerMeeting(organizer: string, uid: string): Promise<OrganizerMeeting | null> {
    const filter = encodeURIComponent(`iCalUId eq '${uid.replace(/'/g, "''")}'`);
    const url = `${this.users(organizer)}/events?$filter=${filter}&$select=id,body,changeKey,isOrganizer&$top=2`;
    const response = await this.graph.send(organizer, 'GET', url, undefined, 'mailbox', {});
    const what = `the events of ${organizer} with iCalUId ${uid}`;
    const event = (collection(answerObject(response.body, what), what) as GraphEvent[]).find((e) => e.isOrganizer !== false && typeof e.id === 'string');
    if (!event) return null;
    return { itemId: event.id!, changeKey: etag(event), body: bodyOf(event) };
  }

  async updateOrganizerBody(organizer: string, meeting: OrganizerMeeting, body: OrganizerMeeting['body']): Promise<OrganizerMeeting> {
    const url = `${this.users(organizer)}/events/${encodeURIComponent(meeting.itemId)}`;
    const headers: Record<string, string> = meeting.changeKey ? { 'if-match': meeting.changeKey } : {};
    let response: HttpResponse;
    try {
      response = await this.graph.send(organizer, 'PATCH', url, { body: { contentType: body.contentType === 'html' ? 'html' : 'text', content: body.content } }, 'item', headers);
    } catch (error) {
      // 412: the organiser changed the meeting since it was read; the agent reads it again (not a retry of the same write).
      if (error instanceof TargetError && error.status === 412) throw new TargetError('item', 'ChangedSinceRead', `the organiser's meeting changed since it was read: ${error.message}`, { status: 412 });
      throw error;
    }
    const updated = answerObject(response.body, `the updated meeting of ${organizer}`) as GraphEvent;
    return { itemId: text(updated.id) ?? meeting.itemId, changeKey: etag(updated), body };
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function etag(event: GraphEvent): string | null {
  const changeKey = text(event.changeKey);
  return text(event['@odata.etag']) ?? (changeKey ? `W/"${changeKey}"` : null);
}

function bodyOf(event: GraphEvent): OrganizerMeeting['body'] {
  return { contentType: (text(event.body?.contentType) ?? 'text').toLowerCase() === 'html' ? 'html' : 'text', content: text(event.body?.content) ?? '' };
}

/** A dateTimeTimeZone read with Prefer outlook.timezone="UTC" (a value with its own offset is read as written). */
function instant(value: GraphEvent['start']): number {
  const written = text(value?.dateTime) ?? '';
  const zone = (text(value?.timeZone) ?? 'UTC').toUpperCase();
  const ms = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(written) ? written : `${written.replace(/(\.\d{3})\d*$/, '$1')}Z`);
  if (Number.isNaN(ms) || (zone !== 'UTC' && zone !== 'ETC/UTC' && zone !== 'COORDINATED UNIVERSAL TIME')) return Number.NaN;
  return ms;
}

/** The agent mailbox's copy of another's meeting as a request; null for its own events and deleted ones. */
function requestOf(event: GraphEvent): MeetingRequest | null {
  const uid = text(event.iCalUId);
  const id = text(event.id);
  if (event['@removed'] !== undefined || event.isOrganizer !== false || !uid || !id) return null;
  const response = text(event.responseStatus?.response) ?? 'none';
  const type = text(event.type);
  const seriesMasterId = text(event.seriesMasterId);
  const series: Pick<MeetingRequest, 'series'> = seriesMasterId && (type === 'occurrence' || type === 'exception') ? { series: { masterId: seriesMasterId, kind: type } } : {};
  const state = event.isCancelled ? 'cancelled' : response === 'none' || response === 'notResponded' ? 'pending' : 'answered';
  return {
    uid,
    itemId: id,
    changeKey: etag(event),
    state,
    informational: false,
    subject: text(event.subject) ?? '',
    organizer: (text(event.organizer?.emailAddress?.address) ?? '').toLowerCase(),
    start: instant(event.start),
    end: instant(event.end),
    isAllDay: event.isAllDay === true,
    recurrence: recurrenceOf(event.recurrence, text(event.originalStartTimeZone)),
    attendees: (Array.isArray(event.attendees) ? event.attendees : []).filter(isJsonObject).map(attendeeOf).filter((a): a is Attendee => a !== null),
    location: text(event.location?.displayName) ?? '',
    ...series,
  };
}

function attendeeOf(attendee: JsonObject & NonNullable<GraphEvent['attendees']>[number]): Attendee | null {
  const address = text(attendee.emailAddress?.address)?.toLowerCase();
  if (!address) return null;
  const type = attendee.type === 'optional' || attendee.type === 'resource' ? attendee.type : 'required';
  return { address, type };
}

/**
 * The series' length (https://learn.microsoft.com/graph/api/resources/recurrencerange), counted by seriesLength in the
 * series' zone: `range.recurrenceTimeZone` — "the time zone for the startDate and endDate properties … If not
 * specified, the time zone of the event is used" (the master's originalStartTimeZone, as created).
 */
export function recurrenceOf(recurrence: GraphEvent['recurrence'], eventZone?: string): MeetingRequest['recurrence'] {
  if (!recurrence) return null;
  const range = isJsonObject(recurrence.range) ? recurrence.range : {};
  const zone = text(range.recurrenceTimeZone) ?? eventZone;
  return seriesLength(recurrenceRule(isJsonObject(recurrence.pattern) ? recurrence.pattern : {}, range), zone);
}
