import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import fc from 'fast-check';
import { keepsAbsentEvent, type RetentionRule } from '../../src/model/retention.ts';
import type { PendingOp } from '../../src/model/rows.ts';

const cal = 'a@contoso.edu';
function event(id: string, subject = id): DesiredEvent {
  const result = validateEvent({ calendar: cal, id, subject, start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'Europe/Amsterdam' });
  if (!result.ok) throw new Error('invalid');
  return result.desired;
}
const tempDb = () => join(mkdtempSync(join(tmpdir(), 'calpush-store-')), 'nested', 'calpush.sqlite');

describe('SQLite store', () => {
  it('migrates a new database to the current schema and reopens it unchanged', async () => {
    const path = tempDb();
    const store = new SqliteStore(path);
    expect(store.schemaVersion()).toBe(7);
    await store.applyDesired({ calendars: [cal], events: [event('x')], held: [] });
    await store.close();
    const again = new SqliteStore(path);
    expect(again.schemaVersion()).toBe(7);
    expect((await again.desiredFor(cal)).map((r) => r.sourceId)).toEqual(['x']);
    await again.close();
  });

  it('replaces a calendar’s desired set, keeping held events and counting changes', async () => {
    const store = new SqliteStore(':memory:');
    expect(await store.applyDesired({ calendars: [cal], events: [event('a'), event('b'), event('c')], held: [] })).toEqual({ added: 3, changed: 0, removed: 0, unchanged: 0 });
    const b = event('b');
    const result = await store.applyDesired({ calendars: [cal], events: [event('a'), event('c', 'changed')], held: [{ calendar: cal, key: b.key }] });
    expect(result).toEqual({ added: 0, changed: 1, removed: 0, unchanged: 1 });
    expect((await store.desiredFor(cal)).map((r) => r.sourceId).sort()).toEqual(['a', 'b', 'c']);
    expect((await store.applyDesired({ calendars: [cal], events: [], held: [] })).removed).toBe(3);
    await store.close();
  });

  it('refuses events outside the calendars being replaced, writing nothing', async () => {
    const store = new SqliteStore(':memory:');
    await expect(store.applyDesired({ calendars: ['other@contoso.edu'], events: [event('a')], held: [] })).rejects.toThrow(/outside/);
    expect(await store.desiredFor(cal)).toEqual([]);
    await store.close();
  });

  it('lets one worker hold a mailbox lease until it is released or expires', async () => {
    const store = new SqliteStore(':memory:');
    expect(await store.claimMailbox(cal, 'w1', 60_000)).toBe(true);
    expect(await store.claimMailbox(cal, 'w2', 60_000)).toBe(false);
    expect(await store.claimMailbox(cal, 'w1', 60_000)).toBe(true);
    await store.releaseMailbox(cal, 'w1');
    expect(await store.claimMailbox(cal, 'w2', 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    expect(await store.claimMailbox(cal, 'w1', 60_000)).toBe(true);
    await store.close();
  });

  it('keeps the attempt count of a sent create across re-planning, and drops the op with its answer', async () => {
    const store = new SqliteStore(':memory:');
    const op: PendingOp = { calendar: cal, key: 'k', kind: 'create', itemId: null, contentHash: 'h', transactionId: 't', startsAtMs: 1, attempts: 0, lastError: null };
    await store.replacePendingOps(cal, [op]);
    await store.markOpAttempts(cal, ['k']);
    await store.replacePendingOps(cal, [op]);
    expect((await store.pendingOps(cal))[0]!.attempts).toBe(1);
    await store.completeOps([{ op, delivered: { calendar: cal, key: 'k', itemId: 'item1', changeKey: 'ck', transactionId: 't', contentHash: 'h', startsAtMs: 1 } }]);
    expect(await store.pendingOps(cal)).toEqual([]);
    expect(await store.deliveredFor(cal)).toEqual([{ calendar: cal, key: 'k', itemId: 'item1', changeKey: 'ck', transactionId: 't', contentHash: 'h', startsAtMs: 1 }]);
    await store.close();
  });

  it('keeps the ChangeKey an update or delete was planned with (schema 5: pending_op.change_key)', async () => {
    const store = new SqliteStore(':memory:');
    const update: PendingOp = { calendar: cal, key: 'k', kind: 'update', itemId: 'item1', changeKey: 'ck-1', contentHash: 'h', transactionId: null, startsAtMs: 1, attempts: 0, lastError: null };
    const del: PendingOp = { calendar: cal, key: 'j', kind: 'delete', itemId: 'item2', contentHash: null, transactionId: null, startsAtMs: null, attempts: 0, lastError: null };
    await store.replacePendingOps(cal, [update, del]);
    const stored = await store.pendingOps(cal);
    expect(stored.find((op) => op.key === 'k')!.changeKey).toBe('ck-1');
    expect(stored.find((op) => op.key === 'j')!.changeKey).toBeNull();
    await store.close();
  });

  it('counts generations on delete and on a vanished item, and inventories replace delivered state', async () => {
    const store = new SqliteStore(':memory:');
    await store.recordInventory(cal, [
      { calendar: cal, key: 'k', itemId: 'i1', changeKey: null, transactionId: null, contentHash: 'h' },
      { calendar: cal, key: 'k', itemId: 'i2', changeKey: null, transactionId: null, contentHash: 'h' },
    ]);
    expect((await store.mailbox(cal))!.inventoriedAt).not.toBeNull();
    await store.completeOps([{ op: { calendar: cal, key: 'k', kind: 'delete', itemId: 'i1', contentHash: null, transactionId: null, startsAtMs: null, attempts: 0, lastError: null }, delivered: null }]);
    await store.forgetDelivered(cal, 'k', 'i2');
    expect(await store.deliveredFor(cal)).toEqual([]);
    expect((await store.generations(cal)).get('k')).toBe(2);
    await store.invalidateInventory();
    expect((await store.mailbox(cal))!.inventoriedAt).toBeNull();
    await store.close();
  });

  it('records mailbox failures with the reason and its fix, and clears them on success', async () => {
    const store = new SqliteStore(':memory:');
    await store.recordMailboxFailure(cal, 'ErrorAccessDenied', 'Access to OData is disabled.', 'add it to the RBAC for Applications scope');
    await store.recordMailboxFailure('b@contoso.edu', 'ErrorAccessDenied', 'Access to OData is disabled.');
    await store.recordMailboxFailure('c@contoso.edu', 'ErrorInvalidUser', 'no such user');
    expect(await store.mailbox(cal)).toMatchObject({ state: 'failed', lastErrorCode: 'ErrorAccessDenied', lastErrorRemedy: 'add it to the RBAC for Applications scope', consecutiveFailures: 1 });
    expect(await store.failureCauses()).toEqual([{ code: 'ErrorAccessDenied', mailboxes: 2 }, { code: 'ErrorInvalidUser', mailboxes: 1 }]);
    await store.recordMailboxOk(cal, 1);
    expect(await store.mailbox(cal)).toMatchObject({ state: 'ok', lastErrorCode: null, lastErrorRemedy: null, consecutiveFailures: 0 });
    expect(await store.failureCauses()).toEqual([{ code: 'ErrorAccessDenied', mailboxes: 1 }, { code: 'ErrorInvalidUser', mailboxes: 1 }]);
    await store.close();
  });

  it('lists the mailboxes with delivery work ahead that are not failing', async () => {
    const store = new SqliteStore(':memory:');
    await store.applyDesired({ calendars: [cal, 'b@contoso.edu'], events: [event('x'), { ...event('y'), event: { ...event('y').event, calendar: 'b@contoso.edu' } }], held: [] });
    expect(await store.mailboxesWithWork()).toEqual([cal, 'b@contoso.edu'].sort());
    await store.recordMailboxFailure('b@contoso.edu', 'ErrorAccessDenied', 'denied');
    await store.recordInventory(cal, []);
    await store.recordMailboxOk(cal, (await store.mailbox(cal))!.desiredVersion);
    expect(await store.mailboxesWithWork()).toEqual([]);
    await store.invalidateInventory(cal);
    expect(await store.mailboxesWithWork()).toEqual([cal]);
    await store.close();
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
      DROP TABLE connection; DROP TABLE consent_request; DROP TABLE alert_state; DROP TABLE alert_delivery;
      ALTER TABLE feed_state DROP COLUMN consecutive_failures;
      PRAGMA user_version = 5;`);
    expect(() => db.exec(`INSERT INTO api_key VALUES ('0123456789ac', 'x', 'h', 'admin', NULL, '2026-01-01T00:00:00.000Z', NULL, NULL)`)).toThrow(/CHECK/);
    db.close();
    const store = new SqliteStore(path);
    expect(store.schemaVersion()).toBe(7);
    expect(await store.apiKey('0123456789ab')).toMatchObject({ name: 'old', scope: 'write' });
    const row = { id: 'aaaaaaaaaaaa', name: '', hash: 'h', calendars: null, createdAt: '2026-01-01T00:00:00.000Z', revokedAt: null, lastUsedAt: null };
    await store.createApiKey({ ...row, scope: 'admin' });
    await store.createApiKey({ ...row, id: 'bbbbbbbbbbbb', scope: 'helpdesk' });
    await expect(store.createApiKey({ ...row, id: 'cccccccccccc', scope: 'root' as never })).rejects.toThrow();
    expect((await store.apiKeys()).map((k) => k.scope).sort()).toEqual(['admin', 'helpdesk', 'write']);
    await store.close();
  });

  it('streams an import: finds duplicates across chunks, holds them, and applies the rest in one go', async () => {
    const store = new SqliteStore(':memory:');
    await store.applyDesired({ calendars: [cal], events: [event('dup', 'old'), event('kept')], held: [] });
    const importer = await store.beginDesiredImport();
    await importer.add([{ desired: event('a'), record: 'line 1' }, { desired: event('dup', 'x'), record: 'line 2' }]);
    await importer.add([{ desired: event('dup', 'y'), record: 'line 3' }]);
    const result = await importer.finish({ calendars: 'staged-and-synced', refuseEmpty: true, retention: null });
    expect(result.duplicates).toEqual([{ calendar: cal, sourceId: 'dup', records: ['line 2', 'line 3'] }]);
    expect(result).toMatchObject({ applied: 1, added: 1, removed: 1, calendars: [cal] });
    // The duplicated id keeps its previous desired state; "kept" was not in the input and is removed.
    expect((await store.desiredFor(cal)).map((r) => [r.sourceId, r.event.subject]).sort()).toEqual([
      ['a', 'a'],
      ['dup', 'old'],
    ]);
    await store.close();
  });

  it('holds series by id prefix and whole calendars whose feed broke', async () => {
    const store = new SqliteStore(':memory:');
    const other = 'b@contoso.edu';
    const inOther = (id: string) => {
      const r = validateEvent({ calendar: other, id, start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'UTC' });
      if (!r.ok) throw new Error('invalid');
      return r.desired;
    };
    await store.applyDesired({ calendars: [cal, other], events: [event('uid1@20260901'), event('uid1@20260908'), event('uid2@20260901'), inOther('x')], held: [] });
    const result = await store.applyDesired({ calendars: [cal, other], events: [], held: [{ calendar: cal, idPrefix: 'uid1@' }, { calendar: other, everything: true }] });
    expect(result.removed).toBe(1);
    expect((await store.desiredFor(cal)).map((r) => r.sourceId).sort()).toEqual(['uid1@20260901', 'uid1@20260908']);
    expect(await store.desiredFor(other)).toHaveLength(1);
    await store.close();
  });

  it('refuses an empty input that would wipe desired events, changing nothing', async () => {
    const store = new SqliteStore(':memory:');
    await store.applyDesired({ calendars: [cal], events: [event('a')], held: [] });
    const importer = await store.beginDesiredImport();
    await expect(importer.finish({ calendars: 'staged-and-synced', refuseEmpty: true, retention: null })).rejects.toThrow(/has no valid event, which would remove all 1 events .* nothing was changed/);
    expect(await store.desiredFor(cal)).toHaveLength(1);
    // And the next import on the same connection works (the failed one cleaned up after itself).
    expect((await store.applyDesired({ calendars: [cal], events: [event('a'), event('b')], held: [] })).added).toBe(1);
    await store.close();
  });

  it('knows which mailboxes need delivery: changed, pending, never listed or failed', async () => {
    const store = new SqliteStore(':memory:');
    await store.applyDesired({ calendars: [cal], events: [event('a')], held: [] });
    expect(await store.calendarsNeedingDelivery([cal])).toEqual([cal]);
    await store.recordInventory(cal, []);
    const version = (await store.mailbox(cal))!.desiredVersion;
    await store.recordMailboxOk(cal, version);
    expect(await store.calendarsNeedingDelivery([cal])).toEqual([]);
    await store.applyDesired({ calendars: [cal], events: [event('a')], held: [] });
    expect(await store.calendarsNeedingDelivery([cal])).toEqual([]);
    await store.applyDesired({ calendars: [cal], events: [event('a', 'changed')], held: [] });
    expect(await store.calendarsNeedingDelivery([cal])).toEqual([cal]);
    // A delivery that began before the change does not mark the newer version delivered.
    await store.recordMailboxOk(cal, version);
    expect(await store.calendarsNeedingDelivery([cal])).toEqual([cal]);
    await store.close();
  });

  it('lets a sync without a calendar list replace only the calendars sync manages, not those of the API or feeds', async () => {
    const store = new SqliteStore(':memory:');
    const apiCalendar = 'api@contoso.edu';
    const viaApi = validateEvent({ calendar: apiCalendar, id: 'pushed', start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'UTC' });
    if (!viaApi.ok) throw new Error('invalid');
    await store.applyDesiredOps([{ kind: 'upsert', desired: viaApi.desired }]);
    await store.applyDesired({ calendars: [cal], events: [event('a')], held: [] });
    const importer = await store.beginDesiredImport();
    await importer.add([{ desired: event('b'), record: 'line 1' }]);
    const result = await importer.finish({ calendars: 'staged-and-synced', refuseEmpty: true, retention: null });
    expect(result.calendars).toEqual([cal]);
    expect((await store.desiredFor(apiCalendar)).map((r) => r.sourceId)).toEqual(['pushed']);
    expect((await store.desiredFor(cal)).map((r) => r.sourceId)).toEqual(['b']);
    await store.close();
  });

  describe('retention: ended events absent from a full replacement', () => {
    const at = (id: string, start: string, end: string, subject = id) => {
      const r = validateEvent({ calendar: cal, id, subject, start, end, timeZone: 'Europe/Amsterdam' });
      if (!r.ok) throw new Error('invalid');
      return r.desired;
    };
    const allDay = (id: string, start: string, end: string) => {
      const r = validateEvent({ calendar: cal, id, allDay: true, start, end });
      if (!r.ok) throw new Error('invalid');
      return r.desired;
    };
    // "Now" is 1 October 2026, 12:00 UTC (14:00 in Amsterdam).
    const nowMs = Date.parse('2026-10-01T12:00:00Z');
    const rule = (retention: RetentionRule['retention']): RetentionRule => ({ retention, nowMs, allDayTimeZone: 'Europe/Amsterdam' });
    const ids = async (store: SqliteStore) => (await store.desiredFor(cal)).map((r) => r.sourceId).sort();
    const events = [
      at('long-ago', '2026-06-01T09:00', '2026-06-01T10:00'),
      at('last-week', '2026-09-24T09:00', '2026-09-24T10:00'),
      at('this-morning', '2026-10-01T09:00', '2026-10-01T10:00'),
      at('running-now', '2026-10-01T13:30', '2026-10-01T15:00'),
      at('tomorrow', '2026-10-02T09:00', '2026-10-02T10:00'),
      allDay('yesterday-all-day', '2026-09-30', '2026-10-01'),
      allDay('today-all-day', '2026-10-01', '2026-10-02'),
    ];

    it('keeps every ended one with "keep", and removes those that have not ended', async () => {
      const store = new SqliteStore(':memory:');
      await store.applyDesired({ calendars: [cal], events, held: [] });
      const result = await store.applyDesired({ calendars: [cal], events: [], held: [], retention: rule({ past: 'keep' }) });
      expect(result).toEqual({ added: 0, changed: 0, removed: 3, unchanged: 0 });
      // An all-day event ends at midnight in the config's zone that begins its (exclusive) end date.
      expect(await ids(store)).toEqual(['last-week', 'long-ago', 'this-morning', 'yesterday-all-day']);
      await store.close();
    });

    it('with "prune", removes only those that ended more than afterDays ago', async () => {
      const store = new SqliteStore(':memory:');
      await store.applyDesired({ calendars: [cal], events, held: [] });
      await store.applyDesired({ calendars: [cal], events: [], held: [], retention: rule({ past: 'prune', afterDays: 7 }) });
      expect(await ids(store)).toEqual(['this-morning', 'yesterday-all-day']);
      await store.applyDesired({ calendars: [cal], events, held: [] });
      await store.applyDesired({ calendars: [cal], events: [], held: [], retention: rule({ past: 'prune', afterDays: 0 }) });
      expect(await ids(store)).toEqual([]);
      await store.close();
    });

    it('changes a past event that is in the input, and counts what it kept', async () => {
      const store = new SqliteStore(':memory:');
      await store.applyDesired({ calendars: [cal], events, held: [] });
      const importer = await store.beginDesiredImport();
      await importer.add([{ desired: at('last-week', '2026-09-24T09:00', '2026-09-24T10:00', 'renamed afterwards'), record: 'line 1' }]);
      await importer.add([{ desired: at('tomorrow', '2026-10-02T09:00', '2026-10-02T10:00'), record: 'line 2' }]);
      const result = await importer.finish({ calendars: [cal], refuseEmpty: true, retention: rule({ past: 'keep' }) });
      expect(result).toMatchObject({ changed: 1, unchanged: 1, removed: 2, kept: 3 });
      expect((await store.desiredFor(cal)).find((r) => r.sourceId === 'last-week')!.event.subject).toBe('renamed afterwards');
      expect(await ids(store)).toEqual(['last-week', 'long-ago', 'this-morning', 'tomorrow', 'yesterday-all-day']);
      // Nothing was removed only because it ended: the desired version moves for the change, not for the kept.
      const version = (await store.mailbox(cal))!.desiredVersion;
      const again = await store.beginDesiredImport();
      await again.add([{ desired: at('tomorrow', '2026-10-02T09:00', '2026-10-02T10:00'), record: 'line 1' }]);
      await again.add([{ desired: at('last-week', '2026-09-24T09:00', '2026-09-24T10:00', 'renamed afterwards'), record: 'line 2' }]);
      expect(await again.finish({ calendars: [cal], refuseEmpty: true, retention: rule({ past: 'keep' }) })).toMatchObject({ removed: 0, kept: 3 });
      expect((await store.mailbox(cal))!.desiredVersion).toBe(version);
      await store.close();
    });

    it('keeps exactly the absent events the rule keeps, in any zone and near any boundary (fast-check)', async () => {
      const zones = ['Pacific/Kiritimati', 'Etc/GMT+12', 'Europe/Amsterdam', 'America/St_Johns', 'Asia/Kolkata', 'Australia/Lord_Howe', 'UTC'];
      const timing = fc.oneof(
        fc.record({ allDay: fc.constant(false as const), startMin: fc.integer({ min: -3000, max: 3000 }), lengthMin: fc.integer({ min: 0, max: 3000 }), timeZone: fc.constantFrom(...zones) }),
        fc.record({ allDay: fc.constant(true as const), startDay: fc.integer({ min: -4, max: 4 }), days: fc.integer({ min: 1, max: 3 }) }),
      );
      const base = Date.parse('2026-10-01T00:00:00Z');
      await fc.assert(
        fc.asyncProperty(
          fc.array(timing, { minLength: 1, maxLength: 12 }),
          fc.integer({ min: -2880, max: 2880 }),
          fc.oneof(fc.constant({ past: 'keep' as const }), fc.record({ past: fc.constant('prune' as const), afterDays: fc.integer({ min: 0, max: 2 }) })),
          fc.constantFrom(...zones),
          async (timings, nowMin, retention, allDayTimeZone) => {
            const store = new SqliteStore(':memory:');
            const events = timings.map((t, n) => {
              const local = (ms: number) => new Date(ms).toISOString().slice(0, 16);
              const input = t.allDay
                ? { calendar: cal, id: `e${n}`, allDay: true, start: local(base + t.startDay * 86_400_000).slice(0, 10), end: local(base + (t.startDay + t.days) * 86_400_000).slice(0, 10) }
                : { calendar: cal, id: `e${n}`, start: local(base + t.startMin * 60_000), end: local(base + (t.startMin + t.lengthMin) * 60_000), timeZone: t.timeZone };
              const r = validateEvent(input);
              if (!r.ok) throw new Error(JSON.stringify(r.problems));
              return r.desired;
            });
            await store.applyDesired({ calendars: [cal], events, held: [] });
            const rule: RetentionRule = { retention, nowMs: base + nowMin * 60_000, allDayTimeZone };
            const result = await store.applyDesired({ calendars: [cal], events: [], held: [], retention: rule });
            const expected = events.filter((e) => keepsAbsentEvent(e.event.timing, rule)).map((e) => e.event.id).sort();
            expect((await store.desiredFor(cal)).map((r) => r.sourceId).sort()).toEqual(expected);
            expect(result.removed).toBe(events.length - expected.length);
            await store.close();
          },
        ),
        { numRuns: 200 },
      );
    });

    it('is not applied by a single-event removal: an explicit delete deletes', async () => {
      const store = new SqliteStore(':memory:');
      await store.applyDesired({ calendars: [cal], events, held: [] });
      expect(await store.applyDesiredOps([{ kind: 'remove', calendar: cal, key: events[0]!.key }])).toEqual(['removed']);
      expect(await ids(store)).not.toContain('long-ago');
      await store.close();
    });
  });

  describe('preview: a finish rolled back', () => {
    it('reports what finish would do, shows each calendar as finish would leave it, records nothing, and can be finished after', async () => {
      const store = new SqliteStore(':memory:');
      await store.applyDesired({ calendars: [cal], events: [event('a'), event('b'), event('c')], held: [] });
      await store.recordInventory(cal, []);
      const before = JSON.stringify([await store.desiredFor(cal), await store.mailboxes()]);
      const importer = await store.beginDesiredImport();
      await importer.add([{ desired: event('a', 'changed'), record: 'line 1' }, { desired: event('d'), record: 'line 2' }]);
      await importer.add([{ desired: event('x'), record: 'line 3' }, { desired: event('x', 'twice'), record: 'line 4' }]);
      await importer.hold([{ calendar: cal, key: event('c').key }]);
      const seen: Array<{ calendar: string; desired: string[]; removed: string[]; needsDelivery: boolean }> = [];
      const finish = { calendars: 'staged-and-synced' as const, refuseEmpty: true, retention: null };
      const previewed = await importer.preview(finish, (view) =>
        seen.push({ calendar: view.calendar, desired: view.desired().map((r) => r.sourceId), removed: [...view.removedIds().values()], needsDelivery: view.needsDelivery }),
      );
      expect(previewed).toMatchObject({ added: 1, changed: 1, removed: 1, unchanged: 0, applied: 2, calendars: [cal] });
      expect(previewed.duplicates).toEqual([{ calendar: cal, sourceId: 'x', records: ['line 3', 'line 4'] }]);
      expect(seen).toEqual([{ calendar: cal, desired: ['a', 'c', 'd'].sort((p, q) => event(p).key.localeCompare(event(q).key)), removed: ['b'], needsDelivery: true }]);
      expect(JSON.stringify([await store.desiredFor(cal), await store.mailboxes()])).toBe(before);
      // The same import previewed again gives the same answer, and finishing it does what the preview said.
      expect(await importer.preview(finish, () => {})).toEqual(previewed);
      expect(await importer.finish(finish)).toEqual(previewed);
      expect((await store.desiredFor(cal)).map((r) => r.sourceId).sort()).toEqual(['a', 'c', 'd']);
      await store.close();
    });

    it('refuses an empty input like finish, recording nothing', async () => {
      const store = new SqliteStore(':memory:');
      await store.applyDesired({ calendars: [cal], events: [event('a')], held: [] });
      const importer = await store.beginDesiredImport();
      await expect(importer.preview({ calendars: [cal], refuseEmpty: true, retention: null }, () => {})).rejects.toThrow(/has no valid event, which would remove all 1 events .* nothing was changed/);
      await importer.abort();
      expect(await store.desiredFor(cal)).toHaveLength(1);
      await store.close();
    });
  });
});
