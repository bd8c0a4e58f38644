// A recurring meeting's occurrences, expanded from its pattern and range on calpush's side: EWS gives a meeting
// request's series as its Recurrence only (t:RecurrenceType; no /instances of a request not yet on the calendar), and
// an end-dated series is counted from its range. Graph's shape is the common one
// (https://learn.microsoft.com/graph/api/resources/recurrencepattern,
// https://learn.microsoft.com/graph/api/resources/recurrencerange); EWS's RecurrenceType is read into it
// (https://learn.microsoft.com/exchange/client-developer/web-service-reference/recurrence-recurrencetype).
// A series' exceptions (EWS ModifiedOccurrences / DeletedOccurrences of the request,
// https://learn.microsoft.com/exchange/client-developer/web-service-reference/modifiedoccurrences,
// https://learn.microsoft.com/exchange/client-developer/web-service-reference/deletedoccurrences) are applied to the
// expansion: a deleted occurrence is neither checked nor counted, a moved one is checked at its own time only.
// Pure and bounded: days are walked from the range's start, at most MAX_DAYS_WALKED, and callers say how many
// occurrences they take. (The sandbox keeps its own expansion — .dependency-cruiser.mjs, sandbox-keeps-its-own-time —
// so that it can catch this one's mistakes.)
import { utcMsToZoned, zonedToUtcMs } from './time.ts';

export interface RecurrencePattern {
  type: 'daily' | 'weekly' | 'absoluteMonthly' | 'relativeMonthly' | 'absoluteYearly' | 'relativeYearly';
  interval: number;
  daysOfWeek: string[];
  dayOfMonth?: number;
  month?: number;
  index?: string;
  firstDayOfWeek?: string;
}

export interface RecurrenceRange {
  type: 'numbered' | 'endDate' | 'noEnd';
  /** YYYY-MM-DD, in the series' zone. */
  startDate: string;
  endDate?: string;
  numberOfOccurrences?: number;
}

export interface RecurrenceRule {
  pattern: RecurrencePattern;
  range: RecurrenceRange;
}

/**
 * The occurrences of a series the organiser changed on their own, each named by its original start (the pattern's,
 * in ms): moved ones with their new times (EWS OccurrenceInfoType: OriginalStart, Start, End), deleted ones by their
 * start (EWS DeletedOccurrenceInfoType: Start, the time the occurrence had).
 */
export interface SeriesExceptions {
  modified: ReadonlyArray<{ originalStart: number; start: number; end: number }>;
  deleted: readonly number[];
}

export const NO_EXCEPTIONS: SeriesExceptions = { modified: [], deleted: [] };

/** Days walked from a series' start, at most (about 20 years). */
export const MAX_DAYS_WALKED = 7_400;
const DAY_MS = 86_400_000;
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const INDEXES = ['first', 'second', 'third', 'fourth'];

/** The series' dates (YYYY-MM-DD, in its zone) in order, up to `untilDate` (inclusive) or the range's end. */
export function* recurrenceDates(rule: RecurrenceRule, untilDate = '9999-12-31'): Generator<string> {
  const first = Date.parse(`${rule.range.startDate}T00:00:00Z`);
  if (!Number.isFinite(first)) return;
  const until = Date.parse(`${untilDate}T00:00:00Z`);
  const last = rule.range.type === 'endDate' ? Date.parse(`${rule.range.endDate ?? ''}T00:00:00Z`) : Number.POSITIVE_INFINITY;
  if (Number.isNaN(last)) return;
  const count = rule.range.type === 'numbered' ? Math.max(0, rule.range.numberOfOccurrences ?? 0) : Number.POSITIVE_INFINITY;
  const interval = Number.isSafeInteger(rule.pattern.interval) && rule.pattern.interval > 0 ? rule.pattern.interval : 1;
  let found = 0;
  for (let n = 0; n < MAX_DAYS_WALKED && found < count; n++) {
    const day = first + n * DAY_MS;
    if (day > last || day > until) return;
    if (!matches(rule.pattern, interval, first, day)) continue;
    found++;
    yield new Date(day).toISOString().slice(0, 10);
  }
}

/**
 * Occurrences counted without the deleted ones: the range's count less the deleted starts that are occurrences of the
 * series (a start that is none takes nothing away); null as occurrenceCount.
 */
export function occurrenceCountWithout(rule: RecurrenceRule, first: { start: number }, zone: string, deleted: readonly number[]): number | null {
  const count = occurrenceCount(rule);
  if (count === null || deleted.length === 0) return count;
  const gone = new Set(deleted);
  const time = utcMsToZoned(first.start, zone).slice(10);
  let removed = 0;
  for (const date of recurrenceDates(rule)) if (gone.delete(zonedToUtcMs(`${date}${time}`, zone))) removed++;
  return Math.max(0, count - removed);
}

