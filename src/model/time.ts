// Wall-clock time in an IANA zone, the way a timetable declares it, and the conversions the engine needs.
// Only Intl (ICU's tz database in Node) is used: no second copy of the time-zone rules to keep up to date.

const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;
const LOCAL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

const canonicalZones = new Map<string, string | null>();

/** The canonical spelling of an IANA zone ("asia/calcutta" → "Asia/Calcutta" → as ICU names it), or null if unknown. */
export function canonicalTimeZone(zone: string): string | null {
  if (!zone || zone.length > 64) return null;
  let canonical = canonicalZones.get(zone);
  if (canonical === undefined) {
    try {
      canonical = new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
    } catch {
      canonical = null;
    }
    // Bounded: zone names in real input are few; junk input must not grow the cache without limit.
    if (canonicalZones.size < 10_000) canonicalZones.set(zone, canonical);
  }
  return canonical;
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = zoneFormatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    zoneFormatters.set(zone, formatter);
  }
  return formatter;
}

/** Offset per zone and quarter hour; NaN for a quarter hour with a transition inside it. */
const offsetCache = new Map<string, number>();
const OFFSET_BUCKET_MS = 15 * 60_000;

/**
 * Offset of `zone` from UTC at the instant `utcMs`, in milliseconds. Offsets only change at transitions, so one
 * lookup per zone and quarter hour serves a whole timetable. Most transitions fall on a quarter hour, but not all
 * (St. John's changed at 00:01 local time until 2011, local mean times at odd seconds): a quarter hour whose
 * first and last second differ in offset holds a transition, and is looked up exactly every time.
 */
export function zoneOffsetMs(zone: string, utcMs: number): number {
  const bucket = Math.floor(utcMs / OFFSET_BUCKET_MS);
  const cacheKey = `${zone}|${bucket}`;
  let offset = offsetCache.get(cacheKey);
  if (offset === undefined) {
    const start = bucket * OFFSET_BUCKET_MS;
    const atStart = exactZoneOffsetMs(zone, start);
    offset = exactZoneOffsetMs(zone, start + OFFSET_BUCKET_MS - 1000) === atStart ? atStart : Number.NaN;
    if (offsetCache.size > 100_000) offsetCache.clear();
    offsetCache.set(cacheKey, offset);
  }
  return Number.isNaN(offset) ? exactZoneOffsetMs(zone, utcMs) : offset;
}

