// The rows calpush keeps about events and mailboxes: what is desired, what was delivered where, what is still to
// do. Shared by the store (which keeps them), the planner (which compares them) and the engine (which acts on
// them), so they live on the ground floor: the store knows rows, not input formats, and the planner knows rows,
// not the store.
import type { CanonicalEvent } from './event.ts';

export interface DesiredRow {
  calendar: string;
  key: string;
  sourceId: string;
  contentHash: string;
  startsAtMs: number;
  event: CanonicalEvent;
}

/** A desired row with its event as the store keeps it, JSON: what delivery plans from and sends (not parsed to plan). */
export type DesiredJsonRow = Omit<DesiredRow, 'event'> & { eventJson: string };

/** One item in a target calendar that carries our tag. Several may share a key (a copy made in Outlook keeps the tag). */
export interface DeliveredRow {
  calendar: string;
  key: string;
  itemId: string;
  changeKey: string | null;
  transactionId: string | null;
  contentHash: string;
  /** When the delivered event starts (ms since epoch); null or absent when unknown (found by a listing). */
  startsAtMs?: number | null;
}

export type MailboxState = 'pending' | 'ok' | 'failed';

export interface MailboxRow {
  calendar: string;
  state: MailboxState;
  lastErrorCode: string | null;
  lastError: string | null;
  /** What the administrator should do about the last error, where calpush knows (the target's remedy). */
  lastErrorRemedy?: string | null;
  lastSyncAt: string | null;
  /** When the target was last listed for our tagged items; null = never (or the store was rebuilt). */
  inventoriedAt: string | null;
  consecutiveFailures: number;
  /** Bumped by every change to the mailbox's desired set. */
  desiredVersion: number;
  /** The desiredVersion last delivered completely. */
  deliveredVersion: number;
  /**
   * The named target (config `targets`, "default" for `target`) that delivers this mailbox since its last move: what
   * its delivered rows (item ids, change keys) belong to. Null until a delivery first claims it.
   */
  target?: string | null;
}

/**
 * What a lookup answered about where a mailbox lives (Exchange hybrid: on-premises or Exchange Online), kept so that
 * not every delivery asks again; `checkedAt` says when it was asked (the router's refresh interval counts from it).
 */
export interface RouteLookupRow {
  calendar: string;
  /** The named target the answer routes the mailbox to. */
  target: string;
  /** What was asked and what it answered, in words (status and the doctor show it). */
  answer: string;
  checkedAt: string;
}

export type PlannedOpKind = 'create' | 'update' | 'delete';

export interface PendingOp {
  calendar: string;
  key: string;
  kind: PlannedOpKind;
  /** For delete/update: the item we act on. */
  itemId: string | null;
  /**
   * For delete/update: the item's ChangeKey / ETag as last delivered or listed (DeliveredRow.changeKey), sent with
   * the write so the target can tell a stale copy (EWS ChangeKey, Graph If-Match, CalDAV If-Match); null when unknown.
   */
  changeKey?: string | null;
  contentHash: string | null;
  transactionId: string | null;
  startsAtMs: number | null;
  /** How often this op was sent without a recorded answer: > 0 at claim time means the outcome is unknown. */
  attempts: number;
  lastError: string | null;
}

/**
 * Delivered state that an input does not decide about and that must therefore stay as it is: one event (a bad
 * record named it), the occurrences of a recurring series (the series could not be expanded), or a whole
 * calendar (its feed could not be read).
 */
export type HeldEvent = { calendar: string; key: string } | { calendar: string; idPrefix: string } | { calendar: string; everything: true };

/** What a person did to one of our events in their calendar: changed it, or deleted it (docs/drift.md). */
export type DriftKind = 'edited' | 'deleted';
/** What calpush does about it: put the event back as desired, leave the person's change, or stop managing the event. */
export type DriftPolicy = 'restore' | 'respect' | 'detach';

/** A finding of the watch about one of our events (planner/drift.ts decides it, store/watch.ts records it as a DriftRow). */
export interface DriftDecision {
  key: string;
  kind: DriftKind;
  policy: DriftPolicy;
  /** The item the person changed or deleted. */
  itemId: string;
  /** Its ChangeKey / ETag as the person left it (edited); null for a deletion. */
  changeKey: string | null;
  /** The desired content when the change was seen: a `respect` lasts while the source keeps the event so. */
  contentHash: string | null;
}
