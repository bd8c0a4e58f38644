// The embedded store: SQLite through node:sqlite (no native build), WAL mode, versioned migrations.
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { systemClock, type Clock } from '../model/clock.ts';
import type { DesiredEvent, EventTiming } from '../model/event.ts';
import { keepsAbsentEvent, retentionBounds, type RetentionRule } from '../model/retention.ts';
import type { DeliveredRow, DesiredJsonRow, DesiredRow, HeldEvent, MailboxRow, PendingOp, RouteLookupRow } from '../model/rows.ts';
import {
  EmptyInputRefused,
  type ApiKeyRow,
  type CalendarCounts,
  type DesiredOp,
  type DesiredOpOutcome,
  type EventDeliveryState,
  type FeedStateRow,
  type StoreTotals,
  type DesiredChange,
  type DesiredChangeResult,
  type DesiredImport,
  type DesiredImportFinish,
  type DesiredImportResult,
  type DesiredPreviewCalendar,
  type Lease,
  LeaseLost,
  type Store,
} from './store.ts';
import type { StoreTables } from './copy.ts';
import { BUSY_TIMEOUT_MS, guardDatabase, storeFailure, StoreError } from './errors.ts';
import { prepareStoreFile, warnIfReadableByOthers } from './files.ts';
import { LEDGER_BUCKET_MS, UnwrittenCharges, writeCharges } from './sqlite-ledger.ts';
import { opIdentity, toApiKey, toDelivered, toDesired, toDesiredJson, toFeedState, toMailbox, toPendingOp, type Row } from './row-mapping.ts';
import type { AlertDeliveryRow, AlertRow, AlertStore } from './alerts.ts';
import type { ConnectionRow, ConnectionStore, ConsentRequestRow, SealedSecrets } from './connections.ts';
import type { Keyring } from './sealed.ts';
import * as delegated from './sqlite-delegated.ts';
import { DELEGATED_MIGRATION, type SqliteParts } from './sqlite-delegated.ts';
import * as agent from './sqlite-agent.ts';
import { AGENT_ALIAS_HELD_UNTIL_MIGRATION, AGENT_MEETING_SETTLED_MIGRATION, AGENT_MIGRATION, type SqliteAgentParts } from './sqlite-agent.ts';
import type { AgentMeetingRow, AgentMeetingWrite, AgentStore } from './agent.ts';
import * as watch from './sqlite-watch.ts';
import { SUBSCRIPTION_MIGRATION, WATCH_MIGRATION, type SqliteWatchParts } from './sqlite-watch.ts';
import type { DriftKind, DriftPolicy, DriftRow, NotificationCountRow, SubscriptionRow, WatchStateRow, WatchStore } from './watch.ts';

/** Each entry runs once, in order, inside a transaction; never edit one that has shipped: append a new one. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE desired_event (
    calendar      TEXT NOT NULL,
    event_key     TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    starts_at_ms  INTEGER NOT NULL,
    payload       TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (calendar, event_key)
  ) WITHOUT ROWID;

  CREATE TABLE delivered_item (
    calendar        TEXT NOT NULL,
    item_id         TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    change_key      TEXT,
    transaction_id  TEXT,
    content_hash    TEXT NOT NULL,
    delivered_at    TEXT NOT NULL,
    PRIMARY KEY (calendar, item_id)
  ) WITHOUT ROWID;
  CREATE INDEX delivered_item_by_key ON delivered_item (calendar, event_key);

  CREATE TABLE key_generation (
    calendar    TEXT NOT NULL,
    event_key   TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    PRIMARY KEY (calendar, event_key)
  ) WITHOUT ROWID;

  CREATE TABLE mailbox (
    calendar              TEXT PRIMARY KEY,
    state                 TEXT NOT NULL DEFAULT 'pending',
    last_error_code       TEXT,
    last_error            TEXT,
    last_sync_at          TEXT,
    inventoried_at        TEXT,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    lease_owner           TEXT,
    lease_expires_at_ms   INTEGER
  );

  CREATE TABLE pending_op (
    calendar        TEXT NOT NULL,
    event_key       TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('create', 'update', 'delete')),
    item_id         TEXT,
    content_hash    TEXT,
    transaction_id  TEXT,
    starts_at_ms    INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    PRIMARY KEY (calendar, event_key, kind, item_id)
  );
  CREATE INDEX pending_op_by_start ON pending_op (starts_at_ms);
  `,
  `
  -- Versions instead of a dirty flag: a change that lands while a delivery runs is not lost when it finishes.
  ALTER TABLE mailbox ADD COLUMN desired_version INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE mailbox ADD COLUMN delivered_version INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- calpush serve: API keys (only their SHA-256) and what the feed poller remembers per calendar.
  CREATE TABLE api_key (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    hash          TEXT NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    calendars     TEXT,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    last_used_at  TEXT
  );
  CREATE TABLE feed_state (
    calendar            TEXT PRIMARY KEY,
    url                 TEXT NOT NULL,
    etag                TEXT,
    last_modified       TEXT,
    consecutive_empty   INTEGER NOT NULL DEFAULT 0,
    last_fetch_at       TEXT,
    last_full_fetch_at  TEXT,
    last_outcome        TEXT,
    last_error          TEXT,
    last_change_at      TEXT
  );
  -- Which source last set the calendar's desired state (sync, api, import, feed; NULL = sync before this
  -- column existed). A sync without an explicit calendar list replaces only the calendars that sync manages.
  ALTER TABLE mailbox ADD COLUMN managed_by TEXT;
  `,
  `
  -- When the delivered item starts (NULL when unknown: items found by a listing). A cancellation of an imminent
  -- event is urgent although its desired row is gone; this is where its start is still known.
  ALTER TABLE delivered_item ADD COLUMN starts_at_ms INTEGER;
  `,
  `
  -- The ChangeKey / ETag an update or delete was planned with (the delivered item's), so the write carries it.
  ALTER TABLE pending_op ADD COLUMN change_key TEXT;
  `,
  `
  -- The dashboard: API keys with the admin and helpdesk scopes. SQLite cannot change a CHECK constraint in place,
  -- so the table is made anew and the rows copied (https://www.sqlite.org/lang_altertable.html#otheralter).
  CREATE TABLE api_key_new (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    hash          TEXT NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin', 'helpdesk')),
    calendars     TEXT,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT,
    last_used_at  TEXT
  );
  INSERT INTO api_key_new (id, name, hash, scope, calendars, created_at, revoked_at, last_used_at)
    SELECT id, name, hash, scope, calendars, created_at, revoked_at, last_used_at FROM api_key;
  DROP TABLE api_key;
  ALTER TABLE api_key_new RENAME TO api_key;
  -- What the administrator should do about a mailbox's last error (the dashboard shows it next to the error).
  ALTER TABLE mailbox ADD COLUMN last_error_remedy TEXT;
  `,
  `
  -- Several workers: a lease's fencing token (bumped with every new holding; a write under an old one is refused),
  -- and the requests each worker charged to each mailbox, in buckets (Outlook's budget is per app and mailbox).
  ALTER TABLE mailbox ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE request_ledger (
    calendar   TEXT NOT NULL,
    worker     TEXT NOT NULL,
    bucket_ms  INTEGER NOT NULL,
    spent      INTEGER NOT NULL,
    PRIMARY KEY (calendar, worker, bucket_ms)
  ) WITHOUT ROWID;
  `,
  `
  -- Named targets (issue #14): which target delivers each mailbox (its delivered rows belong to it), so that a move
  -- to another target is seen. Until now every mailbox was delivered by the config's single target, which is the
  -- target named "default"; mailboxes never delivered stay NULL.
  ALTER TABLE mailbox ADD COLUMN target TEXT;
  UPDATE mailbox SET target = 'default'
    WHERE inventoried_at IS NOT NULL OR EXISTS (SELECT 1 FROM delivered_item d WHERE d.calendar = mailbox.calendar);
  -- What a route lookup (Exchange hybrid: Autodiscover, Graph) answered, and when it was asked.
  CREATE TABLE route_lookup (
    calendar    TEXT PRIMARY KEY,
    target      TEXT NOT NULL,
    answer      TEXT NOT NULL,
    checked_at  TEXT NOT NULL
  );
  `,
  DELEGATED_MIGRATION,
  `
  -- Until when a create sent for this op may still land on the target (ms since the epoch, by the store's clock):
  -- the time it was last sent plus what its sender's requests may take. A worker that takes the mailbox over does
  -- not list and plan it before then (issue #17: the previous holder's create may still be on its way).
  ALTER TABLE pending_op ADD COLUMN lands_by_ms INTEGER;
  `,
  AGENT_MIGRATION,
  WATCH_MIGRATION,
  AGENT_ALIAS_HELD_UNTIL_MIGRATION,
  SUBSCRIPTION_MIGRATION,
  AGENT_MEETING_SETTLED_MIGRATION,
];

/** The WAL's size, in pages, at which a commit checkpoints it (SQLite's default is 1,000; see the constructor). */
export const WAL_CHECKPOINT_PAGES = 4000;

