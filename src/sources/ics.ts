// iCalendar (.ics) feeds as a source: every VEVENT becomes an event input record in the shape validateEvent()
// accepts, recurring series become one record per occurrence inside the horizon.
//
// ical.js does the iCalendar work (content lines, value types, RRULE/EXDATE/RDATE expansion, relating
// RECURRENCE-ID overrides to their series, VTIMEZONE rules). Around it this module adds what a push engine needs:
//   - a broken VEVENT costs only itself: the file is split into components first and each VEVENT is parsed on its
//     own, so one bad line does not lose the whole feed;
//   - stable ids: UID for single events, UID + "@" + the occurrence's original start in UTC basic form for
//     occurrences, so an override (RECURRENCE-ID) replaces exactly its occurrence even when it moves it;
//   - zones as the target understands them: TZIDs are mapped to IANA names (directly, through a
//     "/vendor/prefix/Area/City" path, or from Windows names as Outlook writes them); a TZID that maps to nothing
//     is converted to UTC with the file's own VTIMEZONE definition;
//   - events the feed names but that cannot be delivered are reported as held, so the engine keeps what it
//     delivered for them instead of deleting it.
import ICAL from 'ical.js';
import { findIana, WINDOWS_TO_IANA_MAP } from 'windows-iana';
import { canonicalTimeZone, normalizeLocalDate, normalizeLocalDateTime, utcMsToZoned, zonedToUtcMs } from '../model/time.ts';
import { CalpushError } from '../model/errors.ts';

export interface IcsOptions {
  /** Mailbox address the feed's events go to. */
  calendar: string;
  /** IANA zone for floating times (DTSTART without TZID or Z) when the feed declares no X-WR-TIMEZONE. */
  defaultTimeZone: string;
  /** Recurring series are expanded into the occurrences whose start lies in [fromMs, toMs). */
  horizon: { fromMs: number; toMs: number };
  /** File name or URL, used in error messages. */
  origin?: string;
}

export interface IcsRecordError {
  /** Which record: "VEVENT UID=abc (line 42)", or "(file)" for problems with the file as a whole. */
  record: string;
  id?: string;
  field: string;
  message: string;
}

export interface IcsParseResult {
  /** Event input records in the exact shape validateEvent() accepts; the caller validates them. */
  inputs: Array<{ input: Record<string, unknown>; record: string }>;
  /** Problems that prevent producing an input; a broken VEVENT never stops the others. */
  errors: IcsRecordError[];
  /** Ids the feed names but that could not be turned into inputs: what was delivered for them should be kept. */
  heldIds: string[];
  /**
   * UIDs of recurring series whose occurrences could not all be listed (the series itself is broken, or it has
   * more occurrences than calpush expands). Their occurrence ids are UID + "@" + …, so whatever was delivered
   * under an id starting with UID + "@" and missing from `inputs` should be kept rather than deleted.
   */
  heldSeries: string[];
}

/** At most this many occurrences of one series are delivered. */
export const MAX_OCCURRENCES_PER_SERIES = 5000;
/** Candidates a rule may test in search of its next occurrence: guards against rules that never match. */
const MAX_RULE_STEPS = 50_000;
/** Occurrences a series may produce before the horizon ends (most of them before it starts, all discarded). */
const MAX_EXPANSION = 100_000;
const MAX_SUBJECT = 255;
const MAX_LOCATION = 255;
const MAX_CATEGORY = 255;
const MAX_CATEGORIES = 25;
const MAX_BODY = 1_000_000;
const MAX_REMINDER_MINUTES = 40_320;

type Component = ICAL.Component;
type Property = ICAL.Property;
type Time = ICAL.Time;
type Timezone = ICAL.Timezone;

// ---------------------------------------------------------------------------------------------------------------
// Text, lines and components

interface LogicalLine {
  text: string;
  /** 1-based physical line where the content line starts. */
  line: number;
}

interface Block {
  kind: 'VEVENT' | 'VTIMEZONE';
  lines: LogicalLine[];
  line: number;
  /** Set when the component is not properly closed or nested. */
  problem?: string;
}

interface Scan {
  sawCalendar: boolean;
  calendarOpenAtEnd: boolean;
  calendarLines: LogicalLine[];
  blocks: Block[];
  firstContent: string | null;
}

/** Unfolds content lines (CRLF, LF or CR; a fold is a line break followed by one space or tab). */
function logicalLines(source: string): LogicalLine[] {
  const physical = source.split(/\r\n|\n|\r/);
  const out: LogicalLine[] = [];
  let current: LogicalLine | null = null;
  for (let i = 0; i < physical.length; i++) {
    const text = physical[i]!;
    if ((text.startsWith(' ') || text.startsWith('\t')) && current) {
      current.text += text.slice(1);
      continue;
    }
    if (text.trim() === '') continue;
    current = { text: text.trimStart(), line: i + 1 };
    out.push(current);
  }
  return out;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Bytes are unfolded before they are decoded, so a UTF-8 character that an exporter split across a fold (folding
 * is defined on octets) comes out whole. Files that are not UTF-8 are read as Windows-1252, which is what old
 * Outlook exports are.
 */
function linesFromBytes(bytes: Uint8Array): LogicalLine[] {
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
    const encoding = bytes[0] === 0xff ? 'utf-16le' : 'utf-16be';
    return logicalLines(new TextDecoder(encoding).decode(bytes.subarray(2)));
  }
  const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset + start, bytes.length - start).toString('latin1');
  const lines = logicalLines(latin1);
  const decoded: LogicalLine[] = [];
  try {
    for (const line of lines) decoded.push({ text: utf8Strict.decode(Buffer.from(line.text, 'latin1')), line: line.line });
    return decoded;
  } catch {
    const cp1252 = new TextDecoder('windows-1252');
    return lines.map((line) => ({ text: cp1252.decode(Buffer.from(line.text, 'latin1')), line: line.line }));
  }
}

/** Name of a content line ("DTSTART;TZID=…:…" → "DTSTART"), or null when the line is not a content line. */
function lineName(text: string): string | null {
  const match = /^([A-Za-z0-9-]+)[;:]/.exec(text);
  return match ? match[1]!.toUpperCase() : null;
}

function lineValue(text: string): string {
  const colon = text.indexOf(':');
  return colon < 0 ? '' : text.slice(colon + 1);
}

/**
 * Splits the file into its VEVENT and VTIMEZONE components by BEGIN/END lines, without interpreting anything
 * else, so that each component can be parsed (and fail) on its own.
 */
