// Canonical event → EWS CalendarItem, and our tag as an EWS extended property.
//
// The tag is the same MAPI named property the Graph target writes (PropertySetId 8d406dd4-…, name CalpushKey,
// type String: Graph's "String {8d406dd4-…} Name CalpushKey"), so an item created through either API is recognised
// by both. A second named property in the same set, CalpushTransactionId, carries the create's transactionId:
// EWS has no transactionId of its own, and this is how a create whose answer was lost is found again (target.ts).
//
// Children of t:CalendarItem must follow the schema's sequence (types.xsd: ItemType's elements, then
// CalendarItemType's): Subject, Sensitivity, Body, Categories, ReminderIsSet, ReminderMinutesBeforeStart,
// ExtendedProperty…, Start, End, IsAllDayEvent, LegacyFreeBusyStatus, Location, StartTimeZone, EndTimeZone.
import { findWindows } from 'windows-iana';
import type { DesiredEvent, Sensitivity, ShowAs } from '../../model/event.ts';
import { zonedToUtcMs } from '../../model/time.ts';
import { TAG_PROPERTY_NAME, TAG_PROPERTY_SET, tagValue } from '../../model/tag.ts';
import type { ServerVersion } from './schema.ts';
import { el, type XmlElement } from './xml.ts';

export const TRANSACTION_PROPERTY_NAME = 'CalpushTransactionId';

export function tagFieldUri(): XmlElement {
  return el('t:ExtendedFieldURI', { PropertySetId: TAG_PROPERTY_SET, PropertyName: TAG_PROPERTY_NAME, PropertyType: 'String' });
}

export function transactionFieldUri(): XmlElement {
  return el('t:ExtendedFieldURI', { PropertySetId: TAG_PROPERTY_SET, PropertyName: TRANSACTION_PROPERTY_NAME, PropertyType: 'String' });
}

const SENSITIVITY: Record<Sensitivity, string> = { normal: 'Normal', personal: 'Personal', private: 'Private', confidential: 'Confidential' };
const FREE_BUSY: Record<ShowAs, string> = { free: 'Free', tentative: 'Tentative', busy: 'Busy', oof: 'OOF', workingElsewhere: 'WorkingElsewhere', unknown: 'NoData' };

/**
 * LegacyFreeBusyStatus for the schema version we speak. "The WorkingElsewhere field is applicable for clients that
 * target Exchange Online and versions of Exchange starting with Exchange Server 2013"
 * (https://learn.microsoft.com/dotnet/api/microsoft.exchange.webservices.data.legacyfreebusystatus; Exchange 2010's
 * LegacyFreeBusyType has Free, Tentative, Busy, OOF and NoData only,
 * https://learn.microsoft.com/previous-versions/office/developer/exchange-server-2010/bb402179(v=exchg.140)). Against
 * Exchange2010_SP2 such an event is sent as Busy: away from one's desk is still not free. Every other value calpush
 * sends exists in the Exchange 2010 SP2 schema (docs/ews.md, "Exchange versions").
 */
/** The t:Sensitivity calpush writes for a sensitivity. */
export function sensitivityWord(sensitivity: Sensitivity): string {
  return SENSITIVITY[sensitivity];
}

export function freeBusyStatus(showAs: ShowAs, serverVersion: ServerVersion): string {
  if (showAs === 'workingElsewhere' && serverVersion === 'Exchange2010_SP2') return 'Busy';
  return FREE_BUSY[showAs];
}

/**
 * The Windows time-zone id Exchange 2010+ takes in StartTimeZone/EndTimeZone (CLDR's primary mapping, as the Graph
 * target sends); UTC for a zone Windows does not know (the instant stays right, the zone shown is UTC).
 */
export function windowsZone(ianaZone: string): string {
  let zone = windowsZones.get(ianaZone);
  if (zone === undefined) {
    zone = findWindows(ianaZone)?.[0] ?? 'UTC';
    // Bounded: the zones of real input are few.
    if (windowsZones.size < 1000) windowsZones.set(ianaZone, zone);
  }
  return zone;
}
const windowsZones = new Map<string, string>();

/** An instant as xs:dateTime in UTC ("2026-09-01T07:00:00Z"). */
function utc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface EwsTiming {
  /** UTC instants, xs:dateTime with Z. */
  start: string;
  end: string;
  startZone: string;
  endZone: string;
  allDay: boolean;
}

/**
 * Start and end as UTC instants plus the Windows zone they belong to. UTC values are unambiguous in every request
 * ("values with Z are always UTC"), whatever the order in which the server applies an update's changes; the zone
 * makes Outlook show and keep the event in its own zone. An all-day event runs from midnight to midnight in
 * `allDayTimeZone` with IsAllDayEvent set (Exchange requires midnight boundaries in the item's zone).
 */
