// Calendar items between EWS XML and the sandbox's event store (the same store the Graph side uses, which keeps
// events in Graph's JSON shape): t:CalendarItem → Graph fields on the way in, EventRecord → t:CalendarItem in the
// schema's element order on the way out, field paths (FieldURI / ExtendedFieldURI) for shapes, updates,
// restrictions and sort orders.
//
// Sources: https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendaritem (element order:
// types.xsd ItemType then CalendarItemType), …/extendedfielduri, …/fielduri, …/baseshape, …/legacyfreebusystatus,
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/time-zones-and-ews-in-exchange,
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/properties-and-extended-properties-in-ews-in-exchange.
import { createHash } from 'node:crypto';
import type { EventRecord } from '../graph/store.ts';
import { formatInstantUtc, instantToWall, parseGraphDateTime, resolveTimeZone, wallToInstant, type ResolvedZone } from '../graph/timezones.ts';
import { EwsItemError } from './soap.ts';
import { timeZoneDefinitionXml, timeZoneDisplayName, windowsZoneOf } from './timezones.ts';
import { attr, element, elements, esc, NS, tEl, textOf, type XmlElement } from './xml.ts';

export const UTC_ZONE: ResolvedZone = { name: 'UTC', iana: 'Etc/UTC' };

// ---------------------------------------------------------------------------------------------------------------
// Ids. Graph's REST ids are EWS ids in URL-safe form: "/" ↔ "-", "+" ↔ "_"
// (https://learn.microsoft.com/graph/api/user-translateexchangeids: restId vs ewsId). The change key is the same
// string on both sides (Graph's changeKey, https://learn.microsoft.com/graph/api/resources/outlookitem).

export function ewsIdFromGraph(graphId: string): string {
  return graphId.replace(/-/g, '/').replace(/_/g, '+');
}

