// The one canonical event that every source produces and every target consumes.
//
// A source declares an event under its own id in a calendar (a person's or room's mailbox address). calpush
// normalises it, hashes its content and derives a stable key from (calendar, id): the key is what the tag on the
// delivered item carries, the hash is what makes an unchanged event cost nothing downstream.
// crypto.hash: one call, no Hash object per digest (https://nodejs.org/api/crypto.html#cryptohashalgorithm-data-options).
import { hash } from 'node:crypto';
import { z } from 'zod';
import { canonicalTimeZone, existingLocalTime, normalizeLocalDate, normalizeLocalDateTime, zonedToUtcMs } from './time.ts';

export const SHOW_AS = ['free', 'tentative', 'busy', 'oof', 'workingElsewhere', 'unknown'] as const;
export const SENSITIVITY = ['normal', 'personal', 'private', 'confidential'] as const;
export type ShowAs = (typeof SHOW_AS)[number];
export type Sensitivity = (typeof SENSITIVITY)[number];

/** Limits chosen to stay inside what Outlook stores: subject 255 chars, categories as Outlook category names. */
const MAX_SUBJECT = 255;
const MAX_BODY = 1_000_000;
const MAX_ID = 512;

export type EventTiming =
  | { allDay: false; start: string; end: string; timeZone: string }
  | { allDay: true; startDate: string; endDate: string };

export interface CanonicalEvent {
  calendar: string;
  id: string;
  subject: string;
  body: { contentType: 'text' | 'html'; content: string } | null;
  timing: EventTiming;
  location: string | null;
  categories: string[];
  showAs: ShowAs;
  sensitivity: Sensitivity;
  /** Minutes before start; null means no reminder (the default: a timetable should not ring 300 times a term). */
  reminderMinutes: number | null;
}

/** A canonical event with what the engine derives from it. */
export interface DesiredEvent {
  event: CanonicalEvent;
  key: string;
  contentHash: string;
  /** UTC instant of the start, ms since epoch: drives urgency ordering. */
  startsAtMs: number;
}

// A deliberately simple address check: the target (Graph, EWS, CalDAV) is the authority on whether a mailbox
// exists; here we only refuse what cannot be an address at all.
const calendarAddress = z
  .string({ error: 'must be a string (the mailbox address)' })
  .trim()
  .min(3, 'must be a mailbox address')
  .max(320, 'is longer than an email address can be')
  .regex(/^[^\s@]+@[^\s@]+$/, 'must be a mailbox address like someone@example.edu')
  .transform((value) => value.toLowerCase());

/** The input shape of one event as sources hand it over (JSON, NDJSON, the HTTP API). */
export const eventInputSchema = z
  .object({
    calendar: calendarAddress,
    id: z
      .string({ error: 'is required (the source system’s own event id)' })
      .min(1, 'must not be empty')
      .max(MAX_ID, `must be at most ${MAX_ID} characters`),
    subject: z.string({ error: 'must be a string' }).max(MAX_SUBJECT, `must be at most ${MAX_SUBJECT} characters`).default(''),
    body: z
      .union([
        z.string().max(MAX_BODY),
        z.object({ contentType: z.enum(['text', 'html']), content: z.string().max(MAX_BODY) }).strict(),
      ])
      .nullish(),
    start: z.string({ error: 'is required' }),
    end: z.string({ error: 'is required' }),
    timeZone: z.string().optional(),
    allDay: z.boolean().default(false),
    location: z.string().max(255, 'must be at most 255 characters').nullish(),
    categories: z.array(z.string().min(1).max(255)).max(25, 'at most 25 categories').default([]),
    showAs: z.enum(SHOW_AS).default('busy'),
    sensitivity: z.enum(SENSITIVITY).default('normal'),
    reminderMinutes: z.number().int().min(0).max(40_320, 'at most four weeks').nullish(),
  })
  .strict()
  // The timing checks run even when another field failed (`when`), so a record is reported with all its problems at
  // once; a field that failed its own check is not checked again here.
  .superRefine(
    (input, ctx) => {
      const failed = new Set(ctx.issues.map((issue) => String(issue.path?.[0] ?? '')));
      const text = (field: 'start' | 'end' | 'timeZone') => (!failed.has(field) && typeof input[field] === 'string' ? input[field] : undefined);
      if (failed.has('allDay') || typeof input.allDay !== 'boolean') return;
      for (const problem of timingProblems(input.allDay, text('start'), text('end'), input.timeZone === undefined ? undefined : text('timeZone') ?? null)) {
        ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
      }
    },
    { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
  );

/**
 * Problems with an event's times: `undefined` = the field is absent (or already reported), `null` = a time zone that
 * failed its own check. Times are compared as they will be delivered: skipped local times shifted (placeInZone).
 */
function timingProblems(allDay: boolean, startText: string | undefined, endText: string | undefined, timeZone: string | null | undefined): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (allDay) {
    if (timeZone !== undefined) problems.push({ field: 'timeZone', message: 'must be left out for an all-day event (dates have no zone)' });
    const start = startText === undefined ? undefined : normalizeLocalDate(startText);
    const end = endText === undefined ? undefined : normalizeLocalDate(endText);
    if (start === null) problems.push({ field: 'start', message: `"${startText}" is not a date like 2026-09-01 (all-day events take dates)` });
    if (end === null) problems.push({ field: 'end', message: `"${endText}" is not a date like 2026-09-02 (all-day events take dates; the end date is exclusive)` });
    if (start && end && end <= start) problems.push({ field: 'end', message: `must be after start (${end} is not after ${start}; the end date is exclusive)` });
    return problems;
  }
  const zone = typeof timeZone === 'string' ? canonicalTimeZone(timeZone) : null;
  if (timeZone === undefined) problems.push({ field: 'timeZone', message: 'is required for a timed event (an IANA zone like Europe/Amsterdam)' });
  else if (typeof timeZone === 'string' && !zone) problems.push({ field: 'timeZone', message: `"${timeZone}" is not a known IANA time zone` });
  const start = startText === undefined ? undefined : normalizeLocalDateTime(startText);
  const end = endText === undefined ? undefined : normalizeLocalDateTime(endText);
  if (start === null) problems.push({ field: 'start', message: `"${startText}" is not a local date-time like 2026-09-01T09:00 (no offset: the zone goes in timeZone)` });
  if (end === null) problems.push({ field: 'end', message: `"${endText}" is not a local date-time like 2026-09-01T10:45 (no offset: the zone goes in timeZone)` });
  if (!start || !end) return problems;
  // Equal is allowed: Outlook keeps zero-length appointments (deadlines, .ics events without DTEND).
  if (end < start) {
    problems.push({ field: 'end', message: `must not be before start (${end} is before ${start})` });
  } else if (zone) {
    const placed = placeInZone(start, end, zone);
    if (placed.end < placed.start) {
      problems.push({
        field: 'start',
        message: `${start} does not exist in ${zone} (the clocks jump over it) and would be ${placed.start} (RFC 5545 §3.3.5), after the end ${placed.end}: give times that exist`,
      });
    }
  }
  return problems;
}

