// The PostgreSQL side of the watch store (store/watch.ts): the tables of sqlite-watch.ts's WATCH_MIGRATION.
import type { Lease } from './store.ts';
import {
  DRIFT_COLUMNS, SUBSCRIPTION_COLUMNS, toDriftRow, toNotificationCount, toSubscriptionRow, toWatchState, WATCH_STATE_COLUMNS,
  type DriftKind, type DriftPolicy, type DriftRow, type NotificationCountRow, type SubscriptionRow, type WatchStateRow,
} from './watch.ts';

type Row = Record<string, unknown>;
type Queries = { query(sql: string, params?: unknown[]): Promise<unknown> };

/** Appended to the PostgreSQL store's migrations (postgres.ts): migration 6. */
export const POSTGRES_WATCH_MIGRATION = `
  CREATE TABLE watch_state (
    calendar    text COLLATE "C" PRIMARY KEY,
    target      text COLLATE "C" NOT NULL,
    state       text,
    full_at     text COLLATE "C",
    updated_at  text COLLATE "C" NOT NULL
  );
  CREATE TABLE drift (
    calendar      text COLLATE "C" NOT NULL,
    event_key     text COLLATE "C" NOT NULL,
    kind          text COLLATE "C" NOT NULL CHECK (kind IN ('edited', 'deleted')),
    policy        text COLLATE "C" NOT NULL CHECK (policy IN ('restore', 'respect', 'detach')),
    item_id       text COLLATE "C" NOT NULL,
    change_key    text COLLATE "C",
    content_hash  text COLLATE "C",
    seen_at       text COLLATE "C" NOT NULL,
    PRIMARY KEY (calendar, event_key)
  );
  CREATE INDEX drift_seen ON drift (seen_at);
`;

/** Migration 8: the tables of sqlite-watch.ts's SUBSCRIPTION_MIGRATION. */
export const POSTGRES_SUBSCRIPTION_MIGRATION = `
  CREATE TABLE watch_subscription (
    calendar         text COLLATE "C" PRIMARY KEY,
    target           text COLLATE "C" NOT NULL,
    subscription_id  text COLLATE "C",
    expires_at       text COLLATE "C",
    last_error       text,
    last_error_at    text COLLATE "C",
    updated_at       text COLLATE "C" NOT NULL
  );
  CREATE TABLE notification_count (
    target    text COLLATE "C" PRIMARY KEY,
    received  bigint NOT NULL DEFAULT 0,
    rejected  bigint NOT NULL DEFAULT 0
  );
`;

export interface PostgresWatchParts {
  query(sql: string, params?: unknown[]): Promise<Row[]>;
  fenced<T>(fence: Lease | undefined, work: (client: Queries) => Promise<T>): Promise<T>;
  now: () => string;
  /** Forgets a delivered item under a new generation (the store's own, on the caller's transaction). */
  forgetDelivered(client: Queries, calendar: string, key: string, itemId: string): Promise<void>;
}

export async function watchState(parts: PostgresWatchParts, calendar: string): Promise<WatchStateRow | null> {
  const [row] = await parts.query(`SELECT ${WATCH_STATE_COLUMNS} FROM watch_state WHERE calendar = $1`, [calendar]);
  return row ? toWatchState(row) : null;
}

export async function saveWatchState(parts: PostgresWatchParts, calendar: string, target: string, state: string | null, full: boolean, fence?: Lease): Promise<void> {
  const now = parts.now();
  await parts.fenced(fence, (client) =>
    client.query(
      `INSERT INTO watch_state (${WATCH_STATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (calendar) DO UPDATE SET target = excluded.target, state = excluded.state,
         full_at = COALESCE(excluded.full_at, CASE WHEN watch_state.target = excluded.target THEN watch_state.full_at END), updated_at = excluded.updated_at`,
      [calendar, target, state, full ? now : null, now],
    ),
  );
}

