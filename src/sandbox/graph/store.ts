// The sandbox's calendar store: events per mailbox, as Exchange would keep them (instants in UTC plus the zone the
// client named), rendered in Graph's JSON shape on the way out.
import { randomBytes } from 'node:crypto';
import type { ChangeLog } from '../changes.ts';
import type { GraphStoredEvent, SingleValueExtendedProperty } from '../types.ts';
import { GraphHttpError } from './errors.ts';
import { formatInstantUtc, formatWall, instantToWall, parseGraphDateTime, resolveTimeZone, wallToInstant, type ResolvedZone, type WallClock } from './timezones.ts';

export interface TimePoint {
  instant: number;
  /** wall clock in the zone the client gave; for all-day events the date is what counts */
  wall: WallClock;
  zone: ResolvedZone;
}

export interface EventRecord {
  id: string;
  seq: number;
  mailbox: string;
  organizerName: string;
  createdMs: number;
  modifiedMs: number;
  changeKey: string;
  iCalUId: string;
  start: TimePoint;
  end: TimePoint;
  /** every other Graph property as last written (subject, body, location, categories, showAs, ...) */
  fields: Record<string, unknown>;
  transactionId?: string;
  /** canonical JSON of the create body, for transactionId deduplication */
  createFingerprint: string;
  extendedProperties: SingleValueExtendedProperty[];
  /** set when the event is a meeting: the organiser's copy (sent or not) or an attendee's copy (src/sandbox/meetings.ts) */
  meeting?: MeetingState;
  /**
   * set on an occurrence of a series (occurrences.ts): its series master, and whether the occurrence is an exception
   * (moved on its own); such a record is a view, never stored
   */
  occurrenceOf?: { id: string; iCalUId: string; exception?: boolean; originalStart?: number };
  /** a series master's occurrences changed on their own, by date (YYYY-MM-DD): occurrences.ts */
  occurrenceChanges?: Record<string, OccurrenceChange>;
}

/**
 * One occurrence of a series as it differs from its pattern: moved (an exception, its own times), cancelled by the
 * organiser (the attendee's copy keeps it as cancelled, the organiser's has it deleted), or answered on its own.
 */
export interface OccurrenceChange {
  start?: TimePoint;
  end?: TimePoint;
  cancelled?: boolean;
  deleted?: boolean;
  response?: MeetingResponse;
  responseTime?: number;
}

/** Graph's responseType (https://learn.microsoft.com/graph/api/resources/responsestatus). */
export type MeetingResponse = 'none' | 'organizer' | 'tentativelyAccepted' | 'accepted' | 'declined' | 'notResponded';

/** What makes an event a meeting, on the organiser's copy and on each attendee's. */
export interface MeetingState {
  organizer: { name: string; address: string };
  isOrganizer: boolean;
  /** this mailbox's own response (responseStatus / MyResponseType) */
  response: MeetingResponse;
  responseTime?: number;
  /** the organiser cancelled it (isCancelled / IsCancelled) */
  isCancelled: boolean;
  /** the organiser's update count (AppointmentSequenceNumber) */
  sequence: number;
  /** requests were sent for it (MeetingRequestWasSent) */
  requestSent: boolean;
  /** an attendee's copy: the organiser's showAs, which it takes once accepted (IntendedFreeBusyStatus) */
  intendedShowAs?: string;
}

export interface RenderOptions {
  /** Prefer: outlook.timezone — default UTC */
  timeZone?: ResolvedZone;
  /** Prefer: outlook.body-content-type — default html */
  bodyContentType?: 'text' | 'html';
  baseUrl?: string;
}

const UTC: ResolvedZone = { name: 'UTC', iana: 'Etc/UTC' };

/** Properties the server computes; a client cannot set them (they are ignored on create in this sandbox if the
 * schema check let them through). */
const SERVER_OWNED = new Set(['id', 'changeKey', 'createdDateTime', 'lastModifiedDateTime', 'iCalUId', 'type', 'webLink', 'originalStartTimeZone', 'originalEndTimeZone', '@odata.etag', '@odata.context', 'seriesMasterId', 'isOrganizer', 'responseStatus', 'hasAttachments', 'bodyPreview', 'organizer', 'uid']);

/** Canonical JSON (sorted keys) for comparing request bodies. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .filter((k) => record[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Extended property ids compare by their parts: type, property-set GUID and the "Name"/"Id" keyword
 * case-insensitively, the name itself case-sensitively (protocol notes A2: "Name part of id is case-sensitive";
 * https://learn.microsoft.com/graph/api/resources/extended-properties-overview for the id formats).
 */
