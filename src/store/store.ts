// The store: durable desired state, what was delivered where, per-mailbox status and pending work.
//
// Every method is async so that a PostgreSQL implementation (many workers, network round trips) fits the same
// interface as the embedded SQLite one. Work is claimed per mailbox with a lease: a worker that dies leaves a
// lease that expires, and another worker takes the mailbox over.
import { CalpushError } from '../model/errors.ts';
import type { CanonicalEvent, DesiredEvent } from '../model/event.ts';
import type { RetentionRule } from '../model/retention.ts';
import type { DeliveredRow, DesiredRow, HeldEvent, MailboxRow, MailboxState, PendingOp } from '../model/rows.ts';

export interface DesiredChange {
  /** Calendars whose desired set is replaced by `events` (plus held events, which keep their old state). */
  calendars: string[];
  events: DesiredEvent[];
  held: HeldEvent[];
  /** Ended events absent from `events` are kept as this rule says; without one, every absent event is removed. */
  retention?: RetentionRule;
}

export interface DesiredChangeResult {
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
}

export interface DesiredImportResult extends DesiredChangeResult {
  /** Ended events absent from the input that stay in the desired set (retention). */
  kept: number;
  /** The calendars whose desired set was replaced. */
  calendars: string[];
  /** Events applied (staged minus duplicates). */
  applied: number;
  /** (calendar, id) pairs given more than once: none of their records was applied, and each is held. */
  duplicates: Array<{ calendar: string; sourceId: string; records: string[] }>;
}

/**
 * Streams a complete desired state into the store: stage events and holds, then finish applies it in one
 * transaction (or nothing at all). Duplicate ids are found at finish, across the whole input.
 */
export interface DesiredImport {
  add(events: Array<{ desired: DesiredEvent; record: string }>): Promise<void>;
  hold(held: HeldEvent[]): Promise<void>;
  finish(options: DesiredImportFinish): Promise<DesiredImportResult>;
  /**
   * A dry run of finish: the same replacement (duplicates, holds, scope, retention, the empty-input refusal), then
   * rolled back, so nothing is recorded. `inspect` is called for each calendar in scope, inside the transaction,
   * with the calendar as finish would leave it; it must be synchronous and must not write. The import stays
   * staged: it can be previewed again, finished or aborted.
   */
  preview(options: DesiredImportFinish, inspect: (calendar: DesiredPreviewCalendar) => void): Promise<DesiredImportResult>;
  abort(): Promise<void>;
}

/** One calendar as a finish would leave it (DesiredImport.preview). Valid only during the inspect call. */
export interface DesiredPreviewCalendar {
  calendar: string;
  mailbox: MailboxRow;
  /** Whether a delivery would work on it after the change (as calendarsNeedingDelivery would answer). */
  needsDelivery: boolean;
  pendingOps(): PendingOp[];
  desired(): DesiredRow[];
  delivered(): DeliveredRow[];
  generations(): Map<string, number>;
  /** The source ids of the events this change removes from the desired set, by key. */
  removedIds(): Map<string, string>;
}

/** Who sets a calendar's desired state. */
export type DesiredSource = 'sync' | 'api' | 'import' | 'feed';

export interface DesiredImportFinish {
  /**
   * The calendars to replace; "staged-and-synced" = every calendar with a staged event plus every calendar whose
   * desired state `sync` manages (not those the API, an import or a feed manages).
   */
  calendars: string[] | 'staged-and-synced';
  /**
   * Throw EmptyInputRefused, changing nothing, when nothing was staged but the calendars hold desired events (a
   * broken export must not wipe every calendar).
   */
  refuseEmpty: boolean;
  /** Add and change the staged events, remove nothing (`calpush import`); `calendars` is then ignored. */
  upsertOnly?: boolean;
  /** Recorded as the manager of every calendar in scope (default "sync"). */
  source?: DesiredSource;
  /**
   * What becomes of an ended event that is absent from the input (src/model/retention.ts). Required: every full
   * replacement — sync, a feed, the API — decides it here, in one place. null removes every absent event whatever
   * its end (tools and tests that rebuild a desired set exactly).
   */
  retention: RetentionRule | null;
}

