// What both stores (sqlite-delegated.ts, postgres-delegated.ts) share about the secrets they keep: where each sealed
// value lives (its context, GCM additional data, names the table, the column and the row — the same in either store,
// so `calpush store copy` carries sealed values across unopened), the keyring they need, and the connection rows.
import type { ConnectionRow } from './connections.ts';
import { SealError, type Keyring } from './sealed.ts';

type Row = Record<string, unknown>;

/** Where each sealed value lives: its context (GCM additional data) names the table, the column and the row. */
export const tokenCacheContext = (calendar: string) => `connection.token_cache:${calendar}`;
export const verifierContext = (id: string) => `consent_request.code_verifier:${id}`;

export function keyringOf(keyring: Keyring | undefined): Keyring {
  if (!keyring) {
    throw new SealError(
      'NoEncryptionKey',
      'the store holds (or is asked to keep) secrets, and no encryption key is configured',
      'add store.encryptionKeys to the config: [{"id": "k1", "key": {"file": "calpush-store.key"}}], the key made with: openssl rand -base64 32 (docs/delegated.md)',
    );
  }
  return keyring;
}

export function toConnection(row: Row): ConnectionRow {
  return {
    calendar: String(row.calendar),
    userObjectId: String(row.user_object_id),
    homeAccountId: String(row.home_account_id),
    username: String(row.username),
    state: row.state === 'connected' ? 'connected' : 'disconnected',
    reason: (row.reason as string | null) ?? null,
    reasonMessage: (row.reason_message as string | null) ?? null,
    connectedAt: String(row.connected_at),
    changedAt: String(row.changed_at),
    lastRefreshAt: (row.last_refresh_at as string | null) ?? null,
  };
}

export const CONNECTION_COLUMNS = 'calendar, user_object_id, home_account_id, username, state, reason, reason_message, connected_at, changed_at, last_refresh_at';

/** Every sealed column: table, column, the row's key column, and the context its values are sealed for. */
export const SEALED = [
  { table: 'connection', column: 'token_cache', key: 'calendar', context: tokenCacheContext },
  { table: 'consent_request', column: 'code_verifier', key: 'id', context: verifierContext },
] as const;

