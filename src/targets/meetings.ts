// What the resource agent (src/agent/) asks of a service about the meeting requests of a room or equipment mailbox:
// read what changed, see the mailbox's bookings, answer, and — in the full mode of Pexip's flow — read and update
// the organiser's meeting. Graph (graph/meetings.ts) and EWS (ews/meetings.ts) implement it; each call is one
// request, so the scheduler counts, gates and retries each (engine/scheduler.ts), as for the calendar targets.
import { findIana } from 'windows-iana';
import { endOfDateIn, occurrenceCount, type RecurrencePattern, type RecurrenceRule, type SeriesExceptions } from '../model/recurrence.ts';
import { canonicalTimeZone } from '../model/time.ts';
import type { ServiceLane } from './target.ts';

export type Attendee = { address: string; type: 'required' | 'optional' | 'resource' };

/** A meeting as the agent mailbox sees it (its calendar copy, or the request in its inbox). */
export interface MeetingRequest {
  /** The meeting across mailboxes: Graph iCalUId, EWS UID. */
  uid: string;
  /** What an answer refers to: Graph the event's id; EWS the meeting request's (or the calendar item's) ItemId. */
  itemId: string;
  changeKey: string | null;
  /** pending: waits for an answer; answered: the mailbox's copy answered already; cancelled: the organiser cancelled it. */
  state: 'pending' | 'answered' | 'cancelled';
  /** An update that changed nothing but the text (EWS: an informational update): the answer stands. */
  informational: boolean;
  subject: string;
  organizer: string;
  start: number;
  end: number;
  isAllDay: boolean;
  /**
   * null: a single meeting; occurrences null: no end (or not said). `until`: the end of the series' last occurrence
   * where the service says it (ms), else absent or null. `rule`, `zone`: the series' pattern and range and its zone
   * (IANA) where they were read — the agent expands an EWS series' occurrences from them (series.ts). `exceptions`:
   * the occurrences the organiser moved or deleted (EWS ModifiedOccurrences / DeletedOccurrences), applied to that
   * expansion (`occurrences` already counts without the deleted ones); `exceptionsUnreadable`: why they could not be
   * read — the series' conflict check is then incomplete (tentative, a person confirms).
   */
  recurrence: { occurrences: number | null; until?: number | null; rule?: RecurrenceRule; zone?: string; exceptions?: SeriesExceptions; exceptionsUnreadable?: string } | null;
  attendees: Attendee[];
  location: string;
  /**
   * Part of a series whose range MeetingDesk.seriesMaster reads. Graph: an occurrence or exception of the series
   * master `masterId` (calendarView gives occurrences, not the master); EWS: a recurring request itself (`master`),
   * whose Recurrence the request's Default shape does not carry.
   */
  series?: { masterId: string; kind: 'occurrence' | 'exception' | 'master' };
}

/** An item of a changes page that could not be read: what was read of it, and why. */
export interface UnreadableItem {
  uid: string;
  subject: string;
  organizer: string;
  message: string;
}

export interface MeetingChanges {
  requests: MeetingRequest[];
  /**
   * Items of the page that could not be read (a field missing, of the wrong kind, over its bound): each is reported
   * as a failed request naming the item and the field, and the page's readable requests still go through.
   */
  unreadable?: UnreadableItem[];
  /** Where the next call reads on; `more`: the round is not over yet (another page waits). */
  cursor: string;
  more: boolean;
}

export interface Booking {
  uid: string;
  start: number;
  end: number;
  /** An occurrence of a series (Graph seriesMasterId): a series is no clash with its own occurrences. */
  seriesMasterId?: string;
}

/** One page of a series' occurrences (Graph /instances): their times, and where the next page reads on. */
export interface OccurrencePage {
  occurrences: Array<{ start: number; end: number }>;
  next: string | null;
}

export interface BookingPage {
  bookings: Booking[];
  /** Where the next page reads on (opaque); null: every booking of the time has been read. */
  next: string | null;
}

export interface OrganizerMeeting {
  itemId: string;
  changeKey: string | null;
  body: { contentType: 'html' | 'text'; content: string };
}

export type Reply = 'accept' | 'tentative' | 'decline';

export interface MeetingDesk {
  readonly kind: 'graph' | 'ews';
  /**
   * One page of the mailbox's meetings that changed since `cursor` (null: every meeting in `window`, the first round).
   * A cursor the service no longer knows is a TargetError with code `SyncStateNotFound`: start again from null.
   */
  changes(mailbox: string, cursor: string | null, window: { start: number; end: number }): Promise<MeetingChanges>;
  /**
   * One page of the mailbox's accepted and tentative bookings overlapping `start`…`end`: the first with `next`
   * null or absent, the following with the page's `next` until it is null (the agent reads a bounded number).
   */
  bookings(mailbox: string, start: number, end: number, next?: string | null): Promise<BookingPage>;
  /** Answers the request with `comment`; `notify` false answers without telling the organiser. */
  respond(mailbox: string, request: MeetingRequest, reply: Reply, comment: string, notify: boolean): Promise<void>;
  /**
   * The cancelled meeting taken off the mailbox's calendar (EWS: RemoveItem — with AutomateProcessing None nothing else
   * marks it, and it would stay busy); absent where the Calendar Attendant marks it cancelled itself (Graph).
   */
  removeCancelled?(mailbox: string, request: MeetingRequest): Promise<void>;
  /**
   * The series a request belongs to (`request.series`), as a request of its own, in one request: Graph the series
   * master by its id (its recurrence, its response: answering it answers the series); EWS the request with its
   * Recurrence read. null: the service no longer has it.
   */
  seriesMaster?(mailbox: string, request: MeetingRequest): Promise<MeetingRequest | null>;
  /** One page of the occurrences of the series `master` (from seriesMaster) within `start`…`end`; absent on EWS. */
  occurrences?(mailbox: string, master: MeetingRequest, start: number, end: number, next?: string | null): Promise<OccurrencePage>;
  /** The organiser's own copy of the meeting (full mode), or null when the organiser's mailbox has none. */
  organizerMeeting(organizer: string, uid: string): Promise<OrganizerMeeting | null>;
  /** Replaces the organiser's meeting body; the update goes to every attendee, as the organiser's own would. */
  updateOrganizerBody(organizer: string, meeting: OrganizerMeeting, body: OrganizerMeeting['body']): Promise<OrganizerMeeting>;
  /** Requests organizerMeeting sends (default 1): what it costs against the budgets. */
  readonly organizerMeetingCost?: number;
  /** The lane between everything and the mailbox (EWS: the service account), as CalendarTarget.laneFor. */
  laneFor?(mailbox: string): ServiceLane | null;
}