export async function recordDrift(parts: PostgresWatchParts, calendar: string, rows: Array<Omit<DriftRow, 'calendar' | 'seenAt'>>, relist: boolean, fence?: Lease): Promise<void> {
  const now = parts.now();
  await parts.fenced(fence, async (client) => {
    for (const row of rows) {
      await client.query(
        `INSERT INTO drift (${DRIFT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (calendar, event_key) DO UPDATE SET kind = excluded.kind, policy = excluded.policy, item_id = excluded.item_id,
           change_key = excluded.change_key, content_hash = excluded.content_hash, seen_at = excluded.seen_at`,
        [calendar, row.key, row.kind, row.policy, row.itemId, row.changeKey, row.contentHash, now],
      );
      if (row.kind === 'edited') await client.query('UPDATE delivered_item SET change_key = $1 WHERE calendar = $2 AND item_id = $3', [row.changeKey, calendar, row.itemId]);
      else if (row.policy === 'restore') await parts.forgetDelivered(client, calendar, row.key, row.itemId);
    }
    if (relist) await client.query('UPDATE mailbox SET inventoried_at = NULL WHERE calendar = $1', [calendar]);
    // Something to restore: the calendar no longer holds the desired state, so the mailbox is due for delivery.
    if (rows.some((row) => row.policy === 'restore')) await client.query('UPDATE mailbox SET desired_version = desired_version + 1 WHERE calendar = $1', [calendar]);
  });
}

export async function driftFor(parts: PostgresWatchParts, calendar: string): Promise<DriftRow[]> {
  return (await parts.query(`SELECT ${DRIFT_COLUMNS} FROM drift WHERE calendar = $1 ORDER BY event_key`, [calendar])).map(toDriftRow);
}

export async function driftRows(parts: PostgresWatchParts, limit: number): Promise<DriftRow[]> {
  return (await parts.query(`SELECT ${DRIFT_COLUMNS} FROM drift ORDER BY seen_at DESC, calendar, event_key LIMIT $1`, [limit])).map(toDriftRow);
}

export async function driftCounts(parts: PostgresWatchParts): Promise<Array<{ policy: DriftPolicy; kind: DriftKind; count: number }>> {
  const rows = await parts.query('SELECT policy, kind, COUNT(*) AS n FROM drift GROUP BY policy, kind ORDER BY policy, kind');
  return rows.map((row) => ({ policy: String(row['policy']) as DriftPolicy, kind: String(row['kind']) as DriftKind, count: Number(row['n']) }));
}

export async function saveSubscription(parts: PostgresWatchParts, calendar: string, row: Omit<SubscriptionRow, 'calendar' | 'updatedAt'> | null): Promise<void> {
  if (!row) {
    await parts.query('DELETE FROM watch_subscription WHERE calendar = $1', [calendar]);
    return;
  }
  await parts.query(
    `INSERT INTO watch_subscription (${SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (calendar) DO UPDATE SET target = excluded.target, subscription_id = excluded.subscription_id, expires_at = excluded.expires_at,
       last_error = excluded.last_error, last_error_at = excluded.last_error_at, updated_at = excluded.updated_at`,
    [calendar, row.target, row.subscriptionId, row.expiresAt, row.lastError, row.lastErrorAt, parts.now()],
  );
}

export async function subscriptionRows(parts: PostgresWatchParts): Promise<SubscriptionRow[]> {
  return (await parts.query(`SELECT ${SUBSCRIPTION_COLUMNS} FROM watch_subscription ORDER BY target, calendar`)).map(toSubscriptionRow);
}

export async function countNotifications(parts: PostgresWatchParts, target: string, received: number, rejected: number): Promise<void> {
  await parts.query(
    `INSERT INTO notification_count (target, received, rejected) VALUES ($1, $2, $3)
     ON CONFLICT (target) DO UPDATE SET received = notification_count.received + excluded.received, rejected = notification_count.rejected + excluded.rejected`,
    [target, received, rejected],
  );
}

export async function notificationCounts(parts: PostgresWatchParts): Promise<NotificationCountRow[]> {
  return (await parts.query('SELECT target, received, rejected FROM notification_count ORDER BY target')).map(toNotificationCount);
}
