import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { PendingOp } from '../../src/store/store.ts';

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
    expect(store.schemaVersion()).toBe(4);
    await store.applyDesired({ calendars: [cal], events: [event('x')], held: [] });
    await store.close();
    const again = new SqliteStore(path);
    expect(again.schemaVersion()).toBe(4);
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

  it('records mailbox failures with the reason and clears them on success', async () => {
    const store = new SqliteStore(':memory:');
    await store.recordMailboxFailure(cal, 'ErrorAccessDenied', 'Access to OData is disabled.');
    expect(await store.mailbox(cal)).toMatchObject({ state: 'failed', lastErrorCode: 'ErrorAccessDenied', consecutiveFailures: 1 });
    await store.recordMailboxOk(cal, 1);
    expect(await store.mailbox(cal)).toMatchObject({ state: 'ok', lastErrorCode: null, consecutiveFailures: 0 });
    await store.close();
  });

  it('streams an import: finds duplicates across chunks, holds them, and applies the rest in one go', async () => {
    const store = new SqliteStore(':memory:');
    await store.applyDesired({ calendars: [cal], events: [event('dup', 'old'), event('kept')], held: [] });
    const importer = await store.beginDesiredImport();
    await importer.add([{ desired: event('a'), record: 'line 1' }, { desired: event('dup', 'x'), record: 'line 2' }]);
    await importer.add([{ desired: event('dup', 'y'), record: 'line 3' }]);
    const result = await importer.finish({ calendars: 'staged-and-synced', refuseEmpty: true });
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
    await expect(importer.finish({ calendars: 'staged-and-synced', refuseEmpty: true })).rejects.toThrow(/has no valid event, which would remove all 1 events .* nothing was changed/);
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
    const result = await importer.finish({ calendars: 'staged-and-synced', refuseEmpty: true });
    expect(result.calendars).toEqual([cal]);
    expect((await store.desiredFor(apiCalendar)).map((r) => r.sourceId)).toEqual(['pushed']);
    expect((await store.desiredFor(cal)).map((r) => r.sourceId)).toEqual(['b']);
    await store.close();
  });
});
