// The SQLite side of the connection store (store/connections.ts) and the alert store (store/alerts.ts): SqliteStore
// hands these functions its statements and transactions. Every secret goes through sealed.ts on its way in and out:
// the file never holds a token in clear.
import type { StatementSync } from 'node:sqlite';
import type { AlertDeliveryRow, AlertRow } from './alerts.ts';
import type { ConnectionRow, ConsentRequestRow } from './connections.ts';
import { open, rewrap, seal, sealedKeyId, type Keyring } from './sealed.ts';
import { CONNECTION_COLUMNS, keyringOf, SEALED, toConnection, tokenCacheContext, verifierContext } from './sealed-places.ts';

/** Appended to the store's migrations (sqlite.ts). */
export const DELEGATED_MIGRATION = `
  -- Delegated access: one connection per calendar, its msal token cache sealed (AES-256-GCM envelope, sealed.ts).
  CREATE TABLE connection (
    calendar          TEXT PRIMARY KEY,
    user_object_id    TEXT NOT NULL,
    home_account_id   TEXT NOT NULL,
    username          TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('connected', 'disconnected')),
    reason            TEXT,
    reason_message    TEXT,
    connected_at      TEXT NOT NULL,
    changed_at        TEXT NOT NULL,
    last_refresh_at   TEXT,
    token_cache       TEXT
  );
  -- Sign-ins in progress on the consent page (single use, minutes long); the PKCE verifier sealed.
  CREATE TABLE consent_request (
    id              TEXT PRIMARY KEY,
    binding_hash    TEXT NOT NULL,
    purpose         TEXT NOT NULL CHECK (purpose IN ('connect', 'disconnect')),
    calendar        TEXT,
    code_verifier   TEXT NOT NULL,
    nonce           TEXT NOT NULL,
    expires_at_ms   INTEGER NOT NULL
  );
  -- Alerts: the conditions firing now (one notification each until it clears), and the notifications to send.
  CREATE TABLE alert_state (
    key        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    fired_at   TEXT NOT NULL,
    resolved_at TEXT
  );
  CREATE TABLE alert_delivery (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_key           TEXT NOT NULL,
    channel             TEXT NOT NULL,
    payload             TEXT NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at_ms  INTEGER NOT NULL,
    last_error          TEXT
  );
  CREATE INDEX alert_delivery_due ON alert_delivery (next_attempt_at_ms);
  -- Polls in a row that failed (an alert after feeds' failure threshold).
  ALTER TABLE feed_state ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
`;

type Row = Record<string, unknown>;

export interface SqliteParts {
  statement: (sql: string) => StatementSync;
  transaction: <T>(work: () => T) => T;
  now: () => string;
  keyring: Keyring | undefined;
}

export function connection(parts: SqliteParts, calendar: string): ConnectionRow | null {
  const row = parts.statement(`SELECT ${CONNECTION_COLUMNS} FROM connection WHERE calendar = ?`).get(calendar) as Row | undefined;
  return row ? toConnection(row) : null;
}

export function connections(parts: SqliteParts): ConnectionRow[] {
  return (parts.statement(`SELECT ${CONNECTION_COLUMNS} FROM connection ORDER BY calendar`).all() as Row[]).map(toConnection);
}

export function saveConnection(parts: SqliteParts, row: ConnectionRow, tokenCache: string): ConnectionRow | null {
  const sealed = seal(keyringOf(parts.keyring), tokenCache, tokenCacheContext(row.calendar));
  return parts.transaction(() => {
    if (row.state === 'connected') {
      const other = parts
        .statement(`SELECT ${CONNECTION_COLUMNS} FROM connection WHERE user_object_id = ? AND state = 'connected' AND calendar <> ? ORDER BY calendar LIMIT 1`)
        .get(row.userObjectId, row.calendar) as Row | undefined;
      if (other) return toConnection(other);
    }
    const before = parts.statement('SELECT user_object_id FROM connection WHERE calendar = ?').get(row.calendar) as Row | undefined;
    if (before && before.user_object_id !== row.userObjectId) forgetOldMailbox(parts, row.calendar);
    upsertConnection(parts, row, sealed);
    return null;
  });
}

