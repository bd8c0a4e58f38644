// The store: durable desired state, what was delivered where, per-mailbox status and pending work.
//
// Every method is async so that a PostgreSQL implementation (many workers, network round trips) fits the same
// interface as the embedded SQLite one. Work is claimed per mailbox with a lease: a worker that dies leaves a
// lease that expires, and another worker takes the mailbox over.
import { CalpushError } from '../model/errors.ts';
import type { CanonicalEvent, DesiredEvent } from '../model/event.ts';
import type { RetentionRule } from '../model/retention.ts';
import type { AgentStore } from './agent.ts';
import type { AlertStore } from './alerts.ts';
import type { ConnectionStore, SealedSecrets } from './connections.ts';
import type { WatchStore } from './watch.ts';
import type { DeliveredRow, DesiredJsonRow, DesiredRow, HeldEvent, MailboxRow, MailboxState, PendingOp, RouteLookupRow } from '../model/rows.ts';

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

/**
 * A mailbox's lease: who delivers it now, and the fencing token of this holding. The token grows each time the
 * mailbox passes to a new holding (another owner, or the same owner after the lease expired); a write made under
 * a lease (`fence`) is refused with LeaseLost once the token moved on, so a worker that lost its lease — paused,
 * partitioned, taken over — cannot record answers as if it still held the mailbox.
 */
export interface Lease {
  calendar: string;
  owner: string;
  token: number;
}

/** A write under a lease the writer no longer holds: nothing of it was recorded. */
export class LeaseLost extends CalpushError {
  readonly calendar: string;
  constructor(lease: Lease) {
    super('LeaseLost', `${lease.owner} no longer holds the lease of ${lease.calendar} (another worker took it over); nothing was recorded`, {
      remedy: 'none needed: the worker that holds the mailbox now delivers it; a worker loses a lease when it could not renew it in time (paused, cut off from the database)',
    });
    this.calendar = lease.calendar;
  }
}

/** The desired state: what the sources want in each calendar (sync, the API, imports, feeds). */
export interface DesiredState {
  beginDesiredImport(): Promise<DesiredImport>;
  /** Replaces the desired set of each named calendar in one transaction (a DesiredImport in one call). */
  applyDesired(change: DesiredChange): Promise<DesiredChangeResult>;
  /**
   * Upserts and removes single events in one transaction, in order (a later op on the same event wins), bumping
   * the desired version of every calendar that changed. Events of the calendars that are not named stay.
   */
  applyDesiredOps(ops: DesiredOp[]): Promise<DesiredOpOutcome[]>;
  desiredFor(calendar: string): Promise<DesiredRow[]>;
  /** desiredFor with each event as the JSON kept (DesiredJsonRow): planning a delivery parses none of them. */
  desiredJsonFor(calendar: string): Promise<DesiredJsonRow[]>;
  /** Number of desired events per calendar (calendars without any are absent). */
  desiredCounts(): Promise<Map<string, number>>;
  /** Mailboxes whose desired state changed since their last complete delivery, with the current version. */
  changedMailboxes(): Promise<Array<{ calendar: string; desiredVersion: number }>>;
  /** Every calendar the store knows: with desired events, delivered items or a status. */
  calendars(): Promise<string[]>;
  /** Whether the store knows the calendar (desired events, delivered items or a status). */
  hasCalendar(calendar: string): Promise<boolean>;
  calendarCounts(calendar: string): Promise<CalendarCounts>;
}

/**
 * The delivery ledger: what was delivered where, what is still to do, each mailbox's status. The writes that a
 * delivery makes under a mailbox's lease take it as `fence`: refused with LeaseLost (nothing recorded) when the
 * lease passed to another holding meanwhile.
 */
