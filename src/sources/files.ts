// Input files: JSON (an array or {"events": [...]}), NDJSON, and iCalendar (.ics, one calendar per file).
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { eventKey } from '../model/event.ts';
import { parseIcs } from './ics.ts';
import { collectEvents, parseJsonRecords, type ParsedInput, type RawRecord, type RecordError } from './records.ts';

export interface ReadInputOptions {
  /** Mailbox for .ics files; otherwise the file must be named <address>.ics. */
  icsCalendar?: string;
  /** IANA zone for floating .ics times. */
  timeZone: string;
  /** Recurring .ics series are expanded within this window. */
  horizon: { fromMs: number; toMs: number };
}

export type InputFormat = 'json' | 'ics';

export function inputFormat(path: string): InputFormat {
  return extname(path).toLowerCase() === '.ics' ? 'ics' : 'json';
}

/** Reads every input and validates every record; problems are collected, never thrown. */
export interface InputRead extends ParsedInput {
  records: number;
  /** Problems with whole files (unreadable, not JSON): the desired state they carry is unknown. */
  fileErrors: RecordError[];
}

export function readInputs(paths: string[], options: ReadInputOptions, readBytes: (path: string) => Buffer = (p) => readFileSync(p === '-' ? 0 : p)): InputRead {
  const raw: RawRecord[] = [];
  const errors: RecordError[] = [];
  const heldFromIcs: ParsedInput['held'] = [];
  for (const path of paths) {
    const origin = path === '-' ? 'stdin' : basename(path);
    let bytes: Buffer;
    try {
      bytes = readBytes(path);
    } catch (error) {
      errors.push({ record: origin, field: '(file)', message: `cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
      continue;
    }
    if (inputFormat(path) === 'ics') {
      const calendar = options.icsCalendar ?? (/^[^\s@]+@[^\s@]+\.ics$/i.test(origin) ? origin.slice(0, -4) : undefined);
      if (!calendar) {
        errors.push({ record: origin, field: '(file)', message: 'needs a calendar: pass --calendar <mailbox> or name the file <mailbox address>.ics' });
        continue;
      }
      // Bytes, not text: exporters fold lines inside multi-byte UTF-8 characters (RFC 5545 folds octets).
      const result = parseIcs(bytes, { calendar, defaultTimeZone: options.timeZone, horizon: options.horizon, origin });
      for (const { input, record } of result.inputs) raw.push({ record, value: input });
      for (const error of result.errors) errors.push({ record: error.record, field: error.field, message: error.message, ...(error.id ? { id: error.id } : {}), calendar: calendar.toLowerCase() });
      const normalizedCalendar = calendar.trim().toLowerCase();
      for (const id of result.heldIds) heldFromIcs.push({ calendar: normalizedCalendar, key: eventKey(normalizedCalendar, id) });
      for (const uid of result.heldSeries) heldFromIcs.push({ calendar: normalizedCalendar, idPrefix: `${uid}@` });
      // A feed that could not be read to its end says nothing reliable about what is gone: delete nothing there.
      if (result.errors.some((e) => e.field === '(file)')) heldFromIcs.push({ calendar: normalizedCalendar, everything: true });
      continue;
    }
    const parsed = parseJsonRecords(bytes.toString('utf8'), origin);
    raw.push(...parsed.records);
    errors.push(...parsed.errors);
  }
  const collected = collectEvents(raw);
  return {
    events: collected.events,
    errors: [...errors, ...collected.errors],
    held: [...collected.held, ...heldFromIcs],
    records: raw.length,
    fileErrors: errors.filter((e) => e.field === '(file)' && !e.calendar),
  };
}
