// Input files read as a stream of records, so that a million-event resync never sits in memory at once.
// NDJSON is read line by line on this thread (JSON.parse is linear and a line costs only its own bytes; a line longer
// than MAX_LINE_BYTES is refused without being held). A JSON document ([...] or {"events": [...]}) is read whole
// and then yielded record by record. An .ics file is parsed in a worker thread under limits (parse-pool.ts): over
// one, the file is refused as a whole and nothing changes for it.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { eventKey } from '../model/event.ts';
import type { IcsParseResult } from './ics.ts';
import { DEFAULT_PARSE_LIMITS, ParsePool, type ParseLimits } from './parse-pool.ts';
import type { HeldEvent } from '../model/rows.ts';
import { parseJsonRecords, type RawRecord, type RecordError } from './records.ts';

const MiB = 1024 * 1024;
/** One NDJSON line (one event): an event's body may be up to a million characters, escaped. */
export const MAX_LINE_BYTES = 16 * MiB;
/** A JSON document is read whole into one string; V8 cannot hold a longer one (~512 M UTF-16 units). */
const MAX_DOCUMENT_BYTES = 512 * MiB;

export interface StreamInputOptions {
  /** Mailbox for .ics files; otherwise the file must be named <address>.ics. */
  icsCalendar?: string;
  /** IANA zone for floating .ics times. */
  timeZone: string;
  /** Recurring .ics series are expanded within this window. */
  horizon: { fromMs: number; toMs: number };
  /** Limits for each .ics file (config `limits.ics…`); default DEFAULT_PARSE_LIMITS. */
  icsLimits?: ParseLimits;
  /**
   * Told of each event an .ics file marks STATUS:CANCELLED (`series`: the whole UID, its occurrences included). A
   * complete-state reader (sync) needs nothing: a cancelled event is simply not in the input. An upsert (import)
   * removes them.
   */
  onCancelled?: (cancelled: Cancellation) => void;
}

/** An event an .ics file marks cancelled: `id`, or with `series` also every occurrence id `id@…`. */
export interface Cancellation {
  calendar: string;
  id: string;
  series: boolean;
  /** File and record, for reports. */
  record: string;
}

export type InputItem =
  | { kind: 'record'; record: RawRecord }
  /** A problem with a record or a whole file. `fileLevel` problems leave the file's desired state unknown. */
  | { kind: 'error'; error: RecordError; fileLevel: boolean }
  | { kind: 'held'; held: HeldEvent };

const isIcs = (path: string) => extname(path).toLowerCase() === '.ics';

/** Whether the text is one JSON document rather than NDJSON: decided by its first non-blank character. */
async function firstCharacter(path: string): Promise<string> {
  const stream = createReadStream(path, { start: 0, end: 4095, encoding: 'utf8' });
  let head = '';
  for await (const chunk of stream) head += chunk as string;
  return head.trimStart().charAt(0);
}

/** A problem with the file as a whole: nothing is changed for it. */
const fileError = (record: string, message: string): InputItem => ({ kind: 'error', error: { record, field: '(file)', message }, fileLevel: true });

