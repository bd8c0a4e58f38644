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
  /**
   * Events the whole file may produce (single events and expanded occurrences, default DEFAULT_MAX_EVENTS): a file
   * with more is refused as a whole (`refusal`), so that 31 KB of recurrence rules cannot become a million events.
   */
  maxEvents?: number;
  /** For tests: expand every rule from its DTSTART instead of skipping ahead to the horizon (see fastForward). */
  expandFromStart?: boolean;
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
  /**
   * Ids the file marks STATUS:CANCELLED (a single event, an occurrence's override, or the occurrences a
   * RANGE=THISANDFUTURE override cancels). A complete-state reader (sync, feeds) just leaves them out; an upsert
   * (`import`) removes them.
   */
  cancelledIds: string[];
  /** UIDs of whole series (or single events) marked STATUS:CANCELLED: every id UID or UID + "@" + … is cancelled. */
  cancelledSeries: string[];
  /** Set when the file as a whole is refused (over a limit): nothing of it may be used; `errors` says why too. */
  refusal?: IcsRefusal;
}

/** Why a whole file was refused: which limit, and a sentence naming it ("has more than 50000 events"). */
export interface IcsRefusal {
  limit: 'events' | 'bytes' | 'time' | 'memory';
  message: string;
}

/** At most this many occurrences of one series are delivered. */
export const MAX_OCCURRENCES_PER_SERIES = 5000;
/** Events one file may produce unless the caller says otherwise (IcsOptions.maxEvents). */
export const DEFAULT_MAX_EVENTS = 20_000;
/** Steps a rule may take in search of its next occurrence: guards against rules that never match. */
const MAX_RULE_STEPS = 100_000;
/** Occurrences a series may produce before the horizon ends (most of them before it starts, all discarded). */
const MAX_EXPANSION = 100_000;
/**
 * Steps (calls into ical.js's rule iterator, 0.5–3 µs each) the recurrence rules of one file may take beyond what
 * their occurrences in the horizon pay back (OCCURRENCE_REFUND each). Without a budget per file a megabyte of
 * SECONDLY rules starting in 1970, or of "last Monday or Tuesday of the month" rules, would cost minutes; with it
 * the worst file costs about half a second. Long-running DAILY and WEEKLY series skip ahead to the horizon
 * (fastForward) and spend almost nothing; a monthly series since 1990 spends ~10,000, a yearly one since 1900 ~3,000.
 */
const FILE_EXPANSION_BUDGET = 150_000;
/** What an occurrence in the horizon pays back: about what a weekly or monthly rule spends to find it. */
const OCCURRENCE_REFUND = 25;
/**
 * The longest event accepted (DURATION, or DTEND after DTSTART): ten years. ical.js adds durations day by day
 * through the calendar (Time.adjust walks month by month), so DURATION:P999999999999999999W would never finish.
 */
const MAX_EVENT_DAYS = 3_660;
/** ical.js steps a rule by adding INTERVAL units and normalising month by month: INTERVAL must stay sane. */
const MAX_INTERVAL = 10_000;
/** RFC 5545 says RRULE "SHOULD NOT occur more than once"; ical.js merges rules at a cost per rule and step. */
const MAX_RULES = 16;
/** RDATE or EXDATE values of one series. */
const MAX_DATES = 10_000;
/** Components nested in a VEVENT (VALARM, and VALARM's own…): real files nest two or three deep. */
const MAX_NESTING = 32;
/** Parameters of one content line: ical.js scans the rest of the line for each, so thousands cost quadratic time. */
const MAX_PARAMETERS = 100;
/** Different TZIDs one file may name: real files name a handful; each unknown one costs an ICU look-up. */
const MAX_TZIDS = 100;
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
  /** VEVENT components seen. */
  events: number;
}

/** A limit of the whole file was exceeded: the file is refused, nothing of it is used. */
class IcsLimitExceeded extends CalpushError {
  readonly refusal: IcsRefusal;
  constructor(refusal: IcsRefusal) {
    super('IcsLimitExceeded', refusal.message);
    this.refusal = refusal;
  }
}

const tooManyVevents = (maxEvents: number): IcsRefusal => ({ limit: 'events', message: `has more than ${maxEvents} events (VEVENT components)` });

/**
 * Whether the file has more than `limit` "BEGIN:VEVENT" lines, counted on the raw text before anything is decoded
 * or split: a feed of a million events (45 MB) is refused in a fraction of a second instead of after seconds of
 * unfolding. Spellings this misses (lower case, UTF-16) are counted again, exactly, when the file is scanned.
 */
function moreEventsThan(text: string | Uint8Array, limit: number): boolean {
  const haystack = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
  let count = 0;
  for (let at = haystack.indexOf('BEGIN:VEVENT'); at >= 0; at = haystack.indexOf('BEGIN:VEVENT', at + 12)) {
    if (++count > limit) return true;
  }
  return false;
}

/**
 * Whether the name part of a content line (before its first ":") has more than MAX_PARAMETERS ";". A plain loop:
 * it must stay linear on any line.
 */
function tooManyParameters(text: string): boolean {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) return false;
    if (c === 0x3b && ++count > MAX_PARAMETERS) return true;
  }
  return false;
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
  const body = Buffer.from(bytes.buffer, bytes.byteOffset + start, bytes.length - start);
  // Most files are valid UTF-8 as they stand: then no fold splits a character, and decoding the whole file at once
  // spares a buffer and a string per line.
  try {
    return logicalLines(utf8Strict.decode(body));
  } catch {
    // Not UTF-8 as a whole: unfold the octets first, then decode line by line (below).
  }
  const latin1 = body.toString('latin1');
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

const DATE_PROPERTIES = new Set(['DTSTART', 'DTEND', 'RECURRENCE-ID', 'RDATE', 'EXDATE']);
const DATES_ONLY = /^\d{8}(,\d{8})*$/;