/** "calp": the PRAGMA application_id that marks a calpush store (https://www.sqlite.org/fileformat.html#application_id). */
const CALPUSH_APPLICATION_ID = 0x63616c70;

/**
 * Runs `work` in a transaction: it commits, or it did not happen. On some errors (SQLITE_FULL, IOERR, BUSY, NOMEM)
 * SQLite has already rolled the transaction back itself (https://www.sqlite.org/lang_transaction.html, "Response
 * To Errors Within A Transaction"); the ROLLBACK then fails with "cannot rollback - no transaction is active",
 * which must not hide the error that mattered.
 */
function inTransaction<T>(db: DatabaseSync, begin: 'BEGIN' | 'BEGIN IMMEDIATE', work: () => T): T {
  db.exec(begin);
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // rolled back by SQLite already: `error` says why
    }
    throw error;
  }
}

/** Timestamps the store writes (ISO 8601, UTC), from the store's Clock. */
type Stamp = () => string;

export class SqliteStore implements Store, StoreTables, ConnectionStore, AlertStore, SealedSecrets, AgentStore, WatchStore {
  readonly kind = 'sqlite' as const;
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly statements = new Map<string, StatementSync>();
  private importSequence = 0;
  /** What time it is: row timestamps and lease expiry (leases are compared across processes, so wall-clock time). */
  private readonly clock: Clock;
  private readonly now: Stamp = () => new Date(this.clock.now()).toISOString();
  /** What the secrets' part of the store works with (sqlite-delegated.ts). */
  private readonly parts: SqliteParts;
  /** Request-ledger charges, written with the next transaction (sqlite-ledger.ts). */
  private readonly unwrittenCharges = new UnwrittenCharges(() => {
    try {
      this.writeUnwrittenCharges();
    } catch {
      // they wait again, for the next transaction, which reports the store's failure to its caller
    }
  });

  /**
   * Opens (or creates: folder 0700, file 0600) the store at `path`. Anything that makes it unusable — a read-only
   * folder, a full disk, a lock held too long, a file that is not a calpush store, damage, a newer schema — is a
   * StoreError naming the file, the cause and the fix; so is every SQLite failure later on (guardDatabase).
   */
  constructor(path: string, options: { clock?: Clock; keyring?: Keyring } = {}) {
    this.path = path;
    this.clock = options.clock ?? systemClock;
    this.parts = { statement: (sql) => this.statement(sql), transaction: (work) => this.transaction(work), now: this.now, keyring: options.keyring };
    // A plain path is prepared here; ":memory:" and SQLite URIs (file:…?mode=ro) are SQLite's to interpret.
    const plainFile = path !== ':memory:' && !path.startsWith('file:');
    if (plainFile) prepareStoreFile(path);
    try {
      this.db = guardDatabase(new DatabaseSync(this.path), this.path);
    } catch (error) {
      throw storeFailure(error, this.path);
    }
    try {
      this.db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // Before anything is written (WAL mode changes the file header): another application's file stays untouched.
      this.checkIdentity();
      // WAL: readers don't block the writer; NORMAL sync is durable across process crashes (a power loss may
      // lose the last transactions, which the tag-based adoption then recovers).
      this.db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
      // A checkpoint (copying the WAL into the database, with an fsync of each) runs inside the commit that passes
      // the threshold and blocks the event loop meanwhile. SQLite's default of 1,000 pages came to a checkpoint every
      // ~30 commits of a bulk delivery (each records up to 20 answers): a fifth of its time was spent waiting in
      // them. At 4,000 pages (16 MiB of WAL) there are a quarter as many, and a page written again meanwhile is
      // copied once (https://www.sqlite.org/wal.html#automatic_checkpoint; docs/benchmarks.md, issue #14).
      this.db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
      this.migrate();
    } catch (error) {
      this.db.close();
      throw error;
    }
    if (plainFile) warnIfReadableByOthers(path);
  }

  /** The schema version this database is at. */
  schemaVersion(): number {
    return Number((this.db.prepare('PRAGMA user_version').get() as Row).user_version);
  }

  /**
   * Refuses a database that is not calpush's (another application's SQLite file) before a migration writes into
   * it. calpush marks its stores with PRAGMA application_id (https://www.sqlite.org/pragma.html#pragma_application_id);
   * a store from before that mark is known by its schema version and its tables.
   */
  private checkIdentity(): void {
    const applicationId = Number((this.db.prepare('PRAGMA application_id').get() as Row).application_id);
    const version = this.schemaVersion();
    const tables = new Set((this.db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Row[]).map((row) => String(row.name)));
    const foreign =
      applicationId !== 0 && applicationId !== CALPUSH_APPLICATION_ID
        ? `it belongs to another application (application_id ${applicationId})`
        : version === 0 && tables.size > 0
          ? `it is an SQLite database of another application (tables ${[...tables].slice(0, 3).join(', ')}${tables.size > 3 ? ', …' : ''})`
          : version > 0 && !tables.has('desired_event')
            ? `it is an SQLite database of another application (schema version ${version}, no calpush tables)`
            : undefined;
    if (foreign) {
      throw new StoreError('NotACalpushStore', this.path, `${this.path} is not a calpush store: ${foreign}`, {
        remedy: 'set store.sqlite in the config to calpush’s own store file (a new path creates a new store); calpush never writes into another application’s database',
      });
    }
    if (version > MIGRATIONS.length) {
      throw new StoreError('StoreTooNew', this.path, `the store ${this.path} was written by a newer calpush (schema version ${version}; this calpush knows up to ${MIGRATIONS.length})`, {
        remedy: 'run the calpush version that wrote it, or newer (npm install calpush@latest); an older calpush cannot read it safely',
      });
    }
  }

  private migrate(): void {
    const current = this.schemaVersion();
    for (let version = current; version < MIGRATIONS.length; version++) {
      this.transaction(() => {
        this.db.exec(MIGRATIONS[version]!);
        this.db.exec(`PRAGMA user_version = ${version + 1}`);
        this.db.exec(`PRAGMA application_id = ${CALPUSH_APPLICATION_ID}`);
      });
    }
  }

