// Time zones as Graph's dateTimeTimeZone accepts them, and wall-clock ↔ instant conversion with Intl.
//
// "the timeZone property can be set to any of the time zones currently supported by Windows, as well as the
// additional time zones supported by the calendar API" (a listed set of IANA names):
// https://learn.microsoft.com/graph/api/resources/datetimetimezone (source: microsoftgraph/microsoft-graph-docs-contrib
// api-reference/v1.0/resources/datetimetimezone.md). Anything else → 400 TimeZoneNotSupportedException
// (protocol notes A6, https://github.com/microsoftgraph/microsoft-graph-docs/issues/4758).
import { findIana, WINDOWS_TO_IANA_MAP } from 'windows-iana';

const ADDITIONAL_IANA = [
  'Etc/GMT+12', 'Etc/GMT+11', 'Pacific/Honolulu', 'America/Anchorage', 'America/Santa_Isabel', 'America/Los_Angeles', 'America/Phoenix',
  'America/Chihuahua', 'America/Denver', 'America/Guatemala', 'America/Chicago', 'America/Mexico_City', 'America/Regina', 'America/Bogota',
  'America/New_York', 'America/Indiana/Indianapolis', 'America/Caracas', 'America/Asuncion', 'America/Halifax', 'America/Cuiaba',
  'America/La_Paz', 'America/Santiago', 'America/St_Johns', 'America/Sao_Paulo', 'America/Argentina/Buenos_Aires', 'America/Cayenne',
  'America/Godthab', 'America/Montevideo', 'America/Bahia', 'Etc/GMT+2', 'Atlantic/Azores', 'Atlantic/Cape_Verde', 'Africa/Casablanca',
  'Etc/GMT', 'Europe/London', 'Atlantic/Reykjavik', 'Europe/Berlin', 'Europe/Budapest', 'Europe/Paris', 'Europe/Warsaw', 'Africa/Lagos',
  'Africa/Windhoek', 'Europe/Bucharest', 'Asia/Beirut', 'Africa/Cairo', 'Asia/Damascus', 'Africa/Johannesburg', 'Europe/Kyiv', 'Europe/Kiev',
  'Europe/Istanbul', 'Asia/Jerusalem', 'Asia/Amman', 'Asia/Baghdad', 'Europe/Kaliningrad', 'Asia/Riyadh', 'Africa/Nairobi', 'Asia/Tehran',
  'Asia/Dubai', 'Asia/Baku', 'Europe/Moscow', 'Indian/Mauritius', 'Asia/Tbilisi', 'Asia/Yerevan', 'Asia/Kabul', 'Asia/Karachi',
  'Asia/Tashkent', 'Asia/Kolkata', 'Asia/Colombo', 'Asia/Kathmandu', 'Asia/Almaty', 'Asia/Dhaka', 'Asia/Yekaterinburg', 'Asia/Yangon',
  'Asia/Rangoon', 'Asia/Bangkok', 'Asia/Novosibirsk', 'Asia/Shanghai', 'Asia/Krasnoyarsk', 'Asia/Singapore', 'Australia/Perth',
  'Asia/Taipei', 'Asia/Ulaanbaatar', 'Asia/Irkutsk', 'Asia/Tokyo', 'Asia/Seoul', 'Australia/Adelaide', 'Australia/Darwin',
  'Australia/Brisbane', 'Australia/Sydney', 'Pacific/Port_Moresby', 'Australia/Hobart', 'Asia/Yakutsk', 'Pacific/Guadalcanal',
  'Asia/Vladivostok', 'Pacific/Auckland', 'Etc/GMT-12', 'Pacific/Fiji', 'Asia/Magadan', 'Pacific/Tongatapu', 'Pacific/Apia',
  'Pacific/Kiritimati',
];

const windowsZones = new Map<string, string>();
for (const entry of WINDOWS_TO_IANA_MAP) windowsZones.set(entry.windowsName.toLowerCase(), entry.windowsName);
const additional = new Map(ADDITIONAL_IANA.map((name) => [name.toLowerCase(), name]));

function intlSupports(iana: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: iana });
    return true;
  } catch {
    return false;
  }
}

export interface ResolvedZone {
  /** the name as Graph echoes it (canonical spelling) */
  name: string;
  /** an IANA id Intl understands */
  iana: string;
}

const cache = new Map<string, ResolvedZone | null>();

/** A time zone Graph accepts in dateTimeTimeZone.timeZone, or undefined (→ TimeZoneNotSupportedException). */
export function resolveTimeZone(name: string): ResolvedZone | undefined {
  const key = name.toLowerCase();
  const hit = cache.get(key);
  if (hit !== undefined) return hit ?? undefined;
  let resolved: ResolvedZone | undefined;
  const windows = windowsZones.get(key);
  if (windows) {
    const iana = windows === 'UTC' ? 'Etc/UTC' : findIana(windows)[0];
    if (iana && intlSupports(iana)) resolved = { name: windows, iana };
  } else {
    const iana = additional.get(key);
    if (iana) {
      const usable = intlSupports(iana) ? iana : iana === 'Asia/Rangoon' ? 'Asia/Yangon' : iana === 'Europe/Kyiv' ? 'Europe/Kiev' : undefined;
      if (usable && intlSupports(usable)) resolved = { name: iana, iana: usable };
    }
  }
  cache.set(key, resolved ?? null);
  return resolved;
}

