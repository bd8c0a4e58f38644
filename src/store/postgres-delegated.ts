// The PostgreSQL side of the connection store (store/connections.ts) and the alert store (store/alerts.ts), as
// sqlite-delegated.ts is SQLite's: PostgresStore hands these functions its queries and transactions. Every secret goes
// through sealed.ts on its way in and out (the same contexts as SQLite's, sealed-places.ts): the database never holds
// a token in clear, and neither does a pg_dump of it.
import type { AlertDeliveryRow, AlertRow } from './alerts.ts';
import type { ConnectionRow, ConsentRequestRow } from './connections.ts';
import { open, rewrap, seal, sealedKeyId, type Keyring } from './sealed.ts';
import { CONNECTION_COLUMNS, keyringOf, SEALED, toConnection, tokenCacheContext, verifierContext } from './sealed-places.ts';

type Row = Record<string, unknown>;

/** One connection's queries (inside a transaction, or the pool's). */
export interface PgQueries {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

export interface PostgresParts {
  query(sql: string, params?: unknown[]): Promise<Row[]>;
  transaction<T>(work: (client: PgQueries) => Promise<T>): Promise<T>;
  now: () => string;
  keyring: Keyring | undefined;
}

/** Appended to the PostgreSQL store's migrations (postgres.ts): the tables of sqlite-delegated.ts's DELEGATED_MIGRATION. */
export const POSTGRES_DELEGATED_MIGRATION = `
  -- Delegated access: one connection per calendar, its msal token cache sealed (AES-256-GCM envelope, sealed.ts).
  CREATE TABLE connection (
    calendar          text COLLATE "C" PRIMARY KEY,
    user_object_id    text COLLATE "C" NOT NULL,
    home_account_id   text COLLATE "C" NOT NULL,
    username          text NOT NULL,
    state             text COLLATE "C" NOT NULL CHECK (state IN ('connected', 'disconnected')),
    reason            text COLLATE "C",
    reason_message    text,
    connected_at      text COLLATE "C" NOT NULL,
    changed_at        text COLLATE "C" NOT NULL,
    last_refresh_at   text COLLATE "C",
    token_cache       text
  );
  -- Sign-ins in progress on the consent page (single use, minutes long); the PKCE verifier sealed.
  CREATE TABLE consent_request (
    id              text COLLATE "C" PRIMARY KEY,
    binding_hash    text COLLATE "C" NOT NULL,
    purpose         text COLLATE "C" NOT NULL CHECK (purpose IN ('connect', 'disconnect')),
    calendar        text COLLATE "C",
    code_verifier   text NOT NULL,
    nonce           text NOT NULL,
    expires_at_ms   bigint NOT NULL
  );
  -- Alerts: the conditions firing now (one notification each until it clears), and the notifications to send.
  CREATE TABLE alert_state (
    key          text COLLATE "C" PRIMARY KEY,
    kind         text COLLATE "C" NOT NULL,
    subject      text COLLATE "C" NOT NULL,
    state        text COLLATE "C" NOT NULL CHECK (state IN ('firing', 'resolved')),
    fired_at     text COLLATE "C" NOT NULL,
    resolved_at  text COLLATE "C"
  );
  CREATE TABLE alert_delivery (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_key           text COLLATE "C" NOT NULL,
    channel             text COLLATE "C" NOT NULL,
    payload             text NOT NULL,
    attempts            integer NOT NULL DEFAULT 0,
    next_attempt_at_ms  bigint NOT NULL,
    last_error          text
  );
  CREATE INDEX alert_delivery_due ON alert_delivery (next_attempt_at_ms);
  -- Polls in a row that failed (an alert after feeds' failure threshold).
  ALTER TABLE feed_state ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
`;

export async function connection(parts: PostgresParts, calendar: string): Promise<ConnectionRow | null> {
  const [row] = await parts.query(`SELECT ${CONNECTION_COLUMNS} FROM connection WHERE calendar = $1`, [calendar]);
  return row ? toConnection(row) : null;
}

export async function connections(parts: PostgresParts): Promise<ConnectionRow[]> {
  return (await parts.query(`SELECT ${CONNECTION_COLUMNS} FROM connection ORDER BY calendar`)).map(toConnection);
}

export async function saveConnection(parts: PostgresParts, row: ConnectionRow, tokenCache: string): Promise<ConnectionRow | null> {
  const sealed = seal(keyringOf(parts.keyring), tokenCache, tokenCacheContext(row.calendar));
  return parts.transaction(async (client) => {
    // One person's connects, on any worker, one at a time: the check below and the write cannot interleave.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('calpush-connection:' || $1))`, [row.userObjectId]);
    if (row.state === 'connected') {
      const other = await client.query(
        `SELECT ${CONNECTION_COLUMNS} FROM connection WHERE user_object_id = $1 AND state = 'connected' AND calendar <> $2 ORDER BY calendar LIMIT 1`,
        [row.userObjectId, row.calendar],
      );
      if (other.rows[0]) return toConnection(other.rows[0] as Row);
    }
    const before = (await client.query('SELECT user_object_id FROM connection WHERE calendar = $1 FOR UPDATE', [row.calendar])).rows[0] as Row | undefined;
    if (before && before.user_object_id !== row.userObjectId) await forgetOldMailbox(client, row.calendar);
    await upsertConnection(client, row, sealed);
    return null;
  });
}

/** Another person's mailbox now: the old one's item ids and change keys mean nothing there (connections.ts). */
async function forgetOldMailbox(client: PgQueries, calendar: string): Promise<void> {
  await client.query('DELETE FROM delivered_item WHERE calendar = $1', [calendar]);
  await client.query('DELETE FROM pending_op WHERE calendar = $1', [calendar]);
  await client.query('UPDATE mailbox SET inventoried_at = NULL WHERE calendar = $1', [calendar]);
}

async function upsertConnection(client: PgQueries, row: ConnectionRow, sealed: string): Promise<void> {
  await client.query(
    `INSERT INTO connection (${CONNECTION_COLUMNS}, token_cache) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (calendar) DO UPDATE SET user_object_id = excluded.user_object_id, home_account_id = excluded.home_account_id,
       username = excluded.username, state = excluded.state, reason = excluded.reason, reason_message = excluded.reason_message,
       connected_at = excluded.connected_at, changed_at = excluded.changed_at, last_refresh_at = excluded.last_refresh_at,
       token_cache = excluded.token_cache`,
    [row.calendar, row.userObjectId, row.homeAccountId, row.username, row.state, row.reason, row.reasonMessage, row.connectedAt, row.changedAt, row.lastRefreshAt, sealed],
  );
}

export async function connectionTokenCache(parts: PostgresParts, calendar: string): Promise<string | null> {
  const [row] = await parts.query("SELECT token_cache FROM connection WHERE calendar = $1 AND state = 'connected'", [calendar]);
  const sealed = row?.token_cache as string | null | undefined;
  return sealed ? open(keyringOf(parts.keyring), sealed, tokenCacheContext(calendar)) : null;
}

export async function saveConnectionTokenCache(parts: PostgresParts, calendar: string, tokenCache: string): Promise<boolean> {
  const sealed = seal(keyringOf(parts.keyring), tokenCache, tokenCacheContext(calendar));
  const rows = await parts.query("UPDATE connection SET token_cache = $1, last_refresh_at = $2 WHERE calendar = $3 AND state = 'connected' RETURNING calendar", [sealed, parts.now(), calendar]);
  return rows.length > 0;
}

export async function disconnect(parts: PostgresParts, calendar: string, reason: string, message: string): Promise<boolean> {
  const rows = await parts.query(
    "UPDATE connection SET state = 'disconnected', reason = $1, reason_message = $2, changed_at = $3, token_cache = NULL WHERE calendar = $4 AND state = 'connected' RETURNING calendar",
    [reason, message, parts.now(), calendar],
  );
  return rows.length > 0;
}

export async function saveConsentRequest(parts: PostgresParts, request: ConsentRequestRow): Promise<void> {
  const sealed = seal(keyringOf(parts.keyring), request.codeVerifier, verifierContext(request.id));
  await parts.query('INSERT INTO consent_request (id, binding_hash, purpose, calendar, code_verifier, nonce, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
    request.id,
    request.bindingHash,
    request.purpose,
    request.calendar,
    sealed,
    request.nonce,
    request.expiresAtMs,
  ]);
}

