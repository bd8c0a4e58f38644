// The shared store: PostgreSQL through node-postgres (`pg`), for several calpush workers on one database.
//
// The same rows as the SQLite store (store/sqlite.ts), in a schema of their own (default "calpush"), with
// versioned, append-only migrations run under an advisory lock (several workers may start at once). What differs,
// and why:
// - Leases live in a table of their own (mailbox_lease) with a fencing token, and expire by the database's clock:
//   workers on several machines compare one clock, not theirs. A claim skips a lease row another transaction has
//   locked (FOR UPDATE SKIP LOCKED) instead of queueing behind it: a worker never waits to learn that a mailbox is
//   taken. A write under a lease locks its row FOR SHARE, so a takeover waits for it to commit and every write
//   after the takeover is refused (LeaseLost).
// - Writers of one calendar's desired state lock its mailbox row, always in calendar order (no deadlock); SQLite
//   has one writer at a time anyway.
// - A change to a calendar's desired state is announced with NOTIFY (https://www.postgresql.org/docs/current/sql-notify.html),
//   sent when its transaction commits; every worker LISTENs (watchChanges) and polls as the fallback.
// - Every text column is COLLATE "C": orderings and comparisons (the retention bounds compare ISO times as text)
//   are byte-wise, as in SQLite, whatever the database's locale.
import pg from 'pg';
import { systemClock, type Clock } from '../model/clock.ts';
import type { DesiredEvent, EventTiming } from '../model/event.ts';
import { keepsAbsentEvent, retentionBounds, type RetentionRule } from '../model/retention.ts';
import type { DeliveredRow, DesiredJsonRow, DesiredRow, HeldEvent, MailboxRow, PendingOp, RouteLookupRow } from '../model/rows.ts';
import type { AlertDeliveryRow, AlertRow } from './alerts.ts';
import type { ConnectionRow, ConsentRequestRow } from './connections.ts';
import type { StoreTables } from './copy.ts';
import * as delegated from './postgres-delegated.ts';
import { POSTGRES_DELEGATED_MIGRATION, type PostgresParts } from './postgres-delegated.ts';
import * as agent from './postgres-agent.ts';
import { POSTGRES_AGENT_ALIAS_HELD_UNTIL_MIGRATION, POSTGRES_AGENT_MEETING_SETTLED_MIGRATION, POSTGRES_AGENT_MIGRATION, type PostgresAgentParts } from './postgres-agent.ts';
import type { AgentMeetingRow, AgentMeetingWrite, AgentStore } from './agent.ts';
import * as watch from './postgres-watch.ts';
import { POSTGRES_SUBSCRIPTION_MIGRATION, POSTGRES_WATCH_MIGRATION, type PostgresWatchParts } from './postgres-watch.ts';
import type { DriftKind, DriftPolicy, DriftRow, NotificationCountRow, SubscriptionRow, WatchStateRow, WatchStore } from './watch.ts';
import { SealError, type Keyring } from './sealed.ts';
import { StoreError } from './errors.ts';
import { describeServer, postgresFailure } from './postgres-errors.ts';
import { opIdentity, toApiKey, toDelivered, toDesired, toDesiredJson, toFeedState, toMailbox, toPendingOp, type Row } from './row-mapping.ts';
import {
  EmptyInputRefused,
  LeaseLost,
  type ApiKeyRow,
  type CalendarCounts,
  type DesiredChange,
  type DesiredChangeResult,
  type DesiredImport,
  type DesiredImportFinish,
  type DesiredImportResult,
  type DesiredOp,
  type DesiredOpOutcome,
  type DesiredPreviewCalendar,
  type EventDeliveryState,
  type FeedStateRow,
  type Lease,
  type Store,
  type StoreTotals,
} from './store.ts';

/** Each entry runs once, in order, in one transaction; never edit one that has shipped: append a new one. */
export const POSTGRES_MIGRATIONS: string[] = [
  `
  CREATE TABLE desired_event (
    calendar      text COLLATE "C" NOT NULL,
    event_key     text COLLATE "C" NOT NULL,
    source_id     text COLLATE "C" NOT NULL,
    content_hash  text COLLATE "C" NOT NULL,
    starts_at_ms  bigint NOT NULL,
    payload       text NOT NULL,
    updated_at    text COLLATE "C" NOT NULL,
    PRIMARY KEY (calendar, event_key)
  );
  CREATE TABLE delivered_item (
    calendar        text COLLATE "C" NOT NULL,
    item_id         text COLLATE "C" NOT NULL,
    event_key       text COLLATE "C" NOT NULL,
    change_key      text COLLATE "C",
    transaction_id  text COLLATE "C",
    content_hash    text COLLATE "C" NOT NULL,
    delivered_at    text COLLATE "C" NOT NULL,
    starts_at_ms    bigint,
    PRIMARY KEY (calendar, item_id)
  );
  CREATE INDEX delivered_item_by_key ON delivered_item (calendar, event_key);
  CREATE TABLE key_generation (
    calendar    text COLLATE "C" NOT NULL,
    event_key   text COLLATE "C" NOT NULL,
    generation  bigint NOT NULL,
    PRIMARY KEY (calendar, event_key)
  );
  CREATE TABLE mailbox (
    calendar              text COLLATE "C" PRIMARY KEY,
    state                 text COLLATE "C" NOT NULL DEFAULT 'pending',
    last_error_code       text COLLATE "C",
    last_error            text,
    last_error_remedy     text,
    last_sync_at          text COLLATE "C",
    inventoried_at        text COLLATE "C",
    consecutive_failures  integer NOT NULL DEFAULT 0,
    desired_version       bigint NOT NULL DEFAULT 1,
    delivered_version     bigint NOT NULL DEFAULT 0,
    managed_by            text COLLATE "C"
  );
  CREATE TABLE mailbox_lease (
    calendar    text COLLATE "C" PRIMARY KEY,
    owner       text COLLATE "C",
    token       bigint NOT NULL DEFAULT 0,
    expires_at  timestamptz
  );
  CREATE TABLE pending_op (
    calendar        text COLLATE "C" NOT NULL,
    event_key       text COLLATE "C" NOT NULL,
    kind            text COLLATE "C" NOT NULL CHECK (kind IN ('create', 'update', 'delete')),
    item_id         text COLLATE "C",
    change_key      text COLLATE "C",
    content_hash    text COLLATE "C",
    transaction_id  text COLLATE "C",
    starts_at_ms    bigint,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text
  );
  CREATE INDEX pending_op_by_calendar ON pending_op (calendar, event_key);
  CREATE TABLE api_key (
    id            text COLLATE "C" PRIMARY KEY,
    name          text NOT NULL,
    hash          text COLLATE "C" NOT NULL,
    scope         text COLLATE "C" NOT NULL CHECK (scope IN ('read', 'write', 'admin', 'helpdesk')),
    calendars     text,
    created_at    text COLLATE "C" NOT NULL,
    revoked_at    text COLLATE "C",
    last_used_at  text COLLATE "C"
  );
  CREATE TABLE feed_state (
    calendar            text COLLATE "C" PRIMARY KEY,
    url                 text NOT NULL,
    etag                text,
    last_modified       text,
    consecutive_empty   integer NOT NULL DEFAULT 0,
    last_fetch_at       text,
    last_full_fetch_at  text,
    last_outcome        text,
    last_error          text,
    last_change_at      text
  );
  CREATE TABLE request_ledger (
    calendar   text COLLATE "C" NOT NULL,
    worker     text COLLATE "C" NOT NULL,
    bucket_ms  bigint NOT NULL,
    spent      bigint NOT NULL,
    PRIMARY KEY (calendar, worker, bucket_ms)
  );
  `,
  `
  -- Named targets (issue #14, docs/targets.md): which target delivers each mailbox (its delivered rows belong to it),
  -- so that a move to another target is seen; mailboxes never delivered stay NULL.
  ALTER TABLE mailbox ADD COLUMN target text COLLATE "C";
  UPDATE mailbox SET target = 'default'
    WHERE inventoried_at IS NOT NULL OR EXISTS (SELECT 1 FROM delivered_item d WHERE d.calendar = mailbox.calendar);
  -- What a route lookup (Exchange hybrid: Autodiscover, Graph) answered, and when it was asked.
  CREATE TABLE route_lookup (
    calendar    text COLLATE "C" PRIMARY KEY,
    target      text COLLATE "C" NOT NULL,
    answer      text NOT NULL,
    checked_at  text COLLATE "C" NOT NULL
  );
  `,
  POSTGRES_DELEGATED_MIGRATION,
  `
  -- Until when a create sent for this op may still land on the target (ms since the epoch, by the database's
  -- clock): the time it was last sent plus what its sender's requests may take. A worker that takes the mailbox
  -- over does not list and plan it before then (issue #17: the previous holder's create may still be on its way).
  ALTER TABLE pending_op ADD COLUMN lands_by_ms bigint;
  `,
  POSTGRES_AGENT_MIGRATION,
  POSTGRES_WATCH_MIGRATION,
  POSTGRES_AGENT_ALIAS_HELD_UNTIL_MIGRATION,
  POSTGRES_SUBSCRIPTION_MIGRATION,
  POSTGRES_AGENT_MEETING_SETTLED_MIGRATION,
];

