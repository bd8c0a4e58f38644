// The store: durable desired state, what was delivered where, per-mailbox status and pending work.
//
// Every method is async so that a PostgreSQL implementation (many workers, network round trips) fits the same
// interface as the embedded SQLite one. Work is claimed per mailbox with a lease: a worker that dies leaves a
// lease that expires, and another worker takes the mailbox over.
import type { CanonicalEvent, DesiredEvent } from '../model/event.ts';
import type { HeldEvent } from '../sources/records.ts';

export interface DesiredRow {
  calendar: string;
  key: string;
  sourceId: string;
  contentHash: string;
  startsAtMs: number;
  event: CanonicalEvent;
}

/** One item in a target calendar that carries our tag. Several may share a key (a copy made in Outlook keeps the tag). */
export interface DeliveredRow {
  calendar: string;
  key: string;
  itemId: string;
  changeKey: string | null;
  transactionId: string | null;
  contentHash: string;
}

export type MailboxState = 'pending' | 'ok' | 'failed';

export interface MailboxRow {
  calendar: string;
  state: MailboxState;
  lastErrorCode: string | null;
  lastError: string | null;
  lastSyncAt: string | null;
  /** When the target was last listed for our tagged items; null = never (or the store was rebuilt). */
  inventoriedAt: string | null;
  consecutiveFailures: number;
  /** Bumped by every change to the mailbox's desired set. */
  desiredVersion: number;
  /** The desiredVersion last delivered completely. */
  deliveredVersion: number;
}

export type PlannedOpKind = 'create' | 'update' | 'delete';

export interface PendingOp {
  calendar: string;
  key: string;
  kind: PlannedOpKind;
  /** For delete/update: the item we act on. */
  itemId: string | null;
  contentHash: string | null;
  transactionId: string | null;
  startsAtMs: number | null;
  /** How often this op was sent without a recorded answer: > 0 at claim time means the outcome is unknown. */
  attempts: number;
  lastError: string | null;
}

export interface DesiredChange {
  /** Calendars whose desired set is replaced by `events` (plus held events, which keep their old state). */
  calendars: string[];
  events: DesiredEvent[];
  held: HeldEvent[];
}

export interface DesiredChangeResult {
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
}

export interface DesiredImportResult extends DesiredChangeResult {
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
  /**
   * @param calendars the calendars to replace; "staged-and-known" = every calendar with a staged event plus every
   *   calendar the store already knows.
   * @param refuseEmpty throw EmptyInputRefused, changing nothing, when nothing was staged but the calendars hold
   *   desired events (a broken export must not wipe every calendar).
   */
  finish(options: { calendars: string[] | 'staged-and-known'; refuseEmpty: boolean }): Promise<DesiredImportResult>;
  abort(): Promise<void>;
}

export class EmptyInputRefused extends Error {
  readonly existing: number;
  readonly calendars: number;
  constructor(existing: number, calendars: number) {
    super(
      `the input has no valid event, which would remove all ${existing} events calpush manages in ${calendars} calendar(s); ` +
        'nothing was changed. If that is really wanted, run again with --allow-empty.',
    );
    this.name = 'EmptyInputRefused';
    this.existing = existing;
    this.calendars = calendars;
  }
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
  recordMailboxFailure(calendar: string, code: string, message: string): Promise<void>;
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
  /** The op's answer arrived: update what is delivered and drop the op, in one transaction. */
  completeCreate(op: PendingOp, delivered: DeliveredRow): Promise<void>;
  completeUpdate(op: PendingOp, delivered: DeliveredRow): Promise<void>;
  completeDelete(op: PendingOp): Promise<void>;
  /**
   * The item is gone from the target (deleted by a person): forget it so that it is created again, under a new
   * generation so that the new create cannot be mistaken for the old one.
   */
  forgetDelivered(calendar: string, key: string, itemId: string): Promise<void>;
  /** Deletions per key (keys never deleted are absent), so that a re-created event gets a fresh transactionId. */
  generations(calendar: string): Promise<Map<string, number>>;

  close(): Promise<void>;
}
