// Calendar processing of a mailbox (Set-CalendarProcessing) and the Resource Booking Attendant's decision for a
// room or equipment mailbox with AutomateProcessing AutoAccept. Settings, defaults and meanings are those of
// https://learn.microsoft.com/powershell/module/exchange/set-calendarprocessing; the sandbox acts on the ones a
// single (non-recurring) meeting can meet — the recurring-series limits (ConflictPercentageAllowed,
// MaximumConflictInstances, EnforceSchedulingHorizon) and working hours (ScheduleOnlyDuringWorkHours, which needs
// Set-MailboxCalendarConfiguration) are kept but have no effect.
import type { EventRecord } from './graph/store.ts';
import type { CalendarProcessing, MailboxSeed } from './types.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Microsoft's defaults. AutomateProcessing: "The default value for user mailboxes is AutoUpdate"; resource mailboxes
 * created after November 15, 2018 (Exchange Online) or in the EAC default to AutoAccept. */
export function defaultCalendarProcessing(kind: MailboxSeed['kind']): CalendarProcessing {
  return {
    automateProcessing: kind === 'user' ? 'AutoUpdate' : 'AutoAccept',
    allowConflicts: false,
    bookingWindowInDays: 180,
    maximumDurationInMinutes: 1440,
    allowRecurringMeetings: true,
    addNewRequestsTentatively: true,
    addOrganizerToSubject: true,
    deleteSubject: true,
    deleteComments: true,
    removeOldMeetingMessages: true,
    enableResponseDetails: true,
    enforceSchedulingHorizon: true,
    scheduleOnlyDuringWorkHours: false,
    conflictPercentageAllowed: 0,
    maximumConflictInstances: 0,
  };
}

/** Refuses what Set-CalendarProcessing would refuse: "this cmdlet is effective only on resource mailboxes"; BookingWindowInDays "0 through 1080". */
export function checkCalendarProcessing(kind: MailboxSeed['kind'], settings: Partial<CalendarProcessing>, address: string): void {
  if (kind === 'user' && settings.automateProcessing !== undefined && settings.automateProcessing !== 'AutoUpdate') {
    throw new Error(`sandbox: ${address} is a user mailbox; its AutomateProcessing is AutoUpdate and can't be changed`);
  }
  const window = settings.bookingWindowInDays;
  if (window !== undefined && (!Number.isInteger(window) || window < 0 || window > 1080)) {
    throw new Error(`sandbox: BookingWindowInDays of ${address} must be an integer from 0 through 1080, not ${window}`);
  }
  const max = settings.maximumDurationInMinutes;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
    throw new Error(`sandbox: MaximumDurationInMinutes of ${address} must be an integer from 0 through 2147483647, not ${max}`);
  }
}

/** What the Resource Booking Attendant weighs about one request. */
export interface BookingRequest {
  start: number;
  end: number;
  isRecurring: boolean;
  /** the other events on the resource's calendar */
  others: EventRecord[];
}

/**
 * Why the Resource Booking Attendant declines, or undefined when it accepts ("free = accept; busy = decline",
 * AutomateProcessing AutoAccept). The sandbox's reasons are its own words ([VERIFY] Exchange's response texts).
 */
export function bookingRefusal(settings: CalendarProcessing, request: BookingRequest, now: number): string | undefined {
  if (request.isRecurring && !settings.allowRecurringMeetings) return 'Recurring meetings aren\'t allowed for this resource.';
  // "the maximum number of days in advance that the resource can be reserved … The value 0 means today."
  const horizon = startOfUtcDay(now) + (settings.bookingWindowInDays + 1) * DAY_MS;
  if (request.start >= horizon) return `The resource can only be booked up to ${settings.bookingWindowInDays} days in advance.`;
  // "When the value is set to 0, the maximum duration of a meeting is unlimited."
  const max = settings.maximumDurationInMinutes;
  if (max > 0 && request.end - request.start > max * 60_000) return `The meeting is longer than the maximum duration of ${max} minutes.`;
  if (!settings.allowConflicts && request.others.some((other) => conflicts(other, request))) return 'The resource is already booked for all or part of this time.';
  return undefined;
}

function conflicts(other: EventRecord, request: BookingRequest): boolean {
  if (other.meeting?.isCancelled) return false;
  if ((other.fields['showAs'] ?? 'busy') === 'free') return false;
  return other.start.instant < request.end && request.start < other.end.instant;
}

function startOfUtcDay(instant: number): number {
  return Math.floor(instant / DAY_MS) * DAY_MS;
}