  private statement(sql: string): StatementSync {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Every write transaction also writes the request ledger's charges that wait (sqlite-ledger.ts). */
  private transaction<T>(work: () => T): T {
    const charges = this.unwrittenCharges.take();
    try {
      return inTransaction(this.db, 'BEGIN IMMEDIATE', () => {
        writeCharges((sql) => this.statement(sql), charges);
        return work();
      });
    } catch (error) {
      this.unwrittenCharges.putBack(charges);
      throw error;
    }
  }

  /** Writes the charges that wait now, in a transaction of their own. */
  private writeUnwrittenCharges(): void {
    if (this.unwrittenCharges.size && this.db.isOpen) this.transaction(() => undefined);
  }

  /** Throws LeaseLost unless `fence` is still the mailbox's holding (inside the write's transaction). */
  private checkFence(fence: Lease | undefined): void {
    if (!fence) return;
    const row = this.statement('SELECT 1 AS held FROM mailbox WHERE calendar = ? AND lease_owner = ? AND lease_token = ?').get(fence.calendar, fence.owner, fence.token);
    if (!row) throw new LeaseLost(fence);
  }

  /** A write of a delivery, fenced by its lease, in one transaction. */
  private fenced<T>(fence: Lease | undefined, work: () => T): T {
    return this.transaction(() => {
      this.checkFence(fence);
      return work();
    });
  }

  private touchMailbox(calendar: string): void {
    this.statement('INSERT INTO mailbox (calendar) VALUES (?) ON CONFLICT (calendar) DO NOTHING').run(calendar);
  }

  async beginDesiredImport(): Promise<DesiredImport> {
    return new SqliteDesiredImport(this.db, (sql) => this.statement(sql), (work) => this.transaction(work), ++this.importSequence, this.now);
  }

  async applyDesired(change: DesiredChange): Promise<DesiredChangeResult> {
    const importer = await this.beginDesiredImport();
    const calendars = new Set(change.calendars);
    for (const desired of change.events) {
      if (!calendars.has(desired.event.calendar)) {
        await importer.abort();
        throw new Error(`event for ${desired.event.calendar} is outside the calendars being replaced`);
      }
    }
    await importer.add(change.events.map((desired) => ({ desired, record: desired.event.id })));
    await importer.hold(change.held);
    const { added, changed, removed, unchanged } = await importer.finish({ calendars: change.calendars, refuseEmpty: false, retention: change.retention ?? null });
    return { added, changed, removed, unchanged };
  }

  async changedMailboxes(): Promise<Array<{ calendar: string; desiredVersion: number }>> {
    const rows = this.statement('SELECT calendar, desired_version FROM mailbox WHERE desired_version > delivered_version').all() as Row[];
    return rows.map((row) => ({ calendar: String(row.calendar), desiredVersion: Number(row.desired_version) }));
  }

  async calendarsNeedingDelivery(calendars: string[]): Promise<string[]> {
    const clean = new Set(
      (
        this.statement(`
          SELECT calendar FROM mailbox m
          WHERE m.state = 'ok' AND m.inventoried_at IS NOT NULL AND m.delivered_version >= m.desired_version
            AND NOT EXISTS (SELECT 1 FROM pending_op p WHERE p.calendar = m.calendar)`).all() as Row[]
      ).map((row) => String(row.calendar)),
    );
    return calendars.filter((calendar) => !clean.has(calendar));
  }

  async desiredFor(calendar: string): Promise<DesiredRow[]> {
    const rows = this.statement(
      'SELECT calendar, event_key, source_id, content_hash, starts_at_ms, payload FROM desired_event WHERE calendar = ? ORDER BY event_key',
    ).all(calendar) as Row[];
    return rows.map(toDesired);
  }

  async desiredJsonFor(calendar: string): Promise<DesiredJsonRow[]> {
    const rows = this.statement(
      'SELECT calendar, event_key, source_id, content_hash, starts_at_ms, payload FROM desired_event WHERE calendar = ? ORDER BY event_key',
    ).all(calendar) as Row[];
    return rows.map(toDesiredJson);
  }

  async desiredCounts(): Promise<Map<string, number>> {
    const rows = this.statement('SELECT calendar, COUNT(*) AS n FROM desired_event GROUP BY calendar').all() as Row[];
    return new Map(rows.map((row) => [String(row.calendar), Number(row.n)]));
  }

  async deliveredFor(calendar: string): Promise<DeliveredRow[]> {
    const rows = this.statement(
      'SELECT calendar, event_key, item_id, change_key, transaction_id, content_hash, starts_at_ms FROM delivered_item WHERE calendar = ? ORDER BY event_key, item_id',
    ).all(calendar) as Row[];
    return rows.map(toDelivered);
  }

  async calendars(): Promise<string[]> {
    const rows = this.statement(`
      SELECT calendar FROM mailbox UNION SELECT calendar FROM desired_event UNION SELECT calendar FROM delivered_item
      ORDER BY calendar`).all() as Row[];
    return rows.map((row) => String(row.calendar));
  }

  async mailbox(calendar: string): Promise<MailboxRow | null> {
    const row = this.statement('SELECT * FROM mailbox WHERE calendar = ?').get(calendar) as Row | undefined;
    return row ? toMailbox(row) : null;
  }

  async mailboxes(): Promise<MailboxRow[]> {
    return (this.statement('SELECT * FROM mailbox ORDER BY calendar').all() as Row[]).map(toMailbox);
  }

  async recordInventory(calendar: string, items: DeliveredRow[], fence?: Lease): Promise<void> {
    const stamp = this.now();
    this.fenced(fence, () => {
      this.touchMailbox(calendar);
      this.statement('DELETE FROM delivered_item WHERE calendar = ?').run(calendar);
      const insert = this.statement(`
        INSERT INTO delivered_item (calendar, item_id, event_key, change_key, transaction_id, content_hash, delivered_at)
        VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
      for (const item of items) {
        insert.run(calendar, item.itemId, item.key, item.changeKey, item.transactionId, item.contentHash, stamp);
      }
      this.statement('UPDATE mailbox SET inventoried_at = ? WHERE calendar = ?').run(stamp, calendar);
    });
  }

  async recordMailboxOk(calendar: string, desiredVersion: number, fence?: Lease): Promise<void> {
    this.fenced(fence, () => {
      this.touchMailbox(calendar);
      this.statement(`
        UPDATE mailbox SET state = 'ok', last_error_code = NULL, last_error = NULL, last_error_remedy = NULL, last_sync_at = ?, consecutive_failures = 0,
          delivered_version = MAX(delivered_version, ?)
        WHERE calendar = ?`).run(this.now(), desiredVersion, calendar);
    });
  }

  async recordMailboxFailure(calendar: string, code: string, message: string, remedy?: string, fence?: Lease): Promise<void> {
    this.fenced(fence, () => {
      this.touchMailbox(calendar);
      this.statement(`
        UPDATE mailbox SET state = 'failed', last_error_code = ?, last_error = ?, last_error_remedy = ?, last_sync_at = ?,
          consecutive_failures = consecutive_failures + 1
        WHERE calendar = ?`).run(code, message, remedy ?? null, this.now(), calendar);
    });
  }

  async failureCauses(): Promise<Array<{ code: string; mailboxes: number }>> {
    const rows = this.statement(`
      SELECT COALESCE(last_error_code, 'Unknown') AS code, COUNT(*) AS n FROM mailbox WHERE state = 'failed'
      GROUP BY 1 ORDER BY n DESC, code`).all() as Row[];
    return rows.map((row) => ({ code: String(row.code), mailboxes: Number(row.n) }));
  }

  async mailboxesWithWork(): Promise<string[]> {
    const rows = this.statement(`
      SELECT calendar FROM mailbox m
      WHERE m.state != 'failed' AND (m.delivered_version < m.desired_version OR m.inventoried_at IS NULL
        OR EXISTS (SELECT 1 FROM pending_op p WHERE p.calendar = m.calendar))
      ORDER BY calendar`).all() as Row[];
    return rows.map((row) => String(row.calendar));
  }

  async invalidateInventory(calendar?: string): Promise<void> {
    if (calendar === undefined) this.statement('UPDATE mailbox SET inventoried_at = NULL').run();
    else this.statement('UPDATE mailbox SET inventoried_at = NULL WHERE calendar = ?').run(calendar);
  }

  async assignTarget(calendar: string, target: string, fence?: Lease): Promise<string | null> {
    return this.fenced(fence, () => {
      this.touchMailbox(calendar);
      const row = this.statement('SELECT target FROM mailbox WHERE calendar = ?').get(calendar) as Row;
      const previous = (row.target as string | null) ?? null;
      if (previous === target) return null;
      this.statement('UPDATE mailbox SET target = ? WHERE calendar = ?').run(target, calendar);
      if (previous === null) return null;
      this.statement('DELETE FROM delivered_item WHERE calendar = ?').run(calendar);
      this.statement('DELETE FROM pending_op WHERE calendar = ?').run(calendar);
      this.statement('UPDATE mailbox SET inventoried_at = NULL WHERE calendar = ?').run(calendar);
      return previous;
    });
  }

  async routeLookup(calendar: string): Promise<RouteLookupRow | null> {
    const row = this.statement('SELECT calendar, target, answer, checked_at FROM route_lookup WHERE calendar = ?').get(calendar) as Row | undefined;
    return row ? { calendar: String(row.calendar), target: String(row.target), answer: String(row.answer), checkedAt: String(row.checked_at) } : null;
  }

  async saveRouteLookup(row: RouteLookupRow): Promise<void> {
    this.statement(`
      INSERT INTO route_lookup (calendar, target, answer, checked_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (calendar) DO UPDATE SET target = excluded.target, answer = excluded.answer, checked_at = excluded.checked_at`).run(
      row.calendar,
      row.target,
      row.answer,
      row.checkedAt,
    );
  }

  async forgetRouteLookup(calendar: string): Promise<void> {
    this.statement('DELETE FROM route_lookup WHERE calendar = ?').run(calendar);
  }

  async claimMailbox(calendar: string, owner: string, leaseMs: number): Promise<Lease | null> {
    const nowMs = this.clock.now();
    return this.transaction(() => {
      // A row the claim creates has nothing desired and nothing to deliver (delivered_version = desired_version):
      // a lease alone — the resource agent's on its mailboxes — does not make a mailbox one the loop delivers.
      this.statement('INSERT INTO mailbox (calendar, delivered_version) VALUES (?, 1) ON CONFLICT (calendar) DO NOTHING').run(calendar);
      // A new holding (another owner, or this one after its lease expired) gets the next fencing token.
      const row = this.statement(`
        UPDATE mailbox SET
          lease_token = CASE WHEN lease_owner = ?1 AND lease_expires_at_ms >= ?3 THEN lease_token ELSE lease_token + 1 END,
          lease_owner = ?1, lease_expires_at_ms = ?2
        WHERE calendar = ?4 AND (lease_owner IS NULL OR lease_owner = ?1 OR lease_expires_at_ms < ?3)
        RETURNING lease_token`).get(owner, nowMs + leaseMs, nowMs, calendar) as Row | undefined;
      return row ? { calendar, owner, token: Number(row.lease_token) } : null;
    });
  }

  async leaseHolder(calendar: string): Promise<string | null> {
    const row = this.statement('SELECT lease_owner FROM mailbox WHERE calendar = ?').get(calendar) as Row | undefined;
    return (row?.lease_owner as string | null | undefined) ?? null;
  }

  async takeOverMailbox(calendar: string, previousOwner: string, owner: string, leaseMs: number): Promise<Lease | null> {
    const row = this.statement(
      'UPDATE mailbox SET lease_owner = ?, lease_expires_at_ms = ?, lease_token = lease_token + 1 WHERE calendar = ? AND lease_owner = ? RETURNING lease_token',
    ).get(owner, this.clock.now() + leaseMs, calendar, previousOwner) as Row | undefined;
    return row ? { calendar, owner, token: Number(row.lease_token) } : null;
  }

  async renewLeases(leases: Lease[], leaseMs: number): Promise<Lease[]> {
    const expires = this.clock.now() + leaseMs;
    const renew = this.statement('UPDATE mailbox SET lease_expires_at_ms = ? WHERE calendar = ? AND lease_owner = ? AND lease_token = ?');
    return this.transaction(() => leases.filter((lease) => Number(renew.run(expires, lease.calendar, lease.owner, lease.token).changes) === 1));
  }

  async releaseMailbox(calendar: string, owner: string): Promise<void> {
    this.statement('UPDATE mailbox SET lease_owner = NULL, lease_expires_at_ms = NULL WHERE calendar = ? AND lease_owner = ?').run(
      calendar,
      owner,
    );
  }

  async chargeRequests(calendar: string, worker: string, cost: number): Promise<void> {
    this.unwrittenCharges.add(calendar, worker, this.clock.now(), cost);
  }

  async requestsSpentByOthers(calendar: string, worker: string, windowMs: number): Promise<Array<{ agoMs: number; cost: number }>> {
    this.writeUnwrittenCharges(); // other spenders of this process charge through this handle too
    const nowMs = this.clock.now();
    const rows = this.statement(`
      SELECT bucket_ms, SUM(spent) AS spent FROM request_ledger
      WHERE calendar = ? AND worker <> ? AND bucket_ms + ? > ? GROUP BY bucket_ms ORDER BY bucket_ms`).all(calendar, worker, LEDGER_BUCKET_MS + windowMs, nowMs) as Row[];
    return rows.map((row) => ({ agoMs: Math.max(0, nowMs - (Number(row.bucket_ms) + LEDGER_BUCKET_MS)), cost: Number(row.spent) }));
  }

  async replacePendingOps(calendar: string, ops: PendingOp[], fence?: Lease): Promise<void> {
    this.fenced(fence, () => {
      // Attempts survive re-planning: an op that was sent before a crash stays "outcome unknown", and one still on
      // its way keeps the time it may land by.
      const previous = new Map<string, { attempts: number; landsBy: number | null }>();
      for (const row of this.statement('SELECT event_key, kind, item_id, attempts, lands_by_ms FROM pending_op WHERE calendar = ?').all(calendar) as Row[]) {
        previous.set(opIdentity(String(row.event_key), String(row.kind), row.item_id as string | null), { attempts: Number(row.attempts), landsBy: row.lands_by_ms === null ? null : Number(row.lands_by_ms) });
      }
      this.statement('DELETE FROM pending_op WHERE calendar = ?').run(calendar);
      const insert = this.statement(`
        INSERT INTO pending_op (calendar, event_key, kind, item_id, change_key, content_hash, transaction_id, starts_at_ms, attempts, last_error, lands_by_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      for (const op of ops) {
        const before = previous.get(opIdentity(op.key, op.kind, op.itemId));
        const attempts = Math.max(op.attempts, before?.attempts ?? 0);
        insert.run(calendar, op.key, op.kind, op.itemId, op.changeKey ?? null, op.contentHash, op.transactionId, op.startsAtMs, attempts, op.lastError, before?.landsBy ?? null);
      }
    });
  }

  async pendingOps(calendar: string): Promise<PendingOp[]> {
    const rows = this.statement('SELECT * FROM pending_op WHERE calendar = ? ORDER BY starts_at_ms, event_key').all(calendar) as Row[];
    return rows.map(toPendingOp);
  }

  async markOpAttempts(calendar: string, keys: string[], fence?: Lease, landsWithinMs = 0): Promise<void> {
    const landsBy = this.clock.now() + Math.max(0, Math.round(landsWithinMs));
    const mark = this.statement('UPDATE pending_op SET attempts = attempts + 1, lands_by_ms = MAX(COALESCE(lands_by_ms, 0), ?) WHERE calendar = ? AND event_key = ?');
    this.fenced(fence, () => {
      for (const key of keys) mark.run(landsBy, calendar, key);
    });
  }

  async createsLandWithin(calendar: string): Promise<number> {
    const row = this.statement("SELECT MAX(lands_by_ms) AS lands_by FROM pending_op WHERE calendar = ? AND kind = 'create'").get(calendar) as Row | undefined;
    return row?.lands_by === null || row?.lands_by === undefined ? 0 : Math.max(0, Number(row.lands_by) - this.clock.now());
  }

  async recordOpFailure(calendar: string, key: string, message: string, fence?: Lease, refused = false): Promise<void> {
    this.fenced(fence, () =>
      this.statement('UPDATE pending_op SET last_error = ?, lands_by_ms = CASE WHEN ? THEN NULL ELSE lands_by_ms END WHERE calendar = ? AND event_key = ?').run(message, refused ? 1 : 0, calendar, key),
    );
  }

  private deleteOp(op: PendingOp): void {
    this.statement('DELETE FROM pending_op WHERE calendar = ? AND event_key = ? AND kind = ? AND item_id IS ?').run(
      op.calendar,
      op.key,
      op.kind,
      op.itemId,
    );
  }

  private upsertDelivered(delivered: DeliveredRow): void {
    this.statement(`
      INSERT INTO delivered_item (calendar, item_id, event_key, change_key, transaction_id, content_hash, delivered_at, starts_at_ms)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (calendar, item_id) DO UPDATE SET
        event_key = excluded.event_key, change_key = excluded.change_key,
        transaction_id = COALESCE(excluded.transaction_id, delivered_item.transaction_id),
        content_hash = excluded.content_hash, delivered_at = excluded.delivered_at,
        starts_at_ms = COALESCE(excluded.starts_at_ms, delivered_item.starts_at_ms)`).run(
      delivered.calendar,
      delivered.itemId,
      delivered.key,
      delivered.changeKey,
      delivered.transactionId,
      delivered.contentHash,
      this.now(),
      delivered.startsAtMs ?? null,
    );
  }

  private dropDelivered(calendar: string, key: string, itemId: string | null): void {
    if (itemId !== null) this.statement('DELETE FROM delivered_item WHERE calendar = ? AND item_id = ?').run(calendar, itemId);
    this.statement(`
      INSERT INTO key_generation (calendar, event_key, generation) VALUES (?, ?, 1)
      ON CONFLICT (calendar, event_key) DO UPDATE SET generation = generation + 1`).run(calendar, key);
  }

  async completeOps(results: Array<{ op: PendingOp; delivered: DeliveredRow | null }>, fence?: Lease): Promise<void> {
    this.fenced(fence, () => {
      for (const { op, delivered } of results) {
        if (op.kind === 'delete') this.dropDelivered(op.calendar, op.key, op.itemId);
        else if (delivered) this.upsertDelivered(delivered);
        this.deleteOp(op);
      }
    });
  }

  async forgetDelivered(calendar: string, key: string, itemId: string, fence?: Lease): Promise<void> {
    this.fenced(fence, () => this.dropDelivered(calendar, key, itemId));
  }

  async generations(calendar: string): Promise<Map<string, number>> {
    const rows = this.statement('SELECT event_key, generation FROM key_generation WHERE calendar = ?').all(calendar) as Row[];
    return new Map(rows.map((row) => [String(row.event_key), Number(row.generation)]));
  }

  async applyDesiredOps(ops: DesiredOp[]): Promise<DesiredOpOutcome[]> {
    return this.transaction(() => {
      const stamp = this.now();
      const changed = new Set<string>();
      const outcomes: DesiredOpOutcome[] = [];
      const current = this.statement('SELECT content_hash FROM desired_event WHERE calendar = ? AND event_key = ?');
      for (const op of ops) {
        if (op.kind === 'remove') {
          const removed = Number(this.statement('DELETE FROM desired_event WHERE calendar = ? AND event_key = ?').run(op.calendar, op.key).changes);
          if (removed) changed.add(op.calendar);
          outcomes.push(removed ? 'removed' : 'absent');
          continue;
        }
        const { desired } = op;
        const calendar = desired.event.calendar;
        this.touchMailbox(calendar);
        const existing = current.get(calendar, desired.key) as Row | undefined;
        if (existing && String(existing.content_hash) === desired.contentHash) {
          outcomes.push('unchanged');
          continue;
        }
        this.statement(`
          INSERT INTO desired_event (calendar, event_key, source_id, content_hash, starts_at_ms, payload, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (calendar, event_key) DO UPDATE SET
            source_id = excluded.source_id, content_hash = excluded.content_hash,
            starts_at_ms = excluded.starts_at_ms, payload = excluded.payload, updated_at = excluded.updated_at`).run(
          calendar,
          desired.key,
          desired.event.id,
          desired.contentHash,
          desired.startsAtMs,
          JSON.stringify(desired.event),
          stamp,
        );
        changed.add(calendar);
        outcomes.push(existing ? 'changed' : 'added');
      }
      const bump = this.statement("UPDATE mailbox SET desired_version = desired_version + 1, managed_by = 'api' WHERE calendar = ?");
      for (const calendar of changed) {
        this.touchMailbox(calendar);
        bump.run(calendar);
      }
      return outcomes;
    });
  }

  async eventState(calendar: string, key: string): Promise<EventDeliveryState> {
    const row = this.statement(
      'SELECT calendar, event_key, source_id, content_hash, starts_at_ms, payload, updated_at FROM desired_event WHERE calendar = ? AND event_key = ?',
    ).get(calendar, key) as Row | undefined;
    const delivered = this.statement(
      'SELECT calendar, event_key, item_id, change_key, transaction_id, content_hash, delivered_at FROM delivered_item WHERE calendar = ? AND event_key = ? ORDER BY item_id',
    ).all(calendar, key) as Row[];
    const pending = (await this.pendingOps(calendar)).filter((op) => op.key === key);
    return {
      desired: row
        ? { ...toDesired(row), updatedAt: String(row.updated_at) }
        : null,
      delivered: delivered.map((d) => ({ ...toDelivered(d), deliveredAt: String(d.delivered_at) })),
      pending,
      mailbox: await this.mailbox(calendar),
    };
  }

  async hasCalendar(calendar: string): Promise<boolean> {
    const row = this.statement(`
      SELECT EXISTS (SELECT 1 FROM mailbox WHERE calendar = ?1) OR EXISTS (SELECT 1 FROM desired_event WHERE calendar = ?1)
        OR EXISTS (SELECT 1 FROM delivered_item WHERE calendar = ?1) AS known`).get(calendar) as Row;
    return Number(row.known) === 1;
  }

  async calendarCounts(calendar: string): Promise<CalendarCounts> {
    const row = this.statement(`
      SELECT (SELECT COUNT(*) FROM desired_event WHERE calendar = ?1) AS desired,
             (SELECT COUNT(*) FROM delivered_item WHERE calendar = ?1) AS delivered,
             (SELECT COUNT(*) FROM pending_op WHERE calendar = ?1) AS pending,
             (SELECT COUNT(*) FROM pending_op WHERE calendar = ?1 AND last_error IS NOT NULL) AS failed`).get(calendar) as Row;
    return { desired: Number(row.desired), delivered: Number(row.delivered), pending: Number(row.pending), failedOps: Number(row.failed) };
  }

  async totals(): Promise<StoreTotals> {
    const row = this.statement(`
      SELECT (SELECT COUNT(*) FROM desired_event) AS desired, (SELECT COUNT(*) FROM delivered_item) AS delivered,
             (SELECT COUNT(*) FROM pending_op) AS pending, (SELECT COUNT(*) FROM pending_op WHERE last_error IS NOT NULL) AS failed`).get() as Row;
    const mailboxes: StoreTotals['mailboxes'] = { pending: 0, ok: 0, failed: 0 };
    for (const m of this.statement('SELECT state, COUNT(*) AS n FROM mailbox GROUP BY state').all() as Row[]) {
      const state = String(m.state) as keyof StoreTotals['mailboxes'];
      if (state in mailboxes) mailboxes[state] = Number(m.n);
    }
    return { desired: Number(row.desired), delivered: Number(row.delivered), pending: Number(row.pending), failedOps: Number(row.failed), mailboxes };
  }

  async createApiKey(key: ApiKeyRow): Promise<void> {
    this.statement('INSERT INTO api_key (id, name, hash, scope, calendars, created_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      key.id,
      key.name,
      key.hash,
      key.scope,
      key.calendars ? JSON.stringify(key.calendars) : null,
      key.createdAt,
      key.revokedAt,
      key.lastUsedAt,
    );
  }

  async apiKey(id: string): Promise<ApiKeyRow | null> {
    const row = this.statement('SELECT * FROM api_key WHERE id = ?').get(id) as Row | undefined;
    return row ? toApiKey(row) : null;
  }

  async apiKeys(): Promise<ApiKeyRow[]> {
    return (this.statement('SELECT * FROM api_key ORDER BY created_at, id').all() as Row[]).map(toApiKey);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    return Number(this.statement('UPDATE api_key SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.now(), id).changes) === 1;
  }

  async touchApiKey(id: string): Promise<void> {
    this.statement('UPDATE api_key SET last_used_at = ? WHERE id = ?').run(this.now(), id);
  }

  async feedState(calendar: string): Promise<FeedStateRow | null> {
    const row = this.statement('SELECT * FROM feed_state WHERE calendar = ?').get(calendar) as Row | undefined;
    if (!row) return null;
    return toFeedState(row);
  }

  async saveFeedState(state: FeedStateRow): Promise<void> {
    this.statement(`
      INSERT INTO feed_state (calendar, url, etag, last_modified, consecutive_empty, last_fetch_at, last_full_fetch_at, last_outcome, last_error, last_change_at, consecutive_failures)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (calendar) DO UPDATE SET url = excluded.url, etag = excluded.etag, last_modified = excluded.last_modified,
        consecutive_empty = excluded.consecutive_empty, last_fetch_at = excluded.last_fetch_at,
        last_full_fetch_at = excluded.last_full_fetch_at, last_outcome = excluded.last_outcome,
        last_error = excluded.last_error, last_change_at = excluded.last_change_at, consecutive_failures = excluded.consecutive_failures`).run(
      state.calendar,
      state.url,
      state.etag,
      state.lastModified,
      state.consecutiveEmpty,
      state.lastFetchAt,
      state.lastFullFetchAt,
      state.lastOutcome,
      state.lastError,
      state.lastChangeAt,
      state.consecutiveFailures ?? 0,
    );
  }

  /** Raw rows of one table (`calpush store copy`, store/copy.ts): in `order`, after `after` or from `offset`. */
  async readTable(table: string, columns: string[], order: string[], after: unknown[] | null, limit: number, offset = 0): Promise<Row[]> {
    const where = after ? `WHERE (${order.join(', ')}) > (${order.map(() => '?').join(', ')})` : '';
    // SQLite sorts NULL first, as the PostgreSQL store asks for explicitly.
    const sql = `SELECT ${columns.join(', ')} FROM ${table} ${where} ORDER BY ${order.join(', ')} LIMIT ${Math.floor(limit)} OFFSET ${Math.floor(offset)}`;
    return this.db.prepare(sql).all(...((after ?? []) as Array<string | number | null>)) as Row[];
  }

  /** Writes raw rows (`calpush store copy`): a row whose key is there already is replaced, so a copy can run again. */
  async writeRows(table: string, key: string[], rows: Row[]): Promise<void> {
    if (!rows.length) return;
    const columns = Object.keys(rows[0]!);
    const update = columns.filter((c) => !key.includes(c)).map((c) => `${c} = excluded.${c}`);
    const conflict = key.length ? ` ON CONFLICT (${key.join(', ')}) DO ${update.length ? `UPDATE SET ${update.join(', ')}` : 'NOTHING'}` : '';
    const insert = this.db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})${conflict}`);
    this.transaction(() => {
      for (const row of rows) insert.run(...(columns.map((c) => row[c] ?? null) as Array<string | number | null>));
    });
  }

  async countRows(table: string): Promise<number> {
    return Number((this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as Row).n);
  }

  async clearTable(table: string): Promise<void> {
    this.db.exec(`DELETE FROM ${table}`);
  }

  // ---- delegated access and alerts (sqlite-delegated.ts) -----------------------------------------------------

  // ---- watching for drift (sqlite-watch.ts) ---------------------------------------------------------------------

  private get watchParts(): SqliteWatchParts {
    return { statement: (sql) => this.statement(sql), fenced: (fence, work) => this.fenced(fence, work), now: this.now, forgetDelivered: (calendar, key, itemId) => this.dropDelivered(calendar, key, itemId) };
  }
  async watchState(calendar: string): Promise<WatchStateRow | null> {
    return watch.watchState(this.watchParts, calendar);
  }
  async saveWatchState(calendar: string, target: string, state: string | null, full: boolean, fence?: Lease): Promise<void> {
    watch.saveWatchState(this.watchParts, calendar, target, state, full, fence);
  }
  async recordDrift(calendar: string, rows: Array<Omit<DriftRow, 'calendar' | 'seenAt'>>, relist: boolean, fence?: Lease): Promise<void> {
    watch.recordDrift(this.watchParts, calendar, rows, relist, fence);
  }
  async driftFor(calendar: string): Promise<DriftRow[]> {
    return watch.driftFor(this.watchParts, calendar);
  }
  async driftRows(limit: number): Promise<DriftRow[]> {
    return watch.driftRows(this.watchParts, limit);
  }
  async driftCounts(): Promise<Array<{ policy: DriftPolicy; kind: DriftKind; count: number }>> {
    return watch.driftCounts(this.watchParts);
  }

  async saveSubscription(calendar: string, row: Omit<SubscriptionRow, 'calendar' | 'updatedAt'> | null): Promise<void> {
    watch.saveSubscription(this.watchParts, calendar, row);
  }
  async subscriptionRows(): Promise<SubscriptionRow[]> {
    return watch.subscriptionRows(this.watchParts);
  }
  async countNotifications(target: string, received: number, rejected: number): Promise<void> {
    watch.countNotifications(this.watchParts, target, received, rejected);
  }
  async notificationCounts(): Promise<NotificationCountRow[]> {
    return watch.notificationCounts(this.watchParts);
  }

  // ---- the resource agent (sqlite-agent.ts) -------------------------------------------------------------------

  private get agentParts(): SqliteAgentParts {
    return { statement: (sql) => this.statement(sql), fenced: (fence, work) => this.fenced(fence, work), now: this.now };
  }
  async agentCursor(mailbox: string): Promise<string | null> {
    return agent.agentCursor(this.agentParts, mailbox);
  }
  async saveAgentCursor(mailbox: string, cursor: string | null, fence?: Lease): Promise<void> {
    agent.saveAgentCursor(this.agentParts, mailbox, cursor, fence);
  }
  async agentMeeting(mailbox: string, uid: string): Promise<AgentMeetingRow | null> {
    return agent.agentMeeting(this.agentParts, mailbox, uid);
  }
  async agentMeetings(mailbox: string): Promise<AgentMeetingRow[]> {
    return agent.agentMeetings(this.agentParts, mailbox);
  }
  async forgetAgentMeeting(mailbox: string, uid: string, fence?: Lease): Promise<void> {
    agent.forgetAgentMeeting(this.agentParts, mailbox, uid, fence);
  }
  async unsettledAgentMeetings(mailbox: string): Promise<AgentMeetingRow[]> {
    return agent.unsettledAgentMeetings(this.agentParts, mailbox);
  }
  async saveAgentMeeting(row: AgentMeetingWrite, fence?: Lease): Promise<void> {
    agent.saveAgentMeeting(this.agentParts, row, fence);
  }
  async allocateAlias(mailbox: string, uid: string, range: { from: number; to: number }, heldUntilMs: number | null = null, fence?: Lease): Promise<number | null> {
    return agent.allocateAlias(this.agentParts, mailbox, uid, range, heldUntilMs, fence);
  }
  async releaseAlias(mailbox: string, uid: string, fence?: Lease): Promise<void> {
    agent.releaseAlias(this.agentParts, mailbox, uid, fence);
  }

  async connection(calendar: string): Promise<ConnectionRow | null> {
    return delegated.connection(this.parts, calendar);
  }
  async connections(): Promise<ConnectionRow[]> {
    return delegated.connections(this.parts);
  }
  async saveConnection(row: ConnectionRow, tokenCache: string): Promise<ConnectionRow | null> {
    return delegated.saveConnection(this.parts, row, tokenCache);
  }
  async connectionTokenCache(calendar: string): Promise<string | null> {
    return delegated.connectionTokenCache(this.parts, calendar);
  }
  async saveConnectionTokenCache(calendar: string, tokenCache: string): Promise<boolean> {
    return delegated.saveConnectionTokenCache(this.parts, calendar, tokenCache);
  }
  async disconnect(calendar: string, reason: string, message: string): Promise<boolean> {
    return delegated.disconnect(this.parts, calendar, reason, message);
  }
  async saveConsentRequest(request: ConsentRequestRow): Promise<void> {
    delegated.saveConsentRequest(this.parts, request);
  }
  async takeConsentRequest(id: string, nowMs: number): Promise<ConsentRequestRow | null> {
    return delegated.takeConsentRequest(this.parts, id, nowMs);
  }
  async rotateEncryptionKey(): Promise<{ rewrapped: number; current: number; keyId: string }> {
    return delegated.rotateEncryptionKey(this.parts);
  }
  async firingAlerts(): Promise<AlertRow[]> {
    return delegated.firingAlerts(this.parts);
  }
  async fireAlert(alert: AlertRow, notifications: Array<{ channel: string; payload: string }>, nowMs: number): Promise<boolean> {
    return delegated.fireAlert(this.parts, alert, notifications, nowMs);
  }
  async resolveAlert(key: string, notifications: Array<{ channel: string; payload: string }>, nowMs: number): Promise<boolean> {
    return delegated.resolveAlert(this.parts, key, notifications, nowMs);
  }
  async claimAlertDeliveries(nowMs: number, leaseMs: number, limit: number): Promise<AlertDeliveryRow[]> {
    return delegated.claimAlertDeliveries(this.parts, nowMs, leaseMs, limit);
  }
  async recordAlertDelivery(id: number, outcome: { ok: true } | { ok: false; error: string; nextAttemptAtMs: number | null }): Promise<void> {
    delegated.recordAlertDelivery(this.parts, id, outcome);
  }

  async close(): Promise<void> {
    if (!this.db.isOpen) return;
    try {
      this.writeUnwrittenCharges();
    } finally {
      this.db.close();
    }
  }
}

/**
 * Stages an input in TEMP tables (this connection only, never on disk in the main file) and applies it with set
 * operations in SQL, so that memory stays flat however large the input is.
 */
class SqliteDesiredImport implements DesiredImport {
  private readonly db: DatabaseSync;
  private readonly statement: (sql: string) => StatementSync;
  private readonly transaction: <T>(work: () => T) => T;
  private readonly t: string;
  private finished = false;
  private staged = 0;
  private readonly now: Stamp;

  constructor(db: DatabaseSync, statement: (sql: string) => StatementSync, transaction: <T>(work: () => T) => T, sequence: number, now: Stamp) {
    this.db = db;
    this.now = now;
    this.statement = statement;
    this.transaction = transaction;
    this.t = `import${sequence}`;
    db.exec(`
      CREATE TEMP TABLE ${this.t}_staged (calendar TEXT NOT NULL, event_key TEXT NOT NULL, source_id TEXT NOT NULL,
        content_hash TEXT NOT NULL, starts_at_ms INTEGER NOT NULL, payload TEXT NOT NULL, record TEXT NOT NULL);
      CREATE TEMP TABLE ${this.t}_held_key (calendar TEXT NOT NULL, event_key TEXT NOT NULL, PRIMARY KEY (calendar, event_key)) WITHOUT ROWID;
      CREATE TEMP TABLE ${this.t}_held_prefix (calendar TEXT NOT NULL, prefix TEXT NOT NULL);
      CREATE TEMP TABLE ${this.t}_held_calendar (calendar TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TEMP TABLE ${this.t}_scope (calendar TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TEMP TABLE ${this.t}_changed (calendar TEXT PRIMARY KEY) WITHOUT ROWID;
      CREATE TEMP TABLE ${this.t}_removed (calendar TEXT NOT NULL, event_key TEXT NOT NULL, source_id TEXT NOT NULL, PRIMARY KEY (calendar, event_key)) WITHOUT ROWID;`);
  }

  async add(events: Array<{ desired: DesiredEvent; record: string }>): Promise<void> {
    const insert = this.statement(`INSERT INTO ${this.t}_staged VALUES (?, ?, ?, ?, ?, ?, ?)`);
    inTransaction(this.db, 'BEGIN', () => {
      for (const { desired, record } of events) {
        insert.run(desired.event.calendar, desired.key, desired.event.id, desired.contentHash, desired.startsAtMs, JSON.stringify(desired.event), record);
      }
    });
    this.staged += events.length;
  }

  async hold(held: HeldEvent[]): Promise<void> {
    for (const h of held) {
      if ('key' in h) this.statement(`INSERT OR IGNORE INTO ${this.t}_held_key VALUES (?, ?)`).run(h.calendar, h.key);
      else if ('idPrefix' in h) this.statement(`INSERT INTO ${this.t}_held_prefix VALUES (?, ?)`).run(h.calendar, h.idPrefix);
      else this.statement(`INSERT OR IGNORE INTO ${this.t}_held_calendar VALUES (?)`).run(h.calendar);
    }
  }

  async finish(options: DesiredImportFinish): Promise<DesiredImportResult> {
    try {
      return this.transaction(() => this.replace(options));
    } finally {
      await this.abort();
    }
  }

  async preview(options: DesiredImportFinish, inspect: (calendar: DesiredPreviewCalendar) => void): Promise<DesiredImportResult> {
    if (this.finished) throw new Error('this import was finished or aborted already');
    // The same replacement as finish, then rolled back: the staged tables are TEMP tables of this connection and
    // roll back with it, so the import can be previewed again or finished.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = this.replace(options);
      for (const calendar of result.calendars) inspect(this.previewCalendar(calendar));
      return result;
    } finally {
      this.db.exec('ROLLBACK');
    }
  }

  /** The replacement itself, inside the caller's transaction. */
  private replace(options: DesiredImportFinish): DesiredImportResult {
    const t = this.t;
    this.db.exec(`CREATE INDEX ${t}_staged_key ON ${t}_staged (calendar, event_key)`);
    const duplicates = this.holdDuplicates();
    this.fillScope(options);
    const applied = this.count(`SELECT COUNT(*) AS n FROM ${t}_staged`);
    if (options.refuseEmpty && !options.upsertOnly && applied === 0) {
      const existing = this.count(`SELECT COUNT(*) AS n FROM desired_event WHERE calendar IN (SELECT calendar FROM ${t}_scope)`);
      if (existing > 0) throw new EmptyInputRefused(existing, this.count(`SELECT COUNT(*) AS n FROM ${t}_scope`));
    }
    this.db.exec(`INSERT OR IGNORE INTO mailbox (calendar) SELECT calendar FROM ${t}_scope`);
    const inScope = options.upsertOnly ? 0 : this.count(`SELECT COUNT(*) AS n FROM desired_event WHERE calendar IN (SELECT calendar FROM ${t}_scope)`);
    const { added, changed, unchanged } = this.upsertStaged(applied);
    // Desired events in scope that no staged event matched are the candidates for removal.
    const unmatched = inScope - unchanged - changed;
    const { removed, kept } = unmatched > 0 ? this.removeAbsent(options.retention) : { removed: 0, kept: 0 };
    this.db.exec(`UPDATE mailbox SET desired_version = desired_version + 1 WHERE calendar IN (SELECT calendar FROM ${t}_changed)`);
    this.db.prepare(`UPDATE mailbox SET managed_by = ? WHERE calendar IN (SELECT calendar FROM ${t}_scope)`).run(options.source ?? 'sync');
    const calendars = (this.db.prepare(`SELECT calendar FROM ${t}_scope ORDER BY calendar`).all() as Row[]).map((row) => String(row.calendar));
    return { added, changed, removed, unchanged, kept, calendars, applied, duplicates: [...duplicates.values()] };
  }

  private count(sql: string): number {
    return Number((this.db.prepare(sql).get() as Row).n);
  }

  /** Duplicates: every occurrence is refused and its key held (what was delivered for it stays). */
  private holdDuplicates(): Map<string, { calendar: string; sourceId: string; records: string[] }> {
    const t = this.t;
    const duplicateRows = this.db
      .prepare(`
        SELECT s.calendar, s.event_key, s.source_id, s.record FROM ${t}_staged s
        JOIN (SELECT calendar, event_key FROM ${t}_staged GROUP BY calendar, event_key HAVING COUNT(*) > 1) d
          ON d.calendar = s.calendar AND d.event_key = s.event_key
        ORDER BY s.rowid`)
      .all() as Row[];
    const duplicates = new Map<string, { calendar: string; sourceId: string; records: string[] }>();
    for (const row of duplicateRows) {
      const id = `${row.calendar}\n${row.event_key}`;
      const entry = duplicates.get(id) ?? { calendar: String(row.calendar), sourceId: String(row.source_id), records: [] };
      entry.records.push(String(row.record));
      duplicates.set(id, entry);
    }
    if (duplicates.size) {
      this.db.exec(`
        INSERT OR IGNORE INTO ${t}_held_key SELECT calendar, event_key FROM ${t}_staged GROUP BY calendar, event_key HAVING COUNT(*) > 1;
        DELETE FROM ${t}_staged WHERE (calendar, event_key) IN (SELECT calendar, event_key FROM ${t}_held_key);`);
    }
    return duplicates;
  }

  /** The calendars whose desired set this import replaces (or, upsert-only, adds to). */
  private fillScope(options: DesiredImportFinish): void {
    const t = this.t;
    if (options.upsertOnly) {
      this.db.exec(`INSERT OR IGNORE INTO ${t}_scope SELECT DISTINCT calendar FROM ${t}_staged`);
    } else if (options.calendars === 'staged-and-synced') {
      // Calendars that the API, an import or a feed manages are not sync's to replace.
      this.db.exec(`
        INSERT OR IGNORE INTO ${t}_scope SELECT DISTINCT calendar FROM ${t}_staged;
        INSERT OR IGNORE INTO ${t}_scope SELECT calendar FROM mailbox WHERE managed_by IS NULL OR managed_by = 'sync';`);
    } else {
      const insert = this.statement(`INSERT OR IGNORE INTO ${t}_scope VALUES (?)`);
      for (const calendar of options.calendars) insert.run(calendar);
      const outside = this.count(`SELECT COUNT(*) AS n FROM ${t}_staged WHERE calendar NOT IN (SELECT calendar FROM ${t}_scope)`);
      if (outside) throw new Error(`${outside} staged event(s) are outside the calendars being replaced`);
    }
  }

  /** Adds and changes the staged events; counts what was added, changed and already so. */
  private upsertStaged(applied: number): { added: number; changed: number; unchanged: number } {
    const t = this.t;
    // One pass classifies the staged events against the desired state; a no-op resync stops after it and one
    // count (no upsert, no search for removals): each pass over a million rows costs about a second.
    const matched = this.db
      .prepare(`
        SELECT COALESCE(SUM(d.content_hash = s.content_hash), 0) AS unchanged, COALESCE(SUM(d.content_hash <> s.content_hash), 0) AS changed
        FROM ${t}_staged s JOIN desired_event d ON d.calendar = s.calendar AND d.event_key = s.event_key`)
      .get() as Row;
    const unchanged = Number(matched.unchanged);
    const changed = Number(matched.changed);
    const added = applied - unchanged - changed;
    if (added + changed > 0) {
      this.db.exec(`
        INSERT OR IGNORE INTO ${t}_changed
          SELECT DISTINCT s.calendar FROM ${t}_staged s LEFT JOIN desired_event d
            ON d.calendar = s.calendar AND d.event_key = s.event_key
          WHERE d.content_hash IS NULL OR d.content_hash <> s.content_hash;`);
      this.db.prepare(`
        INSERT INTO desired_event (calendar, event_key, source_id, content_hash, starts_at_ms, payload, updated_at)
        SELECT s.calendar, s.event_key, s.source_id, s.content_hash, s.starts_at_ms, s.payload, ? FROM ${t}_staged s
        WHERE NOT EXISTS (SELECT 1 FROM desired_event d
                          WHERE d.calendar = s.calendar AND d.event_key = s.event_key AND d.content_hash = s.content_hash)
        ON CONFLICT (calendar, event_key) DO UPDATE SET
          source_id = excluded.source_id, content_hash = excluded.content_hash,
          starts_at_ms = excluded.starts_at_ms, payload = excluded.payload, updated_at = excluded.updated_at`).run(this.now());
    }
    return { added, changed, unchanged };
  }

  /** Removes the desired events in scope that the input left out, except held ones and those retention keeps. */
  private removeAbsent(retention: RetentionRule | null): { removed: number; kept: number } {
    const t = this.t;
    // Absent: in scope, not in the input, and not held (by key, id prefix or whole calendar).
    const absent = `
      FROM desired_event d
      WHERE d.calendar IN (SELECT calendar FROM ${t}_scope)
        AND d.calendar NOT IN (SELECT calendar FROM ${t}_held_calendar)
        AND NOT EXISTS (SELECT 1 FROM ${t}_staged s WHERE s.calendar = d.calendar AND s.event_key = d.event_key)
        AND NOT EXISTS (SELECT 1 FROM ${t}_held_key h WHERE h.calendar = d.calendar AND h.event_key = d.event_key)
        AND NOT EXISTS (SELECT 1 FROM ${t}_held_prefix p WHERE p.calendar = d.calendar AND substr(d.source_id, 1, length(p.prefix)) = p.prefix)`;
    let kept = 0;
    if (retention) kept = this.chooseRemovals(absent, retention);
    else this.db.exec(`INSERT INTO ${t}_removed SELECT d.calendar, d.event_key, d.source_id ${absent}`);
    this.db.exec(`INSERT OR IGNORE INTO ${t}_changed SELECT DISTINCT calendar FROM ${t}_removed`);
    const removed = Number(this.db.prepare(`DELETE FROM desired_event WHERE (calendar, event_key) IN (SELECT calendar, event_key FROM ${t}_removed)`).run().changes);
    return { removed, kept };
  }

  /**
   * Retention, the one place it is applied (src/model/retention.ts): of the absent events, those that ended — and,
   * with `prune`, not too long ago — stay desired; the others go into the removed table. Sorted by comparing the
   * local end with bounds no zone can cross (retentionBounds); only events within hours of a bound have their
   * timing read. A replacement that keeps many past events thus costs one pass. Returns how many stay.
   */
  private chooseRemovals(absent: string, rule: RetentionRule): number {
    const bounds = retentionBounds(rule);
    const prune = bounds.prunedBefore !== null;
    const params = { now: rule.nowMs, notEndedAfter: bounds.notEndedAfter, endedBy: bounds.endedBy, ...(prune ? { prunedBefore: bounds.prunedBefore, keptFrom: bounds.keptFrom } : {}) };
    const candidates = `
      WITH a AS (
        SELECT d.calendar, d.event_key, d.source_id, d.starts_at_ms,
               COALESCE(json_extract(d.payload, '$.timing.end'), json_extract(d.payload, '$.timing.endDate') || 'T00:00:00') AS end_local
        ${absent})`;
    // An event that has not started has not ended.
    const surelyRemoved = `(a.starts_at_ms > $now OR a.end_local > $notEndedAfter${prune ? ' OR a.end_local < $prunedBefore' : ''})`;
    const surelyKept = `(a.starts_at_ms <= $now AND a.end_local <= $endedBy${prune ? ' AND a.end_local >= $keptFrom' : ''})`;
    // node:sqlite refuses named parameters a statement does not use: each gets those it names.
    const run = (sql: string) => {
      const statement = this.db.prepare(sql);
      return { statement, params: Object.fromEntries(Object.entries(params).filter(([name]) => new RegExp(`\\$${name}\\b`).test(sql))) };
    };
    const count = run(`${candidates} SELECT COUNT(*) AS absent, COALESCE(SUM(${surelyRemoved}), 0) AS removed, COALESCE(SUM(NOT ${surelyRemoved} AND NOT ${surelyKept}), 0) AS near FROM a`);
    const sorted = count.statement.get(count.params) as Row;
    let kept = Number(sorted.absent) - Number(sorted.removed);
    if (Number(sorted.removed) > 0) {
      const insert = run(`${candidates} INSERT INTO ${this.t}_removed SELECT a.calendar, a.event_key, a.source_id FROM a WHERE ${surelyRemoved}`);
      insert.statement.run(insert.params);
    }
    if (Number(sorted.near) > 0) {
      const remove = this.statement(`INSERT INTO ${this.t}_removed VALUES (?, ?, ?)`);
      const select = run(`${candidates} SELECT a.calendar, a.event_key, a.source_id FROM a WHERE NOT ${surelyRemoved} AND NOT ${surelyKept}`);
      const timing = this.statement(`SELECT json_extract(payload, '$.timing') AS timing FROM desired_event WHERE calendar = ? AND event_key = ?`);
      for (const row of select.statement.all(select.params) as Row[]) {
        const exact = JSON.parse(String((timing.get(String(row.calendar), String(row.event_key)) as Row).timing)) as EventTiming;
        if (keepsAbsentEvent(exact, rule)) continue;
        remove.run(String(row.calendar), String(row.event_key), String(row.source_id));
        kept--;
      }
    }
    return kept;
  }

  /** What a preview's inspector sees of one calendar, read inside the preview's transaction. */
  private previewCalendar(calendar: string): DesiredPreviewCalendar {
    const mailbox = toMailbox(this.db.prepare('SELECT * FROM mailbox WHERE calendar = ?').get(calendar) as Row);
    const pendingOps = () => (this.db.prepare('SELECT * FROM pending_op WHERE calendar = ? ORDER BY starts_at_ms, event_key').all(calendar) as Row[]).map(toPendingOp);
    const hasPending = pendingOps().length > 0;
    return {
      calendar,
      mailbox,
      needsDelivery: !(mailbox.state === 'ok' && mailbox.inventoriedAt !== null && mailbox.deliveredVersion >= mailbox.desiredVersion && !hasPending),
      pendingOps,
      desired: () =>
        (this.db.prepare('SELECT calendar, event_key, source_id, content_hash, starts_at_ms, payload FROM desired_event WHERE calendar = ? ORDER BY event_key').all(calendar) as Row[]).map(toDesired),
      delivered: () =>
        (
          this.db
            .prepare('SELECT calendar, event_key, item_id, change_key, transaction_id, content_hash, starts_at_ms FROM delivered_item WHERE calendar = ? ORDER BY event_key, item_id')
            .all(calendar) as Row[]
        ).map(toDelivered),
      generations: () =>
        new Map((this.db.prepare('SELECT event_key, generation FROM key_generation WHERE calendar = ?').all(calendar) as Row[]).map((row) => [String(row.event_key), Number(row.generation)])),
      removedIds: () =>
        new Map((this.db.prepare(`SELECT event_key, source_id FROM ${this.t}_removed WHERE calendar = ?`).all(calendar) as Row[]).map((row) => [String(row.event_key), String(row.source_id)])),
    };
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    for (const suffix of ['staged', 'held_key', 'held_prefix', 'held_calendar', 'scope', 'changed', 'removed']) this.db.exec(`DROP TABLE IF EXISTS temp.${this.t}_${suffix}`);
  }
}