/** The service forgot the cursor (Graph 410 SyncStateNotFound, EWS ErrorInvalidSyncStateData): read from the start. */
export const SYNC_STATE_NOT_FOUND = 'SyncStateNotFound';

/**
 * The cursor cannot be used: the service refused it (Graph 400 on a deltaLink, EWS refusing the SyncState) or it is
 * not one at all (a stored value that is not a Graph URL of this service, not a SyncState). Read from the start, as
 * for SYNC_STATE_NOT_FOUND: a garbled cursor would otherwise fail the mailbox on every pass.
 */
export const CURSOR_REFUSED = 'CursorRefused';

/**
 * A series' length from its range and pattern, as Graph (https://learn.microsoft.com/graph/api/resources/recurrencerange)
 * and EWS (RecurrenceRangeTypes: NumberedRecurrence, EndDateRecurrence, NoEndRecurrence,
 * https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurrence-recurrencetype) say it:
 * numbered says it, no end has none, an end date is counted by walking the pattern's dates (model/recurrence.ts).
 * The dates are the series' own, in its zone (Graph `range.recurrenceTimeZone`, EWS `StartTimeZoneId`): its last
 * occurrence starts on endDate at the latest there; without a zone that can be read, by UTC+14 (the furthest zone)
 * — endDate + 38 h in UTC. The agent adds the meeting's length (run.ts heldUntil). The rule and zone are kept, so
 * the agent can expand the occurrences itself where the service does not (EWS).
 */
export function seriesLength(rule: RecurrenceRule | null, zoneName: string | null | undefined): NonNullable<MeetingRequest['recurrence']> {
  if (!rule) return { occurrences: null };
  const zone = seriesZone(zoneName);
  const kept = { rule, ...(zone ? { zone } : {}) };
  if (rule.range.type !== 'endDate') return { occurrences: occurrenceCount(rule), ...kept };
  const endDate = rule.range.endDate!;
  const until = zone ? endOfDateIn(endDate, zone) : Date.parse(`${endDate}T00:00:00Z`) + 38 * 3_600_000;
  return { occurrences: occurrenceCount(rule), until, ...kept };
}

/** An IANA zone from a Windows zone name (as Graph and EWS write them; windows-iana's CLDR table) or an IANA one. */
export function seriesZone(name: string | null | undefined): string | null {
  if (!name || name.length > 64) return null;
  if (name === 'UTC') return 'UTC';
  return canonicalTimeZone(findIana(name)[0] ?? name);
}

const PATTERN_TYPES = new Set<string>(['daily', 'weekly', 'absoluteMonthly', 'relativeMonthly', 'absoluteYearly', 'relativeYearly']);
const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** A recurrence read as untrusted into a RecurrenceRule; null when its pattern or range cannot be read (counted as without end). */
export function recurrenceRule(pattern: Record<string, unknown>, range: Record<string, unknown>): RecurrenceRule | null {
  const startDate = typeof range.startDate === 'string' ? range.startDate.slice(0, 10) : '';
  const endDate = typeof range.endDate === 'string' ? range.endDate.slice(0, 10) : '';
  const type = range.type === 'numbered' || range.type === 'endDate' ? range.type : 'noEnd';
  if (typeof pattern.type !== 'string' || !PATTERN_TYPES.has(pattern.type) || !DATE.test(startDate) || !Number.isFinite(Date.parse(startDate))) return null;
  if (type === 'endDate' && (!DATE.test(endDate) || !Number.isFinite(Date.parse(endDate)))) return null;
  const count = range.numberOfOccurrences;
  if (type === 'numbered' && !(typeof count === 'number' && Number.isSafeInteger(count) && count > 0)) return null;
  const days = Array.isArray(pattern.daysOfWeek) ? pattern.daysOfWeek.filter((d): d is string => typeof d === 'string').slice(0, 7) : [];
  const number = (value: unknown) => (typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined);
  const word = (value: unknown) => (typeof value === 'string' && value.length <= 16 ? value : undefined);
  return {
    pattern: { type: pattern.type as RecurrencePattern['type'], interval: number(pattern.interval) ?? 1, daysOfWeek: days, dayOfMonth: number(pattern.dayOfMonth), month: number(pattern.month), index: word(pattern.index), firstDayOfWeek: word(pattern.firstDayOfWeek) },
    range: { type, startDate, ...(type === 'endDate' ? { endDate } : {}), ...(type === 'numbered' ? { numberOfOccurrences: count as number } : {}) },
  };
}