/** The request ledger's buckets (as SQLite's: store/sqlite-ledger.ts LEDGER_BUCKET_MS). */
const BUCKET_MS = 10_000;
/** More calendars than this changed by one transaction are announced as '*' (NOTIFY payloads are small). */
const NOTIFY_EACH_UP_TO = 64;
/** Milliseconds since the epoch by the database's clock (leases, the request ledger). */
const DB_NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (the password is never shown). */
  url: string;
  /** The schema calpush keeps its tables in (created when missing). */
  schema?: string;
  /** TLS to the server (node-postgres's `ssl`: ca, cert, key, rejectUnauthorized); omit for none or the URL's sslmode. */
  ssl?: pg.ConnectionConfig['ssl'];
  /** Connections in the pool (default 10). */
  poolSize?: number;
  clock?: Clock;
  /** The keys that seal the secrets the store keeps (store.encryptionKeys, sealed.ts); without them none can be kept. */
  keyring?: Keyring;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

type Queryable = Pick<pg.PoolClient, 'query'>;

export class PostgresStore implements Store, StoreTables {
  readonly kind = 'postgres' as const;
  /** The server and schema as they may be shown (no password). */
  readonly server: string;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly options: PostgresStoreOptions;
  private readonly clock: Clock;
  private readonly now = (): string => new Date(this.clock.now()).toISOString();
  private readonly channel: string;
  private readonly listeners = new Set<pg.Client>();
  private closed = false;
  /** What the secrets' and alerts' part of the store works with (postgres-delegated.ts). */
  private readonly parts: PostgresParts;

  private constructor(options: PostgresStoreOptions) {
    this.options = options;
    this.schema = options.schema ?? 'calpush';
    this.server = describeServer(options.url, this.schema);
    this.clock = options.clock ?? systemClock;
    this.channel = `calpush_changes_${this.schema}`;
    this.pool = new pg.Pool(this.poolConfig(options.poolSize ?? 10));
    // An idle connection the server ends (restart, failover) must not crash the process: the next query reconnects.
    this.pool.on('error', () => {});
    this.parts = { query: (sql, params) => this.query(sql, params), transaction: (work) => this.transaction(work), now: this.now, keyring: options.keyring };
  }

  /** Connects, makes the schema if it is missing and brings it to the current version. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const schema = options.schema ?? 'calpush';
    if (!SCHEMA_NAME.test(schema)) {
      throw new StoreError('StoreCannotOpen', describeServer(options.url, schema), `store.schema "${schema}" is not a plain PostgreSQL name`, {
        remedy: 'use lower-case letters, digits and underscores, starting with a letter (e.g. calpush)',
      });
    }
    const store = new PostgresStore(options);
    try {
      await store.migrate();
    } catch (error) {
      await store.pool.end().catch(() => {});
      throw postgresFailure(error, store.server);
    }
    return store;
  }

  private poolConfig(max: number): pg.PoolConfig {
    return {
      connectionString: this.options.url,
      ...(this.options.ssl !== undefined ? { ssl: this.options.ssl } : {}),
      max,
      options: `-c search_path=${this.schema}`,
      connectionTimeoutMillis: 10_000,
      application_name: 'calpush',
    };
  }

  /** The schema version this database is at (0: no calpush schema yet). */
  async schemaVersion(): Promise<number> {
    return this.withClient((client) => currentVersion(client, this.schema));
  }

  /** The versions this calpush knows. */
  static knownVersion(): number {
    return POSTGRES_MIGRATIONS.length;
  }

