// Turns a batch of raw input records (from JSON, NDJSON, .ics, the API) into desired events plus one clear error
// per offending record. Bad records never stop good ones; a record that names an event but is invalid "holds"
// that event: whatever was delivered for it stays as it is rather than being deleted as if the source dropped it.
import { eventKey, validateEvent, type DesiredEvent } from '../model/event.ts';
import type { HeldEvent } from '../model/rows.ts';

export interface RecordError {
  /** Where the record is: "events.ndjson line 12", "events.json record 3". */
  record: string;
  id?: string;
  calendar?: string;
  field: string;
  message: string;
}

export interface ParsedInput {
  events: DesiredEvent[];
  errors: RecordError[];
  /** Valid records read differently from how they are written (they went through). */
  warnings: RecordWarning[];
  /** Events named by invalid records: their previous desired state is kept. */
  held: HeldEvent[];
}

export interface RawRecord {
  /** Where the record is, for error messages. */
  record: string;
  value: unknown;
}

function stringField(value: unknown, field: string): string | undefined {
  if (value && typeof value === 'object' && field in value) {
    const v = (value as Record<string, unknown>)[field];
    if (typeof v === 'string' && v.length > 0) return v;
  }
  return undefined;
}

/**
 * Something a valid record said that calpush read differently from how it is written (a local time that does not
 * exist, shifted forwards): reported like an error, but the record goes through.
 */
export type RecordWarning = RecordError;

export type RecordValidation = { ok: true; desired: DesiredEvent; warnings: RecordWarning[] } | { ok: false; errors: RecordError[]; held: HeldEvent | null };

/** Validates one record; a bad record that names its event holds that event. */
export function validateRecord(record: string, value: unknown): RecordValidation {
  const result = validateEvent(value);
  if (result.ok) {
    const { calendar, id } = result.desired.event;
    return { ok: true, desired: result.desired, warnings: result.warnings.map((w) => ({ record, id, calendar, field: w.field, message: w.message })) };
  }
  const calendar = stringField(value, 'calendar');
  const id = stringField(value, 'id');
  const errors = result.problems.map((problem) => ({ record, id, calendar, field: problem.field, message: problem.message }));
  if (!calendar || !id) return { ok: false, errors, held: null };
  const normalizedCalendar = calendar.trim().toLowerCase();
  return { ok: false, errors, held: { calendar: normalizedCalendar, key: eventKey(normalizedCalendar, id) } };
}

/** One error per occurrence of an id given more than once for a calendar, each naming the other places. */
export function duplicateErrors(duplicate: { calendar: string; sourceId: string; records: string[] }): RecordError[] {
  return duplicate.records.map((place) => ({
    record: place,
    id: duplicate.sourceId,
    calendar: duplicate.calendar,
    field: 'id',
    message: `duplicate id "${duplicate.sourceId}" for ${duplicate.calendar} (also at ${duplicate.records.filter((p) => p !== place).join(', ')}); none of these records was applied`,
  }));
}

/**
 * Validates a small in-memory batch of records (the store's DesiredImport does the same for streams): rejects
 * every occurrence of a duplicated (calendar, id) and reports each problem once.
 */
export function collectEvents(records: Iterable<RawRecord>): ParsedInput {
  const errors: RecordError[] = [];
  const warnings: RecordWarning[] = [];
  const held = new Map<string, HeldEvent>();
  const occurrences = new Map<string, { desired: DesiredEvent; records: string[] }>();
  for (const { record, value } of records) {
    const result = validateRecord(record, value);
    if (!result.ok) {
      errors.push(...result.errors);
      if (result.held && 'key' in result.held) held.set(`${result.held.calendar}\n${result.held.key}`, result.held);
      continue;
    }
    warnings.push(...result.warnings);
    const identity = `${result.desired.event.calendar}\n${result.desired.key}`;
    const seen = occurrences.get(identity);
    if (seen) seen.records.push(record);
    else occurrences.set(identity, { desired: result.desired, records: [record] });
  }
  const events: DesiredEvent[] = [];
  for (const [identity, { desired, records: places }] of occurrences) {
    if (places.length === 1) {
      events.push(desired);
      continue;
    }
    errors.push(...duplicateErrors({ calendar: desired.event.calendar, sourceId: desired.event.id, records: places }));
    held.set(identity, { calendar: desired.event.calendar, key: desired.key });
  }
  return { events, errors, warnings, held: [...held.values()] };
}

/**
 * Splits JSON (an array of records, or {"events": [...]}) or NDJSON text into raw records with their positions.
 * A text starting with "[" is one JSON document; a text starting with "{" is {"events": [...]} if it parses as
 * such, and NDJSON otherwise (a single-line NDJSON file is one record).
 */
export function parseJsonRecords(text: string, origin: string): { records: RawRecord[]; errors: RecordError[] } {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    let document: unknown;
    try {
      document = JSON.parse(text);
    } catch (error) {
      return { records: [], errors: [{ record: origin, field: '(file)', message: `is not valid JSON: ${(error as Error).message}` }] };
    }
    const list = document as unknown[];
    return { records: list.map((value, index) => ({ record: `${origin} record ${index + 1}`, value })), errors: [] };
  }
  if (trimmed.startsWith('{')) {
    try {
      const document = JSON.parse(text) as { events?: unknown };
      if (document && typeof document === 'object' && 'events' in document) {
        if (!Array.isArray(document.events)) {
          return { records: [], errors: [{ record: origin, field: 'events', message: 'must be an array of events' }] };
        }
        return { records: document.events.map((value, index) => ({ record: `${origin} record ${index + 1}`, value })), errors: [] };
      }
    } catch {
      // Not one document: NDJSON, read line by line below.
    }
  }
  const records: RawRecord[] = [];
  const errors: RecordError[] = [];
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (!line) continue;
    const record = `${origin} line ${index + 1}`;
    try {
      records.push({ record, value: JSON.parse(line) });
    } catch (error) {
      errors.push({ record, field: '(record)', message: `is not valid JSON: ${(error as Error).message}` });
    }
  }
  return { records, errors };
}

export function formatRecordError(error: RecordError): string {
  const who = [error.calendar, error.id ? `id "${error.id}"` : undefined].filter(Boolean).join(' ');
  return `${error.record}${who ? ` (${who})` : ''}: ${error.field} ${error.message}`;
}
