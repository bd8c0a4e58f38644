// The resource agent's policy: what a room or equipment mailbox answers to one meeting request. Pure — the request,
// the policy and what the mailbox's calendar holds go in, an answer with its reason comes out; no clock of its own
// (`calendar.now`), no I/O.
//
// The rules are those of Exchange's Resource Booking Attendant, which calpush stands in for on a mailbox with
// `AutomateProcessing None` (https://learn.microsoft.com/powershell/module/exchange/set-calendarprocessing):
// BookingWindowInDays, MaximumDurationInMinutes, ScheduleOnlyDuringWorkHours (with the mailbox's working hours),
// AllowRecurringMeetings, BookInPolicy (who may book), AllowConflicts, and the room's capacity (ResourceCapacity).
// Pexip's VMR equipment mailbox allows conflicts ("meetings may be scheduled at the same time by different users",
// `Set-CalendarProcessing -AllowConflicts $true`): every meeting gets its own virtual room.
import { utcMsToZoned } from '../model/time.ts';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export interface WorkingHours {
  /** IANA zone the hours are in. */
  timeZone: string;
  days: Weekday[];
  /** "HH:MM", start < end, both in the zone. */
  start: string;
  end: string;
}

export interface AgentPolicy {
  /** How far ahead a meeting may start, in days (0: no limit). Exchange's default is 180. */
  bookingWindowDays: number;
  /** Longest meeting in minutes (0: no limit). */
  maximumDurationMinutes: number;
  /** Meetings must lie within these hours; null: any time. */
  workingHours: WorkingHours | null;
  recurring: { allowed: boolean; maxOccurrences: number | null };
  /**
   * Who may book: addresses, domains and groups (lower case; a group's members are read before deciding and passed to
   * decide(), which stays pure); null: anyone.
   */
  organizers: { addresses: string[]; domains: string[]; groups: string[] } | null;
  /** A clash with another accepted or tentative booking: declined, or allowed (the VMR default). */
  conflicts: 'decline' | 'allow';
  /** The room's seats and what a meeting with more attendees gets; null: not checked. */
  capacity: { seats: number; over: 'decline' | 'tentative' } | null;
}

export interface BookingRequest {
  /** The meeting across mailboxes (iCalUId / UID): its own earlier booking is no clash. */
  uid: string;
  organizer: string;
  /** Instants (ms since epoch UTC). */
  start: number;
  end: number;
  isAllDay: boolean;
  /**
   * null: a single meeting; occurrences null: a series without end. `until`: the end of its last occurrence where
   * known — a series whose first occurrence has passed is in the past only once that has (null: not known, never).
   */
  recurrence: { occurrences: number | null; until?: number | null } | null;
  /** People invited (required and optional; resources not counted). */
  attendeeCount: number;
  /**
   * A series: its Graph series master's id (its own occurrences are no clash) and the occurrences whose times the
   * conflict rule checks (absent: the request's own start…end).
   */
  seriesMasterId?: string;
  occurrences?: ReadonlyArray<{ start: number; end: number }>;
}

export interface CalendarView {
  /** What time it is (the caller's Clock). */
  now: number;
  /** Accepted or tentative bookings of the mailbox around the request. */
  busy: ReadonlyArray<{ uid: string; start: number; end: number; subject?: string; seriesMasterId?: string }>;
}

export type Rule = 'organizer' | 'past' | 'bookingWindow' | 'maximumDuration' | 'workingHours' | 'recurring' | 'occurrences' | 'capacity' | 'conflict' | 'provider';

export type Decision = { answer: 'accept'; reason: string } | { answer: 'tentative' | 'decline'; reason: string; rule: Rule };

const DAY_MS = 86_400_000;

/** The policy Exchange gives a resource mailbox, and Pexip's VMR mailbox (conflicts allowed, 1080 days, no maximum). */
export const ROOM_DEFAULTS: AgentPolicy = {
  bookingWindowDays: 180,
  maximumDurationMinutes: 1440,
  workingHours: null,
  recurring: { allowed: true, maxOccurrences: null },
  organizers: null,
  conflicts: 'decline',
  capacity: null,
};
export const VMR_DEFAULTS: AgentPolicy = { ...ROOM_DEFAULTS, bookingWindowDays: 1080, maximumDurationMinutes: 0, conflicts: 'allow' };

/** The answer to one request: the first rule it breaks decides (a decline, or tentative for a capacity set so), else accept. */
export function decide(request: BookingRequest, policy: AgentPolicy, calendar: CalendarView, groupMembers: ReadonlySet<string> = NO_MEMBERS): Decision {
  for (const check of CHECKS) {
    const broken = check(request, policy, calendar, groupMembers);
    if (broken) return broken;
  }
  return { answer: 'accept', reason: 'Your request was accepted.' };
}

type Check = (request: BookingRequest, policy: AgentPolicy, calendar: CalendarView, groupMembers: ReadonlySet<string>) => Decision | null;

const NO_MEMBERS: ReadonlySet<string> = new Set();

const decline = (rule: Rule, reason: string): Decision => ({ answer: 'decline', rule, reason });