export function graphIdFromEws(ewsId: string): string {
  return ewsId.replace(/\//g, '-').replace(/\+/g, '_');
}

export function isWellFormedId(ewsId: string): boolean {
  return /^AAMkA[A-Za-z0-9+/]+=*$/.test(ewsId) && ewsId.length >= 40;
}

export function isWellFormedChangeKey(changeKey: string): boolean {
  return /^[A-Za-z0-9+/]+=*$/.test(changeKey) && changeKey.length % 4 === 0;
}

/** A stable calendar folder id per mailbox (FolderId of the "calendar" distinguished folder). */
export function calendarFolderId(mailbox: string): string {
  const digest = createHash('sha256').update(`calpush-sandbox:calendar:${mailbox.toLowerCase()}`).digest();
  return `AAMkA${Buffer.concat([Buffer.from([0x2e, 0x00]), digest, digest.subarray(0, 8)]).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Extended properties: EWS ExtendedFieldURI ↔ Graph id "String {GUID} Name X" / "Integer {GUID} Id 0x8501" /
// "String 0x0037" — the same MAPI named property (https://learn.microsoft.com/graph/api/resources/extended-properties-overview).

/** DistinguishedPropertySetId values and their GUIDs ([MS-OXPROPS] 1.3.2 commonly used property sets). */
const DISTINGUISHED_SETS: Record<string, string> = {
  Meeting: '6ed8da90-450b-101b-98da-00aa003f1305',
  Appointment: '00062002-0000-0000-c000-000000000046',
  Common: '00062008-0000-0000-c000-000000000046',
  PublicStrings: '00020329-0000-0000-c000-000000000046',
  Address: '00062004-0000-0000-c000-000000000046',
  InternetHeaders: '00020386-0000-0000-c000-000000000046',
  CalendarAssistant: '11000e07-b51b-40d6-af21-caa85edab1d0',
  UnifiedMessaging: '4442858e-a9e3-4e80-b900-317a210cc15b',
  Task: '00062003-0000-0000-c000-000000000046',
  Sharing: '00062040-0000-0000-c000-000000000046',
};

/** The Graph-style id of an ExtendedFieldURI element. */
export function extendedIdFromUri(el: XmlElement): string {
  const type = attr(el, 'PropertyType') ?? 'String';
  const tag = attr(el, 'PropertyTag');
  if (tag !== undefined) {
    const n = /^0x/i.test(tag) ? parseInt(tag, 16) : Number(tag);
    return `${type} 0x${n.toString(16).padStart(4, '0')}`;
  }
  const distinguished = attr(el, 'DistinguishedPropertySetId');
  const guid = distinguished !== undefined ? DISTINGUISHED_SETS[distinguished] ?? distinguished : (attr(el, 'PropertySetId') ?? '').replace(/[{}]/g, '');
  const name = attr(el, 'PropertyName');
  if (name !== undefined) return `${type} {${guid}} Name ${name}`;
  const id = Number(attr(el, 'PropertyId') ?? '0');
  return `${type} {${guid}} Id 0x${id.toString(16)}`;
}

/** The ExtendedFieldURI element (t: prefix) for a Graph-style id. */
export function extendedUriFromId(id: string): string {
  const named = /^(\w+)\s+\{?([0-9a-fA-F-]{36})\}?\s+(Name|Id)\s+(.+)$/i.exec(id.trim());
  if (named) {
    const [, type, guid, kind, rest] = named;
    const known = Object.entries(DISTINGUISHED_SETS).find(([, g]) => g === guid!.toLowerCase());
    const set = known ? `DistinguishedPropertySetId="${known[0]}"` : `PropertySetId="${esc(guid!)}"`;
    const key = kind!.toLowerCase() === 'name' ? `PropertyName="${esc(rest!)}"` : `PropertyId="${parseInt(rest!, rest!.toLowerCase().startsWith('0x') ? 16 : 10)}"`;
    return `<t:ExtendedFieldURI ${set} ${key} PropertyType="${esc(type!)}"/>`;
  }
  const tag = /^(\w+)\s+(0x[0-9a-fA-F]+)$/.exec(id.trim());
  if (tag) return `<t:ExtendedFieldURI PropertyTag="${tag[2]}" PropertyType="${tag[1]}"/>`;
  return `<t:ExtendedFieldURI PropertyName="${esc(id)}" PropertyType="String"/>`;
}

// ---------------------------------------------------------------------------------------------------------------
// Paths

export type FieldPath = { kind: 'field'; uri: string } | { kind: 'extended'; id: string; uriXml: string } | { kind: 'indexed'; uri: string };

export function parsePath(el: XmlElement): FieldPath {
  if (el.localName === 'ExtendedFieldURI') {
    const id = extendedIdFromUri(el);
    return { kind: 'extended', id, uriXml: extendedUriFromId(id) };
  }
  if (el.localName === 'IndexedFieldURI') return { kind: 'indexed', uri: attr(el, 'FieldURI') ?? '' };
  return { kind: 'field', uri: attr(el, 'FieldURI') ?? '' };
}

/** Path elements (FieldURI, IndexedFieldURI, ExtendedFieldURI — the t:Path substitution group) under a parent. */
export function pathElements(parent: XmlElement | undefined): XmlElement[] {
  return elements(parent, NS.t).filter((e) => e.localName === 'FieldURI' || e.localName === 'ExtendedFieldURI' || e.localName === 'IndexedFieldURI');
}

// ---------------------------------------------------------------------------------------------------------------
// Times

/** An xs:dateTime from a request: with Z/offset it is absolute; without, it is wall-clock time in `zone`. */
export function parseEwsDateTime(value: string, zone: ResolvedZone): number | undefined {
  const parsed = parseGraphDateTime(value.trim());
  if (!parsed) return undefined;
  const w = parsed.wall;
  if (parsed.offsetMinutes !== undefined) {
    return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - parsed.offsetMinutes * 60000 + Math.floor(w.ticks / 10000);
  }
  return wallToInstant(w, zone.iana);
}

/** EWS writes dateTimes in UTC with Z and whole seconds, e.g. 2026-09-01T06:00:00Z. */
export function formatEwsDateTime(instant: number): string {
  return `${formatInstantUtc(instant).slice(0, 19)}Z`;
}

export function resolveZoneOrThrow(id: string): ResolvedZone {
  const zone = resolveTimeZone(id);
  if (!zone) {
    // [VERIFY] code/wording for an unknown Windows time zone id in StartTimeZone/EndTimeZone.
    throw new EwsItemError('ErrorCalendarInvalidTimeZone', `The time zone '${id}' isn't valid.`);
  }
  return zone;
}

/** xs:duration for Duration ("PT1H30M"). */
function isoDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return `P${d ? `${d}D` : ''}T${h}H${m}M${s}S`;
}

// ---------------------------------------------------------------------------------------------------------------
// t:CalendarItem → Graph fields

