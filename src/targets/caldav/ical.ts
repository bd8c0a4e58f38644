// Canonical event → iCalendar object (RFC 5545) for CalDAV, and our ownership tag inside it.
//
// Every VEVENT we write carries:
//   UID:<key>@calpush.<instance>                       (our UID namespace: never collides with a person's event)
//   X-CALPUSH-KEY:v1;<instance>;<key>;<contentHash>    (the tag's value, src/model/tag.ts: ownership and adoption)
// X- properties are TEXT (RFC 5545 §3.8.8.2), so on the wire the semicolons are escaped ("v1\;inst\;…"); servers
// re-serialise what we PUT (Radicale and Xandikos both do), so the reader accepts the escaped and the raw form.
import ICAL from 'ical.js';
import type { DesiredEvent, Sensitivity, ShowAs } from '../../model/event.ts';
import { plainText, writtenFields, type ManagedFields } from '../../model/managed.ts';
import { parseTagValue, tagValue } from '../../model/tag.ts';
import { zonedToUtcMs } from '../../model/time.ts';
import { vtimezone } from './vtimezone.ts';

export const TAG_PROPERTY = 'X-CALPUSH-KEY';
export const PRODID = '-//calpush//calpush CalDAV target//EN';

/** Our UID for an event: the key in calpush's own namespace for this instance. */
export function uidFor(instance: string, key: string): string {
  return `${key}@calpush.${instance}`;
}

/** Resource name in the collection: derived from instance and key only, so a retried create cannot duplicate. */
export function resourceNameFor(instance: string, key: string): string {
  return `calpush-${instance}-${key}.ics`;
}

/** CLASS (RFC 5545 §3.8.1.3). Outlook's "personal" has no CalDAV equivalent: PRIVATE errs on the side of privacy. */
export function classFor(sensitivity: Sensitivity): 'PUBLIC' | 'PRIVATE' | 'CONFIDENTIAL' {
  switch (sensitivity) {
    case 'normal':
      return 'PUBLIC';
    case 'personal':
    case 'private':
      return 'PRIVATE';
    case 'confidential':
      return 'CONFIDENTIAL';
  }
}