/** Offset of `zone` from UTC at exactly `utcMs` (to the second: Intl has no finer resolution), uncached. */
export function exactZoneOffsetMs(zone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(new Date(utcMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

function isRealDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= days;
}

/**
 * Results of normalizeLocalDateTime. A timetable repeats the same few thousand slot times across tens of thousands
 * of calendars, and validation asks for each value twice: a lookup is cheaper than the regular expression.
 * Bounded, so junk input cannot grow it without limit.
 */
const normalizedDateTimes = new Map<string, string | null>();

/** "2026-09-01T09:00" → "2026-09-01T09:00:00"; null when it is not a real calendar date and time. */
export function normalizeLocalDateTime(value: string): string | null {
  let normalized = normalizedDateTimes.get(value);
  if (normalized !== undefined) return normalized;
  const match = LOCAL_DATE_TIME.exec(value);
  normalized = null;
  if (match) {
    const [, y, mo, d, h, mi, s = '00'] = match as unknown as [string, string, string, string, string, string, string?];
    if (isRealDate(Number(y), Number(mo), Number(d)) && Number(h) <= 23 && Number(mi) <= 59 && Number(s) <= 59) normalized = `${y}-${mo}-${d}T${h}:${mi}:${s}`;
  }
  if (normalizedDateTimes.size >= 50_000) normalizedDateTimes.clear();
  normalizedDateTimes.set(value, normalized);
  return normalized;
}

/** "2026-09-01" if that date exists, else null. */
export function normalizeLocalDate(value: string): string | null {
  const match = LOCAL_DATE.exec(value);
  if (!match) return null;
  return isRealDate(Number(match[1]), Number(match[2]), Number(match[3])) ? value : null;
}

/**
 * The UTC instant of a wall-clock time in a zone. Times skipped by a DST jump are taken with the offset before the
 * jump, so they resolve forwards (RFC 5545 §3.3.5; existingLocalTime); ambiguous times resolve to the earlier
 * instant, as Outlook does when it shows such a time.
 */
export function zonedToUtcMs(localDateTime: string, zone: string): number {
  const cacheKey = `${zone}|${localDateTime}`;
  const cached = instants.get(cacheKey);
  if (cached !== undefined) return cached;
  const instant = computeZonedToUtcMs(localDateTime, zone);
  if (instants.size >= 50_000) instants.clear();
  instants.set(cacheKey, instant);
  return instant;
}

/** zonedToUtcMs's results: the same slot times again and again (see normalizedDateTimes). */
const instants = new Map<string, number>();

function computeZonedToUtcMs(localDateTime: string, zone: string): number {
  const asUtc = Date.parse(`${localDateTime}Z`);
  // The offsets in force a day before and a day after give the candidate instants; a candidate is right when
  // the offset at that instant maps it back to the same wall-clock time.
  const early = asUtc - zoneOffsetMs(zone, asUtc - 86_400_000);
  const late = asUtc - zoneOffsetMs(zone, asUtc + 86_400_000);
  const [first, second] = early <= late ? [early, late] : [late, early];
  if (first + zoneOffsetMs(zone, first) === asUtc) return first;
  // Either the later candidate maps back, or neither does (a skipped time): the offset grew across the jump, so
  // the later candidate is the one computed with the offset before it, as RFC 5545 §3.3.5 wants.
  return second;
}

/**
 * A wall-clock time as it exists in `zone`: the time itself, or — for a time that a daylight-saving jump skips — the
 * time RFC 5545 §3.3.5 makes of it: "the value MUST be interpreted using the UTC offset before the gap in local
 * times" (https://www.rfc-editor.org/rfc/rfc5545#section-3.3.5). 02:30 on a spring-forward day in Europe/Amsterdam
 * is 02:30+01:00, which the clocks show as 03:30 CEST. `shiftedMs` is how far the time moved (0 when it exists).
 * Ambiguous times (a fall-back hour happens twice) exist and stay as they are.
 */
export function existingLocalTime(localDateTime: string, zone: string): Readonly<{ local: string; shiftedMs: number }> {
  const cacheKey = `${zone}|${localDateTime}`;
  let placed = placedTimes.get(cacheKey);
  if (placed === undefined) {
    // zonedToUtcMs resolves a skipped time with the offset in force before the jump (see computeZonedToUtcMs).
    const local = utcMsToZoned(zonedToUtcMs(localDateTime, zone), zone);
    placed = Object.freeze({ local, shiftedMs: local === localDateTime ? 0 : Date.parse(`${local}Z`) - Date.parse(`${localDateTime}Z`) });
    if (placedTimes.size >= 50_000) placedTimes.clear();
    placedTimes.set(cacheKey, placed);
  }
  return placed;
}

/**
 * existingLocalTime's results: validation places every start and end, and a timetable's few thousand slot times
 * repeat across its calendars (a no-op run over a million events spent 14 % of its CPU placing them again).
 */
const placedTimes = new Map<string, Readonly<{ local: string; shiftedMs: number }>>();

/** The wall-clock time in `zone` at the instant `utcMs`, as "YYYY-MM-DDTHH:mm:ss". */
export function utcMsToZoned(utcMs: number, zone: string): string {
  return new Date(utcMs + zoneOffsetMs(zone, utcMs)).toISOString().slice(0, 19);
}

/** The day after a "YYYY-MM-DD" date. */
export function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}
