// Time zones as Exchange 2010+ writes them into calendar items: the Windows id, its display name (item:TimeZone), and
// the full definition in StartTimeZone / EndTimeZone — Id, Name, Periods, TransitionsGroups, Transitions — as in
// GetServerTimeZones' "full time zone definition" (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getservertimezones-operation)
// and the StartTimeZone element's TimeZoneDefinitionType (https://learn.microsoft.com/exchange/client-developer/web-service-reference/starttimezone).
// A bare `<t:StartTimeZone Id="…"/>` is schema-valid but not what Exchange answers: the EWS Managed API reads it as no
// time zone at all.
//
// The rules come from the sandbox's own Intl arithmetic (graph/timezones.ts), for the year of the item: standard and
// daylight offsets and the two transitions as "n-th (or last) weekday of a month at a local time", which is how
// Windows stores them.
import { findWindows } from 'windows-iana';
import { intlOffsetMs, type ResolvedZone } from '../graph/timezones.ts';
import { esc } from './xml.ts';

/**
 * Display names of Windows time zones (the registry's "Display" value, as Outlook and EWS's item:TimeZone show them;
 * Microsoft's list: https://learn.microsoft.com/windows-hardware/manufacture/desktop/default-time-zones). Zones not
 * listed here are shown as "(UTC±hh:mm) <Windows id>".
 */
const DISPLAY_NAMES: Record<string, string> = {
  UTC: '(UTC) Coordinated Universal Time',
  'GMT Standard Time': '(UTC+00:00) Dublin, Edinburgh, Lisbon, London',
  'Greenwich Standard Time': '(UTC+00:00) Monrovia, Reykjavik',
  'W. Europe Standard Time': '(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna',
  'Central Europe Standard Time': '(UTC+01:00) Belgrade, Bratislava, Budapest, Ljubljana, Prague',
  'Romance Standard Time': '(UTC+01:00) Brussels, Copenhagen, Madrid, Paris',
  'Central European Standard Time': '(UTC+01:00) Sarajevo, Skopje, Warsaw, Zagreb',
  'W. Central Africa Standard Time': '(UTC+01:00) West Central Africa',
  'GTB Standard Time': '(UTC+02:00) Athens, Bucharest',
  'FLE Standard Time': '(UTC+02:00) Helsinki, Kyiv, Riga, Sofia, Tallinn, Vilnius',
  'Israel Standard Time': '(UTC+02:00) Jerusalem',
  'South Africa Standard Time': '(UTC+02:00) Harare, Pretoria',
  'Egypt Standard Time': '(UTC+02:00) Cairo',
  'Turkey Standard Time': '(UTC+03:00) Istanbul',
  'Russian Standard Time': '(UTC+03:00) Moscow, St. Petersburg',
  'Arab Standard Time': '(UTC+03:00) Kuwait, Riyadh',
  'E. Africa Standard Time': '(UTC+03:00) Nairobi',
  'Arabian Standard Time': '(UTC+04:00) Abu Dhabi, Muscat',
  'India Standard Time': '(UTC+05:30) Chennai, Kolkata, Mumbai, New Delhi',
  'China Standard Time': '(UTC+08:00) Beijing, Chongqing, Hong Kong, Urumqi',
  'Singapore Standard Time': '(UTC+08:00) Kuala Lumpur, Singapore',
  'W. Australia Standard Time': '(UTC+08:00) Perth',
  'Tokyo Standard Time': '(UTC+09:00) Osaka, Sapporo, Tokyo',
  'Korea Standard Time': '(UTC+09:00) Seoul',
  'AUS Eastern Standard Time': '(UTC+10:00) Canberra, Melbourne, Sydney',
  'New Zealand Standard Time': '(UTC+12:00) Auckland, Wellington',
  'Atlantic Standard Time': '(UTC-04:00) Atlantic Time (Canada)',
  'Eastern Standard Time': '(UTC-05:00) Eastern Time (US & Canada)',
  'Central Standard Time': '(UTC-06:00) Central Time (US & Canada)',
  'Mountain Standard Time': '(UTC-07:00) Mountain Time (US & Canada)',
  'US Mountain Standard Time': '(UTC-07:00) Arizona',
  'Pacific Standard Time': '(UTC-08:00) Pacific Time (US & Canada)',
  'Alaskan Standard Time': '(UTC-09:00) Alaska',
  'Hawaiian Standard Time': '(UTC-10:00) Hawaii',
  'E. South America Standard Time': '(UTC-03:00) Brasilia',
};

/** The Windows id of a zone the store holds (Graph may have named it by an IANA id). */
export function windowsZoneOf(zone: ResolvedZone): string {
  // Windows ids have no slash; the IANA names Graph also accepts all have one.
  if (!zone.name.includes('/')) return zone.name;
  return findWindows(zone.iana)?.[0] ?? 'UTC';
}

interface Rules {
  standardOffsetMs: number;
  daylightOffsetMs: number | null;
  /** Local wall clock (in the period before it) of each change: to daylight, then back to standard. */
  toDaylight?: Change;
  toStandard?: Change;
}

interface Change {
  month: number;
  dayOfWeek: string;
  /** 1–4, or -1 for the last such weekday of the month. */
  occurrence: number;
  /** Minutes after local midnight. */
  minutes: number;
}

const QUARTER = 15 * 60_000;
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const rulesCache = new Map<string, Rules>();

