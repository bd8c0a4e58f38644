// Canonical event → Microsoft Graph event body, with our ownership tag (src/model/tag.ts).
//
// Only properties of the Graph v1.0 `event` entity are sent (the sandbox checks every body against the CSDL).
// Shapes: https://learn.microsoft.com/graph/api/resources/event
import type { Event as GraphEvent, SingleValueLegacyExtendedProperty } from '@microsoft/microsoft-graph-types';
import { findWindows } from 'windows-iana';
import type { DesiredEvent } from '../../model/event.ts';
import { TAG_PROPERTY_ID, tagValue } from '../../model/tag.ts';
import { utcMsToZoned, zonedToUtcMs } from '../../model/time.ts';

/**
 * Graph takes Windows time-zone names (and some IANA names, not all:
 * https://learn.microsoft.com/graph/api/resources/datetimetimezone). We send the CLDR primary Windows zone of
 * the event's IANA zone; a zone with no Windows equivalent is sent as UTC, which keeps the instant right.
 */
const windowsZones = new Map<string, string | null>();

/** The CLDR primary Windows zone of an IANA zone (cached: windows-iana searches its table on every call). */
function windowsZoneOf(ianaZone: string): string | null {
  let windows = windowsZones.get(ianaZone);
  if (windows === undefined) {
    windows = findWindows(ianaZone)?.[0] ?? null;
    windowsZones.set(ianaZone, windows);
  }
  return windows;
}

export function graphDateTime(localDateTime: string, ianaZone: string): { dateTime: string; timeZone: string } {
  const windows = windowsZoneOf(ianaZone);
  if (windows) return { dateTime: localDateTime, timeZone: windows };
  return { dateTime: utcMsToZoned(zonedToUtcMs(localDateTime, ianaZone), 'UTC'), timeZone: 'UTC' };
}

export interface GraphBodyOptions {
  instance: string;
  /** IANA zone that all-day events are anchored in (Graph needs a zone even for all-day events). */
  allDayTimeZone: string;
}

/**
 * The complete delivered representation. Updates send it whole, so a field the source cleared is cleared in
 * Outlook too (empty location, no categories, reminder off).
 */
export function graphEventBody(desired: DesiredEvent, options: GraphBodyOptions): GraphEvent {
  const { event } = desired;
  const timing = event.timing;
  const tag: SingleValueLegacyExtendedProperty = {
    id: TAG_PROPERTY_ID,
    value: tagValue(options.instance, desired.key, desired.contentHash),
  };
  const body: GraphEvent = {
    subject: event.subject,
    body: { contentType: event.body?.contentType ?? 'text', content: event.body?.content ?? '' },
    // An all-day event must start and end at midnight in one zone (https://learn.microsoft.com/graph/api/resources/event, isAllDay).
    start: timing.allDay ? graphDateTime(`${timing.startDate}T00:00:00`, options.allDayTimeZone) : graphDateTime(timing.start, timing.timeZone),
    end: timing.allDay ? graphDateTime(`${timing.endDate}T00:00:00`, options.allDayTimeZone) : graphDateTime(timing.end, timing.timeZone),
    isAllDay: timing.allDay,
    location: { displayName: event.location ?? '' },
    categories: event.categories,
    showAs: event.showAs,
    sensitivity: event.sensitivity,
    isReminderOn: event.reminderMinutes !== null,
    ...(event.reminderMinutes !== null ? { reminderMinutesBeforeStart: event.reminderMinutes } : {}),
    singleValueExtendedProperties: [tag],
  };
  return body;
}
