// Input files read as a stream of records, so that a million-event resync never sits in memory at once.
// NDJSON is read line by line; a JSON document ([...] or {"events": [...]}) and an .ics file are read whole
// (they cannot be split safely without a streaming parser) and then yielded record by record.
import { createReadStream, readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { createInterface } from 'node:readline';
import { eventKey } from '../model/event.ts';
import { parseIcs } from './ics.ts';
import type { HeldEvent } from '../model/rows.ts';
import { parseJsonRecords, type RawRecord, type RecordError } from './records.ts';

export interface StreamInputOptions {
  /** Mailbox for .ics files; otherwise the file must be named <address>.ics. */
  icsCalendar?: string;
  /** IANA zone for floating .ics times. */
  timeZone: string;
  /** Recurring .ics series are expanded within this window. */
  horizon: { fromMs: number; toMs: number };
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
        const text = readFileSync(path === '-' ? 0 : path, 'utf8');
        const parsed = parseJsonRecords(text, origin);
        for (const error of parsed.errors) yield { kind: 'error', error, fileLevel: error.field === '(file)' || error.field === 'events' };
        for (const record of parsed.records) yield { kind: 'record', record };
        continue;
      }
      yield* ndjsonItems(path, origin);
    } catch (error) {
      yield { kind: 'error', error: { record: origin, field: '(file)', message: `cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` }, fileLevel: true };
    }
  }
}

async function* ndjsonItems(path: string, origin: string): AsyncGenerator<InputItem> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let number = 0;
  let firstLine: string | null = null;
  let buffered: string[] | null = null;
  for await (const raw of lines) {
    number++;
    const line = raw.trim();
    if (buffered) {
      buffered.push(raw);
      continue;
    }
    if (!line) continue;
    if (firstLine === null && /^\{\s*("events"\s*:\s*\[?\s*)?$/.test(line)) {
      // A pretty-printed {"events": [...]} document (its first line opens it and says nothing else): collect it whole.
      buffered = [raw];
      continue;
    }
    firstLine ??= line;
    const record = `${origin} line ${number}`;
    try {
      yield { kind: 'record', record: { record, value: JSON.parse(line) } };
    } catch (error) {
      yield { kind: 'error', error: { record, field: '(record)', message: `is not valid JSON: ${(error as Error).message}` }, fileLevel: false };
    }
  }
  if (buffered) {
    const parsed = parseJsonRecords(buffered.join('\n'), origin);
    for (const error of parsed.errors) yield { kind: 'error', error, fileLevel: error.field === '(file)' || error.field === 'events' };
    for (const record of parsed.records) yield { kind: 'record', record };
  }
}

function* icsItems(path: string, origin: string, options: StreamInputOptions): Generator<InputItem> {
  const calendar = options.icsCalendar ?? (/^[^\s@]+@[^\s@]+\.ics$/i.test(origin) ? origin.slice(0, -4) : undefined);
  if (!calendar) {
    yield { kind: 'error', error: { record: origin, field: '(file)', message: 'needs a calendar: pass --calendar <mailbox> or name the file <mailbox address>.ics' }, fileLevel: true };
    return;
  }
  const normalizedCalendar = calendar.trim().toLowerCase();
  // Bytes, not text: exporters fold lines inside multi-byte UTF-8 characters (RFC 5545 folds octets).
  const result = parseIcs(readFileSync(path), { calendar, defaultTimeZone: options.timeZone, horizon: options.horizon, origin });
  for (const error of result.errors) {
    yield { kind: 'error', error: { record: error.record, field: error.field, message: error.message, ...(error.id ? { id: error.id } : {}), calendar: normalizedCalendar }, fileLevel: false };
  }
  for (const { input, record } of result.inputs) yield { kind: 'record', record: { record, value: input } };
  for (const id of result.heldIds) yield { kind: 'held', held: { calendar: normalizedCalendar, key: eventKey(normalizedCalendar, id) } };
  for (const uid of result.heldSeries) yield { kind: 'held', held: { calendar: normalizedCalendar, idPrefix: `${uid}@` } };
  // A feed that could not be read to its end says nothing reliable about what is gone: delete nothing there.
  if (result.errors.some((e) => e.field === '(file)')) yield { kind: 'held', held: { calendar: normalizedCalendar, everything: true } };
}
