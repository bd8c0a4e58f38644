// Turns a batch of raw input records (from JSON, NDJSON, .ics, the API) into desired events plus one clear error
// per offending record. Bad records never stop good ones; a record that names an event but is invalid "holds"
// that event: whatever was delivered for it stays as it is rather than being deleted as if the source dropped it.
import { eventKey, validateEvent, type DesiredEvent } from '../model/event.ts';

export interface RecordError {
  /** Where the record is: "events.ndjson line 12", "events.json record 3". */
  record: string;
  id?: string;
  calendar?: string;
  field: string;
  message: string;
}

/**
 * Delivered state that an input does not decide about and that must therefore stay as it is: one event (a bad
 * record named it), the occurrences of a recurring series (the series could not be expanded), or a whole
 * calendar (its feed could not be read).
 */
export type HeldEvent = { calendar: string; key: string } | { calendar: string; idPrefix: string } | { calendar: string; everything: true };

export interface ParsedInput {
  events: DesiredEvent[];
  errors: RecordError[];
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

/** Validates records, rejects every occurrence of a duplicated (calendar, id) and reports each problem once. */
export function collectEvents(records: Iterable<RawRecord>): ParsedInput {
  const errors: RecordError[] = [];
  const held = new Map<string, { calendar: string; key: string }>();
  const valid = new Map<string, { desired: DesiredEvent; record: string }>();
  const occurrences = new Map<string, string[]>();

  const hold = (calendar: string | undefined, id: string | undefined) => {
    if (!calendar || !id) return;
    const normalizedCalendar = calendar.trim().toLowerCase();
    const key = eventKey(normalizedCalendar, id);
    held.set(`${normalizedCalendar}\n${key}`, { calendar: normalizedCalendar, key });
  };

  for (const { record, value } of records) {
    const calendar = stringField(value, 'calendar');
    const id = stringField(value, 'id');
    const result = validateEvent(value);
    if (!result.ok) {
      for (const problem of result.problems) {
        errors.push({ record, id, calendar, field: problem.field, message: problem.message });
      }
      hold(calendar, id);
      continue;
    }
    const { desired } = result;
    const identity = `${desired.event.calendar}\n${desired.key}`;
    const seen = occurrences.get(identity);
    if (seen) seen.push(record);
    else occurrences.set(identity, [record]);
    valid.set(identity, { desired, record });
  }

  const events: DesiredEvent[] = [];
  for (const [identity, { desired }] of valid) {
    const places = occurrences.get(identity)!;
    if (places.length === 1) {
      events.push(desired);
      continue;
    }
    for (const place of places) {
      const others = places.filter((p) => p !== place).join(', ');
      errors.push({
        record: place,
        id: desired.event.id,
        calendar: desired.event.calendar,
        field: 'id',
        message: `duplicate id "${desired.event.id}" for ${desired.event.calendar} (also at ${others}); none of these records was applied`,
      });
    }
    hold(desired.event.calendar, desired.event.id);
  }
  return { events, errors, held: [...held.values()] };
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