export class EmptyInputRefused extends CalpushError {
  readonly existing: number;
  readonly calendars: number;
  constructor(existing: number, calendars: number) {
    // What to do about it depends on the caller (sync names the input's errors or --allow-empty, the API allowEmpty).
    super('EmptyInputRefused', `the input has no valid event, which would remove all ${existing} events calpush manages in ${calendars} calendar(s); nothing was changed.`);
    this.existing = existing;
    this.calendars = calendars;
  }
}

/** One change to a single event (the HTTP API): other events of its calendar stay as they are. */
export type DesiredOp = { kind: 'upsert'; desired: DesiredEvent } | { kind: 'remove'; calendar: string; key: string };
/** What a DesiredOp did: `absent` = a remove of an event that was not in the desired set. */
export type DesiredOpOutcome = 'added' | 'changed' | 'unchanged' | 'removed' | 'absent';

/** Everything the store knows about one event: what is wanted, what is there, what is still to do. */
export interface EventDeliveryState {
  desired: (DesiredRow & { updatedAt: string }) | null;
  delivered: Array<DeliveredRow & { deliveredAt: string }>;
  pending: PendingOp[];
  mailbox: MailboxRow | null;
}

export interface CalendarCounts {
  desired: number;
  delivered: number;
  pending: number;
  /** Pending operations whose last attempt failed. */
  failedOps: number;
}

export interface StoreTotals extends CalendarCounts {
  mailboxes: Record<MailboxState, number>;
}

/**
 * read: GET; write: also PUT, DELETE and batch; admin: what write may, plus the dashboard and its actions;
 * helpdesk: what read may, plus the dashboard without its actions (src/server/auth.ts hasScope).
 */
export type ApiKeyScope = 'read' | 'write' | 'admin' | 'helpdesk';

/** An API key of `calpush serve`: only the SHA-256 of the key is stored. */
export interface ApiKeyRow {
  id: string;
  name: string;
  hash: string;
  scope: ApiKeyScope;
  /** Glob patterns of the calendars the key may use; null = every calendar. */
  calendars: string[] | null;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** What the feed poller remembers about one calendar's iCalendar feed. */
export interface FeedStateRow {
  calendar: string;
  /** A fingerprint of the feed's URL (sources/feeds.ts urlFingerprint), never the URL: it may hold a token. */
  url: string;
  etag: string | null;
  lastModified: string | null;
  /** Fetches in a row that returned no event while the calendar still has desired events. */
  consecutiveEmpty: number;
  lastFetchAt: string | null;
  /** The last fetch sent without validators (If-None-Match / If-Modified-Since). */
  lastFullFetchAt: string | null;
  /** changed | unchanged | not-modified | empty-unconfirmed | failed */
  lastOutcome: string | null;
  lastError: string | null;
  lastChangeAt: string | null;
  /** Polls in a row that failed (fetch, parse, over a limit); 0 after one that did not. Absent: 0. */
  consecutiveFailures?: number;
}

export interface Store {
  beginDesiredImport(): Promise<DesiredImport>;
  /** Replaces the desired set of each named calendar in one transaction (a DesiredImport in one call). */
  applyDesired(change: DesiredChange): Promise<DesiredChangeResult>;
  /**
   * Of these calendars, those with something to do: desired state changed since the last complete delivery,
   * pending work left, never listed, or last delivery failed.
   */
  calendarsNeedingDelivery(calendars: string[]): Promise<string[]>;
  /** Mailboxes whose desired state changed since their last complete delivery, with the current version. */
  changedMailboxes(): Promise<Array<{ calendar: string; desiredVersion: number }>>;
  desiredFor(calendar: string): Promise<DesiredRow[]>;
  /** Number of desired events per calendar (calendars without any are absent). */
  desiredCounts(): Promise<Map<string, number>>;
  deliveredFor(calendar: string): Promise<DeliveredRow[]>;
  /** Every calendar the store knows: with desired events, delivered items or a status. */
  calendars(): Promise<string[]>;