export interface DeliveryLedger {
  /**
   * Of these calendars, those with something to do: desired state changed since the last complete delivery,
   * pending work left, never listed, or last delivery failed.
   */
  calendarsNeedingDelivery(calendars: string[]): Promise<string[]>;
  deliveredFor(calendar: string): Promise<DeliveredRow[]>;
  mailbox(calendar: string): Promise<MailboxRow | null>;
  /** Adoption: what the target says we own replaces what we thought we had delivered. */
  recordInventory(calendar: string, items: DeliveredRow[], fence?: Lease): Promise<void>;
  /** A complete delivery of the desired state as of `desiredVersion` (MailboxRow.desiredVersion when it began). */
  recordMailboxOk(calendar: string, desiredVersion: number, fence?: Lease): Promise<void>;
  recordMailboxFailure(calendar: string, code: string, message: string, remedy?: string, fence?: Lease): Promise<void>;
  /** Forget inventories so that the next delivery lists every mailbox again. */
  invalidateInventory(calendar?: string): Promise<void>;
  replacePendingOps(calendar: string, ops: PendingOp[], fence?: Lease): Promise<void>;
  pendingOps(calendar: string): Promise<PendingOp[]>;
  /**
   * Marks an op as sent, before each time it is sent: a crash after this leaves evidence that the outcome is
   * unknown. `landsWithinMs`: how long after now (by the store's clock) the request may still land on the target,
   * at most — what createsLandWithin answers a later holder of the mailbox.
   */
  markOpAttempts(calendar: string, keys: string[], fence?: Lease, landsWithinMs?: number): Promise<void>;
  /**
   * Milliseconds (by the store's clock: the database's for PostgreSQL) until no create sent for the mailbox's
   * pending operations can land on the target any more; 0 when none can now. A create whose answer was recorded is
   * no longer pending.
   */
  createsLandWithin(calendar: string): Promise<number>;
  /**
   * The op failed for good (`message`, kept until it is planned anew). `refused`: the target answered and refused
   * it, so nothing of it can still land (createsLandWithin no longer counts it).
   */
  recordOpFailure(calendar: string, key: string, message: string, fence?: Lease, refused?: boolean): Promise<void>;
  /**
   * Answers arrived: for each op, update what is delivered (the item for a create or update, nothing for a
   * delete, whose key moves to its next generation) and drop the op — all in one transaction.
   */
  completeOps(results: Array<{ op: PendingOp; delivered: DeliveredRow | null }>, fence?: Lease): Promise<void>;
  /**
   * The item is gone from the target (deleted by a person): forget it so that it is created again, under a new
   * generation so that the new create cannot be mistaken for the old one.
   */
  forgetDelivered(calendar: string, key: string, itemId: string, fence?: Lease): Promise<void>;
  /** Deletions per key (keys never deleted are absent), so that a re-created event gets a fresh transactionId. */
  generations(calendar: string): Promise<Map<string, number>>;
}

/**
 * Mailbox leases: one worker delivers a mailbox at a time, however many processes or machines share the store.
 * A lease lasts `leaseMs` unless renewed (the holder's heartbeat); an expired one is free to claim.
 */
export interface MailboxLeases {
  /** Claims (or, by its holder, renews) the mailbox's lease; null when another live worker holds it. */
  claimMailbox(calendar: string, owner: string, leaseMs: number): Promise<Lease | null>;
  /** Who holds the mailbox's lease now, if anyone (expired leases included). */
  leaseHolder(calendar: string): Promise<string | null>;
  /** Takes the lease from `previousOwner` (known to be dead); null if someone else holds it meanwhile. */
  takeOverMailbox(calendar: string, previousOwner: string, owner: string, leaseMs: number): Promise<Lease | null>;
  /** The heartbeat: extends these leases by `leaseMs`; returns those still held (a lost one is absent). */
  renewLeases(leases: Lease[], leaseMs: number): Promise<Lease[]>;
  releaseMailbox(calendar: string, owner: string): Promise<void>;
}

/**
 * Which named target delivers each mailbox (issue #14, docs/targets.md), and what the route lookups (Exchange
 * hybrid: Autodiscover, Graph) answered.
 */
export interface MailboxTargets {
  /**
   * Records that `target` (a named target) delivers the mailbox from now on, under its lease (`fence`). When another
   * target delivered it before (the mailbox moved: on-premises → Exchange Online), everything that belonged to that
   * one is forgotten in the same transaction — delivered rows (its item ids and change keys mean nothing to the new
   * target) and pending operations (planned against them; they are planned again) — and the inventory is
   * invalidated, so the new target is listed and adopts the tagged events it finds. Returns the previous target
   * when it changed, else null (also on the first claim).
   */
  assignTarget(calendar: string, target: string, fence?: Lease): Promise<string | null>;
  /** The cached answer of a route lookup for this mailbox, if any (however old). */
  routeLookup(calendar: string): Promise<RouteLookupRow | null>;
  saveRouteLookup(row: RouteLookupRow): Promise<void>;
  /** Drops the cached answer: the next delivery asks again (a mailbox the looked-up target refused may have moved). */
  forgetRouteLookup(calendar: string): Promise<void>;
}