const FREE_BUSY_IN: Record<string, string> = { Free: 'free', Tentative: 'tentative', Busy: 'busy', OOF: 'oof', WorkingElsewhere: 'workingElsewhere', NoData: 'unknown' };
const FREE_BUSY_OUT: Record<string, string> = Object.fromEntries(Object.entries(FREE_BUSY_IN).map(([k, v]) => [v, k]));
const SENSITIVITY_OUT: Record<string, string> = { normal: 'Normal', personal: 'Personal', private: 'Private', confidential: 'Confidential' };
const IMPORTANCE_OUT: Record<string, string> = { low: 'Low', normal: 'Normal', high: 'High' };

function bool(el: XmlElement): boolean {
  const v = textOf(el).trim();
  return v === 'true' || v === '1';
}

function attendeesFrom(list: XmlElement, type: 'required' | 'optional' | 'resource'): Array<Record<string, unknown>> {
  return elements(list, NS.t, 'Attendee').map((a) => {
    const mailbox = element(a, NS.t, 'Mailbox');
    const address = textOf(element(mailbox, NS.t, 'EmailAddress')).trim();
    const name = textOf(element(mailbox, NS.t, 'Name')).trim();
    return { type, status: { response: 'none', time: '0001-01-01T00:00:00Z' }, emailAddress: { name: name || address, address } };
  });
}

export interface ItemInput {
  /** Graph fields (subject, body, showAs, …) except start/end */
  fields: Record<string, unknown>;
  /** raw Start/End values and zone ids named in the item */
  start?: string;
  end?: string;
  startZoneId?: string;
  endZoneId?: string;
  /** extended properties set by the item (Graph ids) */
  extended: Array<{ id: string; value: string }>;
  uid?: string;
  /** attendee lists present in the item, by type (replace the existing ones of that type) */
  attendees: Partial<Record<'required' | 'optional' | 'resource', Array<Record<string, unknown>>>>;
}

/** Reads the properties of a t:CalendarItem (or t:Item) element. Unknown/unsupported elements are ignored. */
export function readCalendarItem(item: XmlElement): ItemInput {
  const input: ItemInput = { fields: {}, extended: [], attendees: {} };
  for (const el of elements(item, NS.t)) {
    switch (el.localName) {
      case 'Subject':
        input.fields['subject'] = textOf(el);
        break;
      case 'Sensitivity':
        input.fields['sensitivity'] = textOf(el).trim().toLowerCase();
        break;
      case 'Body':
        input.fields['body'] = { contentType: (attr(el, 'BodyType') ?? 'Text').toLowerCase() === 'html' ? 'html' : 'text', content: textOf(el) };
        break;
      case 'Categories':
        input.fields['categories'] = elements(el, NS.t, 'String').map((s) => textOf(s));
        break;
      case 'Importance':
        input.fields['importance'] = textOf(el).trim().toLowerCase();
        break;
      case 'ReminderIsSet':
        input.fields['isReminderOn'] = bool(el);
        break;
      case 'ReminderMinutesBeforeStart':
        input.fields['reminderMinutesBeforeStart'] = Number(textOf(el).trim());
        break;
      case 'ExtendedProperty': {
        const uri = element(el, NS.t, 'ExtendedFieldURI');
        if (!uri) break;
        const single = element(el, NS.t, 'Value');
        if (!single) {
          // Multi-valued (Values) properties have no single-value counterpart in the sandbox store.
          throw new EwsItemError('ErrorInvalidPropertySet', 'Multi-valued extended properties are not supported by the sandbox.');
        }
        input.extended.push({ id: extendedIdFromUri(uri), value: textOf(single) });
        break;
      }
      case 'UID':
        input.uid = textOf(el).trim();
        break;
      case 'Start':
        input.start = textOf(el);
        break;
      case 'End':
        input.end = textOf(el);
        break;
      case 'IsAllDayEvent':
        input.fields['isAllDay'] = bool(el);
        break;
      case 'LegacyFreeBusyStatus':
        input.fields['showAs'] = FREE_BUSY_IN[textOf(el).trim()] ?? 'busy';
        break;
      case 'Location':
        input.fields['location'] = { displayName: textOf(el) };
        break;
      case 'IsResponseRequested':
        input.fields['responseRequested'] = bool(el);
        break;
      case 'RequiredAttendees':
        input.attendees.required = attendeesFrom(el, 'required');
        break;
      case 'OptionalAttendees':
        input.attendees.optional = attendeesFrom(el, 'optional');
        break;
      case 'Resources':
        input.attendees.resource = attendeesFrom(el, 'resource');
        break;
      case 'Recurrence':
        // The sandbox store keeps single instances only (calpush pushes occurrences as single items).
        throw new EwsItemError('ErrorInvalidPropertySet', 'Recurring calendar items are not supported by the sandbox.');
      case 'StartTimeZone':
        input.startZoneId = attr(el, 'Id') ?? '';
        break;
      case 'EndTimeZone':
        input.endZoneId = attr(el, 'Id') ?? '';
        break;
      case 'StartTimeZoneId':
        input.startZoneId = textOf(el).trim();
        break;
      case 'EndTimeZoneId':
        input.endZoneId = textOf(el).trim();
        break;
      case 'AllowNewTimeProposal':
        input.fields['allowNewTimeProposals'] = bool(el);
        break;
      case 'IsOnlineMeeting':
        input.fields['isOnlineMeeting'] = bool(el);
        break;
      default:
        break;
    }
  }
  return input;
}