/** Zone for `Prefer: outlook.timezone` — same set as above; undefined falls back to UTC. */
export const resolvePreferredTimeZone = resolveTimeZone;

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 100-nanosecond ticks within the second (Graph prints 7 fractional digits) */
  ticks: number;
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/** Parses a dateTimeTimeZone.dateTime; `offsetMinutes` when the string carries Z or an offset. */
export function parseGraphDateTime(value: string): { wall: WallClock; offsetMinutes?: number } | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const wall: WallClock = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4] ?? 0),
    minute: Number(m[5] ?? 0),
    second: Number(m[6] ?? 0),
    ticks: Number((m[7] ?? '').padEnd(7, '0')),
  };
  if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.day > 31 || wall.hour > 23 || wall.minute > 59 || wall.second > 59) return undefined;
  const check = new Date(Date.UTC(wall.year, wall.month - 1, wall.day));
  if (check.getUTCDate() !== wall.day) return undefined;
  const zone = m[8];
  if (zone === undefined) return { wall };
  if (zone === 'Z') return { wall, offsetMinutes: 0 };
  const sign = zone.startsWith('-') ? -1 : 1;
  return { wall, offsetMinutes: sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) };
}

function wallToUtcNaive(w: WallClock): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
}

/**
 * The sandbox's own time-zone arithmetic: Intl (ICU's tz database), not calpush's src/model/time.ts, so that a bug in
 * calpush's conversion shows up as a disagreement with the sandbox instead of being shared by both sides
 * (test/sandbox/timezones.property.test.ts compares the two). Offsets are remembered per zone and quarter of an hour
 * (Intl per call cost the sandbox a sixth of its CPU): most tz rules change offsets on quarter-hour boundaries, and a
 * quarter hour that has a change inside it is asked of Intl per instant.
 */
const QUARTER_HOUR = 15 * 60_000;
const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, number>();

function offsetFormatter(iana: string): Intl.DateTimeFormat {
  let formatter = offsetFormatters.get(iana);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone: iana, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', era: 'short' });
    offsetFormatters.set(iana, formatter);
  }
  return formatter;
}

/** The zone's UTC offset (ms) at an instant, straight from Intl. */
export function intlOffsetMs(iana: string, instantMs: number): number {
  const at = Math.floor(instantMs / 1000) * 1000;
  const parts: Record<string, string> = {};
  for (const part of offsetFormatter(iana).formatToParts(new Date(at))) parts[part.type] = part.value;
  const year = parts['era'] === 'BC' ? 1 - Number(parts['year']) : Number(parts['year']);
  const wall = Date.UTC(year, Number(parts['month']) - 1, Number(parts['day']), Number(parts['hour']), Number(parts['minute']), Number(parts['second']));
  return wall - at;
}

function offsetAt(iana: string, instantMs: number): number {
  if (iana === 'Etc/UTC') return 0;
  const quarter = Math.floor(instantMs / QUARTER_HOUR);
  const key = `${iana}\n${quarter}`;
  let offset = offsetCache.get(key);
  if (offset === undefined) {
    // A quarter hour with a change inside it is not remembered (NaN): Newfoundland changed at 00:01 local time until
    // 2011 (America/St_Johns), so its offset must be asked of Intl at each instant of that quarter.
    const atStart = intlOffsetMs(iana, quarter * QUARTER_HOUR);
    offset = atStart === intlOffsetMs(iana, (quarter + 1) * QUARTER_HOUR - 1000) ? atStart : Number.NaN;
    if (offsetCache.size > 200_000) offsetCache.clear();
    offsetCache.set(key, offset);
  }
  return Number.isNaN(offset) ? intlOffsetMs(iana, instantMs) : offset;
}

/** Wall clock of an instant (ms since epoch) in an IANA zone: the instant shifted by the zone's offset then. */
export function instantToWall(instantMs: number, iana: string): WallClock {
  const seconds = Math.floor(instantMs / 1000);
  const ticks = (instantMs - seconds * 1000) * 10000;
  const local = new Date(seconds * 1000 + offsetAt(iana, seconds * 1000));
  return { year: local.getUTCFullYear(), month: local.getUTCMonth() + 1, day: local.getUTCDate(), hour: local.getUTCHours(), minute: local.getUTCMinutes(), second: local.getUTCSeconds(), ticks };
}

function offsetMs(instantMs: number, iana: string): number {
  const w = instantToWall(instantMs, iana);
  return wallToUtcNaive(w) - Math.floor(instantMs / 1000) * 1000;
}

/**
 * The instant of a wall-clock time in an IANA zone. Non-existent times (spring-forward gap) move forward by the gap;
 * ambiguous times (fall-back) take the earlier instant — Windows' behaviour for appointments.
 */
export function wallToInstant(w: WallClock, iana: string): number {
  const naive = wallToUtcNaive(w);
  const DAY = 24 * 60 * 60 * 1000;
  // The offsets a day before and after bracket any transition near this wall-clock time.
  const before = offsetMs(naive - DAY, iana);
  const after = offsetMs(naive + DAY, iana);
  const candidates = [naive - before, naive - after, naive - offsetMs(naive, iana)].filter((t) => wallToUtcNaive(instantToWall(t, iana)) === naive);
  // In a gap no instant matches: use the offset before the transition, which moves the time forward by the gap.
  const base = candidates.length > 0 ? Math.min(...candidates) : naive - before;
  return base + Math.floor(w.ticks / 10000);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** "2017-08-29T04:00:00.0000000", Graph's response format. */
export function formatWall(w: WallClock): string {
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}.${pad(w.ticks, 7)}`;
}

/** ISO 8601 UTC with 7 fractional digits, as Graph prints createdDateTime etc. */
export function formatInstantUtc(instantMs: number): string {
  return `${formatWall(instantToWall(instantMs, 'Etc/UTC'))}Z`;
}
