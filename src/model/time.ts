// Wall-clock time in an IANA zone, the way a timetable declares it, and the conversions the engine needs.
// Only Intl (ICU's tz database in Node) is used: no second copy of the time-zone rules to keep up to date.

const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;
const LOCAL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

const zoneFormatters = new Map<string, Intl.DateTimeFormat>();

/** The canonical spelling of an IANA zone ("asia/calcutta" → "Asia/Calcutta" → as ICU names it), or null if unknown. */
export function canonicalTimeZone(zone: string): string | null {
  if (!zone || zone.length > 64) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
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

/** Offset of `zone` from UTC at the instant `utcMs`, in milliseconds. */
function zoneOffsetMs(zone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(new Date(utcMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/** "2026-09-01T09:00" → "2026-09-01T09:00:00"; null when it is not a real calendar date and time. */
export function normalizeLocalDateTime(value: string): string | null {
  const match = LOCAL_DATE_TIME.exec(value);
  if (!match) return null;
  const [, y, mo, d, h, mi, s = '00'] = match;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const back = new Date(ms).toISOString().slice(0, 19);
  const normalized = `${y}-${mo}-${d}T${h}:${mi}:${s}`;
  return back === normalized ? normalized : null;
}

/** "2026-09-01" if that date exists, else null. */
export function normalizeLocalDate(value: string): string | null {
  const match = LOCAL_DATE.exec(value);
  if (!match) return null;
  const ms = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  return new Date(ms).toISOString().slice(0, 10) === value ? value : null;
}

/**
 * The UTC instant of a wall-clock time in a zone. Times skipped by a DST jump resolve forwards and ambiguous
 * times resolve to the earlier instant, as Outlook does when it shows such a time.
 */
export function zonedToUtcMs(localDateTime: string, zone: string): number {
  const asUtc = Date.parse(`${localDateTime}Z`);
  // The two offsets in force around this wall-clock time give the candidate instants.
  const candidates = [asUtc - zoneOffsetMs(zone, asUtc - 86_400_000), asUtc - zoneOffsetMs(zone, asUtc + 86_400_000)].sort((a, b) => a - b);
  const wallClock = localDateTime.length === 16 ? `${localDateTime}:00` : localDateTime;
  const matching = candidates.filter((candidate) => utcMsToZoned(candidate, zone) === wallClock);
  // Ambiguous (clocks go back): the earlier instant. Skipped (clocks go forward): the later candidate, which is
  // the same wall-clock reading moved past the gap.
  return matching.length ? matching[0]! : candidates[1]!;
}

/** The wall-clock time in `zone` at the instant `utcMs`, as "YYYY-MM-DDTHH:mm:ss". */
export function utcMsToZoned(utcMs: number, zone: string): string {
  return new Date(utcMs + zoneOffsetMs(zone, utcMs)).toISOString().slice(0, 19);
}

/** The day after a "YYYY-MM-DD" date. */
export function nextDate(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
}