// ---------------------------------------------------------------------------------------------------------------
// EventRecord → t:CalendarItem

export interface RenderContext {
  /** the mailbox's calendar folder id */
  folderId: string;
}

export interface Shape {
  base: 'IdOnly' | 'Default' | 'AllProperties';
  bodyType: 'Best' | 'HTML' | 'Text';
  additional: FieldPath[];
  /** FindItem never returns Body */
  forFind: boolean;
}

interface Property {
  uri: string;
  /** included in BaseShape Default / AllProperties */
  inDefault: boolean;
  inAll: boolean;
  render: (r: EventRecord, shape: Shape, ctx: RenderContext) => string | undefined;
}

function fieldsOf(r: EventRecord): Record<string, unknown> {
  return r.fields;
}

function bodyOf(r: EventRecord): { type: 'html' | 'text'; content: string } {
  const b = (fieldsOf(r)['body'] as { contentType?: string; content?: string } | undefined) ?? { contentType: 'text', content: '' };
  return { type: (b.contentType ?? 'text').toLowerCase() === 'html' ? 'html' : 'text', content: b.content ?? '' };
}

function htmlOf(text: string): string {
  const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r?\n/g, '<br>\r\n');
  return `<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n${text === '' ? '' : `<div>${escaped}</div>`}\r\n</body>\r\n</html>\r\n`;
}

function textOfHtml(html: string): string {
  return html
    .replace(/<head[\s\S]*?<\/head>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div)>/gi, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/\r/g, '')
    .trim();
}

interface AttendeeView {
  name: string;
  address: string;
  /** Graph's responseStatus of the attendee on the organiser's copy */
  response: string;
  time?: string;
}

function attendeesOf(r: EventRecord, type: string): AttendeeView[] {
  const list = (fieldsOf(r)['attendees'] as Array<Record<string, unknown>> | undefined) ?? [];
  return list
    .filter((a) => (a['type'] ?? 'required') === type)
    .map((a) => {
      const e = (a['emailAddress'] as { name?: string; address?: string } | undefined) ?? {};
      const status = (a['status'] as { response?: string; time?: string } | undefined) ?? {};
      return { name: e.name ?? e.address ?? '', address: e.address ?? '', response: status.response ?? 'none', ...(status.time && !status.time.startsWith('0001-') ? { time: status.time } : {}) };
    });
}

/** Graph's responseType as EWS's ResponseTypeType (types.xsd: Unknown, Organizer, Tentative, Accept, Decline, NoResponseReceived). */
export const RESPONSE_TYPE_OUT: Record<string, string> = { none: 'Unknown', organizer: 'Organizer', tentativelyAccepted: 'Tentative', accepted: 'Accept', declined: 'Decline', notResponded: 'NoResponseReceived' };

/**
 * AppointmentState, PidLidAppointmentStateFlags ([MS-OXOCAL] 2.2.1.10): asfMeeting 0x1, asfReceived 0x2 (an
 * attendee's copy), asfCanceled 0x4.
 */
function appointmentState(r: EventRecord): number {
  const isMeeting = ((fieldsOf(r)['attendees'] as unknown[] | undefined) ?? []).length > 0 || r.meeting !== undefined;
  if (!isMeeting) return 0;
  return 1 | (r.meeting && !r.meeting.isOrganizer ? 2 : 0) | (r.meeting?.isCancelled ? 4 : 0);
}

export function mailboxXml(name: string, address: string): string {
  return `<t:Mailbox>${tEl('Name', name)}${tEl('EmailAddress', address)}${tEl('RoutingType', 'SMTP')}${tEl('MailboxType', 'Mailbox')}</t:Mailbox>`;
}

