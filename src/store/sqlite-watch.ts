// The SQLite side of the watch store (store/watch.ts): SqliteStore hands these functions its statements and its
// fenced transaction.
import type { StatementSync } from 'node:sqlite';
import type { Lease } from './store.ts';
import {
  DRIFT_COLUMNS, SUBSCRIPTION_COLUMNS, toDriftRow, toNotificationCount, toSubscriptionRow, toWatchState, WATCH_STATE_COLUMNS,
  type DriftKind, type DriftPolicy, type DriftRow, type NotificationCountRow, type SubscriptionRow, type WatchStateRow,
} from './watch.ts';

/** Appended to the store's migrations (sqlite.ts): schema 12. */
export const WATCH_MIGRATION = `
  -- Watching mailboxes for drift (issue #15): where reading each mailbox's changes stands, what people did to our events.
  CREATE TABLE watch_state (
    calendar    TEXT PRIMARY KEY,
    target      TEXT NOT NULL,
    state       TEXT,
    full_at     TEXT,
    updated_at  TEXT NOT NULL
  );
  CREATE TABLE drift (
    calendar      TEXT NOT NULL,
    event_key     TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('edited', 'deleted')),
    policy        TEXT NOT NULL CHECK (policy IN ('restore', 'respect', 'detach')),
    item_id       TEXT NOT NULL,
    change_key    TEXT,
    content_hash  TEXT,
    seen_at       TEXT NOT NULL,
    PRIMARY KEY (calendar, event_key)
  ) WITHOUT ROWID;
  CREATE INDEX drift_seen ON drift (seen_at);
`;

/** Schema 14: the change-notification subscriptions and their notification counts (status, metrics). */
export const SUBSCRIPTION_MIGRATION = `
  CREATE TABLE watch_subscription (
    calendar         TEXT PRIMARY KEY,
    target           TEXT NOT NULL,
    subscription_id  TEXT,
    expires_at       TEXT,
    last_error       TEXT,
    last_error_at    TEXT,
    updated_at       TEXT NOT NULL
  );
  CREATE TABLE notification_count (
    target    TEXT PRIMARY KEY,
    received  INTEGER NOT NULL DEFAULT 0,
    rejected  INTEGER NOT NULL DEFAULT 0
  );
`;

type Row = Record<string, unknown>;

export interface SqliteWatchParts {
  statement: (sql: string) => StatementSync;
  fenced: <T>(fence: Lease | undefined, work: () => T) => T;
  now: () => string;
  /** Forgets a delivered item under a new generation (the store's own, inside the caller's transaction). */
  forgetDelivered: (calendar: string, key: string, itemId: string) => void;
}

export function watchState(parts: SqliteWatchParts, calendar: string): WatchStateRow | null {
  const row = parts.statement(`SELECT ${WATCH_STATE_COLUMNS} FROM watch_state WHERE calendar = ?`).get(calendar) as Row | undefined;
  return row ? toWatchState(row) : null;
}

export function saveWatchState(parts: SqliteWatchParts, calendar: string, target: string, state: string | null, full: boolean, fence?: Lease): void {
  const now = parts.now();
  parts.fenced(fence, () =>
    parts
      .statement(
        `INSERT INTO watch_state (${WATCH_STATE_COLUMNS}) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (calendar) DO UPDATE SET target = excluded.target, state = excluded.state,
           full_at = COALESCE(excluded.full_at, CASE WHEN watch_state.target = excluded.target THEN watch_state.full_at END), updated_at = excluded.updated_at`,
      )
      .run(calendar, target, state, full ? now : null, now),
  );
}

export function recordDrift(parts: SqliteWatchParts, calendar: string, rows: Array<Omit<DriftRow, 'calendar' | 'seenAt'>>, relist: boolean, fence?: Lease): void {
  const now = parts.now();
  parts.fenced(fence, () => {
    const upsert = parts.statement(
      `INSERT INTO drift (${DRIFT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (calendar, event_key) DO UPDATE SET kind = excluded.kind, policy = excluded.policy, item_id = excluded.item_id,
         change_key = excluded.change_key, content_hash = excluded.content_hash, seen_at = excluded.seen_at`,
    );
    const edited = parts.statement('UPDATE delivered_item SET change_key = ? WHERE calendar = ? AND item_id = ?');
    for (const row of rows) {
      upsert.run(calendar, row.key, row.kind, row.policy, row.itemId, row.changeKey, row.contentHash, now);
      if (row.kind === 'edited') edited.run(row.changeKey, calendar, row.itemId);
      else if (row.policy === 'restore') parts.forgetDelivered(calendar, row.key, row.itemId);
    }
    if (relist) parts.statement('UPDATE mailbox SET inventoried_at = NULL WHERE calendar = ?').run(calendar);
    // Something to restore: the calendar no longer holds the desired state, so the mailbox is due for delivery.
    if (rows.some((row) => row.policy === 'restore')) parts.statement('UPDATE mailbox SET desired_version = desired_version + 1 WHERE calendar = ?').run(calendar);
  });
}

export function driftFor(parts: SqliteWatchParts, calendar: string): DriftRow[] {
  return (parts.statement(`SELECT ${DRIFT_COLUMNS} FROM drift WHERE calendar = ? ORDER BY event_key`).all(calendar) as Row[]).map(toDriftRow);
}

export function driftRows(parts: SqliteWatchParts, limit: number): DriftRow[] {
  return (parts.statement(`SELECT ${DRIFT_COLUMNS} FROM drift ORDER BY seen_at DESC, calendar, event_key LIMIT ?`).all(limit) as Row[]).map(toDriftRow);
}

export function driftCounts(parts: SqliteWatchParts): Array<{ policy: DriftPolicy; kind: DriftKind; count: number }> {
  const rows = parts.statement('SELECT policy, kind, COUNT(*) AS n FROM drift GROUP BY policy, kind ORDER BY policy, kind').all() as Row[];
  return rows.map((row) => ({ policy: String(row['policy']) as DriftPolicy, kind: String(row['kind']) as DriftKind, count: Number(row['n']) }));
}

export function saveSubscription(parts: SqliteWatchParts, calendar: string, row: Omit<SubscriptionRow, 'calendar' | 'updatedAt'> | null): void {
  if (!row) {
    parts.statement('DELETE FROM watch_subscription WHERE calendar = ?').run(calendar);
    return;
  }
  parts
    .statement(`INSERT OR REPLACE INTO watch_subscription (${SUBSCRIPTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`)
    .run(calendar, row.target, row.subscriptionId, row.expiresAt, row.lastError, row.lastErrorAt, parts.now());
}

export function subscriptionRows(parts: SqliteWatchParts): SubscriptionRow[] {
  return (parts.statement(`SELECT ${SUBSCRIPTION_COLUMNS} FROM watch_subscription ORDER BY target, calendar`).all() as Row[]).map(toSubscriptionRow);
}

export function countNotifications(parts: SqliteWatchParts, target: string, received: number, rejected: number): void {
  parts
    .statement('INSERT INTO notification_count (target, received, rejected) VALUES (?, ?, ?) ON CONFLICT (target) DO UPDATE SET received = received + excluded.received, rejected = rejected + excluded.rejected')
    .run(target, received, rejected);
}

export function notificationCounts(parts: SqliteWatchParts): NotificationCountRow[] {
  return (parts.statement('SELECT target, received, rejected FROM notification_count ORDER BY target').all() as Row[]).map(toNotificationCount);
}
