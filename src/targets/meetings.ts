// What the resource agent (src/agent/) asks of a service about the meeting requests of a room or equipment mailbox:
// read what changed, see the mailbox's bookings, answer, and — in the full mode of Pexip's flow — read and update
// the organiser's meeting. Graph (graph/meetings.ts) and EWS (ews/meetings.ts) implement it; each call is one
// request, so the scheduler counts, gates and retries each (engine/scheduler.ts), as for the calendar targets.
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
   * where the service says it (ms), else absent or null.
   */
  recurrence: { occurrences: number | null; until?: number | null } | null;
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
 * numbered says it, no end has none, an end date is counted for daily and weekly patterns (other patterns: at most
 * one a month, counted so).
 */
export function seriesLength(
  pattern: { type: 'daily' | 'weekly' | 'other'; interval: unknown; days: number },
  range: { type: 'numbered' | 'endDate' | 'noEnd'; startDate?: string | undefined; endDate?: string | undefined; count?: unknown },
): NonNullable<MeetingRequest['recurrence']> {
  const count = range.count;
  if (range.type === 'numbered') return { occurrences: typeof count === 'number' && Number.isSafeInteger(count) && count > 0 ? count : null };
  if (range.type !== 'endDate' || !range.startDate || !range.endDate) return { occurrences: null };
  const days = Math.floor((Date.parse(`${range.endDate}T00:00:00Z`) - Date.parse(`${range.startDate}T00:00:00Z`)) / 86_400_000) + 1;
  // The last occurrence starts on endDate at the latest, in the series' zone: by UTC+14 (the furthest zone) the end
  // of that day is endDate + 38 h in UTC; the agent adds the meeting's length (run.ts heldUntil).
  const lastDay = Date.parse(`${range.endDate}T00:00:00Z`);
  const until = Number.isFinite(lastDay) ? lastDay + 38 * 3_600_000 : null;
  const interval = typeof pattern.interval === 'number' && Number.isFinite(pattern.interval) ? Math.max(1, pattern.interval) : 1;
  if (!Number.isFinite(days) || days < 1) return { occurrences: null, until };
  if (pattern.type === 'daily') return { occurrences: Math.ceil(days / interval), until };
  if (pattern.type === 'weekly') return { occurrences: Math.ceil(days / (7 * interval)) * Math.max(1, pattern.days), until };
  return { occurrences: Math.ceil(days / (28 * interval)), until };
}