const CHECKS: Check[] = [
  function organizer(request, policy, _calendar, groupMembers) {
    if (!policy.organizers || mayBook(request.organizer, policy.organizers, groupMembers)) return null;
    return decline('organizer', `${request.organizer} is not allowed to book this resource.`);
  },
  function past(request, _policy, calendar) {
    const lastEnd = request.recurrence ? (request.recurrence.until ?? Number.POSITIVE_INFINITY) : request.end;
    return lastEnd <= calendar.now ? decline('past', 'The meeting is in the past.') : null;
  },
  function bookingWindow(request, policy, calendar) {
    if (policy.bookingWindowDays === 0 || request.start <= calendar.now + policy.bookingWindowDays * DAY_MS) return null;
    return decline('bookingWindow', `The meeting starts more than ${policy.bookingWindowDays} days ahead, beyond this resource's booking window.`);
  },
  function maximumDuration(request, policy) {
    if (policy.maximumDurationMinutes === 0 || request.end - request.start <= policy.maximumDurationMinutes * 60_000) return null;
    return decline('maximumDuration', `The meeting is longer than ${policy.maximumDurationMinutes} minutes, the most this resource can be booked for.`);
  },
  function workingHours(request, policy) {
    const hours = policy.workingHours;
    if (!hours || withinWorkingHours(request, hours)) return null;
    return decline('workingHours', `The meeting is outside this resource's working hours (${hours.days.join(', ')} ${hours.start}–${hours.end}, ${hours.timeZone}).`);
  },
  function recurring(request, policy) {
    return request.recurrence && !policy.recurring.allowed ? decline('recurring', 'This resource does not accept recurring meetings.') : null;
  },
  function occurrences(request, policy) {
    const limit = policy.recurring.maxOccurrences;
    if (!request.recurrence || limit === null) return null;
    const count = request.recurrence.occurrences;
    if (count !== null && count <= limit) return null;
    return decline('occurrences', count === null ? `A series without an end date cannot be booked: at most ${limit} occurrences.` : `The series has ${count} occurrences; at most ${limit} can be booked.`);
  },
  function capacity(request, policy) {
    const room = policy.capacity;
    if (!room || request.attendeeCount <= room.seats) return null;
    const reason = `The meeting has ${request.attendeeCount} attendees; this room seats ${room.seats}.`;
    return room.over === 'tentative' ? { answer: 'tentative', rule: 'capacity', reason: `${reason} A person will confirm the booking.` } : decline('capacity', reason);
  },
  function conflict(request, policy, calendar) {
    if (policy.conflicts === 'allow') return null;
    const times = request.occurrences ?? [request];
    const own = (b: CalendarView['busy'][number]) => b.uid === request.uid || (b.seriesMasterId !== undefined && b.seriesMasterId === request.seriesMasterId);
    const clash = times.find((t) => calendar.busy.some((b) => !own(b) && b.start < t.end && t.start < b.end));
    if (!clash) return null;
    // A series names the first occurrence that clashes (Exchange's booking attendant declines a series with conflicts
    // beyond MaximumConflictInstances, here 0: https://learn.microsoft.com/powershell/module/exchange/set-calendarprocessing).
    return decline('conflict', request.occurrences ? `The resource is already booked at the time of the occurrence on ${new Date(clash.start).toISOString().slice(0, 16).replace('T', ' ')} UTC.` : 'The resource is already booked at this time.');
  },
];

/** The organiser's address is listed, or its domain is, or it is a member of an allowed group (`groupMembers`). */
export function mayBook(organizer: string, allowed: { addresses: string[]; domains: string[] }, groupMembers: ReadonlySet<string> = NO_MEMBERS): boolean {
  const address = organizer.toLowerCase();
  const domain = address.slice(address.lastIndexOf('@') + 1);
  return allowed.addresses.includes(address) || allowed.domains.includes(domain) || groupMembers.has(address);
}

/**
 * Start and end on one working day, inside its hours, in the hours' zone. An all-day meeting is never within
 * working hours (it spans the whole day), as with Exchange's ScheduleOnlyDuringWorkHours.
 */
export function withinWorkingHours(request: Pick<BookingRequest, 'start' | 'end' | 'isAllDay'>, hours: WorkingHours): boolean {
  if (request.isAllDay) return false;
  const start = utcMsToZoned(request.start, hours.timeZone);
  const end = utcMsToZoned(request.end, hours.timeZone);
  const day = start.slice(0, 10);
  const lastMinute = utcMsToZoned(request.end - 1, hours.timeZone).slice(0, 10);
  if (lastMinute !== day || !hours.days.includes(weekdayOf(day))) return false;
  const from = start.slice(11, 16);
  const to = end.slice(0, 10) === day ? end.slice(11, 16) : '24:00';
  return from >= hours.start && to <= hours.end;
}

function weekdayOf(date: string): Weekday {
  // 1970-01-01 was a Thursday.
  const days = Math.floor(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
  return WEEKDAYS[(((days + 3) % 7) + 7) % 7]!;
}