export function ewsTiming(desired: DesiredEvent, allDayTimeZone: string): EwsTiming {
  const timing = desired.event.timing;
  if (timing.allDay) {
    const zone = windowsZone(allDayTimeZone);
    return {
      start: utc(zonedToUtcMs(`${timing.startDate}T00:00:00`, allDayTimeZone)),
      end: utc(zonedToUtcMs(`${timing.endDate}T00:00:00`, allDayTimeZone)),
      startZone: zone,
      endZone: zone,
      allDay: true,
    };
  }
  const zone = windowsZone(timing.timeZone);
  return {
    start: utc(zonedToUtcMs(timing.start, timing.timeZone)),
    end: utc(zonedToUtcMs(timing.end, timing.timeZone)),
    startZone: zone,
    endZone: zone,
    allDay: false,
  };
}

export interface MappingOptions {
  instance: string;
  allDayTimeZone: string;
  /** RequestServerVersion: decides the values the schema of that version knows (freeBusyStatus). */
  serverVersion: ServerVersion;
}

function body(desired: DesiredEvent): XmlElement {
  const value = desired.event.body;
  return el('t:Body', { BodyType: value?.contentType === 'html' ? 'HTML' : 'Text' }, value?.content ?? '');
}

function tagProperty(desired: DesiredEvent, options: MappingOptions): XmlElement {
  return el('t:ExtendedProperty', {}, tagFieldUri(), el('t:Value', {}, tagValue(options.instance, desired.key, desired.contentHash)));
}

function transactionProperty(transactionId: string): XmlElement {
  return el('t:ExtendedProperty', {}, transactionFieldUri(), el('t:Value', {}, transactionId));
}

/** The t:CalendarItem of a CreateItem: every field we own, in schema order. */
export function calendarItemForCreate(desired: DesiredEvent, transactionId: string, options: MappingOptions): XmlElement {
  const { event } = desired;
  const timing = ewsTiming(desired, options.allDayTimeZone);
  return el(
    't:CalendarItem',
    {},
    el('t:Subject', {}, event.subject),
    el('t:Sensitivity', {}, SENSITIVITY[event.sensitivity]),
    body(desired),
    event.categories.length > 0 && el('t:Categories', {}, event.categories.map((category) => el('t:String', {}, category))),
    el('t:ReminderIsSet', {}, event.reminderMinutes !== null ? 'true' : 'false'),
    event.reminderMinutes !== null && el('t:ReminderMinutesBeforeStart', {}, String(event.reminderMinutes)),
    tagProperty(desired, options),
    transactionProperty(transactionId),
    el('t:Start', {}, timing.start),
    el('t:End', {}, timing.end),
    el('t:IsAllDayEvent', {}, timing.allDay ? 'true' : 'false'),
    el('t:LegacyFreeBusyStatus', {}, freeBusyStatus(event.showAs, options.serverVersion)),
    event.location !== null && el('t:Location', {}, event.location),
    el('t:StartTimeZone', { Id: timing.startZone }),
    el('t:EndTimeZone', { Id: timing.endZone }),
  );
}

function setField(fieldUri: string, value: XmlElement): XmlElement {
  return el('t:SetItemField', {}, el('t:FieldURI', { FieldURI: fieldUri }), el('t:CalendarItem', {}, value));
}

function deleteField(fieldUri: string): XmlElement {
  return el('t:DeleteItemField', {}, el('t:FieldURI', { FieldURI: fieldUri }));
}

/**
 * The t:Updates of an UpdateItem: the full delivered representation, so that a field the source cleared is cleared
 * in the calendar too (location and categories removed, reminder off, body emptied). The time zones go before the
 * times they belong to.
 */
export function calendarItemUpdates(desired: DesiredEvent, options: MappingOptions): XmlElement[] {
  const { event } = desired;
  const timing = ewsTiming(desired, options.allDayTimeZone);
  return [
    setField('item:Subject', el('t:Subject', {}, event.subject)),
    setField('item:Sensitivity', el('t:Sensitivity', {}, SENSITIVITY[event.sensitivity])),
    setField('item:Body', body(desired)),
    event.categories.length > 0
      ? setField('item:Categories', el('t:Categories', {}, event.categories.map((category) => el('t:String', {}, category))))
      : deleteField('item:Categories'),
    setField('item:ReminderIsSet', el('t:ReminderIsSet', {}, event.reminderMinutes !== null ? 'true' : 'false')),
    ...(event.reminderMinutes !== null ? [setField('item:ReminderMinutesBeforeStart', el('t:ReminderMinutesBeforeStart', {}, String(event.reminderMinutes)))] : []),
    el('t:SetItemField', {}, tagFieldUri(), el('t:CalendarItem', {}, tagProperty(desired, options))),
    setField('calendar:StartTimeZone', el('t:StartTimeZone', { Id: timing.startZone })),
    setField('calendar:EndTimeZone', el('t:EndTimeZone', { Id: timing.endZone })),
    setField('calendar:Start', el('t:Start', {}, timing.start)),
    setField('calendar:End', el('t:End', {}, timing.end)),
    setField('calendar:IsAllDayEvent', el('t:IsAllDayEvent', {}, timing.allDay ? 'true' : 'false')),
    setField('calendar:LegacyFreeBusyStatus', el('t:LegacyFreeBusyStatus', {}, freeBusyStatus(event.showAs, options.serverVersion))),
    event.location !== null ? setField('calendar:Location', el('t:Location', {}, event.location)) : deleteField('calendar:Location'),
  ];
}