  /** Runs the migrations this database has not seen, each in its transaction, one worker at a time. */
  async migrate(): Promise<{ from: number; to: number }> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        // Two workers starting at once: the second waits here and then finds nothing left to do.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('calpush-migrate:' || $1))`, [this.schema]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
        const tables = await client.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, [this.schema]);
        const names = new Set(tables.rows.map((row: Row) => String(row.table_name)));
        if (names.size > 0 && !names.has('calpush_schema')) {
          throw new StoreError('NotACalpushStore', this.server, `the schema ${this.schema} of ${this.server} is not a calpush store: it holds other tables (${[...names].slice(0, 3).join(', ')})`, {
            remedy: 'set store.schema to a schema of calpush’s own (a new name creates it); calpush never writes into another application’s tables',
          });
        }
        await client.query(`CREATE TABLE IF NOT EXISTS ${this.schema}.calpush_schema (version integer NOT NULL)`);
        let from = await currentVersion(client, this.schema);
        if (from > POSTGRES_MIGRATIONS.length) {
          throw new StoreError('StoreTooNew', this.server, `the store ${this.server} was written by a newer calpush (schema version ${from}; this calpush knows up to ${POSTGRES_MIGRATIONS.length})`, {
            remedy: 'run the calpush version that wrote it, or newer (npm install calpush@latest); an older calpush cannot read it safely',
          });
        }
        const start = from;
        for (; from < POSTGRES_MIGRATIONS.length; from++) {
          await client.query(POSTGRES_MIGRATIONS[from]!);
          await client.query(`DELETE FROM ${this.schema}.calpush_schema`);
          await client.query(`INSERT INTO ${this.schema}.calpush_schema (version) VALUES ($1)`, [from + 1]);
        }
        await client.query('COMMIT');
        return { from: start, to: from };
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  private async withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw postgresFailure(error, this.server);
    }
    try {
      return await work(client);
    } catch (error) {
      throw error instanceof LeaseLost || error instanceof EmptyInputRefused || error instanceof SealError ? error : postgresFailure(error, this.server);
    } finally {
      client.release();
    }
  }

  private async query(sql: string, params: unknown[] = []): Promise<Row[]> {
    try {
      return (await this.pool.query(sql, params)).rows as Row[];
    } catch (error) {
      throw postgresFailure(error, this.server);
    }
  }

  /** `work` in one transaction: it commits, or it did not happen. */
  private transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    });
  }

  /** A delivery's write under its lease: refused with LeaseLost, recording nothing, once the lease moved on. */
  private fenced<T>(fence: Lease | undefined, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.transaction(async (client) => {
      if (fence) {
        const held = await client.query('SELECT 1 FROM mailbox_lease WHERE calendar = $1 AND owner = $2 AND token = $3 FOR SHARE', [fence.calendar, fence.owner, fence.token]);
        if (!held.rowCount) throw new LeaseLost(fence);
      }
      return work(client);
    });
  }

  /** Tells the workers that these calendars' desired state changed (delivered by PostgreSQL at commit). */
  private async announce(client: Queryable, calendars: string[]): Promise<void> {
    if (!calendars.length) return;
    const payloads = calendars.length > NOTIFY_EACH_UP_TO ? ['*'] : calendars;
    for (const payload of payloads) await client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
  }

  async watchChanges(listener: (calendar: string) => void): Promise<() => Promise<void>> {
    const client = new pg.Client(this.poolConfig(1));
    client.on('error', () => {
      // The connection broke: the loop's poll still finds every change (the fallback); no listener is told wrongly.
      this.listeners.delete(client);
    });
    client.on('notification', (message) => {
      if (message.channel === this.channel && message.payload) listener(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw postgresFailure(error, this.server);
    }
    this.listeners.add(client);
    return async () => {
      this.listeners.delete(client);
      await client.end().catch(() => {});
    };
  }

  async beginDesiredImport(): Promise<DesiredImport> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw postgresFailure(error, this.server);
    }
    try {
      return await PostgresDesiredImport.start(client, this, this.now);
    } catch (error) {
      client.release();
      throw postgresFailure(error, this.server);
    }
  }

  /** For the import: the store's failure mapping and its announcement. */
  failure(error: unknown): unknown {
    return error instanceof EmptyInputRefused ? error : postgresFailure(error, this.server);
  }

  notify(client: Queryable, calendars: string[]): Promise<void> {
    return this.announce(client, calendars);
  }

  async applyDesired(change: DesiredChange): Promise<DesiredChangeResult> {
    const calendars = new Set(change.calendars);
    for (const desired of change.events) {
      if (!calendars.has(desired.event.calendar)) throw new Error(`event for ${desired.event.calendar} is outside the calendars being replaced`);
    }
    const importer = await this.beginDesiredImport();
    await importer.add(change.events.map((desired) => ({ desired, record: desired.event.id })));
    await importer.hold(change.held);
    const { added, changed, removed, unchanged } = await importer.finish({ calendars: change.calendars, refuseEmpty: false, retention: change.retention ?? null });
    return { added, changed, removed, unchanged };
  }

  async applyDesiredOps(ops: DesiredOp[]): Promise<DesiredOpOutcome[]> {
    const stamp = this.now();
    const touched = [...new Set(ops.map((op) => (op.kind === 'remove' ? op.calendar : op.desired.event.calendar)))].sort();
    return this.transaction(async (client) => {
      await lockMailboxes(client, touched);
      const changed = new Set<string>();
      const outcomes: DesiredOpOutcome[] = [];
      for (const op of ops) {
        if (op.kind === 'remove') {
          const removed = (await client.query('DELETE FROM desired_event WHERE calendar = $1 AND event_key = $2', [op.calendar, op.key])).rowCount ?? 0;
          if (removed) changed.add(op.calendar);
          outcomes.push(removed ? 'removed' : 'absent');
          continue;
        }
        const { desired } = op;
        const calendar = desired.event.calendar;
        const existing = (await client.query('SELECT content_hash FROM desired_event WHERE calendar = $1 AND event_key = $2', [calendar, desired.key])).rows[0] as Row | undefined;
        if (existing && String(existing.content_hash) === desired.contentHash) {
          outcomes.push('unchanged');
          continue;
        }
        await client.query(
          `INSERT INTO desired_event (calendar, event_key, source_id, content_hash, starts_at_ms, payload, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (calendar, event_key) DO UPDATE SET source_id = excluded.source_id, content_hash = excluded.content_hash,
             starts_at_ms = excluded.starts_at_ms, payload = excluded.payload, updated_at = excluded.updated_at`,
          [calendar, desired.key, desired.event.id, desired.contentHash, desired.startsAtMs, JSON.stringify(desired.event), stamp],
        );
        changed.add(calendar);
        outcomes.push(existing ? 'changed' : 'added');
      }
      const bumped = [...changed].sort();
      if (bumped.length) await client.query(`UPDATE mailbox SET desired_version = desired_version + 1, managed_by = 'api' WHERE calendar = ANY($1::text[])`, [bumped]);
      await this.announce(client, bumped);
      return outcomes;
    });
  }

  async desiredFor(calendar: string): Promise<DesiredRow[]> {
    const rows = await this.query('SELECT calendar, event_key, source_id, content_hash, starts_at_ms, payload FROM desired_event WHERE calendar = $1 ORDER BY event_key', [calendar]);
    return rows.map(toDesired);
  }

  async desiredJsonFor(calendar: string): Promise<DesiredJsonRow[]> {
    const rows = await this.query('SELECT calendar, event_key, source_id, content_hash, starts_at_ms, payload FROM desired_event WHERE calendar = $1 ORDER BY event_key', [calendar]);
    return rows.map(toDesiredJson);
  }

  async desiredCounts(): Promise<Map<string, number>> {
    const rows = await this.query('SELECT calendar, COUNT(*) AS n FROM desired_event GROUP BY calendar');
    return new Map(rows.map((row) => [String(row.calendar), Number(row.n)]));
  }

  async changedMailboxes(): Promise<Array<{ calendar: string; desiredVersion: number }>> {
    const rows = await this.query('SELECT calendar, desired_version FROM mailbox WHERE desired_version > delivered_version ORDER BY calendar');
    return rows.map((row) => ({ calendar: String(row.calendar), desiredVersion: Number(row.desired_version) }));
  }

  async calendars(): Promise<string[]> {
    const rows = await this.query(`
      SELECT calendar FROM mailbox UNION SELECT calendar FROM desired_event UNION SELECT calendar FROM delivered_item ORDER BY calendar`);
    return rows.map((row) => String(row.calendar));
  }

  async hasCalendar(calendar: string): Promise<boolean> {
    const [row] = await this.query(
      `SELECT EXISTS (SELECT 1 FROM mailbox WHERE calendar = $1) OR EXISTS (SELECT 1 FROM desired_event WHERE calendar = $1)
         OR EXISTS (SELECT 1 FROM delivered_item WHERE calendar = $1) AS known`,
      [calendar],
    );
    return row!.known === true;
  }

  async calendarCounts(calendar: string): Promise<CalendarCounts> {
    const [row] = await this.query(
      `SELECT (SELECT COUNT(*) FROM desired_event WHERE calendar = $1) AS desired,
              (SELECT COUNT(*) FROM delivered_item WHERE calendar = $1) AS delivered,
              (SELECT COUNT(*) FROM pending_op WHERE calendar = $1) AS pending,
              (SELECT COUNT(*) FROM pending_op WHERE calendar = $1 AND last_error IS NOT NULL) AS failed`,
      [calendar],
    );
    return { desired: Number(row!.desired), delivered: Number(row!.delivered), pending: Number(row!.pending), failedOps: Number(row!.failed) };
  }

  async calendarsNeedingDelivery(calendars: string[]): Promise<string[]> {
    const rows = await this.query(`
      SELECT calendar FROM mailbox m
      WHERE m.state = 'ok' AND m.inventoried_at IS NOT NULL AND m.delivered_version >= m.desired_version
        AND NOT EXISTS (SELECT 1 FROM pending_op p WHERE p.calendar = m.calendar)`);
    const clean = new Set(rows.map((row) => String(row.calendar)));
    return calendars.filter((calendar) => !clean.has(calendar));
  }

  async deliveredFor(calendar: string): Promise<DeliveredRow[]> {
    const rows = await this.query(
      'SELECT calendar, event_key, item_id, change_key, transaction_id, content_hash, starts_at_ms FROM delivered_item WHERE calendar = $1 ORDER BY event_key, item_id',
      [calendar],
    );
    return rows.map(toDelivered);
  }

  async mailbox(calendar: string): Promise<MailboxRow | null> {
    const [row] = await this.query('SELECT * FROM mailbox WHERE calendar = $1', [calendar]);
    return row ? toMailbox(row) : null;
  }

  async mailboxes(): Promise<MailboxRow[]> {
    return (await this.query('SELECT * FROM mailbox ORDER BY calendar')).map(toMailbox);
  }

  async recordInventory(calendar: string, items: DeliveredRow[], fence?: Lease): Promise<void> {
    const stamp = this.now();
    await this.fenced(fence, async (client) => {
      await touchMailbox(client, calendar);
      await client.query('DELETE FROM delivered_item WHERE calendar = $1', [calendar]);
      for (let i = 0; i < items.length; i += 1000) {
        const chunk = items.slice(i, i + 1000);
        await client.query(
          `INSERT INTO delivered_item (calendar, item_id, event_key, change_key, transaction_id, content_hash, delivered_at)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]), (SELECT $7::text) AS stamp
           ON CONFLICT DO NOTHING`,
          [calendar, chunk.map((c) => c.itemId), chunk.map((c) => c.key), chunk.map((c) => c.changeKey), chunk.map((c) => c.transactionId), chunk.map((c) => c.contentHash), stamp],
        );
      }
      await client.query('UPDATE mailbox SET inventoried_at = $1 WHERE calendar = $2', [stamp, calendar]);
    });
  }

  async recordMailboxOk(calendar: string, desiredVersion: number, fence?: Lease): Promise<void> {
    const stamp = this.now();
    await this.fenced(fence, async (client) => {
      await touchMailbox(client, calendar);
      await client.query(
        `UPDATE mailbox SET state = 'ok', last_error_code = NULL, last_error = NULL, last_error_remedy = NULL, last_sync_at = $1, consecutive_failures = 0,
           delivered_version = GREATEST(delivered_version, $2) WHERE calendar = $3`,
        [stamp, desiredVersion, calendar],
      );
    });
  }

  async recordMailboxFailure(calendar: string, code: string, message: string, remedy?: string, fence?: Lease): Promise<void> {
    const stamp = this.now();
    await this.fenced(fence, async (client) => {
      await touchMailbox(client, calendar);
      await client.query(
        `UPDATE mailbox SET state = 'failed', last_error_code = $1, last_error = $2, last_error_remedy = $3, last_sync_at = $4,
           consecutive_failures = consecutive_failures + 1 WHERE calendar = $5`,
        [code, message, remedy ?? null, stamp, calendar],
      );
    });
  }

  async failureCauses(): Promise<Array<{ code: string; mailboxes: number }>> {
    const rows = await this.query(`
      SELECT COALESCE(last_error_code, 'Unknown') AS code, COUNT(*) AS n FROM mailbox WHERE state = 'failed'
      GROUP BY 1 ORDER BY n DESC, code`);
    return rows.map((row) => ({ code: String(row.code), mailboxes: Number(row.n) }));
  }

  async mailboxesWithWork(): Promise<string[]> {
    const rows = await this.query(`
      SELECT calendar FROM mailbox m
      WHERE m.state <> 'failed' AND (m.delivered_version < m.desired_version OR m.inventoried_at IS NULL
        OR EXISTS (SELECT 1 FROM pending_op p WHERE p.calendar = m.calendar))
      ORDER BY calendar`);
    return rows.map((row) => String(row.calendar));
  }

  async invalidateInventory(calendar?: string): Promise<void> {
    if (calendar === undefined) await this.query('UPDATE mailbox SET inventoried_at = NULL');
    else await this.query('UPDATE mailbox SET inventoried_at = NULL WHERE calendar = $1', [calendar]);
  }

  async assignTarget(calendar: string, target: string, fence?: Lease): Promise<string | null> {
    return this.fenced(fence, async (client) => {
      await touchMailbox(client, calendar);
      const [row] = (await client.query('SELECT target FROM mailbox WHERE calendar = $1 FOR UPDATE', [calendar])).rows as Row[];
      const previous = (row?.target as string | null | undefined) ?? null;
      if (previous === target) return null;
      await client.query('UPDATE mailbox SET target = $1 WHERE calendar = $2', [target, calendar]);
      if (previous === null) return null;
      // The mailbox moved: what belonged to the old target means nothing to the new one (store.ts MailboxTargets).
      await client.query('DELETE FROM delivered_item WHERE calendar = $1', [calendar]);
      await client.query('DELETE FROM pending_op WHERE calendar = $1', [calendar]);
      await client.query('UPDATE mailbox SET inventoried_at = NULL WHERE calendar = $1', [calendar]);
      return previous;
    });
  }

  async routeLookup(calendar: string): Promise<RouteLookupRow | null> {
    const [row] = await this.query('SELECT calendar, target, answer, checked_at FROM route_lookup WHERE calendar = $1', [calendar]);
    return row ? { calendar: String(row.calendar), target: String(row.target), answer: String(row.answer), checkedAt: String(row.checked_at) } : null;
  }

  async saveRouteLookup(row: RouteLookupRow): Promise<void> {
    await this.query(
      `INSERT INTO route_lookup (calendar, target, answer, checked_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (calendar) DO UPDATE SET target = excluded.target, answer = excluded.answer, checked_at = excluded.checked_at`,
      [row.calendar, row.target, row.answer, row.checkedAt],
    );
  }

  async forgetRouteLookup(calendar: string): Promise<void> {
    await this.query('DELETE FROM route_lookup WHERE calendar = $1', [calendar]);
  }

  async claimMailbox(calendar: string, owner: string, leaseMs: number): Promise<Lease | null> {
    return this.transaction(async (client) => {
      await client.query('INSERT INTO mailbox_lease (calendar) VALUES ($1) ON CONFLICT DO NOTHING', [calendar]);
      // A new holding (another owner, or this one after its lease expired) gets the next fencing token.
      const result = await client.query(
        `UPDATE mailbox_lease l SET
           token = CASE WHEN l.owner = $2 AND l.expires_at >= clock_timestamp() THEN l.token ELSE l.token + 1 END,
           owner = $2, expires_at = clock_timestamp() + $3::float8 * interval '1 millisecond'
         FROM (SELECT calendar FROM mailbox_lease WHERE calendar = $1 AND (owner IS NULL OR owner = $2 OR expires_at < clock_timestamp())
               FOR UPDATE SKIP LOCKED) free
         WHERE l.calendar = free.calendar RETURNING l.token`,
        [calendar, owner, leaseMs],
      );
      const row = result.rows[0] as Row | undefined;
      if (!row) return null;
      // As SQLite's: a row the claim creates has nothing to deliver; a lease alone (the resource agent's) does not
      // make a mailbox one the loop delivers.
      await client.query('INSERT INTO mailbox (calendar, delivered_version) VALUES ($1, 1) ON CONFLICT (calendar) DO NOTHING', [calendar]);
      return { calendar, owner, token: Number(row.token) };
    });
  }

  async leaseHolder(calendar: string): Promise<string | null> {
    const [row] = await this.query('SELECT owner FROM mailbox_lease WHERE calendar = $1', [calendar]);
    return (row?.owner as string | null | undefined) ?? null;
  }

  async takeOverMailbox(calendar: string, previousOwner: string, owner: string, leaseMs: number): Promise<Lease | null> {
    const [row] = await this.query(
      `UPDATE mailbox_lease SET owner = $3, token = token + 1, expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond'
       WHERE calendar = $1 AND owner = $2 RETURNING token`,
      [calendar, previousOwner, owner, leaseMs],
    );
    return row ? { calendar, owner, token: Number(row.token) } : null;
  }

  async renewLeases(leases: Lease[], leaseMs: number): Promise<Lease[]> {
    if (!leases.length) return [];
    const rows = await this.query(
      `UPDATE mailbox_lease l SET expires_at = clock_timestamp() + $4::float8 * interval '1 millisecond'
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS held(calendar, owner, token)
       WHERE l.calendar = held.calendar AND l.owner = held.owner AND l.token = held.token RETURNING l.calendar, l.owner, l.token`,
      [leases.map((l) => l.calendar), leases.map((l) => l.owner), leases.map((l) => l.token), leaseMs],
    );
    const kept = new Set(rows.map((row) => `${row.calendar}\n${row.owner}\n${row.token}`));
    return leases.filter((lease) => kept.has(`${lease.calendar}\n${lease.owner}\n${lease.token}`));
  }

  async releaseMailbox(calendar: string, owner: string): Promise<void> {
    await this.query('UPDATE mailbox_lease SET owner = NULL, expires_at = NULL WHERE calendar = $1 AND owner = $2', [calendar, owner]);
  }

  async chargeRequests(calendar: string, worker: string, cost: number): Promise<void> {
    await this.query(
      `WITH b AS (SELECT ${DB_NOW_MS} - ${DB_NOW_MS} % ${BUCKET_MS} AS bucket)
       INSERT INTO request_ledger (calendar, worker, bucket_ms, spent) SELECT $1::text, $2::text, b.bucket, $3::bigint FROM b
       ON CONFLICT (calendar, worker, bucket_ms) DO UPDATE SET spent = request_ledger.spent + excluded.spent`,
      [calendar, worker, cost],
    );
  }

  async requestsSpentByOthers(calendar: string, worker: string, windowMs: number): Promise<Array<{ agoMs: number; cost: number }>> {
    // Old buckets are of no use to anyone (Outlook's window is 10 minutes): dropped here, where a new holder looks.
    await this.query(`DELETE FROM request_ledger WHERE calendar = $1 AND bucket_ms < ${DB_NOW_MS} - 3600000`, [calendar]);
    const rows = await this.query(
      `SELECT GREATEST(0, ${DB_NOW_MS} - (bucket_ms + ${BUCKET_MS})) AS ago, SUM(spent) AS spent FROM request_ledger
       WHERE calendar = $1 AND worker <> $2 AND bucket_ms + ${BUCKET_MS} + $3 > ${DB_NOW_MS} GROUP BY bucket_ms ORDER BY bucket_ms`,
      [calendar, worker, windowMs],
    );
    return rows.map((row) => ({ agoMs: Number(row.ago), cost: Number(row.spent) }));
  }

  async replacePendingOps(calendar: string, ops: PendingOp[], fence?: Lease): Promise<void> {
    await this.fenced(fence, async (client) => {
      // Attempts survive re-planning: an op that was sent before a crash stays "outcome unknown", and one still on
      // its way keeps the time it may land by.
      const previous = await client.query('SELECT event_key, kind, item_id, attempts, lands_by_ms FROM pending_op WHERE calendar = $1', [calendar]);
      const before = new Map<string, { attempts: number; landsBy: number | null }>();
      for (const row of previous.rows as Row[]) {
        before.set(opIdentity(String(row.event_key), String(row.kind), row.item_id as string | null), { attempts: Number(row.attempts), landsBy: row.lands_by_ms === null ? null : Number(row.lands_by_ms) });
      }
      const was = (op: PendingOp) => before.get(opIdentity(op.key, op.kind, op.itemId));
      await client.query('DELETE FROM pending_op WHERE calendar = $1', [calendar]);
      for (let i = 0; i < ops.length; i += 1000) {
        const chunk = ops.slice(i, i + 1000);
        await client.query(
          `INSERT INTO pending_op (calendar, event_key, kind, item_id, change_key, content_hash, transaction_id, starts_at_ms, attempts, last_error, lands_by_ms)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::integer[], $10::text[], $11::bigint[])`,
          [
            calendar,
            chunk.map((op) => op.key),
            chunk.map((op) => op.kind),
            chunk.map((op) => op.itemId),
            chunk.map((op) => op.changeKey ?? null),
            chunk.map((op) => op.contentHash),
            chunk.map((op) => op.transactionId),
            chunk.map((op) => op.startsAtMs),
            chunk.map((op) => Math.max(op.attempts, was(op)?.attempts ?? 0)),
            chunk.map((op) => op.lastError),
            chunk.map((op) => was(op)?.landsBy ?? null),
          ],
        );
      }
    });
  }

  async pendingOps(calendar: string): Promise<PendingOp[]> {
    const rows = await this.query('SELECT * FROM pending_op WHERE calendar = $1 ORDER BY starts_at_ms NULLS FIRST, event_key', [calendar]);
    return rows.map(toPendingOp);
  }

  async markOpAttempts(calendar: string, keys: string[], fence?: Lease, landsWithinMs = 0): Promise<void> {
    await this.fenced(fence, (client) =>
      client.query(
        `UPDATE pending_op SET attempts = attempts + 1, lands_by_ms = GREATEST(lands_by_ms, ${DB_NOW_MS} + $3::bigint)
         WHERE calendar = $1 AND event_key = ANY($2::text[])`,
        [calendar, keys, Math.max(0, Math.round(landsWithinMs))],
      ),
    );
  }

  async createsLandWithin(calendar: string): Promise<number> {
    const [row] = await this.query(`SELECT GREATEST(0, MAX(lands_by_ms) - ${DB_NOW_MS}) AS ms FROM pending_op WHERE calendar = $1 AND kind = 'create'`, [calendar]);
    return row?.ms === null || row?.ms === undefined ? 0 : Number(row.ms);
  }

  async recordOpFailure(calendar: string, key: string, message: string, fence?: Lease, refused = false): Promise<void> {
    await this.fenced(fence, (client) =>
      client.query('UPDATE pending_op SET last_error = $1, lands_by_ms = CASE WHEN $4::boolean THEN NULL ELSE lands_by_ms END WHERE calendar = $2 AND event_key = $3', [message, calendar, key, refused]),
    );
  }

  async completeOps(results: Array<{ op: PendingOp; delivered: DeliveredRow | null }>, fence?: Lease): Promise<void> {
    const stamp = this.now();
    await this.fenced(fence, async (client) => {
      for (const { op, delivered } of results) {
        if (op.kind === 'delete') await dropDelivered(client, op.calendar, op.key, op.itemId);
        else if (delivered) {
          await client.query(
            `INSERT INTO delivered_item (calendar, item_id, event_key, change_key, transaction_id, content_hash, delivered_at, starts_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (calendar, item_id) DO UPDATE SET event_key = excluded.event_key, change_key = excluded.change_key,
               transaction_id = COALESCE(excluded.transaction_id, delivered_item.transaction_id), content_hash = excluded.content_hash,
               delivered_at = excluded.delivered_at, starts_at_ms = COALESCE(excluded.starts_at_ms, delivered_item.starts_at_ms)`,
            [delivered.calendar, delivered.itemId, delivered.key, delivered.changeKey, delivered.transactionId, delivered.contentHash, stamp, delivered.startsAtMs ?? null],
          );
        }
        await client.query('DELETE FROM pending_op WHERE calendar = $1 AND event_key = $2 AND kind = $3 AND item_id IS NOT DISTINCT FROM $4', [op.calendar, op.key, op.kind, op.itemId]);
      }
    });
  }

  async forgetDelivered(calendar: string, key: string, itemId: string, fence?: Lease): Promise<void> {
    await this.fenced(fence, (client) => dropDelivered(client, calendar, key, itemId));
  }

  async generations(calendar: string): Promise<Map<string, number>> {
    const rows = await this.query('SELECT event_key, generation FROM key_generation WHERE calendar = $1', [calendar]);
    return new Map(rows.map((row) => [String(row.event_key), Number(row.generation)]));
  }

  async eventState(calendar: string, key: string): Promise<EventDeliveryState> {
    const [row] = await this.query(
      'SELECT calendar, event_key, source_id, content_hash, starts_at_ms, payload, updated_at FROM desired_event WHERE calendar = $1 AND event_key = $2',
      [calendar, key],
    );
    const delivered = await this.query(
      'SELECT calendar, event_key, item_id, change_key, transaction_id, content_hash, delivered_at FROM delivered_item WHERE calendar = $1 AND event_key = $2 ORDER BY item_id',
      [calendar, key],
    );
    const pending = (await this.pendingOps(calendar)).filter((op) => op.key === key);
    return {
      desired: row ? { ...toDesired(row), updatedAt: String(row.updated_at) } : null,
      delivered: delivered.map((d) => ({ ...toDelivered(d), deliveredAt: String(d.delivered_at) })),
      pending,
      mailbox: await this.mailbox(calendar),
    };
  }

  async totals(): Promise<StoreTotals> {
    const [row] = await this.query(`
      SELECT (SELECT COUNT(*) FROM desired_event) AS desired, (SELECT COUNT(*) FROM delivered_item) AS delivered,
             (SELECT COUNT(*) FROM pending_op) AS pending, (SELECT COUNT(*) FROM pending_op WHERE last_error IS NOT NULL) AS failed`);
    const mailboxes: StoreTotals['mailboxes'] = { pending: 0, ok: 0, failed: 0 };
    for (const m of await this.query('SELECT state, COUNT(*) AS n FROM mailbox GROUP BY state')) {
      const state = String(m.state) as keyof StoreTotals['mailboxes'];
      if (state in mailboxes) mailboxes[state] = Number(m.n);
    }
    return { desired: Number(row!.desired), delivered: Number(row!.delivered), pending: Number(row!.pending), failedOps: Number(row!.failed), mailboxes };
  }

  async createApiKey(key: ApiKeyRow): Promise<void> {
    await this.query('INSERT INTO api_key (id, name, hash, scope, calendars, created_at, revoked_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
      key.id,
      key.name,
      key.hash,
      key.scope,
      key.calendars ? JSON.stringify(key.calendars) : null,
      key.createdAt,
      key.revokedAt,
      key.lastUsedAt,
    ]);
  }

  async apiKey(id: string): Promise<ApiKeyRow | null> {
    const [row] = await this.query('SELECT * FROM api_key WHERE id = $1', [id]);
    return row ? toApiKey(row) : null;
  }

  async apiKeys(): Promise<ApiKeyRow[]> {
    return (await this.query('SELECT * FROM api_key ORDER BY created_at, id')).map(toApiKey);
  }

  async revokeApiKey(id: string): Promise<boolean> {
    return (await this.query('UPDATE api_key SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id', [this.now(), id])).length === 1;
  }

  async touchApiKey(id: string): Promise<void> {
    await this.query('UPDATE api_key SET last_used_at = $1 WHERE id = $2', [this.now(), id]);
  }

  async feedState(calendar: string): Promise<FeedStateRow | null> {
    const [row] = await this.query('SELECT * FROM feed_state WHERE calendar = $1', [calendar]);
    return row ? toFeedState(row) : null;
  }

  async saveFeedState(state: FeedStateRow): Promise<void> {
    await this.query(
      `INSERT INTO feed_state (calendar, url, etag, last_modified, consecutive_empty, last_fetch_at, last_full_fetch_at, last_outcome, last_error, last_change_at, consecutive_failures)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (calendar) DO UPDATE SET url = excluded.url, etag = excluded.etag, last_modified = excluded.last_modified,
         consecutive_empty = excluded.consecutive_empty, last_fetch_at = excluded.last_fetch_at, last_full_fetch_at = excluded.last_full_fetch_at,
         last_outcome = excluded.last_outcome, last_error = excluded.last_error, last_change_at = excluded.last_change_at,
         consecutive_failures = excluded.consecutive_failures`,
      [state.calendar, state.url, state.etag, state.lastModified, state.consecutiveEmpty, state.lastFetchAt, state.lastFullFetchAt, state.lastOutcome, state.lastError, state.lastChangeAt, state.consecutiveFailures ?? 0],
    );
  }

  // ---- delegated access and alerts (postgres-delegated.ts) ---------------------------------------------------

  // ---- watching for drift (postgres-watch.ts) -------------------------------------------------------------------

  private get watchParts(): PostgresWatchParts {
    return { query: (sql, params) => this.query(sql, params), fenced: (fence, work) => this.fenced(fence, work), now: this.now, forgetDelivered: (client, calendar, key, itemId) => dropDelivered(client as Queryable, calendar, key, itemId) };
  }
  async watchState(calendar: string): Promise<WatchStateRow | null> {
    return watch.watchState(this.watchParts, calendar);
  }
  async saveWatchState(calendar: string, target: string, state: string | null, full: boolean, fence?: Lease): Promise<void> {
    await watch.saveWatchState(this.watchParts, calendar, target, state, full, fence);
  }
  async recordDrift(calendar: string, rows: Array<Omit<DriftRow, 'calendar' | 'seenAt'>>, relist: boolean, fence?: Lease): Promise<void> {
    await watch.recordDrift(this.watchParts, calendar, rows, relist, fence);
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
    await watch.saveSubscription(this.watchParts, calendar, row);
  }
  async subscriptionRows(): Promise<SubscriptionRow[]> {
    return watch.subscriptionRows(this.watchParts);
  }
  async countNotifications(target: string, received: number, rejected: number): Promise<void> {
    await watch.countNotifications(this.watchParts, target, received, rejected);
  }
  async notificationCounts(): Promise<NotificationCountRow[]> {
    return watch.notificationCounts(this.watchParts);
  }

  // ---- the resource agent (postgres-agent.ts) -------------------------------------------------------------------

  private get agentParts(): PostgresAgentParts {
    return { query: (sql, params) => this.query(sql, params), fenced: (fence, work) => this.fenced(fence, work), now: this.now };
  }
  async agentCursor(mailbox: string): Promise<string | null> {
    return agent.agentCursor(this.agentParts, mailbox);
  }
  async saveAgentCursor(mailbox: string, cursor: string | null, fence?: Lease): Promise<void> {
    await agent.saveAgentCursor(this.agentParts, mailbox, cursor, fence);
  }
  async agentMeeting(mailbox: string, uid: string): Promise<AgentMeetingRow | null> {
    return agent.agentMeeting(this.agentParts, mailbox, uid);
  }
  async agentMeetings(mailbox: string): Promise<AgentMeetingRow[]> {
    return agent.agentMeetings(this.agentParts, mailbox);
  }
  async forgetAgentMeeting(mailbox: string, uid: string, fence?: Lease): Promise<void> {
    await agent.forgetAgentMeeting(this.agentParts, mailbox, uid, fence);
  }
  async unsettledAgentMeetings(mailbox: string): Promise<AgentMeetingRow[]> {
    return agent.unsettledAgentMeetings(this.agentParts, mailbox);
  }
  async saveAgentMeeting(row: AgentMeetingWrite, fence?: Lease): Promise<void> {
    await agent.saveAgentMeeting(this.agentParts, row, fence);
  }
  async allocateAlias(mailbox: string, uid: string, range: { from: number; to: number }, heldUntilMs: number | null = null, fence?: Lease): Promise<number | null> {
    return agent.allocateAlias(this.agentParts, mailbox, uid, range, heldUntilMs, fence);
  }
  async releaseAlias(mailbox: string, uid: string, fence?: Lease): Promise<void> {
    await agent.releaseAlias(this.agentParts, mailbox, uid, fence);
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
    await delegated.saveConsentRequest(this.parts, request);
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
    await delegated.recordAlertDelivery(this.parts, id, outcome);
  }

  /** Raw rows of one table (`calpush store copy`, store/copy.ts): in `order`, after `after` or from `offset`. */
  async readTable(table: string, columns: string[], order: string[], after: unknown[] | null, limit: number, offset = 0): Promise<Row[]> {
    const where = after ? `WHERE (${order.join(', ')}) > (${order.map((_, i) => `$${i + 1}`).join(', ')})` : '';
    return this.query(
      `SELECT ${columns.join(', ')} FROM ${table} ${where} ORDER BY ${order.map((c) => `${c} NULLS FIRST`).join(', ')} LIMIT ${Math.floor(limit)} OFFSET ${Math.floor(offset)}`,
      after ?? [],
    );
  }

  /** Writes raw rows (`calpush store copy`): a row whose key is there already is replaced, so a copy can run again. */
  async writeRows(table: string, key: string[], rows: Row[]): Promise<void> {
    if (!rows.length) return;
    const columns = Object.keys(rows[0]!);
    await this.transaction(async (client) => {
      for (let i = 0; i < rows.length; i += 500) {
        const chunk = rows.slice(i, i + 500);
        const values = chunk.map((_, r) => `(${columns.map((__, c) => `$${r * columns.length + c + 1}`).join(', ')})`).join(', ');
        const update = columns.filter((c) => !key.includes(c)).map((c) => `${c} = excluded.${c}`);
        await client.query(
          `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${values}${key.length ? ` ON CONFLICT (${key.join(', ')}) DO ${update.length ? `UPDATE SET ${update.join(', ')}` : 'NOTHING'}` : ''}`,
          chunk.flatMap((row) => columns.map((c) => row[c] ?? null)),
        );
      }
    });
  }

  async countRows(table: string): Promise<number> {
    const [row] = await this.query(`SELECT COUNT(*) AS n FROM ${table}`);
    return Number(row!.n);
  }

  /** Empties a table (the copy replaces what a table without a key held). */
  async clearTable(table: string): Promise<void> {
    await this.query(`DELETE FROM ${table}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.listeners) await client.end().catch(() => {});
    this.listeners.clear();
    await this.pool.end();
  }
}

async function currentVersion(client: Queryable, schema: string): Promise<number> {
  const exists = await client.query(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${schema}.calpush_schema`]);
  if (!(exists.rows[0] as Row).present) return 0;
  const row = (await client.query(`SELECT MAX(version) AS version FROM ${schema}.calpush_schema`)).rows[0] as Row | undefined;
  return Number(row?.version ?? 0);
}

