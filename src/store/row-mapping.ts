// Rows as both stores read them back (SQLite and PostgreSQL name their columns alike): one mapping, so that the
// two cannot drift apart. PostgreSQL returns BIGINT and COUNT(*) as strings, hence Number() everywhere.
import type { DeliveredRow, DesiredJsonRow, DesiredRow, MailboxRow, PendingOp } from '../model/rows.ts';
import type { ApiKeyRow, FeedStateRow } from './store.ts';

export type Row = Record<string, unknown>;

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

export function toFeedState(row: Row): FeedStateRow {
  return {
    calendar: String(row.calendar),
    url: String(row.url),
    etag: text(row.etag),
    lastModified: text(row.last_modified),
    consecutiveEmpty: Number(row.consecutive_empty),
    lastFetchAt: text(row.last_fetch_at),
    lastFullFetchAt: text(row.last_full_fetch_at),
    lastOutcome: text(row.last_outcome),
    lastError: text(row.last_error),
    lastChangeAt: text(row.last_change_at),
    consecutiveFailures: Number(row.consecutive_failures ?? 0),
  };
}

export function toApiKey(row: Row): ApiKeyRow {
  return {
    id: String(row.id),
    name: String(row.name),
    hash: String(row.hash),
    scope: String(row.scope) as ApiKeyRow['scope'],
    calendars: row.calendars === null || row.calendars === undefined ? null : (JSON.parse(String(row.calendars)) as string[]),
    createdAt: String(row.created_at),
    revokedAt: (row.revoked_at as string | null) ?? null,
    lastUsedAt: (row.last_used_at as string | null) ?? null,
  };
}

export function opIdentity(key: string, kind: string, itemId: string | null): string {
  return `${key}\n${kind}\n${itemId ?? ''}`;
}

export function toPendingOp(row: Row): PendingOp {
  return {
    calendar: String(row.calendar),
    key: String(row.event_key),
    kind: String(row.kind) as PendingOp['kind'],
    itemId: (row.item_id as string | null) ?? null,
    changeKey: (row.change_key as string | null) ?? null,
    contentHash: (row.content_hash as string | null) ?? null,
    transactionId: (row.transaction_id as string | null) ?? null,
    startsAtMs: row.starts_at_ms === null ? null : Number(row.starts_at_ms),
    attempts: Number(row.attempts),
    lastError: (row.last_error as string | null) ?? null,
  };
}

export function toDesired(row: Row): DesiredRow {
  const { eventJson, ...fields } = toDesiredJson(row);
  return { ...fields, event: JSON.parse(eventJson) };
}

export function toDesiredJson(row: Row): DesiredJsonRow {
  return {
    calendar: String(row.calendar),
    key: String(row.event_key),
    sourceId: String(row.source_id),
    contentHash: String(row.content_hash),
    startsAtMs: Number(row.starts_at_ms),
    eventJson: String(row.payload),
  };
}

export function toDelivered(row: Row): DeliveredRow {
  return {
    calendar: String(row.calendar),
    key: String(row.event_key),
    itemId: String(row.item_id),
    changeKey: (row.change_key as string | null) ?? null,
    transactionId: (row.transaction_id as string | null) ?? null,
    contentHash: String(row.content_hash),
    startsAtMs: row.starts_at_ms === null || row.starts_at_ms === undefined ? null : Number(row.starts_at_ms),
  };
}

export function toMailbox(row: Row): MailboxRow {
  return {
    calendar: String(row.calendar),
    state: String(row.state) as MailboxRow['state'],
    lastErrorCode: (row.last_error_code as string | null) ?? null,
    lastError: (row.last_error as string | null) ?? null,
    lastErrorRemedy: (row.last_error_remedy as string | null) ?? null,
    lastSyncAt: (row.last_sync_at as string | null) ?? null,
    inventoriedAt: (row.inventoried_at as string | null) ?? null,
    consecutiveFailures: Number(row.consecutive_failures),
    desiredVersion: Number(row.desired_version),
    deliveredVersion: Number(row.delivered_version),
    target: (row.target as string | null | undefined) ?? null,
  };
}