function scanComponents(lines: LogicalLine[]): Scan {
  const scan: Scan = { sawCalendar: false, calendarOpenAtEnd: false, calendarLines: [], blocks: [], firstContent: null };
  const stack: string[] = [];
  let block: Block | null = null;

  const closeBlock = (problem?: string) => {
    if (!block) return;
    if (problem && !block.problem) block.problem = problem;
    scan.blocks.push(block);
    block = null;
  };

  for (const line of lines) {
    if (scan.firstContent === null) scan.firstContent = line.text;
    const name = lineName(line.text);
    const value = name === 'BEGIN' || name === 'END' ? lineValue(line.text).trim().toUpperCase() : '';
    if (stack.length === 0) {
      if (name === 'BEGIN' && value === 'VCALENDAR') {
        stack.push('VCALENDAR');
        scan.sawCalendar = true;
      }
      continue;
    }
    if (name === 'BEGIN') {
      if (block && (value === 'VEVENT' || value === 'VTIMEZONE' || value === 'VCALENDAR')) {
        // A new top-level component while the current one is still open: the current one was never closed.
        closeBlock(`is not closed: BEGIN:${value} (line ${line.line}) comes before its END:${stack[1]}`);
        stack.length = 1;
      }
      if (value === 'VCALENDAR') continue; // nested or repeated BEGIN:VCALENDAR inside a calendar: ignored
      if (stack.length === 1 && (value === 'VEVENT' || value === 'VTIMEZONE')) {
        block = { kind: value, lines: [line], line: line.line };
      } else if (block) {
        block.lines.push(line);
      }
      stack.push(value);
      continue;
    }
    if (name === 'END') {
      const at = stack.lastIndexOf(value);
      if (at < 0) {
        if (block) {
          block.problem ??= `has a stray END:${value} (line ${line.line})`;
          block.lines.push(line);
        }
        continue;
      }
      if (at < stack.length - 1 && block && !block.problem) {
        block.problem = `has BEGIN:${stack[stack.length - 1]} without END:${stack[stack.length - 1]} (found END:${value} on line ${line.line})`;
      }
      if (block && at >= 1) block.lines.push(line);
      stack.length = at;
      if (block && stack.length <= 1) {
        if (at === 0) {
          // END:VCALENDAR while a VEVENT is open
          closeBlock(`is not closed: END:VCALENDAR (line ${line.line}) comes before its END:${block.kind}`);
        } else {
          closeBlock();
        }
      }
      continue;
    }
    if (block) block.lines.push(line);
    else if (stack.length === 1) scan.calendarLines.push(line);
  }
  if (block) closeBlock(`is not closed: the file ends before its END:${(block as Block).kind}`);
  scan.calendarOpenAtEnd = stack.length > 0;
  return scan;
}

// ---------------------------------------------------------------------------------------------------------------
// Zones

/** An ical.js zone backed by the IANA rules in Node's ICU, so ical.js compares times the way we emit them. */
class IanaTimezone extends ICAL.Timezone {
  iana = '';

  static create(tzid: string, iana: string): IanaTimezone {
    const zone = new IanaTimezone({ tzid });
    zone.iana = iana;
    return zone;
  }

  /** Offsets by local time; expansion asks for the same few wall-clock times over and over (UNTIL, EXDATE). */
  private offsets = new Map<number, number>();

  override utcOffset(tt: Time): number {
    const naive = localMs(tt);
    const known = this.offsets.get(naive);
    if (known !== undefined) return known;
    const local = formatLocal(tt.year, tt.month, tt.day, tt.hour, tt.minute, tt.second);
    const offset = normalizeLocalDateTime(local) ? (Date.parse(`${local}Z`) - zonedToUtcMs(local, this.iana)) / 1000 : 0;
    if (this.offsets.size > 50_000) this.offsets.clear();
    this.offsets.set(naive, offset);
    return offset;
  }
}

const windowsZones = new Map<string, string>();
function windowsZone(name: string): string | null {
  const exact = findIana(name)[0];
  if (exact) return exact;
  if (windowsZones.size === 0) {
    for (const entry of Object.values(WINDOWS_TO_IANA_MAP)) {
      const key = entry.windowsName.toLowerCase();
      if (entry.territory === '001' || !windowsZones.has(key)) {
        const first = entry.iana[0];
        if (first) windowsZones.set(key, first);
      }
    }
  }
  return windowsZones.get(name.toLowerCase()) ?? null;
}

/**
 * The IANA zone a TZID names: an IANA name ("Europe/Amsterdam"), one behind a vendor prefix
 * ("/freeassociation.sourceforge.net/Tzfile/Europe/Amsterdam", "/mozilla.org/20050126_1/Europe/Amsterdam"), or a
 * Windows zone name as Outlook and Exchange write them ("W. Europe Standard Time"). Null when it is none of these
 * (Exchange's "(UTC+01:00) Amsterdam, Berlin, …" display names, "Customized Time Zone", …).
 */
export function ianaZoneForTzid(tzid: string): string | null {
  const raw = tzid.trim().replace(/^"(.*)"$/, '$1').trim();
  if (!raw || raw.length > 200) return null;
  const direct = canonicalTimeZone(raw);
  if (direct) return direct;
  if (raw.includes('/')) {
    const segments = raw.split('/').filter((segment) => segment.length > 0);
    for (let n = Math.min(3, segments.length); n >= 1; n--) {
      const candidate = canonicalTimeZone(segments.slice(-n).join('/'));
      if (candidate) return candidate;
    }
  }
  const windows = windowsZone(raw);
  return windows ? canonicalTimeZone(windows) : null;
}

type ZoneResolution = { kind: 'iana'; zone: string } | { kind: 'vtimezone'; tz: Timezone } | { kind: 'unknown' };

// ---------------------------------------------------------------------------------------------------------------
// Times

/** A resolved start or end: a date (all-day) or a wall-clock time in the zone it is emitted in. */
type Point =
  | { allDay: true; date: string; utcMs: number }
  | { allDay: false; local: string; zone: string; utcMs: number };