async function touchMailbox(client: Queryable, calendar: string): Promise<void> {
  await client.query('INSERT INTO mailbox (calendar) VALUES ($1) ON CONFLICT (calendar) DO NOTHING', [calendar]);
}

/**
 * Makes the mailbox rows of these calendars and locks them, in calendar order: writers of one calendar's desired
 * state take turns (as SQLite's one writer), and two writers of several calendars never wait on each other in a ring.
 */
async function lockMailboxes(client: Queryable, calendars: string[]): Promise<void> {
  if (!calendars.length) return;
  await client.query('INSERT INTO mailbox (calendar) SELECT c FROM unnest($1::text[]) AS c ORDER BY c ON CONFLICT DO NOTHING', [calendars]);
  await client.query('SELECT calendar FROM mailbox WHERE calendar = ANY($1::text[]) ORDER BY calendar FOR UPDATE', [calendars]);
}

async function dropDelivered(client: Queryable, calendar: string, key: string, itemId: string | null): Promise<void> {
  if (itemId !== null) await client.query('DELETE FROM delivered_item WHERE calendar = $1 AND item_id = $2', [calendar, itemId]);
  await client.query(
    `INSERT INTO key_generation (calendar, event_key, generation) VALUES ($1, $2, 1)
     ON CONFLICT (calendar, event_key) DO UPDATE SET generation = key_generation.generation + 1`,
    [calendar, key],
  );
}