export function extendedPropertyKey(id: string): string {
  const trimmed = id.trim();
  const named = /^(\w+)\s+\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?\s+(Name|Id)\s+(.+)$/i.exec(trimmed);
  if (named) {
    const kind = named[3]!.toLowerCase();
    const name = kind === 'id' ? named[4]!.toLowerCase() : named[4]!;
    return `${named[1]!.toLowerCase()} {${named[2]!.toLowerCase()}} ${kind} ${name}`;
  }
  const tag = /^(\w+)\s+(0x[0-9a-fA-F]+)$/i.exec(trimmed);
  if (tag) return `${tag[1]!.toLowerCase()} ${tag[2]!.toLowerCase()}`;
  return trimmed;
}

export function sameExtendedPropertyId(a: string, b: string): boolean {
  return extendedPropertyKey(a) === extendedPropertyKey(b);
}

function opaqueId(): string {
  // Outlook ids are base64 (with "-"/"_" instead of "/"/"+" in REST) and case-sensitive, e.g. "AAMkAGI2T…AAA=".
  return `AAMkA${randomBytes(70).toString('base64').replace(/\//g, '-').replace(/\+/g, '_')}`;
}

function newChangeKey(): string {
  return randomBytes(21).toString('base64');
}

function newICalUId(): string {
  // Exchange's Global Object ID in hex: the fixed 040000008200E00074C5B7101A82E008 class id, then instance data.
  return `040000008200E00074C5B7101A82E00800000000${randomBytes(24).toString('hex').toUpperCase()}`;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Plain text → the HTML document Exchange stores for a text body. */
function textToHtml(text: string): string {
  const body = text === '' ? '' : `<div>${escapeHtml(text).replace(/\r?\n/g, '<br>\r\n')}</div>`;
  return `<html><head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n</head>\r\n<body>\r\n${body}\r\n</body>\r\n</html>\r\n`;
}

function htmlToText(html: string): string {
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
    .replace(/\n{2,}/g, '\n')
    .trim();
}

export function timePoint(value: unknown, which: 'start' | 'end'): TimePoint {
  const v = (value ?? {}) as { dateTime?: unknown; timeZone?: unknown };
  const zoneName = typeof v.timeZone === 'string' ? v.timeZone : '';
  const zone = resolveTimeZone(zoneName);
  if (!zone) {
    // https://github.com/microsoftgraph/microsoft-graph-docs/issues/4758 (protocol notes A6)
    throw new GraphHttpError(400, 'TimeZoneNotSupportedException', `A valid TimeZone value must be specified. The following TimeZone value is not supported: '${zoneName}'.`);
  }
  const parsed = typeof v.dateTime === 'string' ? parseGraphDateTime(v.dateTime) : undefined;
  if (!parsed) {
    // ODataLib's text for an unparsable Edm.DateTimeOffset/string conversion is not what Exchange answers for
    // dateTimeTimeZone (a string); Exchange rejects the value at property validation.
    throw new GraphHttpError(400, 'ErrorInvalidRequest', `The value '${String(v.dateTime ?? '')}' of ${which}.dateTime is not a valid date and time.`);
  }
  const instant =
    parsed.offsetMinutes !== undefined
      ? Date.UTC(parsed.wall.year, parsed.wall.month - 1, parsed.wall.day, parsed.wall.hour, parsed.wall.minute, parsed.wall.second) - parsed.offsetMinutes * 60000 + Math.floor(parsed.wall.ticks / 10000)
      : wallToInstant(parsed.wall, zone.iana);
  return { instant, wall: parsed.offsetMinutes !== undefined ? instantToWall(instant, zone.iana) : parsed.wall, zone };
}

/** Graph writes "no time" as the .NET minimum, 0001-01-01T00:00:00Z (responseStatus.time of an unanswered meeting). */
const NO_TIME = '0001-01-01T00:00:00Z';

function responseStatusOf(record: EventRecord): { response: string; time: string } {
  const meeting = record.meeting;
  if (!meeting) return { response: 'organizer', time: NO_TIME };
  return { response: meeting.response, time: meeting.responseTime !== undefined ? formatInstantUtc(meeting.responseTime) : NO_TIME };
}

/** Attendees as Graph returns them: each with its type and status (none until a response arrives). */
function attendeesOf(record: EventRecord): Array<Record<string, unknown>> {
  const list = (record.fields['attendees'] as Array<Record<string, unknown>> | undefined) ?? [];
  return list.map((a) => ({ type: 'required', status: { response: 'none', time: NO_TIME }, ...a }));
}

function isMidnight(w: WallClock): boolean {
  return w.hour === 0 && w.minute === 0 && w.second === 0 && w.ticks === 0;
}

function checkTimes(start: TimePoint, end: TimePoint, isAllDay: boolean): void {
  if (end.instant < start.instant) {
    // End before start: Graph answers ErrorPropertyValidationFailure "At least one property failed validation."
    // (https://github.com/microsoftgraph/microsoft-graph-docs/issues/7919 — end 2017 before start 2020).
    throw new GraphHttpError(400, 'ErrorPropertyValidationFailure', 'At least one property failed validation.');
  }
  if (isAllDay) {
    // "If true, regardless of whether it's a single-day or multi-day event, start and end time must be set to
    // midnight and be in the same time zone." (https://learn.microsoft.com/graph/api/resources/event, isAllDay).
    // [VERIFY] the exact error Graph gives; the property-validation error above is the closest documented one.
    if (!isMidnight(start.wall) || !isMidnight(end.wall) || start.zone.name !== end.zone.name || end.instant === start.instant) {
      throw new GraphHttpError(400, 'ErrorPropertyValidationFailure', 'At least one property failed validation.');
    }
  }
}

export class EventStore {
  private readonly byMailbox = new Map<string, Map<string, EventRecord>>();
  private seq = 0;
  private readonly now: () => number;
  /** where creates, updates and deletes are recorded (delta, SyncFolderItems, change notifications) */
  private readonly changes: ChangeLog | undefined;

  constructor(now: () => number = Date.now, changes?: ChangeLog) {
    this.now = now;
    this.changes = changes;
  }

  private events(mailbox: string): Map<string, EventRecord> {
    let map = this.byMailbox.get(mailbox);
    if (!map) {
      map = new Map();
      this.byMailbox.set(mailbox, map);
    }
    return map;
  }

  list(mailbox: string): EventRecord[] {
    return [...this.events(mailbox).values()];
  }

  get(mailbox: string, id: string): EventRecord | undefined {
    return this.events(mailbox).get(id);
  }

  findByTransactionId(mailbox: string, transactionId: string): EventRecord | undefined {
    for (const record of this.events(mailbox).values()) if (record.transactionId === transactionId) return record;
    return undefined;
  }

  /**
   * Creates an event from a (validated) Graph JSON body. Throws GraphHttpError on semantic errors. `copy` makes it
   * an attendee's copy of a meeting: the organiser's iCalUId ("A unique identifier for an event across calendars",
   * https://learn.microsoft.com/graph/api/resources/event) and the meeting's state.
   */
  create(mailbox: string, organizerName: string, body: Record<string, unknown>, copy?: { iCalUId: string; meeting: MeetingState }): EventRecord {
    if (body['start'] === undefined || body['end'] === undefined) {
      // Graph requires start and end on create; [VERIFY] exact code (Exchange property validation).
      throw new GraphHttpError(400, 'ErrorPropertyValidationFailure', 'At least one property failed validation.');
    }
    const start = timePoint(body['start'], 'start');
    const end = timePoint(body['end'], 'end');
    const isAllDay = body['isAllDay'] === true;
    checkTimes(start, end, isAllDay);
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) {
      if (SERVER_OWNED.has(key) || key === 'start' || key === 'end' || key === 'singleValueExtendedProperties' || key === 'transactionId' || key.includes('@')) continue;
      fields[key] = structuredClone(value);
    }
    fields['isAllDay'] = isAllDay;
    const now = this.now();
    const record: EventRecord = {
      id: opaqueId(),
      seq: ++this.seq,
      mailbox,
      organizerName,
      createdMs: now,
      modifiedMs: now,
      changeKey: newChangeKey(),
      iCalUId: copy?.iCalUId ?? newICalUId(),
      start,
      end,
      fields,
      createFingerprint: canonicalJson(body),
      extendedProperties: [],
    };
    if (copy) record.meeting = copy.meeting;
    if (typeof body['transactionId'] === 'string') record.transactionId = body['transactionId'];
    this.upsertExtendedProperties(record, body['singleValueExtendedProperties']);
    this.events(mailbox).set(record.id, record);
    this.changes?.record(mailbox, 'calendar', record.id, 'created');
    return record;
  }

  /** The event of a mailbox that is a copy of the meeting with this iCalUId. */
  findByICalUId(mailbox: string, iCalUId: string): EventRecord | undefined {
    for (const record of this.events(mailbox).values()) if (record.iCalUId === iCalUId) return record;
    return undefined;
  }

  /**
   * A change the server makes itself (a response recorded, a meeting marked cancelled): like every change, it gives
   * the item a new change key (https://learn.microsoft.com/graph/api/resources/outlookitem) and is seen by syncs.
   */
  modify(record: EventRecord, change: (record: EventRecord) => void): void {
    change(record);
    this.touch(record);
  }

  private touch(record: EventRecord): void {
    record.modifiedMs = Math.max(this.now(), record.modifiedMs + 1);
    record.changeKey = newChangeKey();
    this.changes?.record(record.mailbox, 'calendar', record.id, 'updated');
  }

  /** Applies a PATCH body. */
  update(record: EventRecord, body: Record<string, unknown>): EventRecord {
    if ('transactionId' in body && body['transactionId'] !== (record.transactionId ?? null)) {
      // "After you set transactionId when creating an event, you cannot change transactionId in a subsequent
      // update." (https://learn.microsoft.com/graph/api/resources/event). [VERIFY] the code/message Graph uses.
      throw new GraphHttpError(400, 'ErrorInvalidPropertySet', "The property 'TransactionId' can't be changed after the item has been created.");
    }
    const start = body['start'] !== undefined ? timePoint(body['start'], 'start') : record.start;
    const end = body['end'] !== undefined ? timePoint(body['end'], 'end') : record.end;
    const isAllDay = typeof body['isAllDay'] === 'boolean' ? body['isAllDay'] : record.fields['isAllDay'] === true;
    checkTimes(start, end, isAllDay);
    for (const [key, value] of Object.entries(body)) {
      if (SERVER_OWNED.has(key) || key === 'start' || key === 'end' || key === 'singleValueExtendedProperties' || key === 'transactionId' || key.includes('@')) continue;
      record.fields[key] = structuredClone(value);
      // "location … setting location replaces locations" (https://learn.microsoft.com/graph/api/resources/event).
      if (key === 'location' && !('locations' in body)) delete record.fields['locations'];
    }
    record.fields['isAllDay'] = isAllDay;
    record.start = start;
    record.end = end;
    this.upsertExtendedProperties(record, body['singleValueExtendedProperties']);
    // The change key changes with every update (https://learn.microsoft.com/graph/api/resources/outlookitem).
    this.touch(record);
    return record;
  }

  delete(mailbox: string, id: string): boolean {
    const deleted = this.events(mailbox).delete(id);
    if (deleted) this.changes?.record(mailbox, 'calendar', id, 'deleted');
    return deleted;
  }

  private upsertExtendedProperties(record: EventRecord, value: unknown): void {
    // PATCH with singleValueExtendedProperties adds or updates by id
    // (https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-post-singlevalueextendedproperties).
    if (!Array.isArray(value)) return;
    for (const item of value) {
      if (!item || typeof item !== 'object') continue;
      const { id, value: v } = item as { id?: unknown; value?: unknown };
      if (typeof id !== 'string') continue;
      const existing = record.extendedProperties.find((p) => sameExtendedPropertyId(p.id, id));
      const text = v === null || v === undefined ? '' : String(v);
      if (existing) existing.value = text;
      else record.extendedProperties.push({ id, value: text });
    }
  }

  /** Interval of an event as instants (all-day events: midnight to midnight in their own zone). */
  static interval(record: EventRecord): { start: number; end: number } {
    return { start: record.start.instant, end: record.end.instant };
  }

  /** The event in Graph's JSON shape, without extended properties (Graph returns them only via $expand). */
  render(record: EventRecord, options: RenderOptions = {}): Record<string, unknown> {
    const zone = options.timeZone ?? UTC;
    const isAllDay = record.fields['isAllDay'] === true;
    const point = (p: TimePoint) => {
      // All-day events come back midnight-to-midnight in whatever zone is asked for ("This is by design. All day
      // events always return midnight-to-midnight regardless of time zone." —
      // https://github.com/microsoftgraph/microsoft-graph-docs/issues/1802).
      const wall = isAllDay ? { ...p.wall, hour: 0, minute: 0, second: 0, ticks: 0 } : instantToWall(p.instant, zone.iana);
      return { dateTime: formatWall(wall), timeZone: zone.name };
    };
    const f = record.fields;
    const storedBody = (f['body'] as { contentType?: string; content?: string } | undefined) ?? { contentType: 'html', content: '' };
    const storedType = (storedBody.contentType ?? 'text').toLowerCase() === 'html' ? 'html' : 'text';
    const content = storedBody.content ?? '';
    // Body comes back as HTML unless Prefer: outlook.body-content-type="text"
    // (https://learn.microsoft.com/graph/api/user-list-calendarview, Request headers).
    const wantType = options.bodyContentType ?? 'html';
    const bodyContent = wantType === storedType ? content : wantType === 'html' ? textToHtml(content) : htmlToText(content);
    const plain = storedType === 'text' ? content : htmlToText(content);
    const location = (f['location'] as Record<string, unknown> | undefined) ?? {};
    const renderedLocation = {
      displayName: '',
      locationType: 'default',
      uniqueIdType: 'unknown',
      address: {},
      coordinates: {},
      ...location,
    };
    const locations = (f['locations'] as unknown[] | undefined) ?? (renderedLocation.displayName ? [{ ...renderedLocation, uniqueId: renderedLocation.displayName, uniqueIdType: 'private' }] : []);
    const base = options.baseUrl ?? 'https://outlook.office365.com';
    // Property order and defaults follow Graph's event responses (https://learn.microsoft.com/graph/api/user-post-events,
    // Response); only properties the v1.0 CSDL defines for microsoft.graph.event (schema/graph-v1.json): not `uid` or
    // `occurrenceId`, which the beta endpoint has and v1.0 does not.
    const out: Record<string, unknown> = {
      '@odata.etag': `W/"${record.changeKey}"`,
      id: record.id,
      createdDateTime: formatInstantUtc(record.createdMs),
      lastModifiedDateTime: formatInstantUtc(record.modifiedMs),
      changeKey: record.changeKey,
      categories: (f['categories'] as unknown[] | undefined) ?? [],
    };
    // "This property is only returned in a response payload if an app has set it." (event resource, transactionId)
    if (record.transactionId !== undefined) out['transactionId'] = record.transactionId;
    Object.assign(out, {
      originalStartTimeZone: record.start.zone.name,
      originalEndTimeZone: record.end.zone.name,
      iCalUId: record.iCalUId,
      reminderMinutesBeforeStart: f['reminderMinutesBeforeStart'] ?? 15,
      isReminderOn: f['isReminderOn'] ?? true,
      hasAttachments: false,
      subject: f['subject'] ?? '',
      bodyPreview: plain.replace(/\s+/g, ' ').trim().slice(0, 255),
      importance: f['importance'] ?? 'normal',
      sensitivity: f['sensitivity'] ?? 'normal',
      isAllDay,
      isCancelled: record.meeting?.isCancelled ?? false,
      isOrganizer: record.meeting?.isOrganizer ?? true,
      responseRequested: f['responseRequested'] ?? true,
      // type and seriesMasterId of a series (occurrences.ts; https://learn.microsoft.com/graph/api/resources/event).
      seriesMasterId: record.occurrenceOf?.id ?? null,
      showAs: f['showAs'] ?? 'busy',
      type: record.occurrenceOf ? (record.occurrenceOf.exception ? 'exception' : 'occurrence') : f['recurrence'] ? 'seriesMaster' : 'singleInstance',
      webLink: `${base}/owa/?itemid=${encodeURIComponent(record.id)}&exvsurl=1&path=/calendar/item`,
      onlineMeetingUrl: null,
      isOnlineMeeting: f['isOnlineMeeting'] ?? false,
      onlineMeetingProvider: f['onlineMeetingProvider'] ?? 'unknown',
      allowNewTimeProposals: f['allowNewTimeProposals'] ?? true,
      isDraft: false,
      hideAttendees: f['hideAttendees'] ?? false,
      responseStatus: responseStatusOf(record),
      body: { contentType: wantType, content: bodyContent },
      start: point(record.start),
      end: point(record.end),
      location: renderedLocation,
      locations,
      recurrence: record.occurrenceOf ? null : (f['recurrence'] ?? null),
      attendees: attendeesOf(record),
      organizer: { emailAddress: record.meeting?.organizer ?? { name: record.organizerName, address: record.mailbox } },
      onlineMeeting: null,
    });
    for (const [key, value] of Object.entries(f)) {
      if (!(key in out)) out[key] = value;
    }
    return structuredClone(out);
  }

  /** Deep copy for Sandbox.listEvents: the Graph shape in UTC plus extended properties (and transactionId). */
  snapshot(record: EventRecord): GraphStoredEvent {
    const out = this.render(record, { bodyContentType: undefined }) as Record<string, unknown>;
    delete out['@odata.etag'];
    if (record.extendedProperties.length > 0) out['singleValueExtendedProperties'] = record.extendedProperties.map((p) => ({ ...p }));
    return out as GraphStoredEvent;
  }
}