/** Microsoft's busy status, which Outlook and CalDAV bridges to Exchange read; TRANSP carries free/busy for everyone else. */
const CDO_BUSY_STATUS: Record<ShowAs, string> = {
  free: 'FREE',
  tentative: 'TENTATIVE',
  busy: 'BUSY',
  oof: 'OOF',
  workingElsewhere: 'WORKINGELSEWHERE',
  unknown: 'BUSY',
};

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** A readable plain-text rendering of an HTML body, for DESCRIPTION (clients without X-ALT-DESC show this). */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style)[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<li[^>]*>/gi, '\n• ')
    .replace(/<\/(p|div|h[1-6]|li|tr|table|ul|ol|blockquote|pre)\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
      if (name[0] === '#') {
        const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
        return Number.isInteger(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return ENTITIES[name.toLowerCase()] ?? whole;
    })
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** TEXT escaping (RFC 5545 §3.3.11). */
export function escapeText(value: string): string {
  return value.replace(/[\\;,]/g, (c) => `\\${c}`).replace(/\r?\n/g, '\\n');
}

function textProperty(component: ICAL.Component, name: string, value: string, parameters: Record<string, string> = {}): void {
  const property = new ICAL.Property(name, component);
  for (const [parameter, parameterValue] of Object.entries(parameters)) property.setParameter(parameter, parameterValue);
  // ical.js writes properties it does not know (X-…) verbatim, as "unknown"; they are TEXT by RFC 5545 §3.8.8.2,
  // so they are escaped here (resetType('text') would do it too, but adds a needless VALUE=TEXT).
  property.setValue(property.type === 'unknown' ? escapeText(value) : value);
  component.addProperty(property);
}

function localTime(localDateTime: string, zone: ICAL.Timezone | null): ICAL.Time {
  const [date, time] = localDateTime.split('T') as [string, string];
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const [hour, minute, second = 0] = time.split(':').map(Number) as [number, number, number?];
  return ICAL.Time.fromData({ year, month, day, hour, minute, second, isDate: false }, zone ?? undefined);
}

function dateValue(date: string): ICAL.Time {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  return ICAL.Time.fromData({ year, month, day, isDate: true });
}

export interface ICalendarOptions {
  instance: string;
  /** DTSTAMP / LAST-MODIFIED; defaults to now. */
  now?: Date;
}

const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Universal', 'Etc/Zulu', 'Universal', 'Zulu']);

/** The complete iCalendar object for one event. Updates send it whole, so cleared fields are cleared. */
export function iCalendarFor(desired: DesiredEvent, options: ICalendarOptions): string {
  const { event } = desired;
  const timing = event.timing;
  const calendar = new ICAL.Component(['vcalendar', [], []]);
  calendar.addPropertyWithValue('prodid', PRODID);
  calendar.addPropertyWithValue('version', '2.0');
  calendar.addPropertyWithValue('calscale', 'GREGORIAN');

  const vevent = new ICAL.Component('vevent', calendar);
  vevent.addPropertyWithValue('uid', uidFor(options.instance, desired.key));
  const stamp = ICAL.Time.fromJSDate(options.now ?? new Date(), true);
  vevent.addPropertyWithValue('dtstamp', stamp);
  vevent.addPropertyWithValue('last-modified', stamp);

  if (timing.allDay) {
    // DATE values (RFC 5545 §3.3.4): floating days, shown on the same dates in every zone; DTEND is exclusive.
    vevent.addPropertyWithValue('dtstart', dateValue(timing.startDate));
    vevent.addPropertyWithValue('dtend', dateValue(timing.endDate));
  } else if (UTC_ZONES.has(timing.timeZone)) {
    const start = localTime(timing.start, ICAL.Timezone.utcTimezone);
    const end = localTime(timing.end, ICAL.Timezone.utcTimezone);
    vevent.addPropertyWithValue('dtstart', start);
    vevent.addPropertyWithValue('dtend', end);
  } else {
    // DTSTART;TZID=<IANA zone>:<wall clock> with a VTIMEZONE that covers the event's years.
    const zone = timing.timeZone;
    const component = vtimezone(zone, Number(timing.start.slice(0, 4)), Number(timing.end.slice(0, 4)));
    calendar.addSubcomponent(component);
    const tz = new ICAL.Timezone({ component, tzid: zone });
    for (const [name, value] of [['dtstart', timing.start], ['dtend', timing.end]] as const) {
      const property = new ICAL.Property(name, vevent);
      property.setValue(localTime(value, tz));
      property.setParameter('tzid', zone);
      vevent.addProperty(property);
    }
  }

  textProperty(vevent, 'summary', event.subject);
  if (event.body) {
    if (event.body.contentType === 'html') {
      textProperty(vevent, 'description', htmlToText(event.body.content));
      textProperty(vevent, 'x-alt-desc', event.body.content, { fmttype: 'text/html' });
    } else {
      textProperty(vevent, 'description', event.body.content);
    }
  }
  if (event.location) textProperty(vevent, 'location', event.location);
  if (event.categories.length) {
    const categories = new ICAL.Property('categories', vevent);
    categories.setValues(event.categories);
    vevent.addProperty(categories);
  }
  vevent.addPropertyWithValue('transp', event.showAs === 'free' ? 'TRANSPARENT' : 'OPAQUE');
  if (event.showAs === 'tentative') vevent.addPropertyWithValue('status', 'TENTATIVE');
  textProperty(vevent, 'x-microsoft-cdo-busystatus', CDO_BUSY_STATUS[event.showAs]);
  vevent.addPropertyWithValue('class', classFor(event.sensitivity));
  textProperty(vevent, TAG_PROPERTY.toLowerCase(), tagValue(options.instance, desired.key, desired.contentHash));

  if (event.reminderMinutes !== null) {
    const alarm = new ICAL.Component('valarm', vevent);
    alarm.addPropertyWithValue('action', 'DISPLAY');
    // A DISPLAY alarm must have a DESCRIPTION (RFC 5545 §3.6.6).
    textProperty(alarm, 'description', event.subject || 'Reminder');
    const trigger = new ICAL.Property('trigger', alarm);
    trigger.setValue(ICAL.Duration.fromSeconds(-event.reminderMinutes * 60));
    alarm.addProperty(trigger);
    vevent.addSubcomponent(alarm);
  }
  calendar.addSubcomponent(vevent);
  return `${calendar.toString()}\r\n`;
}

/** Undoes TEXT escaping (RFC 5545 §3.3.11) on a value that ical.js handed over raw. */
function unescapeText(value: string): string {
  return value.replace(/\\([\\;,nN])/g, (_, c: string) => (c === 'n' || c === 'N' ? '\n' : c));
}

export interface FoundTag {
  instance: string;
  key: string;
  contentHash: string;
  uid: string | null;
}

/**
 * The calpush tag of a calendar object: from its master VEVENT (the one without RECURRENCE-ID), else the first
 * tagged VEVENT. Null when it has none we can read, or the data is not iCalendar at all.
 */
export function findTag(data: string): FoundTag | null {
  if (!/X-CALPUSH-KEY/i.test(data)) return null;
  let root: ICAL.Component;
  try {
    root = new ICAL.Component(ICAL.parse(data) as unknown[]);
  } catch {
    return null;
  }
  const vevents = root.name === 'vevent' ? [root] : root.getAllSubcomponents('vevent');
  const ordered = [...vevents.filter((v) => !v.hasProperty('recurrence-id')), ...vevents.filter((v) => v.hasProperty('recurrence-id'))];
  for (const vevent of ordered) {
    const property = vevent.getFirstProperty(TAG_PROPERTY.toLowerCase());
    if (!property) continue;
    const raw = property.getFirstValue();
    const tag = typeof raw === 'string' ? parseTagValue(unescapeText(raw).trim()) : null;
    if (!tag) continue;
    const uid = vevent.getFirstPropertyValue('uid');
    return { ...tag, uid: typeof uid === 'string' ? uid : null };
  }
  return null;
}

// ---- the managed fields, for telling a person's edit from a touch (docs/drift.md, "What counts as an edit") ------

/**
 * The managed fields (model/managed.ts) of the VEVENT iCalendarFor writes: show as by TRANSP, sensitivity by CLASS, an
 * HTML body by its DESCRIPTION text; all-day days are DATE values, compared as UTC midnights.
 */
export function writtenICalFields(desired: DesiredEvent): ManagedFields {
  const { event } = desired;
  const written = writtenFields(desired, 'UTC', { showAs: event.showAs === 'free' ? 'TRANSPARENT' : 'OPAQUE', sensitivity: classFor(event.sensitivity) });
  return event.body?.contentType === 'html' ? { ...written, body: plainText(htmlToText(event.body.content), 'text') } : written;
}

/** The managed fields of the (first, not an override) VEVENT of an object as a server holds it; null: not iCalendar. */
export function iCalManagedFields(data: string): ManagedFields | null {
  let root: ICAL.Component;
  try {
    root = new ICAL.Component(ICAL.parse(data) as unknown[]);
  } catch {
    return null;
  }
  const vevent = (root.name === 'vevent' ? [root] : root.getAllSubcomponents('vevent')).find((v) => !v.hasProperty('recurrence-id'));
  if (!vevent) return null;
  const textOf = (name: string) => {
    const value = vevent.getFirstPropertyValue(name);
    return typeof value === 'string' ? value : '';
  };
  const start = vevent.getFirstProperty('dtstart');
  return {
    subject: textOf('summary'),
    body: plainText(textOf('description'), 'text'),
    start: instantOf(start),
    end: instantOf(vevent.getFirstProperty('dtend')),
    allDay: start?.type === 'date',
    location: textOf('location'),
    showAs: (textOf('transp') || 'OPAQUE').toUpperCase(),
    sensitivity: (textOf('class') || 'PUBLIC').toUpperCase(),
  };
}

/** DTSTART/DTEND as an instant: UTC, or wall clock in its TZID (an IANA zone, as calpush writes); NaN otherwise. */
function instantOf(property: ICAL.Property | null): number {
  const value = property?.getFirstValue();
  if (!(value instanceof ICAL.Time)) return Number.NaN;
  const local = value.toString().replace(/Z$/, '');
  if (value.isDate) return zonedToUtcMs(`${local}T00:00:00`, 'UTC');
  if (value.zone === ICAL.Timezone.utcTimezone) return Date.parse(`${local}Z`);
  const tzid = property!.getParameter('tzid');
  if (typeof tzid !== 'string') return Number.NaN;
  try {
    return zonedToUtcMs(local, tzid);
  } catch {
    return Number.NaN;
  }
}