export async function* readInputItems(paths: string[], options: StreamInputOptions): AsyncGenerator<InputItem> {
  for (const path of paths) {
    const origin = path === '-' ? 'stdin' : basename(path);
    try {
      if (path !== '-' && isIcs(path)) {
        yield* icsItems(path, origin, options);
        continue;
      }
      const documentLike = path !== '-' && (await firstCharacter(path)) === '[';
      if (path === '-' || documentLike) {
        // stdin and JSON arrays: read whole (stdin may be either form, so it is parsed like a file's text).
        if (path !== '-' && statSync(path).size > MAX_DOCUMENT_BYTES) {
          yield fileError(origin, `is a JSON document of more than ${MAX_DOCUMENT_BYTES / MiB} MB, which cannot be read whole; write it as NDJSON (one event per line), which is read line by line`);
          continue;
        }
        const text = readFileSync(path === '-' ? 0 : path, 'utf8');
        const parsed = parseJsonRecords(text, origin);
        for (const error of parsed.errors) yield { kind: 'error', error, fileLevel: error.field === '(file)' || error.field === 'events' };
        for (const record of parsed.records) yield { kind: 'record', record };
        continue;
      }
      yield* ndjsonItems(path, origin);
    } catch (error) {
      yield fileError(origin, `cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
}

export type FileLine = { number: number; text: string } | { number: number; tooLong: true };

/**
 * The lines of a file as they arrive, split on CRLF, LF or CR (as readline splits them), each at most maxBytes: a
 * longer line is dropped while it streams past and reported as `tooLong`, so that a file without line breaks cannot
 * fill memory. Yields the lines of each chunk read (64 KB) together: one await per chunk, not per line.
 */
export async function* fileLines(path: string, maxBytes: number): AsyncGenerator<FileLine[]> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping = false;
  let number = 0;
  let afterCr = false;
  let batch: FileLine[] = [];
  const finish = (piece: Buffer) => {
    number++;
    if (skipping || pendingBytes + piece.length > maxBytes) batch.push({ number, tooLong: true });
    else batch.push({ number, text: (pending.length ? Buffer.concat([...pending, piece]) : piece).toString('utf8') });
    pending = [];
    pendingBytes = 0;
    skipping = false;
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
    let from = 0;
    // A CRLF split across two chunks is one line break.
    if (afterCr && chunk[0] === 0x0a) from = 1;
    afterCr = false;
    // The next CR and LF at or after `from` (-1: none left in this chunk), each searched again only once passed,
    // so that a chunk is scanned once however many lines it holds.
    let cr = chunk.indexOf(0x0d, from);
    let lf = chunk.indexOf(0x0a, from);
    while (from < chunk.length) {
      if (lf >= 0 && lf < from) lf = chunk.indexOf(0x0a, from);
      if (cr >= 0 && cr < from) cr = chunk.indexOf(0x0d, from);
      const end = lf < 0 ? chunk.length : lf;
      if (cr >= 0 && cr < end) {
        // A CR ends a line too (alone, or as the first half of CRLF).
        finish(chunk.subarray(from, cr));
        from = cr + 1;
        if (from === chunk.length) afterCr = true;
        else if (chunk[from] === 0x0a) from++;
        continue;
      }
      if (lf < 0) {
        const rest = chunk.subarray(from);
        if (!skipping) {
          pendingBytes += rest.length;
          if (pendingBytes > maxBytes) {
            skipping = true;
            pending = [];
          } else pending.push(rest);
        }
        break;
      }
      finish(chunk.subarray(from, lf));
      from = lf + 1;
    }
    if (batch.length) {
      yield batch;
      batch = [];
    }
  }
  if (pendingBytes > 0 || skipping) finish(Buffer.alloc(0));
  if (batch.length) yield batch;
}

async function* ndjsonItems(path: string, origin: string): AsyncGenerator<InputItem> {
  const state: NdjsonState = { firstLine: null, buffered: null, parsedLines: 0, firstProblem: null };
  for await (const batch of fileLines(path, MAX_LINE_BYTES)) {
    for (const line of batch) {
      const item = ndjsonLine(line, origin, state);
      if (item) yield item;
      if (item?.kind === 'error' && item.fileLevel) return;
    }
  }
  if (state.buffered) {
    const parsed = parseJsonRecords(state.buffered.join('\n'), origin);
    for (const error of parsed.errors) yield { kind: 'error', error, fileLevel: error.field === '(file)' || error.field === 'events' };
    for (const record of parsed.records) yield { kind: 'record', record };
    return;
  }
  // Not one line could be read: this is not a JSON or NDJSON file at all (an HTML error page, a binary file), and
  // what it says about the calendars cannot be known.
  if (state.parsedLines === 0 && state.firstProblem) yield fileError(origin, `is neither JSON nor NDJSON (one event per line): ${state.firstProblem}`);
}

interface NdjsonState {
  firstLine: string | null;
  /** The lines of a pretty-printed {"events": [...]} document, read whole at the end. */
  buffered: string[] | null;
  parsedLines: number;
  firstProblem: string | null;
}

/** One NDJSON line as an input item (null for a blank line or one collected into a document). */
function ndjsonLine(line: FileLine, origin: string, state: NdjsonState): InputItem | null {
  const record = `${origin} line ${line.number}`;
  if ('tooLong' in line) {
    if (state.buffered) return fileError(record, `is longer than ${MAX_LINE_BYTES / MiB} MB`);
    state.firstProblem ??= `line ${line.number} is longer than ${MAX_LINE_BYTES / MiB} MB`;
    return { kind: 'error', error: { record, field: '(record)', message: `is longer than ${MAX_LINE_BYTES / MiB} MB; one event per line is expected` }, fileLevel: false };
  }
  if (state.buffered) {
    state.buffered.push(line.text);
    return null;
  }
  const text = line.text.trim();
  if (!text) return null;
  if (state.firstLine === null && /^\{\s*("events"\s*:\s*\[?\s*)?$/.test(text)) {
    // A pretty-printed {"events": [...]} document (its first line opens it and says nothing else): collect it whole.
    state.buffered = [line.text];
    return null;
  }
  state.firstLine ??= text;
  try {
    const value: unknown = JSON.parse(text);
    state.parsedLines++;
    return { kind: 'record', record: { record, value } };
  } catch (error) {
    state.firstProblem ??= `line ${line.number} ${(error as Error).message}`;
    return { kind: 'error', error: { record, field: '(record)', message: `is not valid JSON: ${(error as Error).message}` }, fileLevel: false };
  }
}

/** One parse worker per byte limit, shared by every file this process reads (a worker is kept between files). */
const pools = new Map<number, ParsePool>();
function poolFor(maxBytes: number): ParsePool {
  let pool = pools.get(maxBytes);
  if (!pool) {
    pool = new ParsePool({ size: 1, maxBytes });
    pools.set(maxBytes, pool);
  }
  return pool;
}

/** How to raise each limit, for the refusal message. */
const RAISE: Record<NonNullable<IcsParseResult['refusal']>['limit'], string> = {
  bytes: 'limits.icsMaxBytes in the config',
  events: 'limits.icsMaxEvents in the config',
  time: 'limits.icsParseTimeoutSeconds in the config',
  memory: 'limits.icsMaxBytes in the config (the parser may use memory in proportion to it)',
};

async function* icsItems(path: string, origin: string, options: StreamInputOptions): AsyncGenerator<InputItem> {
  const calendar = options.icsCalendar ?? (/^[^\s@]+@[^\s@]+\.ics$/i.test(origin) ? origin.slice(0, -4) : undefined);
  if (!calendar) {
    yield fileError(origin, 'needs a calendar: pass --calendar <mailbox> or name the file <mailbox address>.ics');
    return;
  }
  const normalizedCalendar = calendar.trim().toLowerCase();
  const limits = options.icsLimits ?? DEFAULT_PARSE_LIMITS;
  const size = statSync(path).size;
  if (size > limits.maxBytes) {
    yield fileError(origin, `is ${size} bytes, more than the limit of ${limits.maxBytes} bytes; nothing was read from it (raise ${RAISE.bytes} if the file is genuine)`);
    return;
  }
  // Bytes, not text: exporters fold lines inside multi-byte UTF-8 characters (RFC 5545 folds octets).
  const result = await poolFor(limits.maxBytes).parse(readFileSync(path), { calendar, defaultTimeZone: options.timeZone, horizon: options.horizon, origin }, limits, undefined, true);
  if (result.refusal) {
    yield fileError(origin, `${result.refusal.message}; nothing was read from it (raise ${RAISE[result.refusal.limit]} if the file is genuine)`);
    return;
  }
  // A file that could not be read to its end (not iCalendar, truncated) says nothing reliable about what is gone:
  // it is refused, and nothing of it is used.
  const prefix = `${origin}: `;
  const fileErrors = result.errors.filter((e) => e.field === '(file)');
  for (const error of fileErrors) yield fileError(origin, error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message);
  if (fileErrors.length) return;
  for (const error of result.errors) {
    yield { kind: 'error', error: { record: error.record, field: error.field, message: error.message, ...(error.id ? { id: error.id } : {}), calendar: normalizedCalendar }, fileLevel: false };
  }
  for (const { input, record } of result.inputs) yield { kind: 'record', record: { record, value: input } };
  for (const id of result.heldIds) yield { kind: 'held', held: { calendar: normalizedCalendar, key: eventKey(normalizedCalendar, id) } };
  for (const uid of result.heldSeries) yield { kind: 'held', held: { calendar: normalizedCalendar, idPrefix: `${uid}@` } };
  if (options.onCancelled) {
    for (const id of result.cancelledIds) options.onCancelled({ calendar: normalizedCalendar, id, series: false, record: origin });
    for (const uid of result.cancelledSeries) options.onCancelled({ calendar: normalizedCalendar, id: uid, series: true, record: origin });
  }
}