function attendeeListXml(element: string, list: AttendeeView[]): string | undefined {
  if (list.length === 0) return undefined;
  const attendee = (a: AttendeeView) => `<t:Attendee>${mailboxXml(a.name, a.address)}${tEl('ResponseType', RESPONSE_TYPE_OUT[a.response] ?? 'Unknown')}${a.time ? tEl('LastResponseTime', `${a.time.slice(0, 19)}Z`) : ''}</t:Attendee>`;
  return `<t:${element}>${list.map(attendee).join('')}</t:${element}>`;
}

const always = (value: (r: EventRecord) => string) => (r: EventRecord) => value(r);

/** The year whose time-zone rules describe the item: the year it starts in. */
const yearOf = (r: EventRecord) => new Date(r.start.instant).getUTCFullYear();

/** Properties in the order of types.xsd (ItemType, then CalendarItemType). */
const PROPERTIES: Property[] = [
  { uri: 'item:ParentFolderId', inDefault: true, inAll: true, render: (_r, _s, ctx) => `<t:ParentFolderId Id="${esc(ctx.folderId)}" ChangeKey="AgAAAA=="/>` },
  { uri: 'item:ItemClass', inDefault: true, inAll: true, render: always(() => tEl('ItemClass', 'IPM.Appointment')) },
  { uri: 'item:Subject', inDefault: true, inAll: true, render: always((r) => tEl('Subject', String(fieldsOf(r)['subject'] ?? ''))) },
  { uri: 'item:Sensitivity', inDefault: true, inAll: true, render: always((r) => tEl('Sensitivity', SENSITIVITY_OUT[String(fieldsOf(r)['sensitivity'] ?? 'normal')] ?? 'Normal')) },
  {
    uri: 'item:Body',
    inDefault: true,
    inAll: true,
    render: (r, shape) => {
      if (shape.forFind) return undefined;
      const b = bodyOf(r);
      const want = shape.bodyType === 'Best' ? (b.type === 'html' ? 'HTML' : 'Text') : shape.bodyType;
      const content = want === 'HTML' ? (b.type === 'html' ? b.content : htmlOf(b.content)) : b.type === 'text' ? b.content : textOfHtml(b.content);
      return `<t:Body BodyType="${want}">${esc(content)}</t:Body>`;
    },
  },
  { uri: 'item:DateTimeReceived', inDefault: true, inAll: true, render: always((r) => tEl('DateTimeReceived', formatEwsDateTime(r.createdMs))) },
  { uri: 'item:Size', inDefault: true, inAll: true, render: always((r) => tEl('Size', 1024 + Buffer.byteLength(JSON.stringify(r.fields)))) },
  {
    uri: 'item:Categories',
    inDefault: false,
    inAll: true,
    render: (r) => {
      const list = (fieldsOf(r)['categories'] as string[] | undefined) ?? [];
      return list.length > 0 ? `<t:Categories>${list.map((c) => tEl('String', c)).join('')}</t:Categories>` : undefined;
    },
  },
  { uri: 'item:Importance', inDefault: true, inAll: true, render: always((r) => tEl('Importance', IMPORTANCE_OUT[String(fieldsOf(r)['importance'] ?? 'normal')] ?? 'Normal')) },
  { uri: 'item:IsSubmitted', inDefault: true, inAll: true, render: always(() => tEl('IsSubmitted', false)) },
  { uri: 'item:IsDraft', inDefault: true, inAll: true, render: always(() => tEl('IsDraft', false)) },
  { uri: 'item:IsFromMe', inDefault: true, inAll: true, render: always(() => tEl('IsFromMe', false)) },
  { uri: 'item:IsResend', inDefault: true, inAll: true, render: always(() => tEl('IsResend', false)) },
  { uri: 'item:IsUnmodified', inDefault: true, inAll: true, render: always(() => tEl('IsUnmodified', false)) },
  { uri: 'item:DateTimeSent', inDefault: true, inAll: true, render: always((r) => tEl('DateTimeSent', formatEwsDateTime(r.createdMs))) },
  { uri: 'item:DateTimeCreated', inDefault: true, inAll: true, render: always((r) => tEl('DateTimeCreated', formatEwsDateTime(r.createdMs))) },
  { uri: 'item:ReminderDueBy', inDefault: true, inAll: true, render: always((r) => tEl('ReminderDueBy', formatEwsDateTime(r.start.instant))) },
  { uri: 'item:ReminderIsSet', inDefault: true, inAll: true, render: always((r) => tEl('ReminderIsSet', fieldsOf(r)['isReminderOn'] !== false)) },
  { uri: 'item:ReminderMinutesBeforeStart', inDefault: true, inAll: true, render: always((r) => tEl('ReminderMinutesBeforeStart', Number(fieldsOf(r)['reminderMinutesBeforeStart'] ?? 15))) },
  { uri: 'item:DisplayCc', inDefault: true, inAll: true, render: always((r) => tEl('DisplayCc', attendeesOf(r, 'optional').map((a) => a.name).join('; '))) },
  { uri: 'item:DisplayTo', inDefault: true, inAll: true, render: always((r) => tEl('DisplayTo', attendeesOf(r, 'required').map((a) => a.name).join('; '))) },
  { uri: 'item:HasAttachments', inDefault: true, inAll: true, render: always(() => tEl('HasAttachments', false)) },
  // ExtendedProperty goes here (rendered separately, only when asked for by ExtendedFieldURI).
  { uri: '#extended', inDefault: false, inAll: false, render: () => undefined },
  { uri: 'item:Culture', inDefault: true, inAll: true, render: always(() => tEl('Culture', 'en-US')) },
  { uri: 'item:LastModifiedName', inDefault: false, inAll: true, render: always((r) => tEl('LastModifiedName', r.organizerName)) },
  { uri: 'item:LastModifiedTime', inDefault: true, inAll: true, render: always((r) => tEl('LastModifiedTime', formatEwsDateTime(r.modifiedMs))) },
  { uri: 'item:IsAssociated', inDefault: false, inAll: true, render: always(() => tEl('IsAssociated', false)) },
  // An occurrence's UID is its series' (the iCalendar UID, the Clean Global Object ID: [MS-OXOCAL] 2.2.1.28).
  { uri: 'calendar:UID', inDefault: false, inAll: true, render: always((r) => tEl('UID', r.occurrenceOf?.iCalUId ?? r.iCalUId)) },
  { uri: 'calendar:Start', inDefault: true, inAll: true, render: always((r) => tEl('Start', formatEwsDateTime(r.start.instant))) },
  { uri: 'calendar:End', inDefault: true, inAll: true, render: always((r) => tEl('End', formatEwsDateTime(r.end.instant))) },
  { uri: 'calendar:IsAllDayEvent', inDefault: true, inAll: true, render: always((r) => tEl('IsAllDayEvent', fieldsOf(r)['isAllDay'] === true)) },
  { uri: 'calendar:LegacyFreeBusyStatus', inDefault: true, inAll: true, render: always((r) => tEl('LegacyFreeBusyStatus', FREE_BUSY_OUT[String(fieldsOf(r)['showAs'] ?? 'busy')] ?? 'Busy')) },
  {
    uri: 'calendar:Location',
    inDefault: true,
    inAll: true,
    render: (r) => {
      const name = String(((fieldsOf(r)['location'] as { displayName?: string } | undefined) ?? {}).displayName ?? '');
      return name === '' ? undefined : tEl('Location', name);
    },
  },
  { uri: 'calendar:IsMeeting', inDefault: true, inAll: true, render: always((r) => tEl('IsMeeting', ((fieldsOf(r)['attendees'] as unknown[] | undefined) ?? []).length > 0)) },
  { uri: 'calendar:IsCancelled', inDefault: true, inAll: true, render: always((r) => tEl('IsCancelled', r.meeting?.isCancelled ?? false)) },
  { uri: 'calendar:IsRecurring', inDefault: true, inAll: true, render: always(() => tEl('IsRecurring', false)) },
  { uri: 'calendar:MeetingRequestWasSent', inDefault: true, inAll: true, render: always((r) => tEl('MeetingRequestWasSent', r.meeting?.requestSent ?? false)) },
  { uri: 'calendar:IsResponseRequested', inDefault: true, inAll: true, render: always((r) => tEl('IsResponseRequested', fieldsOf(r)['responseRequested'] !== false)) },
  { uri: 'calendar:CalendarItemType', inDefault: true, inAll: true, render: always(() => tEl('CalendarItemType', 'Single')) },
  { uri: 'calendar:MyResponseType', inDefault: true, inAll: true, render: always((r) => tEl('MyResponseType', RESPONSE_TYPE_OUT[r.meeting?.response ?? 'organizer'] ?? 'Unknown')) },
  {
    uri: 'calendar:Organizer',
    inDefault: true,
    inAll: true,
    render: always((r) => `<t:Organizer>${mailboxXml(r.meeting?.organizer.name ?? r.organizerName, r.meeting?.organizer.address ?? r.mailbox)}</t:Organizer>`),
  },
  { uri: 'calendar:RequiredAttendees', inDefault: false, inAll: true, render: (r) => attendeeListXml('RequiredAttendees', attendeesOf(r, 'required')) },
  { uri: 'calendar:OptionalAttendees', inDefault: false, inAll: true, render: (r) => attendeeListXml('OptionalAttendees', attendeesOf(r, 'optional')) },
  { uri: 'calendar:Resources', inDefault: false, inAll: true, render: (r) => attendeeListXml('Resources', attendeesOf(r, 'resource')) },
  { uri: 'calendar:Duration', inDefault: true, inAll: true, render: always((r) => tEl('Duration', isoDuration(r.end.instant - r.start.instant))) },
  { uri: 'calendar:TimeZone', inDefault: true, inAll: true, render: always((r) => tEl('TimeZone', timeZoneDisplayName(r.start.zone, yearOf(r)))) },
  {
    uri: 'calendar:AppointmentReplyTime',
    inDefault: false,
    inAll: true,
    render: (r) => (r.meeting?.responseTime !== undefined && !r.meeting.isOrganizer ? tEl('AppointmentReplyTime', formatEwsDateTime(r.meeting.responseTime)) : undefined),
  },
  { uri: 'calendar:AppointmentSequenceNumber', inDefault: true, inAll: true, render: always((r) => tEl('AppointmentSequenceNumber', r.meeting?.sequence ?? 0)) },
  { uri: 'calendar:AppointmentState', inDefault: true, inAll: true, render: always((r) => tEl('AppointmentState', appointmentState(r))) },
  { uri: 'calendar:StartTimeZone', inDefault: false, inAll: true, render: always((r) => timeZoneDefinitionXml('StartTimeZone', r.start.zone, yearOf(r))) },
  { uri: 'calendar:EndTimeZone', inDefault: false, inAll: true, render: always((r) => timeZoneDefinitionXml('EndTimeZone', r.end.zone, yearOf(r))) },
  { uri: 'calendar:ConferenceType', inDefault: true, inAll: true, render: always(() => tEl('ConferenceType', 0)) },
  { uri: 'calendar:AllowNewTimeProposal', inDefault: true, inAll: true, render: always((r) => tEl('AllowNewTimeProposal', fieldsOf(r)['allowNewTimeProposals'] !== false)) },
  { uri: 'calendar:IsOnlineMeeting', inDefault: false, inAll: true, render: always((r) => tEl('IsOnlineMeeting', fieldsOf(r)['isOnlineMeeting'] === true)) },
  { uri: 'calendar:StartTimeZoneId', inDefault: false, inAll: false, render: always((r) => tEl('StartTimeZoneId', windowsZoneOf(r.start.zone))) },
  { uri: 'calendar:EndTimeZoneId', inDefault: false, inAll: false, render: always((r) => tEl('EndTimeZoneId', windowsZoneOf(r.end.zone))) },
  { uri: 'calendar:IsOrganizer', inDefault: false, inAll: false, render: always((r) => tEl('IsOrganizer', r.meeting?.isOrganizer ?? true)) },
];