/**
 * The lines of a VEVENT with three slips of real exporters mended before ical.js reads them (found in the public
 * test files of python-icalendar, see test/fixtures/ics-corpus/README.md):
 *   - a date written without VALUE=DATE ("DTSTART:20220101", "RDATE:19970101,19970120"): ical.js would read a
 *     date-time with no time and the event would be refused; it is a date;
 *   - an empty RDATE or EXDATE ("RDATE:"): says nothing, and is dropped;
 *   - blanks in a rule ("BYDAY=MO, TU, WE", Exchange's CDO): ical.js refuses the whole rule; they are removed.
 * Only lines starting with D, R or E are looked at; each check is linear.
 */
function lenientLines(lines: LogicalLine[]): string[] {
  const out: string[] = [];
  for (const { text } of lines) {
    const first = text.charCodeAt(0) | 0x20;
    const name = first === 0x64 || first === 0x72 || first === 0x65 ? lineName(text) : null;
    if (name === 'RRULE' || name === 'EXRULE') {
      out.push(text.includes(' ') || text.includes('\t') ? text.replace(/[ \t]+/g, '') : text);
      continue;
    }
    if (!name || !DATE_PROPERTIES.has(name)) {
      out.push(text);
      continue;
    }
    const value = text.slice(text.lastIndexOf(':') + 1).trim();
    if (value === '' && (name === 'RDATE' || name === 'EXDATE')) continue;
    const parameters = text.slice(name.length, text.length - value.length);
    if (DATES_ONLY.test(value) && !/;VALUE=/i.test(parameters)) out.push(`${text.slice(0, name.length)};VALUE=DATE${text.slice(name.length)}`);
    else out.push(text);
  }
  return out;
}

/**
 * Splits the file into its VEVENT and VTIMEZONE components by BEGIN/END lines, without interpreting anything
 * else, so that each component can be parsed (and fail) on its own.
 */