/** Another person's mailbox now: the old one's item ids and change keys mean nothing there (connections.ts). */
function forgetOldMailbox(parts: SqliteParts, calendar: string): void {
  parts.statement('DELETE FROM delivered_item WHERE calendar = ?').run(calendar);
  parts.statement('DELETE FROM pending_op WHERE calendar = ?').run(calendar);
  parts.statement('UPDATE mailbox SET inventoried_at = NULL WHERE calendar = ?').run(calendar);
}

function upsertConnection(parts: SqliteParts, row: ConnectionRow, sealed: string): void {
  parts
    .statement(`
      INSERT INTO connection (${CONNECTION_COLUMNS}, token_cache) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (calendar) DO UPDATE SET user_object_id = excluded.user_object_id, home_account_id = excluded.home_account_id,
        username = excluded.username, state = excluded.state, reason = excluded.reason, reason_message = excluded.reason_message,
        connected_at = excluded.connected_at, changed_at = excluded.changed_at, last_refresh_at = excluded.last_refresh_at,
        token_cache = excluded.token_cache`)
    .run(row.calendar, row.userObjectId, row.homeAccountId, row.username, row.state, row.reason, row.reasonMessage, row.connectedAt, row.changedAt, row.lastRefreshAt, sealed);
}

export function connectionTokenCache(parts: SqliteParts, calendar: string): string | null {
  const row = parts.statement("SELECT token_cache FROM connection WHERE calendar = ? AND state = 'connected'").get(calendar) as Row | undefined;
  const sealed = row?.token_cache as string | null | undefined;
  return sealed ? open(keyringOf(parts.keyring), sealed, tokenCacheContext(calendar)) : null;
}

export function saveConnectionTokenCache(parts: SqliteParts, calendar: string, tokenCache: string): boolean {
  const sealed = seal(keyringOf(parts.keyring), tokenCache, tokenCacheContext(calendar));
  const result = parts.statement("UPDATE connection SET token_cache = ?, last_refresh_at = ? WHERE calendar = ? AND state = 'connected'").run(sealed, parts.now(), calendar);
  return Number(result.changes) > 0;
}

export function disconnect(parts: SqliteParts, calendar: string, reason: string, message: string): boolean {
  const result = parts
    .statement("UPDATE connection SET state = 'disconnected', reason = ?, reason_message = ?, changed_at = ?, token_cache = NULL WHERE calendar = ? AND state = 'connected'")
    .run(reason, message, parts.now(), calendar);
  return Number(result.changes) > 0;
}