const KNOWN_URIS = new Set(['item:ItemId', ...PROPERTIES.map((p) => p.uri)]);

export function isKnownFieldUri(uri: string): boolean {
  return KNOWN_URIS.has(uri);
}

/** A t:CalendarItem for a response, with the properties of the shape in schema order. */
export function renderCalendarItem(r: EventRecord, shape: Shape, ctx: RenderContext): string {
  const asked = new Set(shape.additional.filter((p) => p.kind === 'field').map((p) => (p as { uri: string }).uri));
  const extended = shape.additional.filter((p): p is Extract<FieldPath, { kind: 'extended' }> => p.kind === 'extended');
  let out = `<t:CalendarItem><t:ItemId Id="${esc(ewsIdFromGraph(r.id))}" ChangeKey="${esc(r.changeKey)}"/>`;
  for (const p of PROPERTIES) {
    if (p.uri === '#extended') {
      for (const path of extended) {
        const prop = r.extendedProperties.find((e) => sameId(e.id, path.id));
        if (prop) out += `<t:ExtendedProperty>${path.uriXml}${tEl('Value', prop.value)}</t:ExtendedProperty>`;
      }
      continue;
    }
    const include = asked.has(p.uri) || (shape.base === 'Default' && p.inDefault) || (shape.base === 'AllProperties' && p.inAll);
    if (!include) continue;
    const xml = p.render(r, shape, ctx);
    if (xml !== undefined) out += xml;
  }
  return `${out}</t:CalendarItem>`;
}