/**
 * What was sent to each mailbox recently, by every worker sharing the store: Outlook's 10,000 requests per 10
 * minutes are per app and mailbox, not per process, so a worker that takes a mailbox over must know what the
 * previous holders spent. Kept in buckets of `bucketMs`; a bucket counts as spent at its end (never too early).
 */
export interface RequestLedger {
  /**
   * Charges `cost` requests to the mailbox now, on behalf of `worker` (before the request is sent). `worker` names
   * one scheduler's requests (the engine's ledgerName: the worker id and a name of the process), not only the
   * worker: a worker restarted under the same id must see what its previous process spent.
   */
  chargeRequests(calendar: string, worker: string, cost: number): Promise<void>;
  /** What every other `worker` name spent on the mailbox within the last `windowMs`: how long ago (ms) and how much. */
  requestsSpentByOthers(calendar: string, worker: string, windowMs: number): Promise<Array<{ agoMs: number; cost: number }>>;
}

/** The status views of the command line, the dashboard and the metrics. */
export interface StoreOverview {
  mailbox(calendar: string): Promise<MailboxRow | null>;
  mailboxes(): Promise<MailboxRow[]>;
  /** Failed mailboxes per error code, most first (the dashboard's "failures by cause"). */
  failureCauses(): Promise<Array<{ code: string; mailboxes: number }>>;
  /**
   * Mailboxes with delivery work ahead that are not failing: desired state ahead of the delivered one, never
   * listed, or operations pending (the dashboard's drain progress; failed mailboxes are counted as failures).
   */
  mailboxesWithWork(): Promise<string[]>;
  /** Desired row, delivered items, pending operations and mailbox status of one event (by key). */
  eventState(calendar: string, key: string): Promise<EventDeliveryState>;
  totals(): Promise<StoreTotals>;
}

/** API keys of `calpush serve` (only their hashes). */
export interface ApiKeyStore {
  createApiKey(key: ApiKeyRow): Promise<void>;
  apiKey(id: string): Promise<ApiKeyRow | null>;
  apiKeys(): Promise<ApiKeyRow[]>;
  /** false when there is no such key or it was revoked already. */
  revokeApiKey(id: string): Promise<boolean>;
  touchApiKey(id: string): Promise<void>;
}

/** What the feed poller remembers per calendar. */
export interface FeedStateStore {
  feedState(calendar: string): Promise<FeedStateRow | null>;
  saveFeedState(state: FeedStateRow): Promise<void>;
}

/**
 * Desired-state changes made by other processes, as they are recorded (PostgreSQL: LISTEN/NOTIFY). A store
 * without it is polled (DesiredState.changedMailboxes); with it the poll stays as the fallback.
 */
export interface ChangeNotifications {
  /** Calls `listener` with each calendar whose desired state changed ('*': many at once); returns the unsubscribe. */
  watchChanges(listener: (calendar: string) => void): Promise<() => Promise<void>>;
}

/** What a delivery needs of the store (the mailboxes: which target each settled one was last delivered through). */
export type DeliveryStore = DesiredState & DeliveryLedger & MailboxLeases & MailboxTargets & Pick<StoreOverview, 'mailboxes'> & Partial<RequestLedger> & Partial<Pick<WatchStore, 'driftFor'>>;

/** Both stores (SQLite, PostgreSQL) are all of it; each part of calpush asks for the narrow part it uses. */
export interface Store
  extends DesiredState,
    DeliveryLedger,
    MailboxLeases,
    MailboxTargets,
    RequestLedger,
    StoreOverview,
    ApiKeyStore,
    FeedStateStore,
    ConnectionStore,
    SealedSecrets,
    AlertStore,
    AgentStore,
    WatchStore,
    Partial<ChangeNotifications> {
  /** Which store this is, for messages and `calpush store` ("sqlite" or "postgres"). */
  readonly kind: 'sqlite' | 'postgres';
  close(): Promise<void>;
}