function scanComponents(lines: LogicalLine[], maxEvents: number): Scan {
  const scan: Scan = { sawCalendar: false, calendarOpenAtEnd: false, calendarLines: [], blocks: [], firstContent: null, events: 0 };
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
    // Only BEGIN and END matter here; most lines are ruled out by their first letter.
    const first = line.text.charCodeAt(0) | 0x20;
    const name = first === 0x62 || first === 0x65 ? lineName(line.text) : null;
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
        if (value === 'VEVENT' && ++scan.events > maxEvents) throw new IcsLimitExceeded(tooManyVevents(maxEvents));
        block = { kind: value, lines: [line], line: line.line };
      } else if (block) {
        block.lines.push(line);
      }
      // The stack stays shallow, so that finding the BEGIN an END closes stays cheap whatever the file nests.
      if (stack.length >= MAX_NESTING) {
        if (block) block.problem ??= `nests components more than ${MAX_NESTING} deep (line ${line.line})`;
        continue;
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
    if (block) {
      if (tooManyParameters(line.text)) block.problem ??= `has more than ${MAX_PARAMETERS} parameters on line ${line.line}`;
      block.lines.push(line);
    } else if (stack.length === 1) scan.calendarLines.push(line);
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

type ZoneResolution = { kind: 'iana'; zone: string } | { kind: 'vtimezone'; tz: Timezone } | { kind: 'unknown'; why?: string }
  /** More TZIDs than MAX_TZIDS: this one was not looked at. */
  | { kind: 'skipped' };

/**
 * Why a VTIMEZONE cannot be used, or null. ical.js expands a zone's rules from their DTSTART up to the year it is
 * asked about, so only yearly rules (what every real zone has) are accepted: FREQ=SECONDLY from year 1 would
 * never finish.
 */
function zoneDefinitionProblem(zone: Component): string | null {
  const rules = zone.getAllSubcomponents().filter((sub) => sub.name === 'standard' || sub.name === 'daylight');
  if (rules.length === 0) return 'has no STANDARD or DAYLIGHT rules';
  if (rules.length > MAX_RULES * 16) return `has more than ${MAX_RULES * 16} STANDARD and DAYLIGHT rules`;
  let dates = 0;
  for (const rule of rules) {
    const recurrences = rule.getAllProperties('rrule');
    if (recurrences.length > 1) return 'has a STANDARD or DAYLIGHT rule with more than one RRULE';
    for (const prop of recurrences) {
      const recur = prop.getFirstValue();
      if (!(recur instanceof ICAL.Recur) || recur.freq !== 'YEARLY' || (recur.interval ?? 1) !== 1) {
        return `has a rule that does not repeat every year (${String(prop.jCal[3] ? JSON.stringify(prop.jCal[3]) : '')})`;
      }
    }
    for (const prop of rule.getAllProperties('rdate')) dates += prop.jCal.length - 3;
  }
  if (dates > MAX_DATES) return `has more than ${MAX_DATES} RDATE values`;
  return null;
}

const SINGLE_PROPERTIES = ['dtstart', 'dtend', 'duration', 'recurrence-id'];

/**
 * Problems of a parsed VEVENT's shape that make it unusable as a whole: a property RFC 5545 allows once that
 * appears twice (which DTSTART is meant?), or more rules and dates than calpush expands.
 */
function structuralProblem(props: unknown[][]): { field: string; message: string } | null {
  const counts = new Map<string, number>();
  let dates = 0;
  for (const prop of props) {
    const name = String(prop[0]);
    counts.set(name, (counts.get(name) ?? 0) + 1);
    if (name === 'rdate' || name === 'exdate') dates += prop.length - 3;
  }
  for (const name of SINGLE_PROPERTIES) {
    const count = counts.get(name) ?? 0;
    if (count > 1) {
      return { field: name.toUpperCase(), message: `appears ${count} times; RFC 5545 allows one per VEVENT, so which one is meant cannot be known` };
    }
  }
  const rules = counts.get('rrule') ?? 0;
  if (rules > MAX_RULES) return { field: 'RRULE', message: `appears ${rules} times; calpush expands at most ${MAX_RULES} rules per series (RFC 5545: SHOULD NOT occur more than once)` };
  if (dates > MAX_DATES) return { field: 'RDATE', message: `the series has ${dates} RDATE and EXDATE values; calpush reads at most ${MAX_DATES}` };
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Times

/** A resolved start or end: a date (all-day) or a wall-clock time in the zone it is emitted in. */
type Point =
  | { allDay: true; date: string; utcMs: number }
  | { allDay: false; local: string; zone: string; utcMs: number };

/**
 * A problem of one record, thrown to the code that reports it. Not an Error on purpose: capturing a stack trace for
 * each was a tenth of the time of a file with thousands of bad records, and the trace is never shown.
 */
class IcsProblem {
  readonly field: string;
  readonly message: string;
  constructor(field: string, message: string) {
    this.field = field;
    this.message = message;
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
  const iso = new Date(point.utcMs).toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
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

interface Content {
  subject: string;
  body: string | { contentType: 'html'; content: string } | null;
  location: string | null;
  categories: string[];
  showAs: string;
  sensitivity: string;
  reminderMinutes: number | null;
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
  readonly contents = new Map<Component, Content>();
  readonly cancelledIds = new Set<string>();
  readonly cancelledSeries = new Set<string>();
  readonly budget = new ExpansionBudget();
  readonly maxEvents: number;
  floatingZone: string | null = null;
  root: Component | null = null;
  readonly zones = new Map<string, ZoneResolution>();

  constructor(options: IcsOptions) {
    this.options = options;
    this.maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
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
    const scan = scanComponents(lines, this.maxEvents);
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
      if (block.problem) {
        this.brokenBlock(block, `VEVENT ${block.problem}`);
        continue;
      }
      let jcal: unknown;
      try {
        jcal = ICAL.parse(lenientLines(block.lines).join('\r\n'));
      } catch (error) {
        this.brokenBlock(block, `cannot be parsed: ${messageOf(error)}`);
        continue;
      }
      if (!Array.isArray(jcal) || jcal[0] !== 'vevent') {
        this.brokenBlock(block, 'cannot be parsed');
        continue;
      }
      const structural = structuralProblem(jcal[1] as unknown[][]);
      if (structural) {
        this.brokenBlock(block, structural.message, structural.field);
        continue;
      }
      const rscale = rscaleProblem(block);
      if (rscale) {
        this.brokenBlock(block, rscale, 'RRULE');
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
        if (error instanceof IcsLimitExceeded) throw error;
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

  /** A VEVENT that cannot be used at all, reported by its raw UID and RECURRENCE-ID lines. */
  brokenBlock(block: Block, message: string, field = '(record)'): void {
    const uid = rawUid(block);
    const record = this.recordName(uid, rawRid(block), block.line);
    this.error(block.line, record, field, message, uid ?? undefined);
    if (!uid) return;
    const names = new Set(block.lines.map((line) => lineName(line.text)));
    if (names.has('RRULE') || names.has('RDATE') || names.has('RECURRENCE-ID')) this.heldSeries.add(uid);
    else this.hold(uid);
  }

  /**
   * Every TZID that maps to an IANA zone gets an IANA-backed ical.js zone, also when the file carries a VTIMEZONE
   * for it: the events go out as wall-clock time in the IANA zone, so recurrence, EXDATE and UNTIL comparisons use
   * the same rules. TZIDs that map to nothing keep the file's VTIMEZONE.
   *
   * Every TZID named gets an entry in the root's zone cache (null when unknown): on a miss ical.js searches all
   * of the file's components for each value it reads, which is quadratic in a file of many events.
   */
  prepareZones(events: Component[]): void {
    const root = this.root!;
    const cache = (root as unknown as { _timezoneCache?: unknown })._timezoneCache;
    const tzids = new Set<string>();
    for (const event of events) {
      // The raw jCal: hydrating every property of every event as an ical.js Property costs more than the rest.
      for (const prop of event.jCal[1] as Array<[string, Record<string, unknown>]>) {
        const tzid = prop[1]?.tzid;
        const value = Array.isArray(tzid) ? tzid.join(',') : tzid;
        if (typeof value === 'string' && value.length > 0) tzids.add(value);
      }
    }
    const definitions = new Map<string, Component>();
    for (const zone of root.getAllSubcomponents('vtimezone')) {
      const tzid = zone.getFirstPropertyValue('tzid');
      if (typeof tzid === 'string' && !definitions.has(tzid)) definitions.set(tzid, zone);
    }
    let resolved = 0;
    for (const tzid of tzids) {
      if (cache instanceof Map) cache.set(tzid, null);
      if (++resolved > MAX_TZIDS) {
        this.zones.set(tzid, { kind: 'skipped' });
        continue;
      }
      const iana = ianaZoneForTzid(tzid);
      if (iana) {
        this.zones.set(tzid, { kind: 'iana', zone: iana });
        if (cache instanceof Map) cache.set(tzid, IanaTimezone.create(tzid, iana));
        continue;
      }
      this.zones.set(tzid, this.fileZone(tzid, definitions.get(tzid)));
      const zone = this.zones.get(tzid)!;
      if (zone.kind === 'vtimezone' && cache instanceof Map) cache.set(tzid, zone.tz);
    }
  }

  /** The file's own VTIMEZONE for a TZID that names no IANA or Windows zone, if it is usable. */
  fileZone(tzid: string, definition: Component | undefined): ZoneResolution {
    if (!definition) return { kind: 'unknown' };
    const problem = zoneDefinitionProblem(definition);
    if (problem) return { kind: 'unknown', why: `its VTIMEZONE ${problem}` };
    try {
      const tz = new ICAL.Timezone({ component: definition, tzid });
      tz.utcOffset(ICAL.Time.fromData({ year: 2026, month: 1, day: 1, hour: 12 }, tz));
      return { kind: 'vtimezone', tz };
    } catch (error) {
      return { kind: 'unknown', why: `its VTIMEZONE cannot be read (${messageOf(error)})` };
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
    if (zone.kind === 'skipped') {
      throw new IcsProblem(field, `TZID "${truncate(tzid, 120)}" is not read: the file names more than ${MAX_TZIDS} different time zones and calpush reads the first ${MAX_TZIDS}`);
    }
    if (zone.why) throw new IcsProblem(field, `TZID "${truncate(tzid, 120)}" is neither an IANA nor a Windows time zone name and ${zone.why}`);
    throw new IcsProblem(field, `TZID "${truncate(tzid, 120)}" is neither an IANA nor a Windows time zone name and the file has no usable VTIMEZONE for it`);
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
      if (end.point.utcMs - start.point.utcMs > MAX_EVENT_DAYS * 86_400_000) {
        throw new IcsProblem('DTEND', `is more than ${MAX_EVENT_DAYS} days after DTSTART; calpush refuses events that long`);
      }
      if (start.point.allDay && end.point.allDay) {
        // DTEND is exclusive, so a DTEND equal to DTSTART would last no time; exporters that write it mean one day.
        const days = Math.round((end.point.utcMs - start.point.utcMs) / 86_400_000);
        return { kind: 'days', days: days === 0 ? 1 : days };
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
      // Checked before ical.js adds it to a time, which it does day by day (see MAX_EVENT_DAYS).
      const total = duration.toSeconds();
      // ical.js reads "PT-1S" as minus one second without the negative flag.
      if (total < 0) throw new IcsProblem('DURATION', `must not be negative (${truncate(String(durationProp.jCal[3] ?? ''), 40)})`);
      if (!Number.isFinite(total) || total > MAX_EVENT_DAYS * 86_400) {
        throw new IcsProblem('DURATION', `${truncate(String(durationProp.jCal[3] ?? ''), 40)} is longer than ${MAX_EVENT_DAYS} days; calpush refuses events that long`);
      }
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
    if (time.zone === ICAL.Timezone.utcTimezone || !tzid || this.zones.get(tzid)?.kind === 'iana') {
      // Wall-clock arithmetic on plain numbers: cloning and adjusting an ical.js Time per occurrence is what
      // expanding a large series spent most of its time on.
      const days = rule.kind === 'wall' ? 0 : rule.days;
      const seconds = rule.kind === 'wall' ? rule.seconds : 0;
      const local = new Date(localMs(time) + days * 86_400_000 + seconds * 1000).toISOString().slice(0, 19);
      if (!normalizeLocalDateTime(local)) throw new IcsProblem('DTEND', `"${local}" is not a valid date-time`);
      const wallEnd = start.zone === 'UTC' ? Date.parse(`${local}Z`) : zonedToUtcMs(local, start.zone);
      if (rule.kind === 'wall') return { allDay: false, local, zone: start.zone, utcMs: wallEnd };
      const utcMs = wallEnd + rule.seconds * 1000;
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
    if (isCancelled(entry.comp)) {
      this.cancelledIds.add(id);
      return;
    }
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
    this.checkEventCount(1);
    try {
      this.inputs.push({ input: this.toInput(entry.comp, id, timing), record: entry.record });
      this.produced.add(id);
    } catch (error) {
      this.problem(entry, error, id);
      this.hold(id);
    }
  }

  expandSeries(uid: string, master: Entry, exceptionEntries: Entry[]): void {
    if (isCancelled(master.comp)) {
      // The whole series is cancelled: nothing of it is desired.
      this.cancelledSeries.add(uid);
      return;
    }
    const { fromMs, toMs } = this.options.horizon;
    const budget = this.budget;
    let start: ReturnType<Parser['readTime']>;
    let periodEnds: Map<string, Point>;
    try {
      budget.beginSeries();
      start = this.readTime(master.comp, 'dtstart');
      for (const name of ['exdate', 'rdate']) for (const prop of master.comp.getAllProperties(name)) checkRawTimes(prop, name.toUpperCase());
      checkRules(master.comp);
      periodEnds = this.normalizeRdates(master.comp, uid, start);
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
    const { overrides, slackMs } = this.relateOverrides(uid, event, exceptionEntries);
    const byComponent = new Map([...overrides.values()].map((entry) => [entry.comp, entry]));

    const impossible = impossibleRule(master.comp);
    if (impossible) {
      this.error(master.line, master.record, 'RRULE', `never produces an occurrence: ${impossible}`, uid);
      return;
    }

    let produced = 0;
    const collected = new Map<string, { entry: Entry; timing: ItemTiming }>();
    const heldHere: string[] = [];
    const consumed = new Set<string>();
    const filter = ruleFilter(master.comp, start.time);
    const inCycle = monthByMonth(master.comp, start.time);
    let inWindow = 0;
    let overflow = false;
    try {
      alignToStart(master.comp, start.time, start.tzid === null ? this.floatingZone : null);
      const skipTo = this.options.expandFromStart ? null : fastForward(master.comp, start.time, fromMs - slackMs);
      const expansion = event.iterator(skipTo ?? undefined);
      for (const occurrence of occurrencesOf(expansion, master.comp, start.time)) {
        budget.occurrence();
        if (++produced > MAX_EXPANSION) {
          throw new IcsProblem('RRULE', `the series has more than ${MAX_EXPANSION} occurrences before the end of the horizon (it starts too long before it or recurs too often)`);
        }
        if (occurrence.year > 9999) break;
        // No zone is more than 14 hours from UTC: most occurrences before the window are skipped unresolved.
        const naive = localMs(occurrence);
        if (naive + 15 * 3_600_000 < fromMs - slackMs) continue;
        const original = this.point(occurrence, start.tzid, 'DTSTART');
        if (original.utcMs >= toMs + slackMs) break;
        if (original.utcMs < fromMs - slackMs) continue;
        if (!filter(occurrence) || !inCycle(occurrence)) continue;
        budget.earned();
        const id = `${uid}@${basicForm(original)}`;
        if (++inWindow > MAX_OCCURRENCES_PER_SERIES) {
          overflow = true;
          break;
        }
        this.checkEventCount(collected.size);
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
        // Only a RANGE=THISANDFUTURE override can claim an occurrence that has no override of its own.
        const item = event.rangeExceptions.length ? event.getOccurrenceDetails(occurrence).item : null;
        const exception = item && item !== event && item.modifiesFuture() ? byComponent.get(item.component) : undefined;
        if (exception) {
          // Inside the range of a RANGE=THISANDFUTURE override: its content, its shift of the times.
          if (isCancelled(exception.comp)) {
            this.cancelledIds.add(id);
            continue;
          }
          const rangeStart = exception.comp.getFirstProperty('dtstart');
          const tzid = rangeStart ? tzidOf(rangeStart) : null;
          const timing = this.timingAt(exception, event.getOccurrenceDetails(occurrence).startDate, tzid, id);
          if (timing && this.inHorizon(timing.start)) collected.set(id, { entry: exception, timing });
          continue;
        }
        const periodEnd = periodEnds.get(id);
        const timing = periodEnd ? { start: original, end: periodEnd } : this.timingFrom(master, rule, occurrence, start.tzid, original, id);
        if (timing && this.inHorizon(timing.start)) collected.set(id, { entry: master, timing });
      }
    } catch (error) {
      if (error instanceof IcsLimitExceeded) throw error;
      this.error(master.line, master.record, 'RRULE', `cannot be expanded: ${budget.explain(error)}`, uid);
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
    this.checkEventCount(collected.size);

    const ordered = [...collected.entries()].sort(([a, x], [b, y]) => x.timing.start.utcMs - y.timing.start.utcMs || (a < b ? -1 : a > b ? 1 : 0));
    for (const [id, { entry, timing }] of ordered) this.emit(entry, id, timing);
  }

  /**
   * Relates the series' overrides (RECURRENCE-ID) to it, one per occurrence (the highest SEQUENCE wins). `slackMs`
   * is how far a RANGE=THISANDFUTURE override moves its occurrences: the window is widened by it.
   */
  relateOverrides(uid: string, event: ICAL.Event, exceptionEntries: Entry[]): { overrides: Map<string, Entry>; slackMs: number } {
    const overrides = new Map<string, Entry>();
    const candidates = new Map<string, Entry[]>();
    let slackMs = 0;
    for (const exception of exceptionEntries) {
      try {
        const rid = this.readTime(exception.comp, 'recurrence-id');
        const id = `${uid}@${basicForm(rid.point)}`;
        const list = candidates.get(id) ?? [];
        list.push(exception);
        candidates.set(id, list);
      } catch (error) {
        this.problem(exception, error, uid);
        this.heldSeries.add(uid);
      }
    }
    for (const [id, entries] of candidates) {
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
    return { overrides, slackMs };
  }

  /**
   * RDATE values in the form ical.js expands (RFC 5545 3.8.5.2), changing the component: a PERIOD becomes its
   * start, and the end it gives that instance is returned by occurrence id; a DATE in a DATE-TIME series takes
   * DTSTART's time of day (and zone), a DATE-TIME in a DATE series its date, so that every occurrence has the
   * series' value type. ical.js itself would hand PERIOD values to the expansion as if they were times.
   */
  normalizeRdates(comp: Component, uid: string, start: { time: Time; tzid: string | null }): Map<string, Point> {
    const ends = new Map<string, Point>();
    for (const prop of comp.getAllProperties('rdate')) {
      const tzid = tzidOf(prop);
      const type = prop.type;
      if (type === 'date-time' && !start.time.isDate) continue;
      if (type === 'date' && start.time.isDate) continue;
      const times: Time[] = [];
      for (const value of prop.getValues()) {
        const time = value instanceof ICAL.Period ? value.start : value;
        if (!(time instanceof ICAL.Time)) throw new IcsProblem('RDATE', 'is not a date, date-time or period');
        const converted = start.time.isDate
          ? ICAL.Time.fromData({ year: time.year, month: time.month, day: time.day, isDate: true })
          : time.isDate
            ? ICAL.Time.fromData({ year: time.year, month: time.month, day: time.day, hour: start.time.hour, minute: start.time.minute, second: start.time.second }, start.time.zone)
            : time;
        times.push(converted);
        if (value instanceof ICAL.Period && !start.time.isDate) ends.set(`${uid}@${basicForm(this.point(converted, tzid, 'RDATE'))}`, this.periodEnd(value, tzid));
      }
      comp.removeProperty(prop);
      const replacement = new ICAL.Property('rdate', comp);
      if (start.time.isDate) replacement.resetType('date');
      const zoneId = !start.time.isDate && times.some((time) => time.zone !== ICAL.Timezone.utcTimezone) ? (type === 'date' ? start.tzid : tzid) : null;
      if (zoneId) replacement.setParameter('tzid', zoneId);
      replacement.setValues(times);
      comp.addProperty(replacement);
    }
    return ends;
  }

  /** The end a PERIOD value gives its instance: its own end, or its start plus its duration. */
  periodEnd(period: ICAL.Period, tzid: string | null): Point {
    if (period.end) {
      const begin = this.point(period.start, tzid, 'RDATE');
      const end = this.point(period.end, tzid, 'RDATE');
      if (end.utcMs < begin.utcMs || end.utcMs - begin.utcMs > MAX_EVENT_DAYS * 86_400_000) {
        throw new IcsProblem('RDATE', `a PERIOD must end after it starts and last at most ${MAX_EVENT_DAYS} days`);
      }
      return end;
    }
    const duration = period.duration;
    const seconds = duration ? duration.toSeconds() : Number.NaN;
    if (!duration || duration.isNegative || !Number.isFinite(seconds) || seconds < 0 || seconds > MAX_EVENT_DAYS * 86_400) {
      throw new IcsProblem('RDATE', `a PERIOD's duration must be between 0 and ${MAX_EVENT_DAYS} days`);
    }
    const begin = this.point(period.start, tzid, 'RDATE');
    const utcMs = begin.utcMs + seconds * 1000;
    return begin.allDay ? begin : { allDay: false, local: utcMsToZoned(utcMs, begin.zone), zone: begin.zone, utcMs };
  }

  /** Refuses the whole file once it yields more events than maxEvents (`pending` are collected, not yet emitted). */
  checkEventCount(pending: number): void {
    if (this.inputs.length + pending > this.maxEvents) {
      throw new IcsLimitExceeded({ limit: 'events', message: `has more than ${this.maxEvents} events (single events and occurrences of recurring series in the horizon)` });
    }
  }

  collectOverride(override: Entry, id: string, collected: Map<string, { entry: Entry; timing: ItemTiming }>): void {
    if (isCancelled(override.comp)) {
      this.cancelledIds.add(id);
      return;
    }
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
    const content = this.contentOf(comp);
    const input: Record<string, unknown> = { calendar: this.options.calendar, id, subject: content.subject, body: content.body };
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
    input.location = content.location;
    input.categories = [...content.categories];
    input.showAs = content.showAs;
    input.sensitivity = content.sensitivity;
    input.reminderMinutes = content.reminderMinutes;
    return input;
  }

  /** What a component says besides its times; read once per component, not once per occurrence of a series. */
  contentOf(comp: Component): Content {
    let content = this.contents.get(comp);
    if (!content) {
      // Apple writes structured locations as "name\naddress"; Outlook shows a location on one line.
      const location = textOf(comp, 'location');
      const oneLine = location === null ? null : joinLines(location).trim();
      content = {
        // Outlook subjects are one line; SUMMARY values occasionally carry an escaped line break.
        subject: clip((textOf(comp, 'summary') ?? '').replace(/\r?\n/g, ' '), MAX_SUBJECT),
        body: bodyOf(comp),
        location: oneLine ? clip(oneLine, MAX_LOCATION) : null,
        categories: categoriesOf(comp),
        showAs: showAsOf(comp),
        sensitivity: sensitivityOf(comp),
        reminderMinutes: reminderOf(comp),
      };
      this.contents.set(comp, content);
    }
    return content;
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
      cancelledIds: [...this.cancelledIds].filter((id) => !this.produced.has(id)),
      cancelledSeries: [...this.cancelledSeries],
    };
  }

  /** The whole file is refused: none of what was read so far may be used. */
  refused(refusal: IcsRefusal): IcsParseResult {
    return refusedResult(this.options, refusal);
  }
}

/** A result that refuses the whole file (nothing of it is used), as parseIcs and the parse pool give one. */
export function refusedResult(options: Pick<IcsOptions, 'origin'>, refusal: IcsRefusal): IcsParseResult {
  const origin = options.origin ? `${options.origin}: ` : '';
  return {
    inputs: [],
    errors: [{ record: '(file)', field: '(file)', message: `${origin}${refusal.message}` }],
    heldIds: [],
    heldSeries: [],
    cancelledIds: [],
    cancelledSeries: [],
    refusal,
  };
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

/**
 * The lines of a text joined with ", ", without the blanks around each line break. A loop, not the regular
 * expression /[ \t]*\r?\n[ \t]*\/g: that one tries every position of a run of blanks and scans the whole run from
 * each, which is quadratic (200 KB of spaces in a LOCATION held the event loop for 40 seconds).
 */
export function joinLines(text: string): string {
  return text
    .split('\n')
    .map((line) => trimBlanks(line.endsWith('\r') ? line.slice(0, -1) : line))
    .join(', ');
}

/** Without the spaces and tabs at either end. */
function trimBlanks(text: string): string {
  let from = 0;
  let to = text.length;
  while (from < to && (text.charCodeAt(from) === 0x20 || text.charCodeAt(from) === 0x09)) from++;
  while (to > from && (text.charCodeAt(to - 1) === 0x20 || text.charCodeAt(to - 1) === 0x09)) to--;
  return text.slice(from, to);
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

/** The wall-clock time of an ical.js Time as if it were UTC, in ms. */
function localMs(time: Time): number {
  return utcFields(time.year, time.month, time.day, time.hour, time.minute, time.second);
}

/** Date.UTC, also for the years 0–99 (which Date.UTC reads as 1900–1999). */
function utcFields(year: number, month: number, day: number, hour = 0, minute = 0, second = 0): number {
  if (year >= 100) return Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second);
  return date.getTime();
}

function sameZoneKey(time: Time, tzid: string | null): string {
  if (time.zone === ICAL.Timezone.utcTimezone) return 'Z';
  return tzid === null ? 'floating' : `TZID=${tzid}`;
}

/**
 * What the recurrence rules of one file may cost. Every step of ical.js's rule iterator (the patch below) is reported
 * to the budget of the parse running on this thread — parsing is synchronous, so there is one at a time; VTIMEZONE
 * rules count too, since ical.js expands them as it reads times. A rule that never matches (FREQ=DAILY;BYMONTH=2;
 * BYMONTHDAY=30, which ical.js would search forever, or a yearly rule it searches up to the year 20000) stops after
 * MAX_RULE_STEPS steps without an occurrence; a file stops expanding once its rules took FILE_EXPANSION_BUDGET steps
 * more than their occurrences in the horizon paid back. Those occurrences are bounded by maxEvents.
 */
class ExpansionBudget {
  private spent = 0;
  private sinceOccurrence = 0;
  private exhausted: 'rule' | 'file' | null = null;

  /** For the whole parse: VTIMEZONE rules are expanded by ical.js too, whenever a time in their zone is read. */
  activate(): void {
    activeBudget = this;
  }

  deactivate(): void {
    if (activeBudget === this) activeBudget = null;
  }

  /** A series is about to be expanded: refused at once when the file's budget is spent. */
  beginSeries(): void {
    this.sinceOccurrence = 0;
    this.exhausted = null;
    if (this.spent > FILE_EXPANSION_BUDGET) this.stop('file');
  }

  step(): void {
    if (++this.sinceOccurrence > MAX_RULE_STEPS) this.stop('rule');
    if (++this.spent > FILE_EXPANSION_BUDGET) this.stop('file');
  }

  /** An occurrence came out of the expansion (counted also for RDATEs, which take no rule steps). */
  occurrence(): void {
    this.sinceOccurrence = 0;
    if (++this.spent > FILE_EXPANSION_BUDGET) this.stop('file');
  }

  /** The occurrence lands in the horizon: it pays back about what a plain weekly or monthly rule spends on one. */
  earned(): void {
    this.spent -= OCCURRENCE_REFUND;
  }

  /** The message for an error thrown while expanding. */
  explain(error: unknown): string {
    if (this.exhausted === 'rule') return `ical.js took ${MAX_RULE_STEPS} steps without finding the rule's next occurrence (it may never match)`;
    if (this.exhausted === 'file') return FILE_BUDGET_SPENT;
    return error instanceof IcsProblem ? error.message : messageOf(error);
  }

  private stop(why: 'rule' | 'file'): never {
    this.exhausted = why;
    throw new IcsProblem('RRULE', why === 'rule' ? `ical.js took ${MAX_RULE_STEPS} steps without finding a recurrence rule's next occurrence (it may never match)` : FILE_BUDGET_SPENT);
  }
}

const FILE_BUDGET_SPENT = `the file's recurrence rules took more than ${FILE_EXPANSION_BUDGET} steps of expansion beyond what their occurrences in the horizon pay for (rules that start long before it, recur every second or minute, or rarely or never match); the rest of its series are not expanded`;

let activeBudget: ExpansionBudget | null = null;

// The patch: every call of a method of ical.js's rule iterator is a step. Steps cost 0.5–3 µs each whatever the rule
// (a candidate of FREQ=HOURLY takes a few, a month of FREQ=MONTHLY;BYSETPOS=-1 a few hundred), which makes them a
// fair measure of work; the wrapper adds ~2 % to an expansion. Outside a parse (activeBudget null) nothing changes.
const iteratorPrototype = (ICAL as unknown as { RecurIterator: { prototype: Record<string, unknown> } }).RecurIterator.prototype;
for (const name of Object.getOwnPropertyNames(iteratorPrototype)) {
  const original = iteratorPrototype[name];
  if (name === 'constructor' || typeof original !== 'function') continue;
  iteratorPrototype[name] = function counted(this: unknown) {
    activeBudget?.step();
    // eslint-disable-next-line prefer-rest-params -- `arguments` avoids allocating an array per call on this hot path
    return (original as (...args: unknown[]) => unknown).apply(this, arguments as unknown as unknown[]);
  };
}

/**
 * A later start for the rule iterator of a series that began long before the horizon: DTSTART moved forward by
 * whole periods of the rule, so that ical.js does not step through years of occurrences that are all discarded.
 * Whole periods keep every occurrence where it was for days and weeks (and, for the sub-daily frequencies, whole
 * days of wall-clock time, which is how ical.js steps them). Months and years mostly not: ical.js lays out BYMONTH,
 * BYDAY and BYMONTHDAY relative to DTSTART and misses matches of the first period (FREQ=MONTHLY;BYMONTH=12 from
 * January 1995 gives December 1996 first), so a moved start would move occurrences; a month or year costs ~25
 * steps, which its occurrence pays back (see monthlyFastForward for the exception). The property test in
 * test/sources/ics-completeness.test.ts compares every frequency with and without the skip. Not with COUNT (occurrences are counted from DTSTART), BYSETPOS, several rules or RDATE. The
 * moved start is an instance for ical.js even where the rule does not match it; it lies days before the window,
 * where it is discarded with the rest.
 */
function fastForward(comp: Component, dtstart: Time, fromMs: number): Time | null {
  const rules = comp.getAllProperties('rrule');
  if (rules.length !== 1 || comp.hasProperty('rdate')) return null;
  const recur = rules[0]!.getFirstValue();
  if (!(recur instanceof ICAL.Recur) || recur.count || (recur.parts as Record<string, unknown>).BYSETPOS) return null;
  if (recur.freq === 'MONTHLY') return monthlyFastForward(recur, dtstart, fromMs);
  if (!['SECONDLY', 'MINUTELY', 'HOURLY', 'DAILY', 'WEEKLY'].includes(recur.freq)) return null;
  // Three days of margin: no zone is a day from UTC, and the moved start must stay out of the window.
  const target = fromMs - 3 * 86_400_000;
  const periodDays = (recur.freq === 'WEEKLY' ? 7 : 1) * Math.max(1, recur.interval || 1);
  const periods = Math.floor((target - localMs(dtstart)) / (periodDays * 86_400_000));
  if (periods < 1) return null;
  const moved = new Date(utcFields(dtstart.year, dtstart.month, dtstart.day) + periods * periodDays * 86_400_000);
  const { hour, minute, second, isDate } = dtstart;
  return ICAL.Time.fromData({ year: moved.getUTCFullYear(), month: moved.getUTCMonth() + 1, day: moved.getUTCDate(), hour, minute, second, isDate }, dtstart.zone);
}

/**
 * The skip ahead for the one monthly shape that costs much per occurrence: weekdays of the month ("second
 * Wednesday", "last Friday": ~100 steps each, so a monthly meeting since 2015 would spend 11,000). Only BYDAY
 * (no BYMONTH, BYMONTHDAY or BYSETPOS, whose layout ical.js ties to DTSTART), by whole years, from a day every month
 * has, to a start two years before the horizon: ical.js misses matches in the first year of some rules.
 */
function monthlyFastForward(recur: ICAL.Recur, dtstart: Time, fromMs: number): Time | null {
  const parts = recur.parts as Record<string, unknown>;
  if (!parts.BYDAY || Object.keys(parts).some((part) => part !== 'BYDAY') || dtstart.day > 28) return null;
  const interval = Math.max(1, recur.interval || 1);
  const yearsPerStep = interval / gcd(interval, 12);
  const steps = Math.floor((new Date(fromMs).getUTCFullYear() - 2 - dtstart.year) / yearsPerStep);
  if (steps < 1) return null;
  const { month, day, hour, minute, second, isDate } = dtstart;
  return ICAL.Time.fromData({ year: dtstart.year + steps * yearsPerStep, month, day, hour, minute, second, isDate }, dtstart.zone);
}

/**
 * ical.js starts a monthly rule with a fifth (or fifth-last) weekday ("BYDAY=5FR") one month after DTSTART's when
 * DTSTART's month has no such day, whatever INTERVAL says, and every later occurrence keeps that shifted phase:
 * FREQ=MONTHLY;INTERVAL=3;BYDAY=5MO,5FR from 1 September 2004 gives October, January, April, July instead of
 * RFC 5545's September, December, March, June (§3.3.10: INTERVAL counts periods from DTSTART). Its month-by-month
 * step is right, so such rules are expanded with INTERVAL=1 and only the months of the rule's cycle are kept.
 * Not with COUNT, which ical.js counts. Returns the filter of the cycle's months (everything passes otherwise).
 */
function monthByMonth(comp: Component, dtstart: Time): (occurrence: Time) => boolean {
  const rules = comp.getAllProperties('rrule');
  const recur = rules.length === 1 ? rules[0]!.getFirstValue() : null;
  if (!(recur instanceof ICAL.Recur) || recur.freq !== 'MONTHLY' || recur.count || (recur.interval || 1) <= 1) return () => true;
  const days = (recur.parts as Record<string, unknown>).BYDAY;
  if (!Array.isArray(days) || !days.some((day) => /^[+-]?5/.test(String(day)))) return () => true;
  const interval = recur.interval;
  recur.interval = 1;
  const firstMonth = dtstart.year * 12 + dtstart.month;
  return (occurrence) => (occurrence.year * 12 + occurrence.month - firstMonth) % interval === 0;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Rules ical.js would step through at absurd cost are refused before it starts. */
function checkRules(comp: Component): void {
  for (const prop of comp.getAllProperties('rrule')) {
    const recur = prop.getFirstValue();
    if (!(recur instanceof ICAL.Recur)) continue;
    // (BYxxx lists need no limit: ical.js keeps each value once, and each part has a few hundred at most.)
    if ((recur.interval || 1) > MAX_INTERVAL) throw new IcsProblem('RRULE', `INTERVAL=${recur.interval} is more than ${MAX_INTERVAL}`);
  }
}

/**
 * RFC 7529 (RSCALE) features in a rule: ical.js ignores RSCALE and SKIP and reads a leap month ("BYMONTH=5L") as
 * the plain month, so a Chinese-calendar yearly series would land on a Gregorian date. Read from the raw lines,
 * because ical.js drops the "L" while parsing. Null when the rule is plain Gregorian.
 */
function rscaleProblem(block: Block): string | null {
  const named = () => {
    const uid = rawUid(block);
    return uid ? `series UID=${truncate(uid, 120)}` : 'the series';
  };
  for (const line of block.lines) {
    const first = line.text.charCodeAt(0) | 0x20;
    if (first !== 0x72 && first !== 0x65) continue; // RRULE, EXRULE
    const name = lineName(line.text);
    if (name !== 'RRULE' && name !== 'EXRULE') continue;
    for (const part of lineValue(line.text).split(';')) {
      const equals = part.indexOf('=');
      const key = part.slice(0, equals).trim().toUpperCase();
      const value = part.slice(equals + 1).trim().toUpperCase();

      if (key === 'RSCALE' && value !== 'GREGORIAN') {
        return `${named()} uses RSCALE=${truncate(value, 40)} (RFC 7529); calpush expands Gregorian rules only, so the series is not delivered and what was delivered for it stays`;
      }
      if (key === 'SKIP' && value !== 'OMIT') {
        return `${named()} uses SKIP=${truncate(value, 40)} (RFC 7529), which calpush does not expand; the series is not delivered and what was delivered for it stays`;
      }
      if (key === 'BYMONTH' && value.includes('L')) {
        return `${named()} names a leap month (BYMONTH=${truncate(value, 40)}, RFC 7529), which the Gregorian calendar does not have; the series is not delivered and what was delivered for it stays`;
      }
    }
  }
  return null;
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
  if (moreEventsThan(text, parser.maxEvents)) return parser.refused(tooManyVevents(parser.maxEvents));
  parser.budget.activate();
  try {
    const lines = typeof text === 'string' ? logicalLines(text.startsWith('\uFEFF') ? text.slice(1) : text) : linesFromBytes(text);
    parser.run(lines);
  } catch (error) {
    if (error instanceof IcsLimitExceeded) return parser.refused(error.refusal);
    parser.fileError(`cannot be read: ${messageOf(error)}`);
  } finally {
    parser.budget.deactivate();
  }
  return parser.result();
}