/** Compares extended property ids like the store (type/GUID case-insensitive, name case-sensitive). */
let sameId: (a: string, b: string) => boolean = (a, b) => a === b;
export function setExtendedIdComparer(compare: (a: string, b: string) => boolean): void {
  sameId = compare;
}

// ---------------------------------------------------------------------------------------------------------------
// Values of paths, for restrictions and sort orders

export type PathValue = { kind: 'string'; values: string[] } | { kind: 'date'; value: number } | { kind: 'bool'; value: boolean } | { kind: 'number'; value: number } | undefined;

export function valueOf(r: EventRecord, path: FieldPath): PathValue {
  const f = r.fields;
  if (path.kind === 'extended') {
    const prop = r.extendedProperties.find((e) => sameId(e.id, path.id));
    return prop ? { kind: 'string', values: [prop.value] } : undefined;
  }
  switch (path.uri) {
    case 'item:Subject':
      return { kind: 'string', values: [String(f['subject'] ?? '')] };
    case 'item:Categories': {
      const list = (f['categories'] as string[] | undefined) ?? [];
      return list.length > 0 ? { kind: 'string', values: list } : undefined;
    }
    case 'item:ItemClass':
      return { kind: 'string', values: ['IPM.Appointment'] };
    case 'calendar:Location': {
      const name = String(((f['location'] as { displayName?: string } | undefined) ?? {}).displayName ?? '');
      return name ? { kind: 'string', values: [name] } : undefined;
    }
    case 'calendar:UID':
      return { kind: 'string', values: [r.iCalUId] };
    case 'calendar:LegacyFreeBusyStatus':
      return { kind: 'string', values: [FREE_BUSY_OUT[String(f['showAs'] ?? 'busy')] ?? 'Busy'] };
    case 'item:Sensitivity':
      return { kind: 'string', values: [SENSITIVITY_OUT[String(f['sensitivity'] ?? 'normal')] ?? 'Normal'] };
    case 'calendar:Start':
      return { kind: 'date', value: r.start.instant };
    case 'calendar:End':
      return { kind: 'date', value: r.end.instant };
    case 'item:DateTimeCreated':
    case 'item:DateTimeReceived':
    case 'item:DateTimeSent':
      return { kind: 'date', value: r.createdMs };
    case 'item:LastModifiedTime':
      return { kind: 'date', value: r.modifiedMs };
    case 'calendar:IsAllDayEvent':
      return { kind: 'bool', value: f['isAllDay'] === true };
    case 'item:ReminderIsSet':
      return { kind: 'bool', value: f['isReminderOn'] !== false };
    case 'item:ReminderMinutesBeforeStart':
      return { kind: 'number', value: Number(f['reminderMinutesBeforeStart'] ?? 15) };
    default:
      return undefined;
  }
}

/** Compares a path value with a constant: negative/0/positive, or undefined when not comparable. */
export function compareWith(value: NonNullable<PathValue>, constant: string, zone: ResolvedZone): number | undefined {
  switch (value.kind) {
    case 'date': {
      const c = parseEwsDateTime(constant, zone);
      return c === undefined ? undefined : Math.sign(value.value - c);
    }
    case 'bool': {
      const c = constant.trim() === 'true' || constant.trim() === '1';
      return value.value === c ? 0 : value.value ? 1 : -1;
    }
    case 'number': {
      const c = Number(constant);
      return Number.isNaN(c) ? undefined : Math.sign(value.value - c);
    }
    case 'string': {
      const c = constant.toLowerCase();
      const v = value.values[0]!.toLowerCase();
      if (value.values.some((s) => s.toLowerCase() === c)) return 0;
      return v < c ? -1 : 1;
    }
  }
}

export function wallIn(instant: number, zone: ResolvedZone): string {
  const w = instantToWall(instant, zone.iana);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${w.year}-${p(w.month)}-${p(w.day)}T${p(w.hour)}:${p(w.minute)}:${p(w.second)}`;
}
