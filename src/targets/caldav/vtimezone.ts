// VTIMEZONE components generated from Intl (ICU's tz database in Node), like the rest of calpush: no second copy
// of the time-zone rules to keep up to date.
//
// RFC 5545 §3.6.5 lets a VTIMEZONE describe a zone by its observances; each STANDARD/DAYLIGHT sub-component has a
// DTSTART (the onset, in the local time of the offset in force before it), TZOFFSETFROM and TZOFFSETTO. We write
// one sub-component per actual transition inside a window of whole years around the event (no RRULE guessing),
// plus one opening observance at the window's start. For one event that is exact: only the offsets at DTSTART and
// DTEND matter, and both lie inside the window.
import { exactZoneOffsetMs } from '../../model/time.ts';
import ICAL from 'ical.js';

export interface Transition {
  /** UTC instant of the change, ms since epoch. */
  atMs: number;
  fromOffsetMs: number;
  toOffsetMs: number;
}

export interface ZoneWindow {
  /** Offset in force at the window's start. */
  startMs: number;
  startOffsetMs: number;
  transitions: Transition[];
  endMs: number;
}

const DAY = 86_400_000;
const windowCache = new Map<string, ZoneWindow>();
const yearCache = new Map<string, Transition[]>();

/** Offset of `zone` from UTC at `utcMs`, in ms. */
export const offsetAt = exactZoneOffsetMs;

/**
 * Transitions in [fromMs, toMs). Sampled every 6 hours (no zone has changed offset twice within 6 hours), each
 * change then pinned to the second by bisection.
 */
function transitionsBetween(zone: string, fromMs: number, toMs: number): Transition[] {
  const step = 6 * 3_600_000;
  const found: Transition[] = [];
  let previousMs = fromMs;
  let previousOffset = offsetAt(zone, fromMs);
  for (let at = fromMs + step; ; at += step) {
    const probe = Math.min(at, toMs);
    const offset = offsetAt(zone, probe);
    if (offset !== previousOffset) {
      // Bisect (previousMs, probe]: the first second whose offset differs.
      let lo = previousMs;
      let hi = probe;
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (offsetAt(zone, mid) === previousOffset) lo = mid;
        else hi = mid;
      }
      if (hi < toMs) found.push({ atMs: hi, fromOffsetMs: previousOffset, toOffsetMs: offset });
    }
    previousMs = probe;
    previousOffset = offset;
    if (probe >= toMs) break;
  }
  return found;
}

function transitionsInYear(zone: string, year: number): Transition[] {
  const cacheKey = `${zone}\n${year}`;
  let list = yearCache.get(cacheKey);
  if (!list) {
    list = transitionsBetween(zone, Date.UTC(year, 0, 1), Date.UTC(year + 1, 0, 1));
    yearCache.set(cacheKey, list);
  }
  return list;
}

/**
 * The window for an event from local year `firstYear` to `lastYear`: from two days before 1 January of the first
 * year (UTC; local midnight of 1 January is at most 14 hours from it) to two days into the year after the last.
 */
export function zoneWindow(zone: string, firstYear: number, lastYear: number): ZoneWindow {
  const cacheKey = `${zone}\n${firstYear}\n${lastYear}`;
  const cached = windowCache.get(cacheKey);
  if (cached) return cached;
  const startMs = Date.UTC(firstYear, 0, 1) - 2 * DAY;
  const endMs = Date.UTC(lastYear + 1, 0, 1) + 2 * DAY;
  const transitions = [
    ...transitionsBetween(zone, startMs, Date.UTC(firstYear, 0, 1)),
    ...Array.from({ length: lastYear - firstYear + 1 }, (_, i) => transitionsInYear(zone, firstYear + i)).flat(),
    ...transitionsBetween(zone, Date.UTC(lastYear + 1, 0, 1), endMs),
  ];
  const window: ZoneWindow = { startMs, startOffsetMs: offsetAt(zone, startMs), transitions, endMs };
  windowCache.set(cacheKey, window);
  return window;
}

/** "+0100", "-0330", "+053028" (seconds only when there are any, as RFC 5545 allows). */
export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  const total = Math.abs(Math.round(offsetMs / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${sign}${pad(h)}${pad(m)}${s ? pad(s) : ''}`;
}

/** ms since epoch → ICAL.Time floating local date-time "as if UTC" (the wall clock of an offset). */
function floating(wallClockMs: number): ICAL.Time {
  const d = new Date(wallClockMs);
  return ICAL.Time.fromData({
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    isDate: false,
  });
}

function observance(kind: 'standard' | 'daylight', onsetWallClockMs: number, fromMs: number, toMs: number): ICAL.Component {
  const component = new ICAL.Component(kind);
  component.addPropertyWithValue('dtstart', floating(onsetWallClockMs));
  // utc-offset values: set as strings through a typed property so ical.js writes them verbatim.
  const from = new ICAL.Property('tzoffsetfrom', component);
  from.setValue(ICAL.UtcOffset.fromSeconds(Math.round(fromMs / 1000)));
  component.addProperty(from);
  const to = new ICAL.Property('tzoffsetto', component);
  to.setValue(ICAL.UtcOffset.fromSeconds(Math.round(toMs / 1000)));
  component.addProperty(to);
  return component;
}

/**
 * A VTIMEZONE for `zone` (an IANA name) that is exact from the start of `firstYear` to the end of `lastYear`.
 * Which observances are DAYLIGHT is a label only (clients compute with the offsets): an observance whose offset
 * is above the lower of the year's offsets is marked DAYLIGHT.
 */
export function vtimezone(zone: string, firstYear: number, lastYear: number): ICAL.Component {
  const window = zoneWindow(zone, firstYear, lastYear);
  const component = new ICAL.Component('vtimezone');
  component.addPropertyWithValue('tzid', zone);
  const isDaylight = (atMs: number, offsetMs: number) => {
    const year = new Date(atMs).getUTCFullYear();
    const low = Math.min(offsetAt(zone, Date.UTC(year, 0, 1)), offsetAt(zone, Date.UTC(year, 6, 1)));
    return offsetMs > low;
  };
  const opening = window.startOffsetMs;
  component.addSubcomponent(observance(isDaylight(window.startMs, opening) ? 'daylight' : 'standard', window.startMs + opening, opening, opening));
  for (const t of window.transitions) {
    component.addSubcomponent(observance(isDaylight(t.atMs, t.toOffsetMs) ? 'daylight' : 'standard', t.atMs + t.fromOffsetMs, t.fromOffsetMs, t.toOffsetMs));
  }
  return component;
}
