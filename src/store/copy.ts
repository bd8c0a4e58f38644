// `calpush store copy`: everything one store holds, into another — a deployment that grows from one machine's
// SQLite file to a PostgreSQL database shared by several workers. Desired state, what was delivered where, the
// pending operations, each mailbox's status, versions and target, key generations, API keys, feed state, the
// remembered route lookups, the people's connections (their token caches still sealed), which alerts are firing and the
// resource agent's state (its cursors, answers and VMR aliases)
// are copied; leases are not (nobody holds a mailbox in the new store) and neither is the request ledger (it is
// about the last ten minutes, which the copy outlasts; the workers' budgets start from what Outlook then says), nor
// sign-ins in progress (minutes long) or alert notifications not yet sent (the monitor finds what still fires).
//
// Idempotent: a row whose key is in the target already is replaced by the source's, and the pending operations
// of the target are replaced as a whole; so a copy that was interrupted is simply run again. Verified: each
// table's rows are counted in both stores afterwards.
import type { Row } from './row-mapping.ts';

/** Raw rows, for a copy between stores: both stores name their tables and columns alike. */
export interface StoreTables {
  /** Rows of `table` in `order`, `limit` after the row whose `order` columns are `after` (null: from `offset`). */
  readTable(table: string, columns: string[], order: string[], after: unknown[] | null, limit: number, offset?: number): Promise<Row[]>;
  /** Upserts rows by `key` (none: inserts them), in one transaction. */
  writeRows(table: string, key: string[], rows: Row[]): Promise<void>;
  countRows(table: string): Promise<number>;
  clearTable(table: string): Promise<void>;
}

interface CopiedTable {
  table: string;
  columns: string[];
  /** The key rows are paged and upserted by; null: the table is replaced as a whole (pending_op has no key). */
  key: string[] | null;
}

/** What is copied, in this order (mailboxes first: every other row belongs to one). */
export const COPIED_TABLES: CopiedTable[] = [
  {
    table: 'mailbox',
    columns: ['calendar', 'state', 'last_error_code', 'last_error', 'last_error_remedy', 'last_sync_at', 'inventoried_at', 'consecutive_failures', 'desired_version', 'delivered_version', 'managed_by', 'target'],
    key: ['calendar'],
  },
  { table: 'desired_event', columns: ['calendar', 'event_key', 'source_id', 'content_hash', 'starts_at_ms', 'payload', 'updated_at'], key: ['calendar', 'event_key'] },
  {
    table: 'delivered_item',
    columns: ['calendar', 'item_id', 'event_key', 'change_key', 'transaction_id', 'content_hash', 'delivered_at', 'starts_at_ms'],
    key: ['calendar', 'item_id'],
  },
  { table: 'key_generation', columns: ['calendar', 'event_key', 'generation'], key: ['calendar', 'event_key'] },
  {
    table: 'pending_op',
    columns: ['calendar', 'event_key', 'kind', 'item_id', 'change_key', 'content_hash', 'transaction_id', 'starts_at_ms', 'attempts', 'last_error'],
    key: null,
  },
  { table: 'api_key', columns: ['id', 'name', 'hash', 'scope', 'calendars', 'created_at', 'revoked_at', 'last_used_at'], key: ['id'] },
  {
    table: 'feed_state',
    columns: ['calendar', 'url', 'etag', 'last_modified', 'consecutive_empty', 'last_fetch_at', 'last_full_fetch_at', 'last_outcome', 'last_error', 'last_change_at', 'consecutive_failures'],
    key: ['calendar'],
  },
  { table: 'route_lookup', columns: ['calendar', 'target', 'answer', 'checked_at'], key: ['calendar'] },
  // Sealed values are bound to their table, column and row, not to the store (sealed-places.ts): they are copied
  // unopened, and the new store opens them with the same store.encryptionKeys.
  {
    table: 'connection',
    columns: ['calendar', 'user_object_id', 'home_account_id', 'username', 'state', 'reason', 'reason_message', 'connected_at', 'changed_at', 'last_refresh_at', 'token_cache'],
    key: ['calendar'],
  },
  { table: 'alert_state', columns: ['key', 'kind', 'subject', 'state', 'fired_at', 'resolved_at'], key: ['key'] },
  { table: 'agent_sync', columns: ['mailbox', 'cursor', 'updated_at'], key: ['mailbox'] },
  {
    table: 'agent_meeting',
    columns: ['mailbox', 'uid', 'answer', 'reason', 'rule', 'subject', 'organizer', 'start_ms', 'end_ms', 'alias', 'instructions', 'answered_at', 'settled'],
    key: ['mailbox', 'uid'],
  },
  { table: 'agent_alias', columns: ['mailbox', 'number', 'uid', 'held_until_ms'], key: ['mailbox', 'number'] },
  { table: 'watch_state', columns: ['calendar', 'target', 'state', 'full_at', 'updated_at'], key: ['calendar'] },
  { table: 'drift', columns: ['calendar', 'event_key', 'kind', 'policy', 'item_id', 'change_key', 'content_hash', 'seen_at'], key: ['calendar', 'event_key'] },
  { table: 'watch_subscription', columns: ['calendar', 'target', 'subscription_id', 'expires_at', 'last_error', 'last_error_at', 'updated_at'], key: ['calendar'] },
  { table: 'notification_count', columns: ['target', 'received', 'rejected'], key: ['target'] },
];

export interface CopiedCounts {
  table: string;
  source: number;
  target: number;
}

const PAGE = 2_000;

/** Copies every table of COPIED_TABLES; returns each table's row count in both stores (equal when it worked). */
export async function copyStore(from: StoreTables, to: StoreTables, onTable?: (table: string, rows: number) => void): Promise<CopiedCounts[]> {
  const counts: CopiedCounts[] = [];
  for (const { table, columns, key } of COPIED_TABLES) {
    if (!key) await to.clearTable(table);
    // Paged by key, or (a table without one) by its own order: the source is not being written meanwhile.
    const order = key ?? columns.slice(0, 4);
    let after: unknown[] | null = null;
    let copied = 0;
    for (;;) {
      const rows: Row[] = await from.readTable(table, columns, order, after, PAGE, key ? 0 : copied);
      if (!rows.length) break;
      await to.writeRows(table, key ?? [], rows);
      copied += rows.length;
      onTable?.(table, copied);
      if (rows.length < PAGE) break;
      if (key) after = key.map((column) => rows[rows.length - 1]![column]);
    }
    counts.push({ table, source: await from.countRows(table), target: await to.countRows(table) });
  }
  return counts;
}
