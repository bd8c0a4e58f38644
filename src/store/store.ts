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

export interface Store {
  /** Replaces the desired set of each named calendar in one transaction. */
  applyDesired(change: DesiredChange): Promise<DesiredChangeResult>;
  desiredFor(calendar: string): Promise<DesiredRow[]>;
  deliveredFor(calendar: string): Promise<DeliveredRow[]>;
  /** Every calendar the store knows: with desired events, delivered items or a status. */
  calendars(): Promise<string[]>;

  mailbox(calendar: string): Promise<MailboxRow | null>;
  mailboxes(): Promise<MailboxRow[]>;
  /** Adoption: what the target says we own replaces what we thought we had delivered. */
  recordInventory(calendar: string, items: DeliveredRow[]): Promise<void>;
  recordMailboxOk(calendar: string): Promise<void>;
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
  markOpAttempt(calendar: string, key: string): Promise<void>;
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