export async function takeConsentRequest(parts: PostgresParts, id: string, nowMs: number): Promise<ConsentRequestRow | null> {
  const row = await parts.transaction(async (client) => {
    await client.query('DELETE FROM consent_request WHERE expires_at_ms <= $1', [nowMs]);
    // Single use across workers: the DELETE … RETURNING hands the row to one callback only.
    return ((await client.query('DELETE FROM consent_request WHERE id = $1 RETURNING *', [id])).rows[0] as Row | undefined) ?? null;
  });
  if (!row) return null;
  return {
    id,
    bindingHash: String(row.binding_hash),
    purpose: row.purpose === 'disconnect' ? 'disconnect' : 'connect',
    calendar: (row.calendar as string | null) ?? null,
    codeVerifier: open(keyringOf(parts.keyring), String(row.code_verifier), verifierContext(id)),
    nonce: String(row.nonce),
    expiresAtMs: Number(row.expires_at_ms),
  };
}

export async function rotateEncryptionKey(parts: PostgresParts): Promise<{ rewrapped: number; current: number; keyId: string }> {
  const keyring = keyringOf(parts.keyring);
  return parts.transaction(async (client) => {
    let rewrapped = 0;
    let current = 0;
    for (const place of SEALED) {
      const rows = (await client.query(`SELECT ${place.key} AS k, ${place.column} AS v FROM ${place.table} WHERE ${place.column} IS NOT NULL FOR UPDATE`)).rows as Row[];
      for (const row of rows) {
        const sealed = String(row.v);
        if (sealedKeyId(sealed) === keyring.current.id) {
          current++;
          continue;
        }
        await client.query(`UPDATE ${place.table} SET ${place.column} = $1 WHERE ${place.key} = $2`, [rewrap(keyring, sealed, place.context(String(row.k))), String(row.k)]);
        rewrapped++;
      }
    }
    return { rewrapped, current, keyId: keyring.current.id };
  });
}

