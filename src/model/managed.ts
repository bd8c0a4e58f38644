// The fields of an event that calpush manages, as a calendar holds them: what tells a person's edit of one of our
// events from a change that is none of calpush's business (docs/drift.md, "What counts as an edit").
//
// Exchange gives an item a new ChangeKey for anything done to it — a dismissed or snoozed reminder, a category a
// person adds to colour it — so a new ChangeKey only says "look". The watch then reads the item's managed fields
// and compares them with what calpush wrote, field by field: the content hash in our tag cannot tell (a person's
// edit leaves the tag as it was), and an item read back cannot be turned into the canonical event calpush hashed
// (Exchange rewrites bodies, time zones, all-day boundaries). Not compared, because a person may change them freely:
// the reminder (on/off, minutes) and the categories.
import type { DesiredEvent } from './event.ts';
import { zonedToUtcMs } from './time.ts';

export interface ManagedFields {
  subject: string;
  /** The body's text (plainText): markup and spacing a server rewrites do not count. */
  body: string;
  /** UTC instants, ms since the epoch. */
  start: number;
  end: number;
  allDay: boolean;
  location: string;
  /** In the target's own words (Graph showAs, EWS LegacyFreeBusyStatus), so both sides are mapped the same way. */
  showAs: string;
  sensitivity: string;
}

/** The managed fields calpush writes for a desired event; `showAs`/`sensitivity` in the target's words. */
export function writtenFields(desired: DesiredEvent, allDayTimeZone: string, words: { showAs: string; sensitivity: string }): ManagedFields {
  const { event } = desired;
  const timing = event.timing;
  const start = timing.allDay ? zonedToUtcMs(`${timing.startDate}T00:00:00`, allDayTimeZone) : zonedToUtcMs(timing.start, timing.timeZone);
  const end = timing.allDay ? zonedToUtcMs(`${timing.endDate}T00:00:00`, allDayTimeZone) : zonedToUtcMs(timing.end, timing.timeZone);
  return {
    subject: event.subject,
    body: plainText(event.body?.content ?? '', event.body?.contentType ?? 'text'),
    start,
    end,
    allDay: timing.allDay,
    location: event.location ?? '',
    showAs: words.showAs,
    sensitivity: words.sensitivity,
  };
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/**
 * A body as text with its spacing collapsed: Exchange stores a text body as HTML and may hand either back, wrapped
 * in its own markup and line breaks, so only the words are compared.
 */
export function plainText(content: string, contentType: 'text' | 'html'): string {
  const text =
    contentType === 'html'
      ? content
          .replace(/<(script|style|head)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, ' ')
          .replace(/<[^>]*>/g, ' ')
          .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => entity(name) ?? whole)
      : content;
  return text.replace(/\s+/g, ' ').trim();
}

function entity(name: string): string | undefined {
  if (name[0] !== '#') return ENTITIES[name.toLowerCase()];
  const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
  return Number.isFinite(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : undefined;
}

/** The managed fields in which what was read differs from what calpush wrote; none: the change was not an edit. */
export function changedFields(written: ManagedFields, read: ManagedFields): Array<keyof ManagedFields> {
  return (Object.keys(written) as Array<keyof ManagedFields>).filter((field) => written[field] !== read[field]);
}