/** Occurrences counted (a numbered range says it; an end date is walked); null: without end, or past the walk. */
export function occurrenceCount(rule: RecurrenceRule): number | null {
  if (rule.range.type === 'noEnd') return null;
  if (rule.range.type === 'numbered') return rule.range.numberOfOccurrences ?? null;
  let count = 0;
  for (const _date of recurrenceDates(rule)) count++;
  const walkedTo = Date.parse(`${rule.range.startDate}T00:00:00Z`) + (MAX_DAYS_WALKED - 1) * DAY_MS;
  return Date.parse(`${rule.range.endDate}T00:00:00Z`) > walkedTo ? null : count;
}

/**
 * The occurrences of a series whose first occurrence is `first` (its start's wall-clock time in `zone` is every
 * occurrence's, its length theirs) that overlap `window`, in order, at most `max`; `complete` false when there
 * are more than `max` in the window. `exceptions`: a deleted occurrence is left out; a moved one is given at its new
 * time only, once, wherever its original start was (the organiser may move one into or out of the window).
 */
export function occurrencesWithin(rule: RecurrenceRule, first: { start: number; end: number }, zone: string, window: { start: number; end: number }, max: number, exceptions: SeriesExceptions = NO_EXCEPTIONS): { occurrences: Array<{ start: number; end: number }>; complete: boolean } {
  const time = utcMsToZoned(first.start, zone).slice(10);
  const length = first.end - first.start;
  const deleted = new Set(exceptions.deleted);
  const moved = movedOccurrences(exceptions.modified, deleted);
  const overlaps = (o: { start: number; end: number }) => o.start < window.end && o.end > window.start;
  // A date a day past the window's end in UTC starts after it in every zone.
  const untilDate = new Date(Math.min(window.end + DAY_MS, 253_402_214_400_000)).toISOString().slice(0, 10);
  const found: Array<{ start: number; end: number }> = [];
  // At most max + 1 from the pattern: with the moved ones merged in by time, the first max are still the first max.
  for (const date of recurrenceDates(rule, untilDate)) {
    const start = zonedToUtcMs(`${date}${time}`, zone);
    const occurrence = { start, end: start + length };
    if (deleted.has(start) || moved.has(start) || !overlaps(occurrence)) continue;
    found.push(occurrence);
    if (found.length > max) break;
  }
  for (const o of moved.values()) if (overlaps(o)) found.push({ start: o.start, end: o.end });
  found.sort((a, b) => a.start - b.start || a.end - b.end);
  return found.length > max ? { occurrences: found.slice(0, max), complete: false } : { occurrences: found, complete: true };
}

/** The moved occurrences by original start: one per original start (the first said), none of a deleted one. */
function movedOccurrences(modified: SeriesExceptions['modified'], deleted: ReadonlySet<number>): Map<number, { start: number; end: number }> {
  const moved = new Map<number, { start: number; end: number }>();
  for (const o of modified) {
    if (deleted.has(o.originalStart) || moved.has(o.originalStart)) continue;
    moved.set(o.originalStart, { start: o.start, end: o.end });
  }
  return moved;
}

function matches(pattern: RecurrencePattern, interval: number, first: number, day: number): boolean {
  const date = new Date(day);
  const start = new Date(first);
  const weekday = WEEKDAYS[date.getUTCDay()]!;
  const months = (date.getUTCFullYear() - start.getUTCFullYear()) * 12 + date.getUTCMonth() - start.getUTCMonth();
  const onDays = pattern.daysOfWeek.map((d) => d.toLowerCase()).includes(weekday);
  switch (pattern.type) {
    case 'daily':
      return Math.round((day - first) / DAY_MS) % interval === 0;
    case 'weekly': {
      const firstDay = Math.max(0, WEEKDAYS.indexOf((pattern.firstDayOfWeek ?? 'sunday').toLowerCase()));
      const weekStart = (ms: number) => ms - ((new Date(ms).getUTCDay() - firstDay + 7) % 7) * DAY_MS;
      return onDays && Math.round((weekStart(day) - weekStart(first)) / (7 * DAY_MS)) % interval === 0;
    }
    case 'absoluteMonthly':
      return date.getUTCDate() === pattern.dayOfMonth && months % interval === 0;
    case 'relativeMonthly':
      return onDays && relativeDay(date, pattern.index) && months % interval === 0;
    case 'absoluteYearly':
      return date.getUTCMonth() + 1 === pattern.month && date.getUTCDate() === pattern.dayOfMonth && (months / 12) % interval === 0;
    case 'relativeYearly':
      return date.getUTCMonth() + 1 === pattern.month && onDays && relativeDay(date, pattern.index) && (months / 12) % interval === 0;
  }
}

/** The day is the index-th of its weekday in its month (`last`: no later one that month). */
function relativeDay(date: Date, index: string | undefined): boolean {
  const which = (index ?? 'first').toLowerCase();
  if (which === 'last') return new Date(date.getTime() + 7 * DAY_MS).getUTCMonth() !== date.getUTCMonth();
  return Math.ceil(date.getUTCDate() / 7) === INDEXES.indexOf(which) + 1;
}

/** The end of `date` (YYYY-MM-DD) in `zone`: the first instant of the next day there. */
export function endOfDateIn(date: string, zone: string): number {
  return zonedToUtcMs(`${new Date(Date.parse(`${date}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10)}T00:00:00`, zone);
}
