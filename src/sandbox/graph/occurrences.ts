// A recurring event's occurrences, as Graph's expanded views give them. The sandbox keeps a series as its master
// (the event with `recurrence`); GET /calendarView, /calendarView/delta and /events/{id}/instances expand it:
// - calendarView "returns occurrences, exceptions, and single instances of events" — not the series master
//   (https://learn.microsoft.com/graph/api/user-list-calendarview); event-delta on a calendarView likewise
//   (https://learn.microsoft.com/graph/api/event-delta); /instances "the occurrences and exceptions … in a specified
//   time range" (https://learn.microsoft.com/graph/api/event-list-instances).
// - Each occurrence has `type` "occurrence", `seriesMasterId` the master's id, `recurrence` null, its own id, and
//   its own iCalUId: "This ID is different for each occurrence in a recurring series"
//   (https://learn.microsoft.com/graph/api/resources/event, iCalUId). Exchange's iCalUId is the meeting's Global
//   Object ID in hex, whose bytes 16–19 are the occurrence's original date (year high, year low, month, day) and zero
//   on the master ([MS-OXOCAL] 2.2.1.27 PidLidGlobalObjectId); the sandbox writes them so.
// - The master is read by its id (GET /events/{seriesMasterId}, `type` "seriesMaster", with its `recurrence`);
//   answering it (accept / tentativelyAccept / decline, https://learn.microsoft.com/graph/api/event-accept, on the
//   master's id) answers the whole series, as Outlook's "respond to the series" does — the response is kept on the
//   master, which every occurrence here shares [VERIFY: event-accept does not say it for a series master in words].
// Bounded: the days of a series are walked from its start to the end of the view (at most MAX_DAYS_WALKED) and at
// most MAX_OCCURRENCES are returned per series, so a series without end expands only within the window.
// - An occurrence the organiser moves on its own becomes an exception: `type` "exception" with its own start and end
//   (https://learn.microsoft.com/graph/api/resources/event, type: "exception" — "the event is an exception of a
//   recurring series"), in calendarView, its delta and /instances, and the attendee's copy asks for a response again.
// - An occurrence the organiser cancels ("The organizer can also cancel an occurrence of a recurring meeting by
//   providing the occurrence event ID", https://learn.microsoft.com/graph/api/event-cancel) leaves the organiser's
//   series (moved to Deleted Items); on an attendee's copy the Calendar Attendant marks it `isCancelled`, as it does a
//   cancelled meeting, and it stays until the attendee removes it.
// - Accept / tentativelyAccept / decline on an occurrence's id answers that occurrence only (event-accept: "the
//   event" named); a declined occurrence leaves the attendee's series, as a declined meeting leaves its calendar.
// These live on the master (`occurrenceChanges`, by date), so the master's change key moves and syncs see it.
// Simplifications: the pattern is walked in the master's start zone (recurrenceTimeZone is not read); an exception is
// looked for on the days its original date is walked for (moved further than a day past a view's end, that view
// misses it); only times are changed on their own (not subject, body, attendees).
import type { EventRecord, OccurrenceChange } from './store.ts';
import { wallToInstant, type WallClock } from './timezones.ts';

/** Occurrences of one series in one view, at most. */
export const MAX_OCCURRENCES = 500;
/** Days walked from a series' start, at most (about 20 years). */
const MAX_DAYS_WALKED = 7_400;
const DAY_MS = 86_400_000;
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const INDEXES = ['first', 'second', 'third', 'fourth'];

interface Pattern {
  type?: string;
  interval?: number;
  daysOfWeek?: string[];
  dayOfMonth?: number;
  month?: number;
  index?: string;
  firstDayOfWeek?: string;
}
interface Range {
  type?: string;
  startDate?: string;
  endDate?: string;
  numberOfOccurrences?: number;
}

/** The id of the occurrence of `masterId` on `date` (YYYY-MM-DD): opaque to clients, read back by occurrenceById. */
export function occurrenceId(masterId: string, date: string): string {
  return `${masterId}_OCC${date.replace(/-/g, '')}`;
}