const count = async (client: Queryable, sql: string, params: unknown[] = []): Promise<number> => Number(((await client.query(sql, params)).rows[0] as Row).n);

/**
 * Stages an input in TEMP tables of one connection (held for the import's life) and applies it with set operations
 * in SQL, as the SQLite store does, so that memory stays flat however large the input is.
 */
class PostgresDesiredImport implements DesiredImport {
  private readonly client: pg.PoolClient;
  private readonly store: PostgresStore;
  private readonly now: () => string;
  private finished = false;

  private constructor(client: pg.PoolClient, store: PostgresStore, now: () => string) {
    this.client = client;
    this.store = store;
    this.now = now;
  }

  static async start(client: pg.PoolClient, store: PostgresStore, now: () => string): Promise<PostgresDesiredImport> {
    // A connection back in the pool may have held an import before: its tables are dropped at its end.
    await client.query(`
      CREATE TEMP TABLE staged (seq bigserial, calendar text COLLATE "C" NOT NULL, event_key text COLLATE "C" NOT NULL, source_id text COLLATE "C" NOT NULL,
        content_hash text COLLATE "C" NOT NULL, starts_at_ms bigint NOT NULL, payload text NOT NULL, record text NOT NULL);
      CREATE INDEX staged_key ON staged (calendar, event_key);
      CREATE TEMP TABLE held_key (calendar text COLLATE "C" NOT NULL, event_key text COLLATE "C" NOT NULL, PRIMARY KEY (calendar, event_key));
      CREATE TEMP TABLE held_prefix (calendar text COLLATE "C" NOT NULL, prefix text COLLATE "C" NOT NULL);
      CREATE TEMP TABLE held_calendar (calendar text COLLATE "C" PRIMARY KEY);
      CREATE TEMP TABLE scope (calendar text COLLATE "C" PRIMARY KEY);
      CREATE TEMP TABLE changed (calendar text COLLATE "C" PRIMARY KEY);
      CREATE TEMP TABLE removed (calendar text COLLATE "C" NOT NULL, event_key text COLLATE "C" NOT NULL, source_id text COLLATE "C" NOT NULL, PRIMARY KEY (calendar, event_key));`);
    return new PostgresDesiredImport(client, store, now);
  }

