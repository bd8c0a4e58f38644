// Retention: what becomes of an event that has ended and is no longer in its source's input.
//
// Sources forget the past: an .ics feed is expanded from 30 days ago, a timetable export holds the current term
// only. Neither means "this lecture never happened". So a full replacement keeps an ended event that left its
// input (`keep`, the default), or removes it only once it ended more than `afterDays` ago (`prune`). An event that
// is in the input is changed as the input says, past or not; an explicit single-event delete still deletes.
import type { EventTiming } from './event.ts';
import { zonedToUtcMs } from './time.ts';

export type Retention = { past: 'keep' } | { past: 'prune'; afterDays: number };

export const DEFAULT_RETENTION: Retention = { past: 'keep' };

/** A retention setting applied at one moment: what a full replacement needs to decide about an absent event. */
export interface RetentionRule {
  retention: Retention;
  /** "Now", from the caller's Clock. */
  nowMs: number;
  /** The config's timeZone: all-day events end at midnight there. */
  allDayTimeZone: string;
}

const DAY_MS = 86_400_000;

/**
 * When the event ends (ms since epoch). An all-day event ends at the midnight, in `allDayTimeZone`, that begins its
 * exclusive end date — the end of its last day there.
 */
export function endsAtMs(timing: EventTiming, allDayTimeZone: string): number {
  return timing.allDay ? zonedToUtcMs(`${timing.endDate}T00:00:00`, allDayTimeZone) : zonedToUtcMs(timing.end, timing.timeZone);
}

/** Whether an event that is absent from a full replacement stays in the desired set. */
export function keepsAbsentEvent(timing: EventTiming, rule: RetentionRule): boolean {
  const end = endsAtMs(timing, rule.allDayTimeZone);
  if (end > rule.nowMs) return false;
  return rule.retention.past === 'keep' || rule.nowMs - end <= rule.retention.afterDays * DAY_MS;
}

/** Every zone's offset from UTC lies within UTC−12 … UTC+14; with a margin. */
const MAX_OFFSET_MS = 15 * 3_600_000;

/**
 * Bounds on an event's local end ("YYYY-MM-DDTHH:mm:ss"; all-day: the end date at 00:00) that decide retention
 * without its zone, so a store can sort thousands of absent events by comparing strings: an end after
 * `notEndedAfter` has not ended (remove); one at or before `endedBy` has ended (keep, or with prune: remove if before
 * `prunedBefore`, keep from `keptFrom`). Between them a zone could change the answer: keepsAbsentEvent decides.
 */
export interface RetentionBounds {
  notEndedAfter: string;
  endedBy: string;
  /** prune only. */
  prunedBefore: string | null;
  keptFrom: string | null;
}

const localIso = (ms: number) => new Date(ms).toISOString().slice(0, 19);

export function retentionBounds(rule: RetentionRule): RetentionBounds {
  const oldest = rule.retention.past === 'prune' ? rule.nowMs - rule.retention.afterDays * DAY_MS : null;
  return {
    notEndedAfter: localIso(rule.nowMs + MAX_OFFSET_MS),
    endedBy: localIso(rule.nowMs - MAX_OFFSET_MS),
    prunedBefore: oldest === null ? null : localIso(oldest - MAX_OFFSET_MS),
    keptFrom: oldest === null ? null : localIso(oldest + MAX_OFFSET_MS),
  };
}