/** The series master's iCalUId with the occurrence's date in bytes 16–19 ([MS-OXOCAL] 2.2.1.27). */
export function occurrenceICalUId(masterICalUId: string, date: string): string {
  if (!/^040000008200E00074C5B7101A82E008/i.test(masterICalUId) || masterICalUId.length < 40) return `${masterICalUId}-${date}`;
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const bytes = year.toString(16).padStart(4, '0') + month.toString(16).padStart(2, '0') + day.toString(16).padStart(2, '0');
  return `${masterICalUId.slice(0, 32)}${bytes.toUpperCase()}${masterICalUId.slice(40)}`;
}

export function isSeriesMaster(record: EventRecord): boolean {
  return !record.occurrenceOf && record.fields['recurrence'] !== undefined && record.fields['recurrence'] !== null;
}

/** The occurrences of a series master overlapping [start, end), in order, at most MAX_OCCURRENCES. */
export function occurrencesIn(master: EventRecord, start: number, end: number): EventRecord[] {
  const out: EventRecord[] = [];
  for (const date of seriesDates(master, end)) {
    if (master.occurrenceChanges?.[date]?.deleted) continue;
    const occurrence = occurrenceOn(master, date);
    if (occurrence.start.instant < end && (occurrence.end.instant > start || (occurrence.end.instant === occurrence.start.instant && occurrence.start.instant >= start))) out.push(occurrence);
    if (out.length >= MAX_OCCURRENCES) break;
  }
  return out;
}

/** The occurrence an occurrence id names, when its master is `lookup(masterId)` and the date is one of the series'. */
export function occurrenceById(id: string, lookup: (masterId: string) => EventRecord | undefined): EventRecord | undefined {
  const match = /^(.+)_OCC(\d{4})(\d{2})(\d{2})$/.exec(id);
  if (!match) return undefined;
  const master = lookup(match[1]!);
  if (!master || !isSeriesMaster(master)) return undefined;
  const date = `${match[2]}-${match[3]}-${match[4]}`;
  const day = Date.parse(`${date}T00:00:00Z`);
  if (master.occurrenceChanges?.[date]?.deleted) return undefined;
  for (const candidate of seriesDates(master, day + 2 * DAY_MS)) if (candidate === date) return occurrenceOn(master, date);
  return undefined;
}

/** The date (YYYY-MM-DD) an occurrence id names, and its master's id; undefined for any other id. */
export function occurrenceDate(id: string): { masterId: string; date: string } | undefined {
  const match = /^(.+)_OCC(\d{4})(\d{2})(\d{2})$/.exec(id);
  return match ? { masterId: match[1]!, date: `${match[2]}-${match[3]}-${match[4]}` } : undefined;
}

/** Records a change of one occurrence on its master (the caller touches the master, so syncs see it). */
export function changeOccurrence(master: EventRecord, date: string, change: OccurrenceChange): void {
  master.occurrenceChanges = { ...master.occurrenceChanges, [date]: { ...master.occurrenceChanges?.[date], ...change } };
}

/**
 * The occurrences of a series that differ from its pattern, by date, for EWS's ModifiedOccurrences and
 * DeletedOccurrences of the series (ews/meetings.ts): moved ones (exceptions) at their own times with their original
 * start, and the original starts of the cancelled (an attendee's copy) or deleted (the organiser's) ones.
 */
export function seriesExceptions(master: EventRecord): { modified: EventRecord[]; deleted: number[] } {
  const modified: EventRecord[] = [];
  const deleted: number[] = [];
  for (const date of Object.keys(master.occurrenceChanges ?? {}).sort()) {
    const change = master.occurrenceChanges![date]!;
    const occurrence = occurrenceOn(master, date);
    if (change.cancelled || change.deleted) deleted.push(occurrence.occurrenceOf!.originalStart!);
    else if (change.start) modified.push(occurrence);
  }
  return { modified, deleted };
}