/** A VEVENT (or a part of it) that cannot be read: reported as an error of its record, naming the field. */
class IcsProblem extends CalpushError {
  field: string;
  constructor(field: string, message: string) {
    super('InvalidEvent', message);
    this.field = field;
  }
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

function formatLocal(year: number, month: number, day: number, hour: number, minute: number, second: number): string {
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${pad(hour)}:${pad(minute)}:${pad(second)}`;
}

function formatDate(year: number, month: number, day: number): string {
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

function dateUtcMs(date: string): number {
  return Date.parse(`${date}T00:00:00Z`);
}

/** Occurrence-id form of a point: "20260901T070000Z" (UTC) or "20260901" (a date). */
function basicForm(point: Point): string {
  if (point.allDay) return point.date.replaceAll('-', '');
  return new Date(point.utcMs).toISOString().slice(0, 19).replaceAll('-', '').replaceAll(':', '') + 'Z';
}

function tzidOf(prop: Property): string | null {
  const tzid = prop.getParameter('tzid');
  const value = Array.isArray(tzid) ? tzid.join(',') : tzid;
  return typeof value === 'string' && value.length > 0 ? value : null;
}

const RAW_DATE = /^\d{4}-\d{2}-\d{2}$/;
const RAW_DATE_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})Z?$/;

/**
 * Checks the raw values of a date/date-time property before ical.js turns them into times: ical.js normalises
 * impossible values (month 13 becomes January of the next year), which would silently move an event.
 */
function checkRawTimes(prop: Property, field: string): void {
  const type = prop.type;
  const values = prop.jCal.slice(3);
  if (values.length === 0) throw new IcsProblem(field, 'has no value');
  for (const value of values) {
    if (type === 'period' && typeof value === 'string') continue;
    if (type === 'period' && Array.isArray(value)) {
      if (typeof value[0] === 'string') checkRawValue(value[0], field);
      continue;
    }
    if (typeof value !== 'string') throw new IcsProblem(field, 'is not a date or date-time');
    checkRawValue(value, field, type);
  }
}

function checkRawValue(value: string, field: string, type?: string): void {
  if (type === 'date' || RAW_DATE.test(value)) {
    if (!RAW_DATE.test(value) || !normalizeLocalDate(value)) throw new IcsProblem(field, `"${basicValue(value)}" is not a valid date`);
    return;
  }
  const match = RAW_DATE_TIME.exec(value);
  if (!match || !normalizeLocalDateTime(match[1]!)) throw new IcsProblem(field, `"${basicValue(value)}" is not a valid date-time`);
}

/** ical.js stores values in extended form ("2026-09-01T09:00:00"); messages quote them as the file writes them. */
function basicValue(value: string): string {
  return /^[\d:TZ-]+$/.test(value) ? value.replaceAll('-', '').replaceAll(':', '') : value;
}

interface ItemTiming {
  start: Point;
  end: Point;
}

type EndRule =
  | { kind: 'days'; days: number }
  | { kind: 'wall'; seconds: number }
  | { kind: 'exact'; ms: number }
  | { kind: 'nominal'; days: number; seconds: number };

// ---------------------------------------------------------------------------------------------------------------
// The parser

interface Entry {
  comp: Component;
  line: number;
  uid: string;
  record: string;
}

interface Group {
  uid: string;
  masters: Entry[];
  exceptions: Entry[];
}

class Parser {
  readonly options: IcsOptions;
  readonly inputs: IcsParseResult['inputs'] = [];
  /** Errors with the line they belong to, so they are reported in file order whatever stage found them. */
  readonly errors: Array<{ error: IcsRecordError; line: number }> = [];
  readonly held = new Set<string>();
  readonly heldSeries = new Set<string>();
  readonly produced = new Set<string>();
  floatingZone: string | null = null;
  root: Component | null = null;
  readonly zones = new Map<string, ZoneResolution>();

  constructor(options: IcsOptions) {
    this.options = options;
  }

  where(line: number): string {
    return this.options.origin ? `${this.options.origin}, line ${line}` : `line ${line}`;
  }

  fileError(message: string): void {
    const origin = this.options.origin ? `${this.options.origin}: ` : '';
    this.errors.push({ error: { record: '(file)', field: '(file)', message: `${origin}${message}` }, line: 0 });
  }

  error(line: number, record: string, field: string, message: string, id?: string): void {
    this.errors.push({ error: id === undefined ? { record, field, message } : { record, id, field, message }, line });
  }

  hold(id: string): void {
    this.held.add(id);
  }

  run(lines: LogicalLine[]): void {
    const scan = scanComponents(lines);
    if (!scan.sawCalendar) {
      const start = scan.firstContent === null ? 'it is empty' : `it starts with "${truncate(scan.firstContent, 60)}"`;
      this.fileError(`is not an iCalendar file (no BEGIN:VCALENDAR; ${start})`);
      return;
    }
    if (scan.calendarOpenAtEnd) {
      this.fileError('ends before END:VCALENDAR: the file looks truncated, so events missing from it may only be missing from this copy');
    }

    const calendarZone = scan.calendarLines.find((line) => lineName(line.text) === 'X-WR-TIMEZONE');
    const declared = calendarZone ? ianaZoneForTzid(lineValue(calendarZone.text)) : null;
    // Floating times are meant in the feed's own zone when it declares one (Google, Apple and most timetable
    // systems write X-WR-TIMEZONE); otherwise in the configured default.
    this.floatingZone = declared ?? canonicalTimeZone(this.options.defaultTimeZone);

    const zoneComponents: unknown[] = [];
    const eventComponents: unknown[] = [];
    const eventBlocks: Block[] = [];
    for (const block of scan.blocks) {
      if (block.kind === 'VTIMEZONE') {
        if (block.problem) continue;
        try {
          const jcal = ICAL.parse(block.lines.map((line) => line.text).join('\r\n'));
          if (Array.isArray(jcal) && jcal[0] === 'vtimezone') zoneComponents.push(jcal);
        } catch {
          // A broken VTIMEZONE only matters to events whose TZID needs it; they report it.
        }
        continue;
      }
      const uid = rawUid(block);
      const record = this.recordName(uid, rawRid(block), block.line);
      if (block.problem) {
        this.brokenBlock(block, uid, record, `VEVENT ${block.problem}`);
        continue;
      }
      let jcal: unknown;
      try {
        jcal = ICAL.parse(block.lines.map((line) => line.text).join('\r\n'));
      } catch (error) {
        this.brokenBlock(block, uid, record, `cannot be parsed: ${messageOf(error)}`);
        continue;
      }
      if (!Array.isArray(jcal) || jcal[0] !== 'vevent') {
        this.brokenBlock(block, uid, record, 'cannot be parsed');
        continue;
      }
      eventComponents.push(jcal);
      eventBlocks.push(block);
    }

    const root = new ICAL.Component(['vcalendar', [], [...zoneComponents, ...eventComponents]]);
    this.root = root;
    const events = root.getAllSubcomponents('vevent');
    this.prepareZones(events);

    const groups = new Map<string, Group>();
    events.forEach((comp, index) => {
      const block = eventBlocks[index]!;
      const uidValue = comp.getFirstPropertyValue('uid');
      const uid = typeof uidValue === 'string' ? uidValue.trim() : '';
      const ridProp = comp.getFirstProperty('recurrence-id');
      const rid = ridProp ? String(ridProp.jCal[3] ?? '') : null;
      const record = this.recordName(uid || null, rid === null ? null : basicValue(rid), block.line);
      if (!uid) {
        this.error(block.line, record, 'UID', 'is missing: calpush needs the UID to keep this event apart from the others across updates');
        return;
      }
      let group = groups.get(uid);
      if (!group) {
        group = { uid, masters: [], exceptions: [] };
        groups.set(uid, group);
      }
      const entry: Entry = { comp, line: block.line, uid, record };
      if (ridProp) group.exceptions.push(entry);
      else group.masters.push(entry);
    });

    for (const group of groups.values()) {
      try {
        this.processGroup(group);
      } catch (error) {
        // Defensive: ical.js throws on values it cannot read; one series never stops the others.
        const first = group.masters[0] ?? group.exceptions[0]!;
        const field = error instanceof IcsProblem ? error.field : '(record)';
        this.error(first.line, first.record, field, error instanceof IcsProblem ? error.message : `cannot be read: ${messageOf(error)}`, group.uid);
        this.hold(group.uid);
        this.heldSeries.add(group.uid);
      }
    }
  }

  recordName(uid: string | null, rid: string | null, line: number): string {
    const uidPart = uid ? ` UID=${truncate(uid, 120)}` : '';
    const ridPart = rid ? ` RECURRENCE-ID=${rid}` : '';
    return `VEVENT${uidPart}${ridPart} (${this.where(line)})`;
  }

  brokenBlock(block: Block, uid: string | null, record: string, message: string): void {
    this.error(block.line, record, '(record)', message, uid ?? undefined);
    if (!uid) return;
    const names = new Set(block.lines.map((line) => lineName(line.text)));
    if (names.has('RRULE') || names.has('RDATE') || names.has('RECURRENCE-ID')) this.heldSeries.add(uid);
    else this.hold(uid);
  }

  /**
   * Every TZID that maps to an IANA zone gets an IANA-backed ical.js zone, also when the file carries a VTIMEZONE
   * for it: the events go out as wall-clock time in the IANA zone, so recurrence, EXDATE and UNTIL comparisons use
   * the same rules. TZIDs that map to nothing keep the file's VTIMEZONE.
   */
  prepareZones(events: Component[]): void {
    const root = this.root!;
    const cache = (root as unknown as { _timezoneCache?: unknown })._timezoneCache;
    const tzids = new Set<string>();
    for (const event of events) {
      for (const prop of event.getAllProperties()) {
        const tzid = tzidOf(prop);
        if (tzid) tzids.add(tzid);
      }
    }
    for (const tzid of tzids) {
      const iana = ianaZoneForTzid(tzid);
      if (iana) {
        this.zones.set(tzid, { kind: 'iana', zone: iana });
        if (cache instanceof Map) cache.set(tzid, IanaTimezone.create(tzid, iana));
        continue;
      }
      let tz: Timezone | null = null;
      try {
        tz = root.getTimeZoneByID(tzid);
        if (tz && !tz.component?.getAllSubcomponents().some((sub) => sub.name === 'standard' || sub.name === 'daylight')) tz = null;
        if (tz) tz.utcOffset(ICAL.Time.fromData({ year: 2026, month: 1, day: 1, hour: 12 }, tz));
      } catch {
        tz = null;
      }
      this.zones.set(tzid, tz ? { kind: 'vtimezone', tz } : { kind: 'unknown' });
    }
  }

  // --- times ---------------------------------------------------------------------------------------------------

  /** Resolves a time read from a property with the given TZID parameter. */
  point(time: Time, tzid: string | null, field: string): Point {
    if (time.isDate) {
      const date = formatDate(time.year, time.month, time.day);
      if (!normalizeLocalDate(date)) throw new IcsProblem(field, `"${date}" is not a valid date`);
      return { allDay: true, date, utcMs: dateUtcMs(date) };
    }
    const local = formatLocal(time.year, time.month, time.day, time.hour, time.minute, time.second);
    if (!normalizeLocalDateTime(local)) throw new IcsProblem(field, `"${local}" is not a valid date-time`);
    if (time.zone === ICAL.Timezone.utcTimezone) return { allDay: false, local, zone: 'UTC', utcMs: Date.parse(`${local}Z`) };
    if (!tzid) {
      if (!this.floatingZone) {
        throw new IcsProblem(field, `is a floating time (no TZID) and defaultTimeZone "${this.options.defaultTimeZone}" is not a known IANA time zone`);
      }
      return { allDay: false, local, zone: this.floatingZone, utcMs: zonedToUtcMs(local, this.floatingZone) };
    }
    const zone = this.zones.get(tzid) ?? { kind: 'unknown' };
    if (zone.kind === 'iana') return { allDay: false, local, zone: zone.zone, utcMs: zonedToUtcMs(local, zone.zone) };
    if (zone.kind === 'vtimezone') {
      const utcMs = Date.parse(`${local}Z`) - zone.tz.utcOffset(time) * 1000;
      return { allDay: false, local: utcMsToZoned(utcMs, 'UTC'), zone: 'UTC', utcMs };
    }
    throw new IcsProblem(field, `TZID "${tzid}" is neither an IANA nor a Windows time zone name and the file has no usable VTIMEZONE for it`);
  }

  /** Reads DTSTART (or another single time property) of a component. */
  readTime(comp: Component, name: string): { time: Time; tzid: string | null; point: Point; prop: Property } {
    const field = name.toUpperCase();
    const prop = comp.getFirstProperty(name);
    if (!prop) throw new IcsProblem(field, 'is missing');
    checkRawTimes(prop, field);
    const value = prop.getFirstValue();
    if (!(value instanceof ICAL.Time)) throw new IcsProblem(field, 'is not a date or date-time');
    const tzid = tzidOf(prop);
    return { time: value, tzid, point: this.point(value, tzid, field), prop };
  }

  /** How the end follows from the start for this component (DTEND, DURATION or neither). */
  endRule(comp: Component, start: { time: Time; tzid: string | null; point: Point; prop: Property }): EndRule {
    const dtend = comp.getFirstProperty('dtend');
    if (dtend) {
      const end = this.readTime(comp, 'dtend');
      if (start.point.allDay !== end.point.allDay) {
        throw new IcsProblem('DTEND', start.point.allDay ? 'must be a date (VALUE=DATE) like DTSTART' : 'must be a date-time like DTSTART');
      }
      if (start.point.allDay && end.point.allDay) {
        return { kind: 'days', days: Math.round((end.point.utcMs - start.point.utcMs) / 86_400_000) };
      }
      const sameZone = sameZoneKey(start.time, start.tzid) === sameZoneKey(end.time, end.tzid);
      if (sameZone) {
        const wall = (localMs(end.time) - localMs(start.time)) / 1000;
        return { kind: 'wall', seconds: wall };
      }
      return { kind: 'exact', ms: end.point.utcMs - start.point.utcMs };
    }
    const durationProp = comp.getFirstProperty('duration');
    if (durationProp) {
      const duration = durationProp.getFirstValue();
      if (!(duration instanceof ICAL.Duration)) throw new IcsProblem('DURATION', 'is not a duration like PT1H30M');
      if (duration.isNegative) throw new IcsProblem('DURATION', `must not be negative (${duration.toString()})`);
      const days = duration.weeks * 7 + duration.days;
      const seconds = duration.hours * 3600 + duration.minutes * 60 + duration.seconds;
      if (start.point.allDay) return { kind: 'days', days: days + Math.ceil(seconds / 86_400) };
      return { kind: 'nominal', days, seconds };
    }
    // RFC 5545 3.6.1: without DTEND and DURATION a date event lasts one day, a date-time event ends at its start.
    return start.point.allDay ? { kind: 'days', days: 1 } : { kind: 'wall', seconds: 0 };
  }

  /** The end of an occurrence that starts at `time` (resolved as `start`), following `rule`. */
  applyEnd(rule: EndRule, time: Time, tzid: string | null, start: Point): Point {
    if (start.allDay) {
      const days = rule.kind === 'days' ? rule.days : 1;
      const date = addDays(start.date, days);
      return { allDay: true, date, utcMs: dateUtcMs(date) };
    }
    if (rule.kind === 'days') throw new IcsProblem('DTEND', 'must be a date-time like DTSTART');
    if (rule.kind === 'exact') {
      const utcMs = start.utcMs + rule.ms;
      return { allDay: false, local: utcMsToZoned(utcMs, start.zone), zone: start.zone, utcMs };
    }
    const end = time.clone();
    if (rule.kind === 'wall') {
      end.adjust(0, 0, 0, rule.seconds);
      return this.point(end, tzid, 'DTEND');
    }
    end.adjust(rule.days, 0, 0, 0);
    const dayShifted = this.point(end, tzid, 'DTEND');
    if (dayShifted.allDay) return dayShifted;
    const utcMs = dayShifted.utcMs + rule.seconds * 1000;
    return { allDay: false, local: utcMsToZoned(utcMs, dayShifted.zone), zone: dayShifted.zone, utcMs };
  }

  /** Start and end of a component taken as it stands (a single event or an override). */
  ownTiming(comp: Component): ItemTiming {
    const start = this.readTime(comp, 'dtstart');
    const rule = this.endRule(comp, start);
    return { start: start.point, end: this.applyEnd(rule, start.time, start.tzid, start.point) };
  }

  // --- events --------------------------------------------------------------------------------------------------

  processGroup(group: Group): void {
    const master = this.pickOne(group.masters, (kept) => `has the same UID as the VEVENT at line ${kept.line}, which is used instead (duplicate UID)`);
    const recurring = master !== null && (master.comp.hasProperty('rrule') || master.comp.hasProperty('rdate'));
    if (master && recurring) {
      this.expandSeries(group.uid, master, group.exceptions);
      return;
    }
    if (master) this.emitSingle(master, group.uid, false);
    // Overrides without a recurring series in this feed: each is an occurrence of its own.
    const byRid = new Map<string, Entry[]>();
    for (const exception of group.exceptions) {
      let id: string;
      try {
        id = `${group.uid}@${basicForm(this.readTime(exception.comp, 'recurrence-id').point)}`;
      } catch (error) {
        this.problem(exception, error, group.uid);
        this.heldSeries.add(group.uid);
        continue;
      }
      const list = byRid.get(id) ?? [];
      list.push(exception);
      byRid.set(id, list);
    }
    for (const [id, entries] of byRid) {
      const entry = this.pickOne(entries, (kept) => `overrides the same occurrence as the VEVENT at line ${kept.line}, which is used instead`, id)!;
      this.emitSingle(entry, id, true);
    }
  }

  /** Of several components claiming the same id, keeps the one with the highest SEQUENCE (the first on a tie). */
  pickOne(entries: Entry[], message: (kept: Entry) => string, id?: string): Entry | null {
    if (entries.length === 0) return null;
    let kept = entries[0]!;
    for (const entry of entries.slice(1)) if (sequenceOf(entry.comp) > sequenceOf(kept.comp)) kept = entry;
    for (const entry of entries) {
      if (entry !== kept) this.error(entry.line, entry.record, 'UID', message(kept), id ?? entry.uid);
    }
    return kept;
  }

  problem(entry: Entry, error: unknown, id?: string): void {
    if (error instanceof IcsProblem) this.error(entry.line, entry.record, error.field, error.message, id);
    else this.error(entry.line, entry.record, '(record)', `cannot be read: ${messageOf(error)}`, id);
  }

  emitSingle(entry: Entry, id: string, inHorizonOnly: boolean): void {
    if (isCancelled(entry.comp)) return;
    let timing: ItemTiming;
    try {
      timing = this.ownTiming(entry.comp);
    } catch (error) {
      this.problem(entry, error, id);
      this.hold(id);
      return;
    }
    if (inHorizonOnly && !this.inHorizon(timing.start)) return;
    this.emit(entry, id, timing);
  }

  inHorizon(start: Point): boolean {
    return start.utcMs >= this.options.horizon.fromMs && start.utcMs < this.options.horizon.toMs;
  }

  emit(entry: Entry, id: string, timing: ItemTiming): void {
    try {
      this.inputs.push({ input: this.toInput(entry.comp, id, timing), record: entry.record });
      this.produced.add(id);
    } catch (error) {
      this.problem(entry, error, id);
      this.hold(id);
    }
  }

  expandSeries(uid: string, master: Entry, exceptionEntries: Entry[]): void {
    if (isCancelled(master.comp)) return; // the whole series is cancelled: nothing of it is desired
    const { fromMs, toMs } = this.options.horizon;
    let start: ReturnType<Parser['readTime']>;
    try {
      start = this.readTime(master.comp, 'dtstart');
      for (const name of ['exdate', 'rdate']) for (const prop of master.comp.getAllProperties(name)) checkRawTimes(prop, name.toUpperCase());
    } catch (error) {
      this.problem(master, error, uid);
      this.heldSeries.add(uid);
      return;
    }
    // When only the content is broken (not the times) the occurrences are still listed, as held.
    let rule: EndRule | null = null;
    let contentProblem: unknown = null;
    try {
      rule = this.endRule(master.comp, start);
    } catch (error) {
      contentProblem = error;
    }
    if (contentProblem) this.problem(master, contentProblem, uid);

    const event = new ICAL.Event(master.comp, { strictExceptions: true, exceptions: [] });
    const overrides = new Map<string, Entry>();
    const overrideCandidates = new Map<string, Entry[]>();
    let slackMs = 0;
    for (const exception of exceptionEntries) {
      try {
        const rid = this.readTime(exception.comp, 'recurrence-id');
        const id = `${uid}@${basicForm(rid.point)}`;
        const list = overrideCandidates.get(id) ?? [];
        list.push(exception);
        overrideCandidates.set(id, list);
      } catch (error) {
        this.problem(exception, error, uid);
        this.heldSeries.add(uid);
      }
    }
    for (const [id, entries] of overrideCandidates) {
      const kept = this.pickOne(entries, (k) => `overrides the same occurrence as the VEVENT at line ${k.line}, which is used instead`, id)!;
      overrides.set(id, kept);
      try {
        event.relateException(kept.comp);
        const range = kept.comp.getFirstProperty('recurrence-id')?.getParameter('range');
        if (typeof range === 'string' && range.toUpperCase() === 'THISANDFUTURE') {
          const rid = this.readTime(kept.comp, 'recurrence-id').point;
          const own = this.readTime(kept.comp, 'dtstart').point;
          slackMs = Math.max(slackMs, Math.abs(own.utcMs - rid.utcMs));
        }
      } catch (error) {
        this.problem(kept, error, id);
      }
    }

    const impossible = impossibleRule(master.comp);
    if (impossible) {
      this.error(master.line, master.record, 'RRULE', `never produces an occurrence: ${impossible}`, uid);
      return;
    }

    const steps = { count: 0 };
    let produced = 0;
    const collected = new Map<string, { entry: Entry; timing: ItemTiming }>();
    const heldHere: string[] = [];
    const consumed = new Set<string>();
    const filter = ruleFilter(master.comp, start.time);
    let inWindow = 0;
    let overflow = false;
    try {
      alignToStart(master.comp, start.time, start.tzid === null ? this.floatingZone : null);
      const expansion = event.iterator();
      guardExpansion(expansion, steps);
      for (const occurrence of occurrencesOf(expansion, master.comp, start.time)) {
        steps.count = 0;
        if (++produced > MAX_EXPANSION) {
          throw new IcsProblem('RRULE', `the series has more than ${MAX_EXPANSION} occurrences before the end of the horizon (it starts too long before it or recurs too often)`);
        }
        // No zone is more than 14 hours from UTC: most occurrences before the window are skipped unresolved.
        const naive = localMs(occurrence);
        if (naive + 15 * 3_600_000 < fromMs - slackMs) continue;
        const original = this.point(occurrence, start.tzid, 'DTSTART');
        if (original.utcMs >= toMs + slackMs) break;
        if (original.utcMs < fromMs - slackMs) continue;
        if (!filter(occurrence)) continue;
        const id = `${uid}@${basicForm(original)}`;
        if (++inWindow > MAX_OCCURRENCES_PER_SERIES) {
          overflow = true;
          break;
        }
        if (contentProblem || !rule) {
          if (this.inHorizon(original)) heldHere.push(id);
          continue;
        }
        const override = overrides.get(id);
        if (override) {
          consumed.add(id);
          this.collectOverride(override, id, collected);
          continue;
        }
        const details = event.getOccurrenceDetails(occurrence);
        const item = details.item;
        if (item && item !== event && item.modifiesFuture()) {
          // Inside the range of a RANGE=THISANDFUTURE override: its content, its shift of the times.
          const exception = [...overrides.values()].find((entry) => entry.comp === item.component);
          if (exception) {
            if (isCancelled(exception.comp)) continue;
            const rangeStart = exception.comp.getFirstProperty('dtstart');
            const tzid = rangeStart ? tzidOf(rangeStart) : null;
            const timing = this.timingAt(exception, details.startDate, tzid, id);
            if (timing && this.inHorizon(timing.start)) collected.set(id, { entry: exception, timing });
            continue;
          }
        }
        const timing = this.timingFrom(master, rule, occurrence, start.tzid, original, id);
        if (timing && this.inHorizon(timing.start)) collected.set(id, { entry: master, timing });
      }
    } catch (error) {
      const message =
        steps.count > MAX_RULE_STEPS
          ? `cannot be expanded: ${MAX_RULE_STEPS} candidate dates in a row did not match the rule (it may never match)`
          : `cannot be expanded: ${error instanceof IcsProblem ? error.message : messageOf(error)}`;
      this.error(master.line, master.record, 'RRULE', message, uid);
      this.heldSeries.add(uid);
      for (const id of collected.keys()) this.hold(id);
      for (const id of heldHere) this.hold(id);
      return;
    }
    if (overflow) {
      this.error(
        master.line,
        master.record,
        'RRULE',
        `series UID=${uid} has more than ${MAX_OCCURRENCES_PER_SERIES} occurrences in the horizon; only the first ${MAX_OCCURRENCES_PER_SERIES} are delivered`,
        uid,
      );
      this.heldSeries.add(uid);
    }
    for (const id of heldHere) this.hold(id);

    // Overrides that replace no occurrence the rule produced (moved in from outside the window, or for a date the
    // rule does not produce): each is an occurrence as it stands.
    if (!contentProblem) {
      for (const [id, override] of overrides) {
        if (consumed.has(id) || collected.has(id)) continue;
        this.collectOverride(override, id, collected);
      }
    }

    const ordered = [...collected.entries()].sort(([a, x], [b, y]) => x.timing.start.utcMs - y.timing.start.utcMs || (a < b ? -1 : a > b ? 1 : 0));
    for (const [id, { entry, timing }] of ordered) this.emit(entry, id, timing);
  }

  collectOverride(override: Entry, id: string, collected: Map<string, { entry: Entry; timing: ItemTiming }>): void {
    if (isCancelled(override.comp)) return;
    let timing: ItemTiming;
    try {
      timing = this.ownTiming(override.comp);
    } catch (error) {
      this.problem(override, error, id);
      this.hold(id);
      return;
    }
    if (this.inHorizon(timing.start)) collected.set(id, { entry: override, timing });
  }

  timingFrom(entry: Entry, rule: EndRule, time: Time, tzid: string | null, start: Point, id: string): ItemTiming | null {
    try {
      return { start, end: this.applyEnd(rule, time, tzid, start) };
    } catch (error) {
      this.problem(entry, error, id);
      this.hold(id);
      return null;
    }
  }

  timingAt(entry: Entry, time: Time, tzid: string | null, id: string): ItemTiming | null {
    try {
      const ownStart = this.readTime(entry.comp, 'dtstart');
      const rule = this.endRule(entry.comp, ownStart);
      const start = this.point(time, tzid, 'DTSTART');
      return { start, end: this.applyEnd(rule, time, tzid, start) };
    } catch (error) {
      this.problem(entry, error, id);
      this.hold(id);
      return null;
    }
  }

  // --- content -------------------------------------------------------------------------------------------------

  toInput(comp: Component, id: string, timing: ItemTiming): Record<string, unknown> {
    const input: Record<string, unknown> = {
      calendar: this.options.calendar,
      id,
      // Outlook subjects are one line; SUMMARY values occasionally carry an escaped line break.
      subject: clip((textOf(comp, 'summary') ?? '').replace(/\r?\n/g, ' '), MAX_SUBJECT),
      body: bodyOf(comp),
    };
    const { start, end } = timing;
    if (start.allDay) {
      if (!end.allDay) throw new IcsProblem('DTEND', 'must be a date (VALUE=DATE) like DTSTART');
      input.start = start.date;
      input.end = end.date;
      input.allDay = true;
    } else {
      if (end.allDay) throw new IcsProblem('DTEND', 'must be a date-time like DTSTART');
      input.start = start.local;
      input.end = end.zone === start.zone ? end.local : utcMsToZoned(end.utcMs, start.zone);
      input.timeZone = start.zone;
      input.allDay = false;
    }
    // Apple writes structured locations as "name\naddress"; Outlook shows a location on one line.
    const location = textOf(comp, 'location')?.replace(/[ \t]*\r?\n[ \t]*/g, ', ').trim();
    input.location = location ? clip(location, MAX_LOCATION) : null;
    input.categories = categoriesOf(comp);
    input.showAs = showAsOf(comp);
    input.sensitivity = sensitivityOf(comp);
    input.reminderMinutes = reminderOf(comp);
    return input;
  }

  result(): IcsParseResult {
    return {
      inputs: this.inputs,
      errors: this.errors
        .map((entry, index) => ({ ...entry, index }))
        .sort((a, b) => a.line - b.line || a.index - b.index)
        .map((entry) => entry.error),
      heldIds: [...this.held].filter((id) => !this.produced.has(id)),
      heldSeries: [...this.heldSeries],
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Cuts to at most `max` UTF-16 units, ending in "…", without splitting a surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = max - 1;
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1;
  return `${text.slice(0, cut)}…`;
}

function rawUid(block: Block): string | null {
  const line = block.lines.find((l) => lineName(l.text) === 'UID');
  const value = line ? unescapeText(lineValue(line.text)).trim() : '';
  return value || null;
}

function rawRid(block: Block): string | null {
  const line = block.lines.find((l) => lineName(l.text) === 'RECURRENCE-ID');
  return line ? lineValue(line.text).trim() || null : null;
}

/** Undoes iCalendar TEXT escaping (for properties ical.js leaves raw, like X-ALT-DESC). */
function unescapeText(value: string): string {
  return value.replace(/\\([\\;,nN])/g, (_, c: string) => (c === 'n' || c === 'N' ? '\n' : c));
}

function textOf(comp: Component, name: string): string | null {
  const prop = comp.getFirstProperty(name);
  if (!prop) return null;
  const values = prop.getValues().filter((value) => value !== null && value !== undefined).map(String);
  if (values.length === 0) return null;
  const text = values.join(',');
  return prop.type === 'text' ? text : unescapeText(text);
}

function bodyOf(comp: Component): string | { contentType: 'html'; content: string } | null {
  for (const prop of comp.getAllProperties('x-alt-desc')) {
    const type = prop.getParameter('fmttype');
    if (typeof type !== 'string' || type.toLowerCase() !== 'text/html') continue;
    const raw = prop.getValues().map(String).join(',');
    const html = prop.type === 'text' ? raw : unescapeText(raw);
    if (html.trim()) return { contentType: 'html', content: clip(html, MAX_BODY) };
  }
  const text = textOf(comp, 'description')?.trimEnd();
  return text ? clip(text, MAX_BODY) : null;
}

function categoriesOf(comp: Component): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const prop of comp.getAllProperties('categories')) {
    for (const value of prop.getValues()) {
      const name = clip(String(value).trim(), MAX_CATEGORY);
      if (!name || seen.has(name.toLowerCase())) continue;
      seen.add(name.toLowerCase());
      out.push(name);
    }
  }
  return out.slice(0, MAX_CATEGORIES);
}

function upperValue(comp: Component, name: string): string | null {
  const value = comp.getFirstPropertyValue(name);
  return typeof value === 'string' ? value.trim().toUpperCase() : null;
}

function isCancelled(comp: Component): boolean {
  return upperValue(comp, 'status') === 'CANCELLED';
}

const CDO_BUSY_STATUS: Record<string, string> = {
  FREE: 'free',
  TENTATIVE: 'tentative',
  BUSY: 'busy',
  OOF: 'oof',
  WORKINGELSEWHERE: 'workingElsewhere',
};

function showAsOf(comp: Component): string {
  // Outlook and Exchange write their own free/busy value next to TRANSP; it is the more precise of the two.
  const cdo = upperValue(comp, 'x-microsoft-cdo-busystatus');
  if (cdo && CDO_BUSY_STATUS[cdo]) return CDO_BUSY_STATUS[cdo];
  if (upperValue(comp, 'transp') === 'TRANSPARENT') return 'free';
  if (upperValue(comp, 'status') === 'TENTATIVE') return 'tentative';
  return 'busy';
}

function sensitivityOf(comp: Component): string {
  const value = upperValue(comp, 'class');
  if (value === 'PRIVATE') return 'private';
  if (value === 'CONFIDENTIAL') return 'confidential';
  return 'normal';
}

/** Minutes before the start of the first VALARM triggered at or before the start (relative to it). */
function reminderOf(comp: Component): number | null {
  for (const alarm of comp.getAllSubcomponents('valarm')) {
    if (upperValue(alarm, 'action') === 'NONE') continue;
    // Apple adds the user's default alarm to exported events; it is a device setting, not part of the event.
    if (upperValue(alarm, 'x-apple-default-alarm') === 'TRUE') continue;
    const trigger = alarm.getFirstProperty('trigger');
    if (!trigger) continue;
    const related = trigger.getParameter('related');
    if (typeof related === 'string' && related.toUpperCase() === 'END') continue;
    let value: unknown;
    try {
      value = trigger.getFirstValue();
    } catch {
      continue;
    }
    if (!(value instanceof ICAL.Duration)) continue;
    const seconds = value.toSeconds();
    if (seconds > 0) continue;
    return Math.min(MAX_REMINDER_MINUTES, Math.round(Math.abs(seconds) / 60));
  }
  return null;
}

function sequenceOf(comp: Component): number {
  const value = comp.getFirstPropertyValue('sequence');
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function localMs(time: Time): number {
  return Date.UTC(time.year, time.month - 1, time.day, time.hour, time.minute, time.second);
}

function sameZoneKey(time: Time, tzid: string | null): string {
  if (time.zone === ICAL.Timezone.utcTimezone) return 'Z';
  return tzid === null ? 'floating' : `TZID=${tzid}`;
}

/**
 * Counts the candidates ical.js's rule iterators test and stops the expansion past MAX_RULE_STEPS: some rules can
 * never match (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) and ical.js would search for a match forever.
 */
function guardExpansion(expansion: ICAL.RecurExpansion, steps: { count: number }): void {
  const iterators = (expansion as unknown as { ruleIterators?: unknown }).ruleIterators;
  if (!Array.isArray(iterators)) return;
  for (const iterator of iterators as Array<Record<string, unknown>>) {
    const check = iterator.check_contracting_rules;
    if (typeof check !== 'function') continue;
    iterator.check_contracting_rules = function guarded(this: unknown, ...args: unknown[]) {
      if (++steps.count > MAX_RULE_STEPS) throw new Error('recurrence rule step budget exhausted');
      return (check as (...a: unknown[]) => unknown).apply(this, args);
    };
  }
}

/**
 * The occurrences of an expansion in order. ical.js leaves DTSTART out when a series has RDATEs but no RRULE;
 * RFC 5545 counts DTSTART as the first instance, so it is put back (unless an EXDATE removes it).
 */
function* occurrencesOf(expansion: ICAL.RecurExpansion, comp: Component, dtstart: Time): Generator<Time> {
  let pending = !comp.hasProperty('rrule') && !excluded(comp, dtstart);
  for (let next = expansion.next(); next; next = expansion.next()) {
    if (pending && next.compare(dtstart) >= 0) {
      pending = false;
      if (next.compare(dtstart) !== 0) yield dtstart.clone();
    }
    yield next;
  }
  if (pending) yield dtstart.clone();
}

function excluded(comp: Component, time: Time): boolean {
  for (const prop of comp.getAllProperties('exdate')) {
    for (const value of prop.getValues()) {
      if (!(value instanceof ICAL.Time)) continue;
      if (value.isDate ? value.year === time.year && value.month === time.month && value.day === time.day : value.compare(time) === 0) return true;
    }
  }
  return false;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Why a rule can never match, for the combinations ical.js would search forever; null when it can. */
function impossibleRule(comp: Component): string | null {
  for (const prop of comp.getAllProperties('rrule')) {
    const recur = prop.getFirstValue();
    if (!(recur instanceof ICAL.Recur)) continue;
    const parts = recur.parts as Record<string, unknown>;
    const months = Array.isArray(parts.BYMONTH) ? (parts.BYMONTH as number[]) : [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const monthDays = Array.isArray(parts.BYMONTHDAY) ? (parts.BYMONTHDAY as number[]) : null;
    if (monthDays && !months.some((month) => monthDays.some((day) => Math.abs(day) <= (DAYS_IN_MONTH[month - 1] ?? 0)))) {
      return `no month in BYMONTH=${months.join(',')} has day ${monthDays.join(',')}`;
    }
  }
  return null;
}

/**
 * ical.js normalises impossible dates while expanding some rules instead of skipping them as RFC 5545 requires
 * ("Recurrence rules may generate recurrence instances with an invalid date (e.g., February 30) … Such recurrence
 * instances MUST be ignored"): FREQ=YEARLY from February 29 yields March 1 in common years, and
 * FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30 yields March 2. For a series with a single RRULE and no RDATE, occurrences
 * that contradict the rule's month and day (given, or implied by DTSTART) are dropped. DTSTART itself always
 * counts, as RFC 5545 says.
 */
function ruleFilter(comp: Component, dtstart: Time): (occurrence: Time) => boolean {
  const rules = comp.getAllProperties('rrule');
  if (rules.length !== 1 || comp.hasProperty('rdate')) return () => true;
  const recur = rules[0]!.getFirstValue();
  if (!(recur instanceof ICAL.Recur)) return () => true;
  const parts = recur.parts as Record<string, unknown>;
  const given = (name: string) => (Array.isArray(parts[name]) ? (parts[name] as number[]) : null);
  let months = given('BYMONTH');
  let monthDays = given('BYMONTHDAY');
  const dayRules = ['BYDAY', 'BYYEARDAY', 'BYWEEKNO'].some((name) => given(name) !== null);
  if (!dayRules && !monthDays && (recur.freq === 'YEARLY' || recur.freq === 'MONTHLY')) {
    monthDays = [dtstart.day];
    if (recur.freq === 'YEARLY' && !months) months = [dtstart.month];
  }
  if (!months && !monthDays) return () => true;
  const first = localMs(dtstart);
  return (occurrence) => {
    if (localMs(occurrence) === first) return true;
    if (months && !months.includes(occurrence.month)) return false;
    if (monthDays) {
      const daysInMonth = new Date(Date.UTC(occurrence.year, occurrence.month, 0)).getUTCDate();
      if (!monthDays.some((day) => (day > 0 ? day === occurrence.day : daysInMonth + day + 1 === occurrence.day))) return false;
    }
    return true;
  };
}

/**
 * Brings UNTIL and EXDATE into the form of DTSTART where exporters mix forms, since ical.js compares them as they
 * stand:
 *   - RFC 5545 wants UNTIL in the value type of DTSTART, but UNTIL=20261215 is also written for timed series;
 *     ical.js would end the series at midnight and lose the last day's occurrence, so it is read as the whole day;
 *   - for a floating series ical.js takes UTC values (UNTIL=…Z, EXDATE:…Z) as if they were floating too; they are
 *     converted to wall-clock time in the zone floating times are read in.
 */
function alignToStart(comp: Component, dtstart: Time, floatingZone: string | null): void {
  if (dtstart.isDate) return;
  const floating = dtstart.zone === ICAL.Timezone.localTimezone && floatingZone !== null;
  const toFloating = (time: Time) => {
    const local = utcMsToZoned(localMs(time), floatingZone!);
    const [y, mo, d, h, mi, sec] = local.split(/[-T:]/).map(Number) as [number, number, number, number, number, number];
    time.resetTo(y, mo, d, h, mi, sec, ICAL.Timezone.localTimezone);
  };
  for (const prop of comp.getAllProperties('rrule')) {
    const recur = prop.getFirstValue();
    if (!(recur instanceof ICAL.Recur) || !recur.until) continue;
    if (recur.until.isDate) {
      const { year, month, day } = recur.until;
      recur.until = ICAL.Time.fromData({ year, month, day, hour: 23, minute: 59, second: 59, isDate: false }, dtstart.zone);
    } else if (floating && recur.until.zone === ICAL.Timezone.utcTimezone) {
      toFloating(recur.until);
    }
  }
  if (!floating) return;
  for (const prop of comp.getAllProperties('exdate')) {
    for (const value of prop.getValues()) {
      if (value instanceof ICAL.Time && !value.isDate && value.zone === ICAL.Timezone.utcTimezone) toFloating(value);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Reads an iCalendar feed. Pass the raw bytes when you have them: folding is defined on octets and exporters do
 * split multi-byte UTF-8 characters across folds, which only survives if unfolding happens before decoding.
 * Never throws: every problem is reported in `errors`.
 */
export function parseIcs(text: string | Uint8Array, options: IcsOptions): IcsParseResult {
  const parser = new Parser(options);
  try {
    const lines = typeof text === 'string' ? logicalLines(text.startsWith('\uFEFF') ? text.slice(1) : text) : linesFromBytes(text);
    parser.run(lines);
  } catch (error) {
    parser.fileError(`cannot be read: ${messageOf(error)}`);
  }
  return parser.result();
}