  mailbox(calendar: string): Promise<MailboxRow | null>;
  mailboxes(): Promise<MailboxRow[]>;
  /** Adoption: what the target says we own replaces what we thought we had delivered. */
  recordInventory(calendar: string, items: DeliveredRow[]): Promise<void>;
  /** A complete delivery of the desired state as of `desiredVersion` (MailboxRow.desiredVersion when it began). */
  recordMailboxOk(calendar: string, desiredVersion: number): Promise<void>;
  recordMailboxFailure(calendar: string, code: string, message: string, remedy?: string): Promise<void>;
  /** Failed mailboxes per error code, most first (the dashboard's "failures by cause"). */
  failureCauses(): Promise<Array<{ code: string; mailboxes: number }>>;
  /**
   * Mailboxes with delivery work ahead that are not failing: desired state ahead of the delivered one, never
   * listed, or operations pending (the dashboard's drain progress; failed mailboxes are counted as failures).
   */
  mailboxesWithWork(): Promise<string[]>;
  /** Forget inventories so that the next delivery lists every mailbox again. */
  invalidateInventory(calendar?: string): Promise<void>;

  /**
   * Claims a mailbox for delivery: returns false when another live worker holds it. The lease is renewed by
   * claiming again and released by releaseMailbox.
   */
  claimMailbox(calendar: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Who holds the mailbox's lease now, if anyone (expired leases included). */
  leaseHolder(calendar: string): Promise<string | null>;
  /** Takes the lease from `previousOwner` (known to be dead); false if someone else holds it meanwhile. */
  takeOverMailbox(calendar: string, previousOwner: string, owner: string, leaseMs: number): Promise<boolean>;
  releaseMailbox(calendar: string, owner: string): Promise<void>;

  replacePendingOps(calendar: string, ops: PendingOp[]): Promise<void>;
  pendingOps(calendar: string): Promise<PendingOp[]>;
  /** Marks an op as sent, before it is sent: a crash after this leaves evidence that the outcome is unknown. */
  markOpAttempts(calendar: string, keys: string[]): Promise<void>;
  recordOpFailure(calendar: string, key: string, message: string): Promise<void>;
  /**
   * Answers arrived: for each op, update what is delivered (the item for a create or update, nothing for a
   * delete, whose key moves to its next generation) and drop the op — all in one transaction.
   */
  completeOps(results: Array<{ op: PendingOp; delivered: DeliveredRow | null }>): Promise<void>;
  /**
   * The item is gone from the target (deleted by a person): forget it so that it is created again, under a new
   * generation so that the new create cannot be mistaken for the old one.
   */
  forgetDelivered(calendar: string, key: string, itemId: string): Promise<void>;
  /** Deletions per key (keys never deleted are absent), so that a re-created event gets a fresh transactionId. */
  generations(calendar: string): Promise<Map<string, number>>;

  /**
   * Upserts and removes single events in one transaction, in order (a later op on the same event wins), bumping
   * the desired version of every calendar that changed. Events of the calendars that are not named stay.
   */
  applyDesiredOps(ops: DesiredOp[]): Promise<DesiredOpOutcome[]>;
  /** Desired row, delivered items, pending operations and mailbox status of one event (by key). */
  eventState(calendar: string, key: string): Promise<EventDeliveryState>;
  /** Whether the store knows the calendar (desired events, delivered items or a status). */
  hasCalendar(calendar: string): Promise<boolean>;
  calendarCounts(calendar: string): Promise<CalendarCounts>;
  totals(): Promise<StoreTotals>;

  createApiKey(key: ApiKeyRow): Promise<void>;
  apiKey(id: string): Promise<ApiKeyRow | null>;
  apiKeys(): Promise<ApiKeyRow[]>;
  /** false when there is no such key or it was revoked already. */
  revokeApiKey(id: string): Promise<boolean>;
  touchApiKey(id: string): Promise<void>;

  feedState(calendar: string): Promise<FeedStateRow | null>;
  saveFeedState(state: FeedStateRow): Promise<void>;

  close(): Promise<void>;
}