/** The occurrence on `date`: the master's wall-clock start on that day in its zone, the master's duration. */
function occurrenceOn(master: EventRecord, date: string): EventRecord {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const wall: WallClock = { ...master.start.wall, year, month, day };
  const instant = master.fields['isAllDay'] === true ? Date.UTC(year, month - 1, day) : wallToInstant(wall, master.start.zone.iana);
  const length = master.end.instant - master.start.instant;
  const endInstant = instant + length;
  const endWall: WallClock = master.fields['isAllDay'] === true ? wallOfUtcDay(endInstant) : { ...wall, ...shift(wall, length) };
  const change = master.occurrenceChanges?.[date];
  const { occurrenceChanges: _changes, ...series } = master;
  const meeting = master.meeting && { ...master.meeting, ...(change?.cancelled ? { isCancelled: true } : {}), ...(change?.response ? { response: change.response, responseTime: change.responseTime } : {}) };
  return {
    ...series,
    id: occurrenceId(master.id, date),
    iCalUId: occurrenceICalUId(master.iCalUId, date),
    start: change?.start ?? { ...master.start, instant, wall },
    end: change?.end ?? { ...master.end, instant: endInstant, wall: endWall },
    ...(meeting ? { meeting } : {}),
    occurrenceOf: { id: master.id, iCalUId: master.iCalUId, originalStart: instant, ...(change?.start ? { exception: true } : {}) },
  };
}

function wallOfUtcDay(instant: number): WallClock {
  const d = new Date(instant);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: 0, minute: 0, second: 0, ticks: 0 };
}

/** The wall clock `ms` after `wall` (as a naive clock: the end's own wall time is only rendered for all-day events). */
function shift(wall: WallClock, ms: number): Partial<WallClock> {
  const d = new Date(Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second) + ms);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
}

/**
 * The dates (YYYY-MM-DD) of a series from its range's startDate, by its pattern
 * (https://learn.microsoft.com/graph/api/resources/recurrencepattern) and range
 * (https://learn.microsoft.com/graph/api/resources/recurrencerange), until `until` (ms) or the range's end.
 */
function* seriesDates(master: EventRecord, until: number): Generator<string> {
  const recurrence = master.fields['recurrence'] as { pattern?: Pattern; range?: Range } | null | undefined;
  const pattern = recurrence?.pattern ?? {};
  const range = recurrence?.range ?? {};
  const first = Date.parse(`${range.startDate ?? ''}T00:00:00Z`);
  if (!Number.isFinite(first)) return;
  const last = range.type === 'endDate' ? Date.parse(`${range.endDate ?? ''}T00:00:00Z`) : Number.POSITIVE_INFINITY;
  const count = range.type === 'numbered' ? Math.max(0, range.numberOfOccurrences ?? 0) : Number.POSITIVE_INFINITY;
  const interval = Math.max(1, Number.isInteger(pattern.interval) ? pattern.interval! : 1);
  let found = 0;
  for (let n = 0; n < MAX_DAYS_WALKED && found < count; n++) {
    const day = first + n * DAY_MS;
    // A day starting a full day after the view's end holds no occurrence in it, whatever the zone.
    if (day > last || day > until + DAY_MS) return;
    if (!matches(pattern, interval, first, day)) continue;
    found++;
    yield new Date(day).toISOString().slice(0, 10);
  }
}

function matches(pattern: Pattern, interval: number, first: number, day: number): boolean {
  const date = new Date(day);
  const start = new Date(first);
  const weekday = WEEKDAYS[date.getUTCDay()]!;
  const months = (date.getUTCFullYear() - start.getUTCFullYear()) * 12 + date.getUTCMonth() - start.getUTCMonth();
  const onDays = (pattern.daysOfWeek ?? []).map((d) => d.toLowerCase()).includes(weekday);
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
    default:
      return false;
  }
}

/** The day is the index-th of its weekday in its month (`last`: no later one that month). */
function relativeDay(date: Date, index: string | undefined): boolean {
  const which = (index ?? 'first').toLowerCase();
  if (which === 'last') return new Date(date.getTime() + 7 * DAY_MS).getUTCMonth() !== date.getUTCMonth();
  return Math.ceil(date.getUTCDate() / 7) === INDEXES.indexOf(which) + 1;
}
