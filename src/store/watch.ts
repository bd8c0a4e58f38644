// What watching the mailboxes for drift remembers (docs/drift.md): where reading each mailbox's changes stands on the
// target that delivers it (a Graph deltaLink, an EWS SyncState, a CalDAV sync token), and what people did to our
// events — each change found with the policy that answered it. Both stores implement it (sqlite-watch.ts,
// postgres-watch.ts), held to one contract (test/store/contract.ts).
import type { DriftDecision, DriftKind, DriftPolicy } from '../model/rows.ts';

export type { DriftKind, DriftPolicy };

/** A mailbox's lease as store.ts's Lease (written out here: store.ts imports this file). */
interface Lease {
  calendar: string;
  owner: string;
  token: number;
}

export interface DriftRow extends DriftDecision {
  calendar: string;
  /** When it was recorded (the store's clock). */
  seenAt: string;
}

export interface WatchStateRow {
  calendar: string;
  /** The named target the state belongs to (a state of another target means nothing to this one). */
  target: string;
  /** The target's opaque sync state; null: the next round reads everything (a full round). */
  state: string | null;
  /** When the last round began from no state (a full round); null: never. */
  fullAt: string | null;
  updatedAt: string;
}

/**
 * A mailbox's Graph change-notification subscription as serve last left it (engine/notifications.ts), for the status
 * and the metrics of every process sharing the store. The clientState is never stored.
 */
export interface SubscriptionRow {
  calendar: string;
  /** The named target it is (or was to be) made on; '' when the route could not be found. */
  target: string;
  /** Graph's id; null: none is held (subscribing failed, or is refused). */
  subscriptionId: string | null;
  expiresAt: string | null;
  /** The last failure to subscribe or renew, and when (kept after a later success: the last one). */
  lastError: string | null;
  lastErrorAt: string | null;
  updatedAt: string;
}

/** Change notifications received per target since the store began: accepted, and rejected (a clientState not ours). */
export interface NotificationCountRow {
  target: string;
  received: number;
  rejected: number;
}

export interface WatchStore {
  watchState(calendar: string): Promise<WatchStateRow | null>;
  /** Where reading stands after a page; `full`: the round began from no state. Fenced by the mailbox's lease. */
  saveWatchState(calendar: string, target: string, state: string | null, full: boolean, fence?: Lease): Promise<void>;
  /**
   * Records what was found, one row per event (a later finding replaces an earlier one), in one transaction under
   * the lease. `relist`: the mailbox is listed before its next plan (a deletion to restore: the listing, not the
   * watch, decides what is created, so nothing is created twice). An edit also records the item's ChangeKey / ETag as
   * the person left it on the delivered row: a restore's update is planned against that item (planner/drift.ts), and
   * once written (a new ChangeKey) the finding no longer applies. A finding to restore makes the mailbox due for
   * delivery (its desired version moves ahead of the delivered one, as a change of the source would). A deletion to
   * restore also forgets the delivered item under a new generation (the create after the listing carries a fresh
   * transactionId) in the same transaction: a crash can neither keep the finding without the forgetting (the
   * deleted item would still count as delivered) nor the forgetting without the finding.
   */
  recordDrift(calendar: string, rows: Array<Omit<DriftRow, 'calendar' | 'seenAt'>>, relist: boolean, fence?: Lease): Promise<void>;
  /** The mailbox's drift rows, by key; or every mailbox's (the status), newest first, at most `limit`. */
  driftFor(calendar: string): Promise<DriftRow[]>;
  driftRows(limit: number): Promise<DriftRow[]>;
  /** Rows per policy and kind across every mailbox (the status, the metrics). */
  driftCounts(): Promise<Array<{ policy: DriftPolicy; kind: DriftKind; count: number }>>;
  /** Replaces the mailbox's subscription row (`updatedAt` is the store's clock); `null`: the mailbox has none any more. */
  saveSubscription(calendar: string, row: Omit<SubscriptionRow, 'calendar' | 'updatedAt'> | null): Promise<void>;
  subscriptionRows(): Promise<SubscriptionRow[]>;
  /** Adds to a target's notification counts. */
  countNotifications(target: string, received: number, rejected: number): Promise<void>;
  notificationCounts(): Promise<NotificationCountRow[]>;
}

type Row = Record<string, unknown>;

export const DRIFT_COLUMNS = 'calendar, event_key, kind, policy, item_id, change_key, content_hash, seen_at';
export const WATCH_STATE_COLUMNS = 'calendar, target, state, full_at, updated_at';

const textOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

export function toDriftRow(row: Row): DriftRow {
  return {
    calendar: String(row['calendar']),
    key: String(row['event_key']),
    kind: String(row['kind']) as DriftKind,
    policy: String(row['policy']) as DriftPolicy,
    itemId: String(row['item_id']),
    changeKey: textOrNull(row['change_key']),
    contentHash: textOrNull(row['content_hash']),
    seenAt: String(row['seen_at']),
  };
}

export const SUBSCRIPTION_COLUMNS = 'calendar, target, subscription_id, expires_at, last_error, last_error_at, updated_at';

export function toSubscriptionRow(row: Row): SubscriptionRow {
  return {
    calendar: String(row['calendar']),
    target: String(row['target']),
    subscriptionId: textOrNull(row['subscription_id']),
    expiresAt: textOrNull(row['expires_at']),
    lastError: textOrNull(row['last_error']),
    lastErrorAt: textOrNull(row['last_error_at']),
    updatedAt: String(row['updated_at']),
  };
}

export function toNotificationCount(row: Row): NotificationCountRow {
  return { target: String(row['target']), received: Number(row['received']), rejected: Number(row['rejected']) };
}

export function toWatchState(row: Row): WatchStateRow {
  return { calendar: String(row['calendar']), target: String(row['target']), state: textOrNull(row['state']), fullAt: textOrNull(row['full_at']), updatedAt: String(row['updated_at']) };
}