/** The instants (quarter hours) in `year` at which the zone's offset changes. */
function transitions(iana: string, year: number): number[] {
  const found: number[] = [];
  const step = 24 * QUARTER;
  for (let from = Date.UTC(year, 0, 1); from < Date.UTC(year + 1, 0, 1); from += step) {
    const before = intlOffsetMs(iana, from);
    if (before === intlOffsetMs(iana, from + step)) continue;
    let at = from;
    while (intlOffsetMs(iana, at + QUARTER) === before) at += QUARTER;
    found.push(at + QUARTER);
  }
  return found;
}

function changeAt(iana: string, instant: number): Change {
  const local = new Date(instant + intlOffsetMs(iana, instant - 1000));
  const day = local.getUTCDate();
  const daysInMonth = new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth() + 1, 0)).getUTCDate();
  return {
    month: local.getUTCMonth() + 1,
    dayOfWeek: DAYS[local.getUTCDay()]!,
    occurrence: day + 7 > daysInMonth ? -1 : Math.ceil(day / 7),
    minutes: local.getUTCHours() * 60 + local.getUTCMinutes(),
  };
}

/** Standard and daylight offsets and the two yearly changes; a zone with any other pattern is given its January offset. */
function rulesFor(iana: string, year: number): Rules {
  const key = `${iana}\n${year}`;
  const cached = rulesCache.get(key);
  if (cached) return cached;
  const changes = transitions(iana, year);
  let rules: Rules = { standardOffsetMs: intlOffsetMs(iana, Date.UTC(year, 0, 1)), daylightOffsetMs: null };
  if (changes.length === 2) {
    const [a, b] = changes as [number, number];
    const offsetA = intlOffsetMs(iana, a);
    const offsetB = intlOffsetMs(iana, b);
    const [toDaylight, toStandard] = offsetA > offsetB ? [a, b] : [b, a];
    rules = { standardOffsetMs: Math.min(offsetA, offsetB), daylightOffsetMs: Math.max(offsetA, offsetB), toDaylight: changeAt(iana, toDaylight), toStandard: changeAt(iana, toStandard) };
  }
  if (rulesCache.size > 10_000) rulesCache.clear();
  rulesCache.set(key, rules);
  return rules;
}

/** A duration in hours and minutes: "PT2H", "PT5H30M", "-PT1H"; "PT0H" for none. */
function duration(minutes: number): string {
  const sign = minutes < 0 ? '-' : '';
  const abs = Math.abs(minutes);
  const hours = Math.floor(abs / 60);
  const rest = abs % 60;
  return `${sign}PT${hours}H${rest ? `${rest}M` : ''}`;
}

function offsetLabel(offsetMs: number): string {
  const minutes = Math.round(offsetMs / 60_000);
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** What item:TimeZone says: the Windows display name (https://learn.microsoft.com/exchange/client-developer/web-service-reference/timezone-item). */
export function timeZoneDisplayName(zone: ResolvedZone, year: number): string {
  const id = windowsZoneOf(zone);
  return DISPLAY_NAMES[id] ?? `(UTC${offsetLabel(rulesFor(zone.iana, year).standardOffsetMs)}) ${id}`;
}

function transitionXml(to: string, change: Change): string {
  return (
    `<t:RecurringDayTransition><t:To Kind="Period">${esc(to)}</t:To><t:TimeOffset>${duration(change.minutes)}</t:TimeOffset>` +
    `<t:Month>${change.month}</t:Month><t:DayOfWeek>${change.dayOfWeek}</t:DayOfWeek><t:Occurrence>${change.occurrence}</t:Occurrence></t:RecurringDayTransition>`
  );
}

/** `<t:StartTimeZone …>` / `<t:EndTimeZone …>` with the zone's full definition for `year`. */
export function timeZoneDefinitionXml(element: 'StartTimeZone' | 'EndTimeZone', zone: ResolvedZone, year: number): string {
  const id = windowsZoneOf(zone);
  const rules = rulesFor(zone.iana, year);
  const registryId = `trule:Microsoft/Registry/${id.replace(/[^A-Za-z0-9]/g, '')}/${year}`;
  const standard = `${registryId}-Standard`;
  const daylight = `${registryId}-Daylight`;
  // Windows' Bias: minutes added to local time to get UTC.
  let periods = `<t:Period Bias="${duration(-Math.round(rules.standardOffsetMs / 60_000))}" Name="Standard" Id="${esc(standard)}"/>`;
  let group = `<t:Transition><t:To Kind="Period">${esc(standard)}</t:To></t:Transition>`;
  if (rules.daylightOffsetMs !== null && rules.toDaylight && rules.toStandard) {
    periods += `<t:Period Bias="${duration(-Math.round(rules.daylightOffsetMs / 60_000))}" Name="Daylight" Id="${esc(daylight)}"/>`;
    group = transitionXml(daylight, rules.toDaylight) + transitionXml(standard, rules.toStandard);
  }
  return (
    `<t:${element} Id="${esc(id)}" Name="${esc(timeZoneDisplayName(zone, year))}">` +
    `<t:Periods>${periods}</t:Periods>` +
    `<t:TransitionsGroups><t:TransitionsGroup Id="0">${group}</t:TransitionsGroup></t:TransitionsGroups>` +
    `<t:Transitions><t:Transition><t:To Kind="Group">0</t:To></t:Transition></t:Transitions>` +
    `</t:${element}>`
  );
}