export function saveConsentRequest(parts: SqliteParts, request: ConsentRequestRow): void {
  const sealed = seal(keyringOf(parts.keyring), request.codeVerifier, verifierContext(request.id));
  parts
    .statement('INSERT INTO consent_request (id, binding_hash, purpose, calendar, code_verifier, nonce, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(request.id, request.bindingHash, request.purpose, request.calendar, sealed, request.nonce, request.expiresAtMs);
}

export function takeConsentRequest(parts: SqliteParts, id: string, nowMs: number): ConsentRequestRow | null {
  return parts.transaction(() => {
    parts.statement('DELETE FROM consent_request WHERE expires_at_ms <= ?').run(nowMs);
    const row = parts.statement('SELECT * FROM consent_request WHERE id = ?').get(id) as Row | undefined;
    if (!row) return null;
    parts.statement('DELETE FROM consent_request WHERE id = ?').run(id);
    return {
      id,
      bindingHash: String(row.binding_hash),
      purpose: row.purpose === 'disconnect' ? 'disconnect' : 'connect',
      calendar: (row.calendar as string | null) ?? null,
      codeVerifier: open(keyringOf(parts.keyring), String(row.code_verifier), verifierContext(id)),
      nonce: String(row.nonce),
      expiresAtMs: Number(row.expires_at_ms),
    };
  });
}

export function rotateEncryptionKey(parts: SqliteParts): { rewrapped: number; current: number; keyId: string } {
  const keyring = keyringOf(parts.keyring);
  return parts.transaction(() => {
    let rewrapped = 0;
    let current = 0;
    for (const place of SEALED) {
      const rows = parts.statement(`SELECT ${place.key} AS k, ${place.column} AS v FROM ${place.table} WHERE ${place.column} IS NOT NULL`).all() as Row[];
      for (const row of rows) {
        const sealed = String(row.v);
        if (sealedKeyId(sealed) === keyring.current.id) {
          current++;
          continue;
        }
        parts.statement(`UPDATE ${place.table} SET ${place.column} = ? WHERE ${place.key} = ?`).run(rewrap(keyring, sealed, place.context(String(row.k))), String(row.k));
        rewrapped++;
      }
    }
    return { rewrapped, current, keyId: keyring.current.id };
  });
}

// ---- alerts ---------------------------------------------------------------------------------------------------

export function firingAlerts(parts: SqliteParts): AlertRow[] {
  const rows = parts.statement("SELECT key, kind, subject, fired_at FROM alert_state WHERE state = 'firing' ORDER BY key").all() as Row[];
  return rows.map((row) => ({ key: String(row.key), kind: String(row.kind), subject: String(row.subject), firedAt: String(row.fired_at) }));
}

function queue(parts: SqliteParts, key: string, notifications: Array<{ channel: string; payload: string }>, nowMs: number): void {
  const insert = parts.statement('INSERT INTO alert_delivery (alert_key, channel, payload, next_attempt_at_ms) VALUES (?, ?, ?, ?)');
  for (const n of notifications) insert.run(key, n.channel, n.payload, nowMs);
}

export function fireAlert(parts: SqliteParts, alert: AlertRow, notifications: Array<{ channel: string; payload: string }>, nowMs: number): boolean {
  return parts.transaction(() => {
    const result = parts
      .statement(`
        INSERT INTO alert_state (key, kind, subject, state, fired_at) VALUES (?, ?, ?, 'firing', ?)
        ON CONFLICT (key) DO UPDATE SET state = 'firing', fired_at = excluded.fired_at, resolved_at = NULL WHERE alert_state.state = 'resolved'`)
      .run(alert.key, alert.kind, alert.subject, alert.firedAt);
    if (Number(result.changes) === 0) return false;
    queue(parts, alert.key, notifications, nowMs);
    return true;
  });
}

export function resolveAlert(parts: SqliteParts, key: string, notifications: Array<{ channel: string; payload: string }>, nowMs: number): boolean {
  return parts.transaction(() => {
    const result = parts.statement("UPDATE alert_state SET state = 'resolved', resolved_at = ? WHERE key = ? AND state = 'firing'").run(parts.now(), key);
    if (Number(result.changes) === 0) return false;
    queue(parts, key, notifications, nowMs);
    return true;
  });
}

export function claimAlertDeliveries(parts: SqliteParts, nowMs: number, leaseMs: number, limit: number): AlertDeliveryRow[] {
  return parts.transaction(() => {
    const rows = parts.statement('SELECT * FROM alert_delivery WHERE next_attempt_at_ms <= ? ORDER BY next_attempt_at_ms, id LIMIT ?').all(nowMs, limit) as Row[];
    const claim = parts.statement('UPDATE alert_delivery SET next_attempt_at_ms = ? WHERE id = ?');
    return rows.map((row) => {
      claim.run(nowMs + leaseMs, Number(row.id));
      return {
        id: Number(row.id),
        alertKey: String(row.alert_key),
        channel: String(row.channel),
        payload: String(row.payload),
        attempts: Number(row.attempts),
        nextAttemptAtMs: nowMs + leaseMs,
        lastError: (row.last_error as string | null) ?? null,
      };
    });
  });
}

export function recordAlertDelivery(parts: SqliteParts, id: number, outcome: { ok: true } | { ok: false; error: string; nextAttemptAtMs: number | null }): void {
  if (outcome.ok || outcome.nextAttemptAtMs === null) {
    parts.statement('DELETE FROM alert_delivery WHERE id = ?').run(id);
    return;
  }
  parts.statement('UPDATE alert_delivery SET attempts = attempts + 1, last_error = ?, next_attempt_at_ms = ? WHERE id = ?').run(outcome.error.slice(0, 500), outcome.nextAttemptAtMs, id);
}