  private async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.finished) throw new Error('this import was finished or aborted already');
    try {
      return await work();
    } catch (error) {
      throw this.store.failure(error);
    }
  }

  async add(events: Array<{ desired: DesiredEvent; record: string }>): Promise<void> {
    if (!events.length) return;
    await this.run(() =>
      this.client.query(
        `INSERT INTO staged (calendar, event_key, source_id, content_hash, starts_at_ms, payload, record)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])`,
        [
          events.map((e) => e.desired.event.calendar),
          events.map((e) => e.desired.key),
          events.map((e) => e.desired.event.id),
          events.map((e) => e.desired.contentHash),
          events.map((e) => e.desired.startsAtMs),
          events.map((e) => JSON.stringify(e.desired.event)),
          events.map((e) => e.record),
        ],
      ),
    );
  }

  async hold(held: HeldEvent[]): Promise<void> {
    await this.run(async () => {
      for (const h of held) {
        if ('key' in h) await this.client.query('INSERT INTO held_key VALUES ($1, $2) ON CONFLICT DO NOTHING', [h.calendar, h.key]);
        else if ('idPrefix' in h) await this.client.query('INSERT INTO held_prefix VALUES ($1, $2)', [h.calendar, h.idPrefix]);
        else await this.client.query('INSERT INTO held_calendar VALUES ($1) ON CONFLICT DO NOTHING', [h.calendar]);
      }
    });
  }

  async finish(options: DesiredImportFinish): Promise<DesiredImportResult> {
    try {
      return await this.run(async () => {
        await this.client.query('BEGIN');
        try {
          const result = await this.replace(options);
          await this.store.notify(this.client, result.changedCalendars);
          await this.client.query('COMMIT');
          return result.result;
        } catch (error) {
          await this.client.query('ROLLBACK').catch(() => {});
          throw error;
        }
      });
    } finally {
      await this.abort();
    }
  }

  async preview(options: DesiredImportFinish, inspect: (calendar: DesiredPreviewCalendar) => void): Promise<DesiredImportResult> {
    return this.run(async () => {
      // The same replacement as finish, then rolled back: the staged tables are TEMP tables of this connection,
      // made before this transaction, and keep their rows; the import can be previewed again or finished.
      await this.client.query('BEGIN');
      try {
        const { result } = await this.replace(options);
        for (const calendar of result.calendars) inspect(await this.previewCalendar(calendar));
        return result;
      } finally {
        await this.client.query('ROLLBACK');
      }
    });
  }

  /** The replacement itself, inside the caller's transaction. */
  private async replace(options: DesiredImportFinish): Promise<{ result: DesiredImportResult; changedCalendars: string[] }> {
    const c = this.client;
    const duplicates = await this.holdDuplicates();
    await this.fillScope(options);
    const scope = (await c.query('SELECT calendar FROM scope ORDER BY calendar')).rows.map((row: Row) => String(row.calendar));
    await lockMailboxes(c, scope);
    const applied = await count(c, 'SELECT COUNT(*) AS n FROM staged');
    if (options.refuseEmpty && !options.upsertOnly && applied === 0) {
      const existing = await count(c, 'SELECT COUNT(*) AS n FROM desired_event WHERE calendar IN (SELECT calendar FROM scope)');
      if (existing > 0) throw new EmptyInputRefused(existing, scope.length);
    }
    const inScope = options.upsertOnly ? 0 : await count(c, 'SELECT COUNT(*) AS n FROM desired_event WHERE calendar IN (SELECT calendar FROM scope)');
    const { added, changed, unchanged } = await this.upsertStaged(applied);
    // Desired events in scope that no staged event matched are the candidates for removal.
    const unmatched = inScope - unchanged - changed;
    const { removed, kept } = unmatched > 0 ? await this.removeAbsent(options.retention) : { removed: 0, kept: 0 };
    const changedCalendars = (await c.query('SELECT calendar FROM changed ORDER BY calendar')).rows.map((row: Row) => String(row.calendar));
    await c.query('UPDATE mailbox SET desired_version = desired_version + 1 WHERE calendar IN (SELECT calendar FROM changed)');
    await c.query('UPDATE mailbox SET managed_by = $1 WHERE calendar IN (SELECT calendar FROM scope)', [options.source ?? 'sync']);
    return { result: { added, changed, removed, unchanged, kept, calendars: scope, applied, duplicates: [...duplicates.values()] }, changedCalendars };
  }

  /** Duplicates: every occurrence is refused and its key held (what was delivered for it stays). */
  private async holdDuplicates(): Promise<Map<string, { calendar: string; sourceId: string; records: string[] }>> {
    const rows = (
      await this.client.query(`
        SELECT s.calendar, s.event_key, s.source_id, s.record FROM staged s
        JOIN (SELECT calendar, event_key FROM staged GROUP BY calendar, event_key HAVING COUNT(*) > 1) d
          ON d.calendar = s.calendar AND d.event_key = s.event_key
        ORDER BY s.seq`)
    ).rows as Row[];
    const duplicates = new Map<string, { calendar: string; sourceId: string; records: string[] }>();
    for (const row of rows) {
      const id = `${row.calendar}\n${row.event_key}`;
      const entry = duplicates.get(id) ?? { calendar: String(row.calendar), sourceId: String(row.source_id), records: [] };
      entry.records.push(String(row.record));
      duplicates.set(id, entry);
    }
    if (duplicates.size) {
      await this.client.query(`
        INSERT INTO held_key SELECT calendar, event_key FROM staged GROUP BY calendar, event_key HAVING COUNT(*) > 1 ON CONFLICT DO NOTHING;
        DELETE FROM staged WHERE (calendar, event_key) IN (SELECT calendar, event_key FROM held_key);`);
    }
    return duplicates;
  }

  /** The calendars whose desired set this import replaces (or, upsert-only, adds to). */
  private async fillScope(options: DesiredImportFinish): Promise<void> {
    const c = this.client;
    if (options.upsertOnly) {
      await c.query('INSERT INTO scope SELECT DISTINCT calendar FROM staged ON CONFLICT DO NOTHING');
    } else if (options.calendars === 'staged-and-synced') {
      // Calendars that the API, an import or a feed manages are not sync's to replace.
      await c.query(`
        INSERT INTO scope SELECT DISTINCT calendar FROM staged ON CONFLICT DO NOTHING;
        INSERT INTO scope SELECT calendar FROM mailbox WHERE managed_by IS NULL OR managed_by = 'sync' ON CONFLICT DO NOTHING;`);
    } else {
      await c.query('INSERT INTO scope SELECT DISTINCT c FROM unnest($1::text[]) AS c ON CONFLICT DO NOTHING', [options.calendars]);
      const outside = await count(c, 'SELECT COUNT(*) AS n FROM staged WHERE calendar NOT IN (SELECT calendar FROM scope)');
      if (outside) throw new Error(`${outside} staged event(s) are outside the calendars being replaced`);
    }
  }

  /** Adds and changes the staged events; counts what was added, changed and already so. */
  private async upsertStaged(applied: number): Promise<{ added: number; changed: number; unchanged: number }> {
    const c = this.client;
    const matched = (
      await c.query(`
        SELECT COUNT(*) FILTER (WHERE d.content_hash = s.content_hash) AS unchanged, COUNT(*) FILTER (WHERE d.content_hash <> s.content_hash) AS changed
        FROM staged s JOIN desired_event d ON d.calendar = s.calendar AND d.event_key = s.event_key`)
    ).rows[0] as Row;
    const unchanged = Number(matched.unchanged);
    const changed = Number(matched.changed);
    const added = applied - unchanged - changed;
    if (added + changed > 0) {
      await c.query(`
        INSERT INTO changed
          SELECT DISTINCT s.calendar FROM staged s LEFT JOIN desired_event d ON d.calendar = s.calendar AND d.event_key = s.event_key
          WHERE d.content_hash IS NULL OR d.content_hash <> s.content_hash
        ON CONFLICT DO NOTHING`);
      await c.query(
        `INSERT INTO desired_event (calendar, event_key, source_id, content_hash, starts_at_ms, payload, updated_at)
         SELECT s.calendar, s.event_key, s.source_id, s.content_hash, s.starts_at_ms, s.payload, $1 FROM staged s
         WHERE NOT EXISTS (SELECT 1 FROM desired_event d WHERE d.calendar = s.calendar AND d.event_key = s.event_key AND d.content_hash = s.content_hash)
         ON CONFLICT (calendar, event_key) DO UPDATE SET source_id = excluded.source_id, content_hash = excluded.content_hash,
           starts_at_ms = excluded.starts_at_ms, payload = excluded.payload, updated_at = excluded.updated_at`,
        [this.now()],
      );
    }
    return { added, changed, unchanged };
  }

  /** Removes the desired events in scope that the input left out, except held ones and those retention keeps. */
  private async removeAbsent(retention: RetentionRule | null): Promise<{ removed: number; kept: number }> {
    const c = this.client;
    const absent = `
      FROM desired_event d
      WHERE d.calendar IN (SELECT calendar FROM scope)
        AND d.calendar NOT IN (SELECT calendar FROM held_calendar)
        AND NOT EXISTS (SELECT 1 FROM staged s WHERE s.calendar = d.calendar AND s.event_key = d.event_key)
        AND NOT EXISTS (SELECT 1 FROM held_key h WHERE h.calendar = d.calendar AND h.event_key = d.event_key)
        AND NOT EXISTS (SELECT 1 FROM held_prefix p WHERE p.calendar = d.calendar AND left(d.source_id, length(p.prefix)) = p.prefix)`;
    let kept = 0;
    if (retention) kept = await this.chooseRemovals(absent, retention);
    else await c.query(`INSERT INTO removed SELECT d.calendar, d.event_key, d.source_id ${absent}`);
    await c.query('INSERT INTO changed SELECT DISTINCT calendar FROM removed ON CONFLICT DO NOTHING');
    const removed = (await c.query('DELETE FROM desired_event WHERE (calendar, event_key) IN (SELECT calendar, event_key FROM removed)')).rowCount ?? 0;
    return { removed, kept };
  }

  /** Retention, as the SQLite store applies it (store/sqlite.ts chooseRemovals): one pass, exact near the bounds. */
  private async chooseRemovals(absent: string, rule: RetentionRule): Promise<number> {
    const c = this.client;
    const bounds = retentionBounds(rule);
    const prune = bounds.prunedBefore !== null;
    // Every query names all five bounds (PostgreSQL wants each parameter it is given to be used): the CTE p.
    const params: unknown[] = [rule.nowMs, bounds.notEndedAfter, bounds.endedBy, bounds.prunedBefore, bounds.keptFrom];
    const candidates = `
      WITH p AS (SELECT $1::bigint AS now_ms, $2::text COLLATE "C" AS not_ended_after, $3::text COLLATE "C" AS ended_by,
                        $4::text COLLATE "C" AS pruned_before, $5::text COLLATE "C" AS kept_from),
      a AS (
        SELECT d.calendar, d.event_key, d.source_id, d.starts_at_ms,
               COALESCE(d.payload::jsonb #>> '{timing,end}', (d.payload::jsonb #>> '{timing,endDate}') || 'T00:00:00') COLLATE "C" AS end_local
        ${absent})`;
    // An event that has not started has not ended.
    const surelyRemoved = `(a.starts_at_ms > p.now_ms OR a.end_local > p.not_ended_after${prune ? ' OR a.end_local < p.pruned_before' : ''})`;
    const surelyKept = `(a.starts_at_ms <= p.now_ms AND a.end_local <= p.ended_by${prune ? ' AND a.end_local >= p.kept_from' : ''})`;
    const sorted = (
      await c.query(
        `${candidates} SELECT COUNT(*) AS absent, COUNT(*) FILTER (WHERE ${surelyRemoved}) AS removed,
           COUNT(*) FILTER (WHERE NOT ${surelyRemoved} AND NOT ${surelyKept}) AS near FROM a, p`,
        params,
      )
    ).rows[0] as Row;
    let kept = Number(sorted.absent) - Number(sorted.removed);
    if (Number(sorted.removed) > 0) {
      await c.query(`${candidates}, r AS (SELECT a.calendar, a.event_key, a.source_id FROM a, p WHERE ${surelyRemoved}) INSERT INTO removed SELECT * FROM r`, params);
    }
    if (Number(sorted.near) > 0) {
      const near = (
        await c.query(
          `${candidates} SELECT a.calendar, a.event_key, a.source_id, (SELECT payload::jsonb -> 'timing' FROM desired_event e WHERE e.calendar = a.calendar AND e.event_key = a.event_key) AS timing
           FROM a, p WHERE NOT ${surelyRemoved} AND NOT ${surelyKept}`,
          params,
        )
      ).rows as Row[];
      for (const row of near) {
        if (keepsAbsentEvent(row.timing as EventTiming, rule)) continue;
        await c.query('INSERT INTO removed VALUES ($1, $2, $3)', [row.calendar, row.event_key, row.source_id]);
        kept--;
      }
    }
    return kept;
  }

  /** What a preview's inspector sees of one calendar, read inside the preview's transaction (before inspect). */
  private async previewCalendar(calendar: string): Promise<DesiredPreviewCalendar> {
    const c = this.client;
    const rows = async (sql: string) => (await c.query(sql, [calendar])).rows as Row[];
    const mailbox = toMailbox((await rows('SELECT * FROM mailbox WHERE calendar = $1'))[0]!);
    const pending = (await rows('SELECT * FROM pending_op WHERE calendar = $1 ORDER BY starts_at_ms NULLS FIRST, event_key')).map(toPendingOp);
    const desired = (await rows('SELECT calendar, event_key, source_id, content_hash, starts_at_ms, payload FROM desired_event WHERE calendar = $1 ORDER BY event_key')).map(toDesired);
    const delivered = (
      await rows('SELECT calendar, event_key, item_id, change_key, transaction_id, content_hash, starts_at_ms FROM delivered_item WHERE calendar = $1 ORDER BY event_key, item_id')
    ).map(toDelivered);
    const generations = new Map((await rows('SELECT event_key, generation FROM key_generation WHERE calendar = $1')).map((row) => [String(row.event_key), Number(row.generation)]));
    const removedIds = new Map((await rows('SELECT event_key, source_id FROM removed WHERE calendar = $1')).map((row) => [String(row.event_key), String(row.source_id)]));
    return {
      calendar,
      mailbox,
      needsDelivery: !(mailbox.state === 'ok' && mailbox.inventoriedAt !== null && mailbox.deliveredVersion >= mailbox.desiredVersion && pending.length === 0),
      pendingOps: () => pending,
      desired: () => desired,
      delivered: () => delivered,
      generations: () => generations,
      removedIds: () => removedIds,
    };
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    try {
      await this.client.query('DROP TABLE IF EXISTS staged, held_key, held_prefix, held_calendar, scope, changed, removed');
      this.client.release();
    } catch {
      // A connection that failed is not given back to the pool for reuse: its TEMP tables may be left.
      this.client.release(true);
    }
  }
}