// ---- alerts ---------------------------------------------------------------------------------------------------

export async function firingAlerts(parts: PostgresParts): Promise<AlertRow[]> {
  const rows = await parts.query("SELECT key, kind, subject, fired_at FROM alert_state WHERE state = 'firing' ORDER BY key");
  return rows.map((row) => ({ key: String(row.key), kind: String(row.kind), subject: String(row.subject), firedAt: String(row.fired_at) }));
}

async function queue(client: PgQueries, key: string, notifications: Array<{ channel: string; payload: string }>, nowMs: number): Promise<void> {
  for (const n of notifications) {
    await client.query('INSERT INTO alert_delivery (alert_key, channel, payload, next_attempt_at_ms) VALUES ($1, $2, $3, $4)', [key, n.channel, n.payload, nowMs]);
  }
}

export async function fireAlert(parts: PostgresParts, alert: AlertRow, notifications: Array<{ channel: string; payload: string }>, nowMs: number): Promise<boolean> {
  return parts.transaction(async (client) => {
    const result = await client.query(
      `INSERT INTO alert_state (key, kind, subject, state, fired_at) VALUES ($1, $2, $3, 'firing', $4)
       ON CONFLICT (key) DO UPDATE SET state = 'firing', fired_at = excluded.fired_at, resolved_at = NULL WHERE alert_state.state = 'resolved'`,
      [alert.key, alert.kind, alert.subject, alert.firedAt],
    );
    if (!result.rowCount) return false;
    await queue(client, alert.key, notifications, nowMs);
    return true;
  });
}

export async function resolveAlert(parts: PostgresParts, key: string, notifications: Array<{ channel: string; payload: string }>, nowMs: number): Promise<boolean> {
  return parts.transaction(async (client) => {
    const result = await client.query("UPDATE alert_state SET state = 'resolved', resolved_at = $1 WHERE key = $2 AND state = 'firing'", [parts.now(), key]);
    if (!result.rowCount) return false;
    await queue(client, key, notifications, nowMs);
    return true;
  });
}

export async function claimAlertDeliveries(parts: PostgresParts, nowMs: number, leaseMs: number, limit: number): Promise<AlertDeliveryRow[]> {
  // Claimed in one statement; rows another worker is claiming are skipped, not waited for.
  const rows = await parts.query(
    `UPDATE alert_delivery d SET next_attempt_at_ms = $2
     FROM (SELECT id FROM alert_delivery WHERE next_attempt_at_ms <= $1 ORDER BY next_attempt_at_ms, id LIMIT $3 FOR UPDATE SKIP LOCKED) due
     WHERE d.id = due.id RETURNING d.*`,
    [nowMs, nowMs + leaseMs, Math.floor(limit)],
  );
  return rows
    .map((row) => ({
      id: Number(row.id),
      alertKey: String(row.alert_key),
      channel: String(row.channel),
      payload: String(row.payload),
      attempts: Number(row.attempts),
      nextAttemptAtMs: nowMs + leaseMs,
      lastError: (row.last_error as string | null) ?? null,
    }))
    .sort((a, b) => a.id - b.id);
}

export async function recordAlertDelivery(parts: PostgresParts, id: number, outcome: { ok: true } | { ok: false; error: string; nextAttemptAtMs: number | null }): Promise<void> {
  if (outcome.ok || outcome.nextAttemptAtMs === null) {
    await parts.query('DELETE FROM alert_delivery WHERE id = $1', [id]);
    return;
  }
  await parts.query('UPDATE alert_delivery SET attempts = attempts + 1, last_error = $1, next_attempt_at_ms = $2 WHERE id = $3', [outcome.error.slice(0, 500), outcome.nextAttemptAtMs, id]);
}