/**
 * Start and end as they exist in the zone: a local time that a daylight-saving jump skips is shifted forwards as
 * RFC 5545 §3.3.5 says (existingLocalTime), with a warning for each shifted field. Every target is then sent a
 * time that exists, and the content hash covers what is delivered.
 */
function placeInZone(start: string, end: string, zone: string): { start: string; end: string; warnings: FieldProblem[] } {
  const warnings: FieldProblem[] = [];
  const place = (field: 'start' | 'end', value: string) => {
    const existing = existingLocalTime(value, zone);
    if (existing.shiftedMs !== 0) {
      warnings.push({
        field,
        message: `${value} does not exist in ${zone} (the clocks jump over it); taken as ${existing.local}, as RFC 5545 §3.3.5 says`,
      });
    }
    return existing.local;
  };
  const placed = { start: place('start', start), end: place('end', end), warnings };
  if (placed.start === placed.end && start !== end) warnings.push({ field: 'end', message: `the event is zero-length once its start is shifted (it ends at ${placed.end})` });
  return placed;
}

export type EventInput = z.input<typeof eventInputSchema>;

export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * `warnings` are not errors: the event is valid and goes through, but was read differently from how it is written
 * (a local time that does not exist, shifted). Whoever reports the record reports them with it.
 */
export type EventValidation = { ok: true; desired: DesiredEvent; warnings: FieldProblem[] } | { ok: false; problems: FieldProblem[] };

/** Validates and normalises one input record, reporting every problem it has at once. Never throws on bad input. */
export function validateEvent(input: unknown): EventValidation {
  const parsed = eventInputSchema.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => ({
        field: issue.path.length ? issue.path.join('.') : '(record)',
        message: issue.message,
      })),
    };
  }
  const value = parsed.data;
  let timing: EventTiming;
  let warnings: FieldProblem[] = [];
  if (value.allDay) timing = { allDay: true, startDate: value.start, endDate: value.end };
  else {
    const timeZone = canonicalTimeZone(value.timeZone!)!;
    const placed = placeInZone(normalizeLocalDateTime(value.start)!, normalizeLocalDateTime(value.end)!, timeZone);
    timing = { allDay: false, start: placed.start, end: placed.end, timeZone };
    warnings = placed.warnings;
  }
  const body =
    value.body === undefined || value.body === null || value.body === ''
      ? null
      : typeof value.body === 'string'
        ? { contentType: 'text' as const, content: value.body }
        : value.body;
  const event: CanonicalEvent = {
    calendar: value.calendar,
    id: value.id,
    subject: value.subject,
    body,
    timing,
    location: value.location ? value.location : null,
    categories: value.categories,
    showAs: value.showAs,
    sensitivity: value.sensitivity,
    reminderMinutes: value.reminderMinutes ?? null,
  };
  return { ok: true, desired: describe(event), warnings };
}

/** Derives key, hash and start instant of a canonical event. */
export function describe(event: CanonicalEvent): DesiredEvent {
  return {
    event,
    key: eventKey(event.calendar, event.id),
    contentHash: contentHash(event),
    startsAtMs: event.timing.allDay
      ? Date.parse(`${event.timing.startDate}T00:00:00Z`)
      : zonedToUtcMs(event.timing.start, event.timing.timeZone),
  };
}

/**
 * Stable key of a source event: 128 bits of SHA-256 over (calendar, id). Hex, so it survives case-insensitive
 * comparisons (Graph compares extended-property values case-insensitively).
 */
export function eventKey(calendar: string, id: string): string {
  return hash('sha256', `${calendar}\n${id}`).slice(0, 32);
}

/**
 * Hash of everything that is delivered. Built from an explicitly ordered array so that the hash does not depend
 * on how an object happened to be constructed. Bump CONTENT_VERSION when the delivered shape changes meaning.
 */
const CONTENT_VERSION = 1;
export function contentHash(event: CanonicalEvent): string {
  const t = event.timing;
  const material = [
    CONTENT_VERSION,
    event.subject,
    event.body ? [event.body.contentType, event.body.content] : null,
    t.allDay ? ['allDay', t.startDate, t.endDate] : ['timed', t.start, t.end, t.timeZone],
    event.location,
    event.categories,
    event.showAs,
    event.sensitivity,
    event.reminderMinutes,
  ];
  return hash('sha256', JSON.stringify(material)).slice(0, 32);
}
