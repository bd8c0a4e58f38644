// The SQLite store: the store contract (test/store/contract.ts) on a file, and what only SQLite does — its file,
// its migrations from the schemas that shipped.
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it, vi } from 'vitest';
import { validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { SqliteStore, WAL_CHECKPOINT_PAGES } from '../../src/store/sqlite.ts';
import { LEDGER_WRITE_DELAY_MS } from '../../src/store/sqlite-ledger.ts';
import { LeaseLost } from '../../src/store/store.ts';
import { storeContract } from './contract.ts';

const tempDb = () => join(mkdtempSync(join(tmpdir(), 'calpush-store-')), 'nested', 'calpush.sqlite');

storeContract('SQLite', {
  open: async (options) => new SqliteStore(tempDb(), options?.keyring ? { keyring: options.keyring } : {}),
  reopen: async (store, options) => new SqliteStore((store as SqliteStore).path, options?.keyring ? { keyring: options.keyring } : {}),
});

const cal = 'a@contoso.edu';
function other(id: string): DesiredEvent {
  const result = validateEvent({ calendar: 'b@contoso.edu', id, subject: id, start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'Europe/Amsterdam' });
  if (!result.ok) throw new Error('invalid');
  return result.desired;
}
function event(id: string, subject = id): DesiredEvent {
  const result = validateEvent({ calendar: cal, id, subject, start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'Europe/Amsterdam' });
  if (!result.ok) throw new Error('invalid');
  return result.desired;
}

describe('SQLite store', () => {
  it(`checkpoints its WAL at ${WAL_CHECKPOINT_PAGES} pages, not at SQLite's default of 1,000 (fewer commits wait for one)`, async () => {
    const path = tempDb();
    const store = new SqliteStore(path);
    // ~1,600 pages in 40 commits: SQLite's default would have checkpointed and restarted the WAL after ~1,000.
    const big = (n: number) => {
      const result = validateEvent({ calendar: cal, id: `e${n}`, subject: `e${n}`, body: 'x'.repeat(8_000), start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'Europe/Amsterdam' });
      if (!result.ok) throw new Error(JSON.stringify(result.problems));
      return result.desired;
    };
    for (let commit = 0; commit < 40; commit++) {
      await store.applyDesiredOps(Array.from({ length: 20 }, (_, i) => ({ kind: 'upsert' as const, desired: big(commit * 20 + i) })));
    }
    const walPages = statSync(`${path}-wal`).size / (4096 + 24);
    expect(walPages).toBeGreaterThan(1_200);
    expect(walPages).toBeLessThan(WAL_CHECKPOINT_PAGES + 100);
    await store.close();
  });

  // Group commit (src/store/sqlite-ledger.ts): a charge is not a commit of its own. It is committed with the handle's
  // next write, at the latest LEDGER_WRITE_DELAY_MS later, or at close; a write that rolls back keeps it waiting.
  describe('the request ledger, committed with the next write', () => {
    const spentSeenBy = async (store: SqliteStore) => (await store.requestsSpentByOthers(cal, 'reader', 600_000)).reduce((sum, s) => sum + s.cost, 0);
    // PRAGMA data_version changes when another connection commits (https://www.sqlite.org/pragma.html#pragma_data_version).
    const commitsSeen = (path: string) => {
      const db = new DatabaseSync(path);
      return { version: () => Number((db.prepare('PRAGMA data_version').get() as { data_version: number }).data_version), close: () => db.close() };
    };

    it('waits for the next write, which commits it, and survives a write that rolls back', async () => {
      const path = tempDb();
      const store = new SqliteStore(path);
      const reader = new SqliteStore(path);
      const watcher = commitsSeen(path);
      const before = watcher.version();
      await store.chargeRequests(cal, 'w1', 20);
      await store.chargeRequests(cal, 'w1', 5);
      expect(watcher.version()).toBe(before);
      expect(await spentSeenBy(reader)).toBe(0);
      // A fenced write under a lease nobody holds rolls back, charges included; they wait for the next one.
      await expect(store.markOpAttempts(cal, ['k'], { calendar: cal, owner: 'gone', token: 1 })).rejects.toBeInstanceOf(LeaseLost);
      expect(await spentSeenBy(reader)).toBe(0);
      await store.markOpAttempts(cal, []);
      expect(watcher.version()).not.toBe(before);
      expect(await spentSeenBy(reader)).toBe(25);
      watcher.close();
      await reader.close();
      await store.close();
    });

    it(`is written within ${LEDGER_WRITE_DELAY_MS} ms without another write, and at close`, async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        const path = tempDb();
        const store = new SqliteStore(path);
        const reader = new SqliteStore(path);
        await store.chargeRequests(cal, 'w1', 3);
        vi.advanceTimersByTime(LEDGER_WRITE_DELAY_MS - 1);
        expect(await spentSeenBy(reader)).toBe(0);
        vi.advanceTimersByTime(1);
        expect(await spentSeenBy(reader)).toBe(3);
        await store.chargeRequests(cal, 'w1', 4);
        await store.close();
        expect(await spentSeenBy(reader)).toBe(7);
        await reader.close();
      } finally {
        vi.useRealTimers();
      }
    });
  });

  it('migrates a new database to the current schema and reopens it unchanged', async () => {
    const path = tempDb();
    const store = new SqliteStore(path);
    expect(store.schemaVersion()).toBe(15);
    await store.applyDesired({ calendars: [cal], events: [event('x')], held: [] });
    await store.close();
    const again = new SqliteStore(path);
    expect(again.schemaVersion()).toBe(15);
    expect((await again.desiredFor(cal)).map((r) => r.sourceId)).toEqual(['x']);
    await again.close();
  });

  it('migrates a schema-5 store: its API keys are kept, and admin and helpdesk keys can be stored', async () => {
    const path = tempDb();
    const current = new SqliteStore(path);
    await current.close();
    // Back to schema 5 as it shipped: the api_key table with the read/write CHECK, no last_error_remedy.
    const db = new DatabaseSync(path);
    db.exec(`
      DROP TABLE api_key;
      CREATE TABLE api_key (id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        calendars TEXT, created_at TEXT NOT NULL, revoked_at TEXT, last_used_at TEXT);
      INSERT INTO api_key VALUES ('0123456789ab', 'old', 'hash', 'write', NULL, '2026-01-01T00:00:00.000Z', NULL, NULL);
      ALTER TABLE mailbox DROP COLUMN last_error_remedy;
      ALTER TABLE mailbox DROP COLUMN lease_token;
      DROP TABLE request_ledger;
      ALTER TABLE mailbox DROP COLUMN target;
      DROP TABLE route_lookup;
      DROP TABLE connection; DROP TABLE consent_request; DROP TABLE alert_state; DROP TABLE alert_delivery;
      ALTER TABLE feed_state DROP COLUMN consecutive_failures;
      ALTER TABLE pending_op DROP COLUMN lands_by_ms;
      DROP TABLE agent_sync; DROP TABLE agent_meeting; DROP TABLE agent_alias;
      DROP TABLE watch_state; DROP TABLE drift; DROP TABLE watch_subscription; DROP TABLE notification_count;
      PRAGMA user_version = 5;`);
    expect(() => db.exec(`INSERT INTO api_key VALUES ('0123456789ac', 'x', 'h', 'admin', NULL, '2026-01-01T00:00:00.000Z', NULL, NULL)`)).toThrow(/CHECK/);
    db.close();
    const store = new SqliteStore(path);
    expect(store.schemaVersion()).toBe(15);
    expect(await store.apiKey('0123456789ab')).toMatchObject({ name: 'old', scope: 'write' });
    const row = { id: 'aaaaaaaaaaaa', name: '', hash: 'h', calendars: null, createdAt: '2026-01-01T00:00:00.000Z', revokedAt: null, lastUsedAt: null };
    await store.createApiKey({ ...row, scope: 'admin' });
    await store.createApiKey({ ...row, id: 'bbbbbbbbbbbb', scope: 'helpdesk' });
    await expect(store.createApiKey({ ...row, id: 'cccccccccccc', scope: 'root' as never })).rejects.toThrow();
    expect((await store.apiKeys()).map((k) => k.scope).sort()).toEqual(['admin', 'helpdesk', 'write']);
    await store.close();
  });

  it('upgrades a schema-6 store (the last released) to the latest: its delivered mailboxes belong to the target "default"', async () => {
    const path = tempDb();
    const current = new SqliteStore(path);
    await current.applyDesired({ calendars: [cal, 'b@contoso.edu'], events: [event('x'), other('y')], held: [] });
    await current.recordInventory(cal, [{ calendar: cal, key: event('x').key, itemId: 'i1', changeKey: 'ck', transactionId: null, contentHash: 'h', startsAtMs: null }]);
    await current.close();
    // Back to schema 6 as main shipped it: no lease token or request ledger (7), no mailbox target or route lookups
    // (8), no connections, consent requests, alerts or failed-poll counts (9), no pending_op.lands_by_ms (10), no resource agent state (11),
    // no watch state or drift (12), no subscriptions or notification counts (14).
    const db = new DatabaseSync(path);
    db.exec(`
      ALTER TABLE mailbox DROP COLUMN lease_token;
      DROP TABLE request_ledger;
      ALTER TABLE mailbox DROP COLUMN target;
      DROP TABLE route_lookup;
      DROP TABLE connection; DROP TABLE consent_request; DROP TABLE alert_state; DROP TABLE alert_delivery;
      ALTER TABLE feed_state DROP COLUMN consecutive_failures;
      ALTER TABLE pending_op DROP COLUMN lands_by_ms;
      DROP TABLE agent_sync; DROP TABLE agent_meeting; DROP TABLE agent_alias;
      DROP TABLE watch_state; DROP TABLE drift; DROP TABLE watch_subscription; DROP TABLE notification_count;
      PRAGMA user_version = 6;`);
    db.close();
    const store = new SqliteStore(path);
    expect(store.schemaVersion()).toBe(15);
    expect(await store.mailbox(cal)).toMatchObject({ target: 'default' });
    expect(await store.mailbox('b@contoso.edu')).toMatchObject({ target: null });
    expect(await store.claimMailbox(cal, 'w1', 60_000)).toMatchObject({ owner: 'w1', token: 1 });
    expect(await store.deliveredFor(cal)).toHaveLength(1);
    await store.close();
  });
});
