// The store contract: what every store (SQLite, PostgreSQL) must do, run against each by a factory (like
// vdirsyncer's storage tests). test/store/sqlite.test.ts and test/store/postgres.test.ts call it; what only one
// store does (its files, its migrations from old schemas, its errors) is tested beside it.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { keepsAbsentEvent, type RetentionRule } from '../../src/model/retention.ts';
import type { PendingOp } from '../../src/model/rows.ts';
import { Keyring, SealError } from '../../src/store/sealed.ts';
import { LeaseLost, type Store } from '../../src/store/store.ts';

export interface StoreFactory {
  /** A new, empty store (with `keyring`: store.encryptionKeys, for the secrets it keeps). */
  open(options?: { keyring?: Keyring }): Promise<Store>;
  /** Another handle on the same store: another process's (or machine's) view of it. */
  reopen(store: Store, options?: { keyring?: Keyring }): Promise<Store>;
}

const cal = 'a@contoso.edu';
function event(id: string, subject = id, calendar = cal): DesiredEvent {
  const result = validateEvent({ calendar, id, subject, start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'Europe/Amsterdam' });
  if (!result.ok) throw new Error('invalid');
  return result.desired;
}
const create = (key: string, calendar = cal): PendingOp => ({ calendar, key, kind: 'create', itemId: null, contentHash: 'h', transactionId: `t-${key}`, startsAtMs: 1, attempts: 0, lastError: null });
const item = (key: string, itemId: string, calendar = cal) => ({ calendar, key, itemId, changeKey: 'ck', transactionId: `t-${key}`, contentHash: 'h', startsAtMs: 1 });

export function storeContract(name: string, stores: StoreFactory): void {
describe(`the store contract: ${name}`, () => {
  it('keeps what it recorded when opened again', async () => {
    const store = await stores.open();
    await store.applyDesired({ calendars: [cal], events: [event('x')], held: [] });
    const again = await stores.reopen(store);
    expect((await again.desiredFor(cal)).map((r) => r.sourceId)).toEqual(['x']);
    expect(await again.calendars()).toEqual([cal]);
    expect(await again.hasCalendar(cal)).toBe(true);
    expect(await again.hasCalendar('nobody@contoso.edu')).toBe(false);
    await again.close();
    await store.close();
  });

  it('replaces a calendar’s desired set, keeping held events and counting changes', async () => {
    const store = await stores.open();
    expect(await store.applyDesired({ calendars: [cal], events: [event('a'), event('b'), event('c')], held: [] })).toEqual({ added: 3, changed: 0, removed: 0, unchanged: 0 });
    const b = event('b');
    const result = await store.applyDesired({ calendars: [cal], events: [event('a'), event('c', 'changed')], held: [{ calendar: cal, key: b.key }] });
    expect(result).toEqual({ added: 0, changed: 1, removed: 0, unchanged: 1 });
    expect((await store.desiredFor(cal)).map((r) => r.sourceId).sort()).toEqual(['a', 'b', 'c']);
    expect((await store.applyDesired({ calendars: [cal], events: [], held: [] })).removed).toBe(3);
    await store.close();
  });

  it('gives the desired rows with their events as JSON for planning, the same rows as parsed', async () => {
    const store = await stores.open();
    await store.applyDesired({ calendars: [cal], events: [event('a'), event('b', 'Changed')], held: [] });
    const parsed = await store.desiredFor(cal);
    const json = await store.desiredJsonFor(cal);
    expect(json.map(({ eventJson, ...row }) => ({ ...row, event: JSON.parse(eventJson) }))).toEqual(parsed);
    expect(parsed.map((row) => row.event.subject)).toEqual(expect.arrayContaining(['Changed']));
    await store.close();
  });

  it('refuses events outside the calendars being replaced, writing nothing', async () => {
    const store = await stores.open();
    await expect(store.applyDesired({ calendars: ['other@contoso.edu'], events: [event('a')], held: [] })).rejects.toThrow(/outside/);
    expect(await store.desiredFor(cal)).toEqual([]);
    await store.close();
  });

  it('a lease claimed on a mailbox nothing is desired for (the resource agent’s) does not make it a mailbox to deliver', async () => {
    const store = await stores.open();
    const room = 'room-agent@contoso.edu';
    const lease = (await store.claimMailbox(room, 'w1/agent', 60_000))!;
    await store.releaseMailbox(room, lease.owner);
    expect((await store.changedMailboxes()).map((m) => m.calendar)).not.toContain(room);
    await store.close();
  });

  it('lets one worker hold a mailbox lease until it is released or expires', async () => {
    const store = await stores.open();
    expect(await store.claimMailbox(cal, 'w1', 60_000)).toMatchObject({ calendar: cal, owner: 'w1' });
    expect(await store.claimMailbox(cal, 'w2', 60_000)).toBeNull();
    expect(await store.claimMailbox(cal, 'w1', 60_000)).not.toBeNull();
    expect(await store.leaseHolder(cal)).toBe('w1');
    await store.releaseMailbox(cal, 'w1');
    expect(await store.leaseHolder(cal)).toBeNull();
    expect(await store.claimMailbox(cal, 'w2', 1)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 5));
    expect(await store.claimMailbox(cal, 'w1', 60_000)).not.toBeNull();
    await store.close();
  });

  it('keeps the attempt count of a sent create across re-planning, and drops the op with its answer', async () => {
    const store = await stores.open();
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

  it('says how long a sent create may still land, by the store’s clock: kept across re-planning, gone with its answer or a refusal', async () => {
    const store = await stores.open();
    const op = create('k');
    const other = create('j');
    await store.replacePendingOps(cal, [op, other]);
    // Planned, never sent: nothing is on its way.
    expect(await store.createsLandWithin(cal)).toBe(0);
    await store.markOpAttempts(cal, ['k'], undefined, 60_000);
    const within = await store.createsLandWithin(cal);
    expect(within).toBeGreaterThan(50_000);
    expect(within).toBeLessThanOrEqual(60_000);
    // Sent again with a shorter bound: the later of the two counts (the first request may still be on its way).
    await store.markOpAttempts(cal, ['k'], undefined, 1_000);
    expect(await store.createsLandWithin(cal)).toBeGreaterThan(50_000);
    // Re-planned (the content changed): the op keeps its bound.
    await store.replacePendingOps(cal, [{ ...op, contentHash: 'h2', transactionId: 't-k2' }, other]);
    expect(await store.createsLandWithin(cal)).toBeGreaterThan(50_000);
    expect(await store.createsLandWithin('other@contoso.edu')).toBe(0);
    // A timeout says nothing of whether it landed; a refusal does.
    await store.recordOpFailure(cal, 'k', 'Timeout: no answer');
    expect(await store.createsLandWithin(cal)).toBeGreaterThan(50_000);
    await store.recordOpFailure(cal, 'k', 'ErrorInvalidRequest: refused', undefined, true);
    expect(await store.createsLandWithin(cal)).toBe(0);
    // Answered: the op is gone, and with it the wait.
    await store.markOpAttempts(cal, ['j'], undefined, 60_000);
    expect(await store.createsLandWithin(cal)).toBeGreaterThan(50_000);
    await store.completeOps([{ op: other, delivered: { calendar: cal, key: 'j', itemId: 'item-j', changeKey: 'ck', transactionId: 't-j', contentHash: 'h', startsAtMs: 1 } }]);
    expect(await store.createsLandWithin(cal)).toBe(0);
    await store.close();
  });

  it('keeps the ChangeKey an update or delete was planned with (schema 5: pending_op.change_key)', async () => {
    const store = await stores.open();
    const update: PendingOp = { calendar: cal, key: 'k', kind: 'update', itemId: 'item1', changeKey: 'ck-1', contentHash: 'h', transactionId: null, startsAtMs: 1, attempts: 0, lastError: null };
    const del: PendingOp = { calendar: cal, key: 'j', kind: 'delete', itemId: 'item2', contentHash: null, transactionId: null, startsAtMs: null, attempts: 0, lastError: null };
    await store.replacePendingOps(cal, [update, del]);
    const stored = await store.pendingOps(cal);
    expect(stored.find((op) => op.key === 'k')!.changeKey).toBe('ck-1');
    expect(stored.find((op) => op.key === 'j')!.changeKey).toBeNull();
    await store.close();
  });

  it('counts generations on delete and on a vanished item, and inventories replace delivered state', async () => {
    const store = await stores.open();
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
    const store = await stores.open();
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
    const store = await stores.open();
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

  it('streams an import: finds duplicates across chunks, holds them, and applies the rest in one go', async () => {
    const store = await stores.open();
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
    const store = await stores.open();
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
    const store = await stores.open();
    await store.applyDesired({ calendars: [cal], events: [event('a')], held: [] });
    const importer = await store.beginDesiredImport();
    await expect(importer.finish({ calendars: 'staged-and-synced', refuseEmpty: true, retention: null })).rejects.toThrow(/has no valid event, which would remove all 1 events .* nothing was changed/);
    expect(await store.desiredFor(cal)).toHaveLength(1);
    // And the next import on the same connection works (the failed one cleaned up after itself).
    expect((await store.applyDesired({ calendars: [cal], events: [event('a'), event('b')], held: [] })).added).toBe(1);
    await store.close();
  });

  it('knows which mailboxes need delivery: changed, pending, never listed or failed', async () => {
    const store = await stores.open();
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
    const store = await stores.open();
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
    const ids = async (store: Store) => (await store.desiredFor(cal)).map((r) => r.sourceId).sort();
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
      const store = await stores.open();
      await store.applyDesired({ calendars: [cal], events, held: [] });
      const result = await store.applyDesired({ calendars: [cal], events: [], held: [], retention: rule({ past: 'keep' }) });
      expect(result).toEqual({ added: 0, changed: 0, removed: 3, unchanged: 0 });
      // An all-day event ends at midnight in the config's zone that begins its (exclusive) end date.
      expect(await ids(store)).toEqual(['last-week', 'long-ago', 'this-morning', 'yesterday-all-day']);
      await store.close();
    });

    it('with "prune", removes only those that ended more than afterDays ago', async () => {
      const store = await stores.open();
      await store.applyDesired({ calendars: [cal], events, held: [] });
      await store.applyDesired({ calendars: [cal], events: [], held: [], retention: rule({ past: 'prune', afterDays: 7 }) });
      expect(await ids(store)).toEqual(['this-morning', 'yesterday-all-day']);
      await store.applyDesired({ calendars: [cal], events, held: [] });
      await store.applyDesired({ calendars: [cal], events: [], held: [], retention: rule({ past: 'prune', afterDays: 0 }) });
      expect(await ids(store)).toEqual([]);
      await store.close();
    });

    it('changes a past event that is in the input, and counts what it kept', async () => {
      const store = await stores.open();
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
      // One store, a calendar of its own per run: the same property, without a new store (schema) for each.
      const store = await stores.open();
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(timing, { minLength: 1, maxLength: 12 }),
          fc.integer({ min: -2880, max: 2880 }),
          fc.oneof(fc.constant({ past: 'keep' as const }), fc.record({ past: fc.constant('prune' as const), afterDays: fc.integer({ min: 0, max: 2 }) })),
          fc.constantFrom(...zones),
          async (timings, nowMin, retention, allDayTimeZone) => {
            const cal = `run${++runs}@contoso.edu`;
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
          },
        ),
        { numRuns: 200 },
      );
      await store.close();
    });

    it('is not applied by a single-event removal: an explicit delete deletes', async () => {
      const store = await stores.open();
      await store.applyDesired({ calendars: [cal], events, held: [] });
      expect(await store.applyDesiredOps([{ kind: 'remove', calendar: cal, key: events[0]!.key }])).toEqual(['removed']);
      expect(await ids(store)).not.toContain('long-ago');
      await store.close();
    });
  });

  describe('preview: a finish rolled back', () => {
    it('reports what finish would do, shows each calendar as finish would leave it, records nothing, and can be finished after', async () => {
      const store = await stores.open();
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
      const store = await stores.open();
      await store.applyDesired({ calendars: [cal], events: [event('a')], held: [] });
      const importer = await store.beginDesiredImport();
      await expect(importer.preview({ calendars: [cal], refuseEmpty: true, retention: null }, () => {})).rejects.toThrow(/has no valid event, which would remove all 1 events .* nothing was changed/);
      await importer.abort();
      expect(await store.desiredFor(cal)).toHaveLength(1);
      await store.close();
    });
  });

  describe('several workers on one store', () => {
    it('gives each new holding of a lease a larger fencing token; its holder renews it without a new one', async () => {
      const store = await stores.open();
      const first = (await store.claimMailbox(cal, 'w1', 60_000))!;
      expect((await store.claimMailbox(cal, 'w1', 60_000))!.token).toBe(first.token);
      expect(await store.renewLeases([first], 60_000)).toEqual([first]);
      await store.releaseMailbox(cal, 'w1');
      const second = (await store.claimMailbox(cal, 'w2', 60_000))!;
      expect(second.token).toBeGreaterThan(first.token);
      const third = (await store.takeOverMailbox(cal, 'w2', 'w3', 60_000))!;
      expect(third).toMatchObject({ owner: 'w3' });
      expect(third.token).toBeGreaterThan(second.token);
      expect(await store.takeOverMailbox(cal, 'w2', 'w4', 60_000)).toBeNull();
      // The heartbeat of a lease that was taken over confirms nothing.
      expect(await store.renewLeases([second, third], 60_000)).toEqual([third]);
      await store.close();
    });

    it('refuses every write under a lease that another worker took over, recording nothing of it', async () => {
      const store = await stores.open();
      const other = await stores.reopen(store);
      await store.applyDesired({ calendars: [cal], events: [event('a')], held: [] });
      const lost = (await store.claimMailbox(cal, 'w1', 1))!;
      await store.replacePendingOps(cal, [create('k')], lost);
      await new Promise((r) => setTimeout(r, 5));
      const holder = (await other.claimMailbox(cal, 'w2', 60_000))!;
      expect(holder.token).toBeGreaterThan(lost.token);
      const refused = [
        () => store.completeOps([{ op: create('k'), delivered: item('k', 'i1') }], lost),
        () => store.markOpAttempts(cal, ['k'], lost),
        () => store.replacePendingOps(cal, [], lost),
        () => store.recordOpFailure(cal, 'k', 'x', lost),
        () => store.recordInventory(cal, [item('k', 'i9')], lost),
        () => store.forgetDelivered(cal, 'k', 'i1', lost),
        () => store.recordMailboxOk(cal, 99, lost),
        () => store.recordMailboxFailure(cal, 'X', 'x', undefined, lost),
      ];
      for (const write of refused) await expect(write()).rejects.toBeInstanceOf(LeaseLost);
      expect(await store.pendingOps(cal)).toMatchObject([{ key: 'k', attempts: 0, lastError: null }]);
      expect(await store.deliveredFor(cal)).toEqual([]);
      expect(await store.mailbox(cal)).toMatchObject({ state: 'pending', deliveredVersion: 0, inventoriedAt: null });
      // The holder's writes go through.
      await other.completeOps([{ op: create('k'), delivered: item('k', 'i1') }], holder);
      expect(await store.deliveredFor(cal)).toEqual([item('k', 'i1')]);
      await other.close();
      await store.close();
    });

    it('lets exactly one of many workers claim a free mailbox at once', async () => {
      const store = await stores.open();
      const handles = [store, await stores.reopen(store), await stores.reopen(store)];
      const claims = await Promise.all(Array.from({ length: 12 }, (_, n) => handles[n % handles.length]!.claimMailbox(cal, `w${n}`, 60_000)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      for (const handle of handles.slice(1)) await handle.close();
      await store.close();
    });

    // A charge reaches the other workers with the charging worker's next write at the latest (the SQLite store
    // commits it with that write, store/sqlite-ledger.ts): in the engine, the mark of the request it pays for.
    const written = (store: Store) => store.markOpAttempts(cal, []);

    it('keeps a ledger of the requests each worker sent to a mailbox; a worker sees what the others spent', async () => {
      const store = await stores.open();
      const other = await stores.reopen(store);
      await store.chargeRequests(cal, 'w1', 20);
      await store.chargeRequests(cal, 'w1', 5);
      await other.chargeRequests(cal, 'w2', 1);
      await other.chargeRequests('b@contoso.edu', 'w2', 7);
      await written(store);
      const seenByW2 = await other.requestsSpentByOthers(cal, 'w2', 600_000);
      expect(seenByW2.reduce((sum, s) => sum + s.cost, 0)).toBe(25);
      for (const spent of seenByW2) expect(spent.agoMs).toBeGreaterThanOrEqual(0);
      expect((await store.requestsSpentByOthers(cal, 'w1', 600_000)).reduce((sum, s) => sum + s.cost, 0)).toBe(1);
      expect(await store.requestsSpentByOthers(cal, 'w3', 600_000).then((s) => s.reduce((sum, x) => sum + x.cost, 0))).toBe(26);
      await other.close();
      await store.close();
    });

    it("tells apart the ledger names of one worker id: a worker restarted under a fixed id sees its previous process's spending", async () => {
      const store = await stores.open();
      const restarted = await stores.reopen(store);
      // The engine charges under ledgerName(workerId): the worker id and a name of the process's scheduler.
      await store.chargeRequests(cal, 'worker-a#0123abcd', 30);
      await restarted.chargeRequests(cal, 'worker-a#89abcdef', 2);
      await Promise.all([written(store), written(restarted)]);
      expect((await restarted.requestsSpentByOthers(cal, 'worker-a#89abcdef', 600_000)).reduce((sum, s) => sum + s.cost, 0)).toBe(30);
      expect((await store.requestsSpentByOthers(cal, 'worker-a#0123abcd', 600_000)).reduce((sum, s) => sum + s.cost, 0)).toBe(2);
      await restarted.close();
      await store.close();
    });

    it('sees the desired-state changes another worker records', async () => {
      const store = await stores.open();
      const other = await stores.reopen(store);
      await store.applyDesiredOps([{ kind: 'upsert', desired: event('a') }]);
      expect((await other.changedMailboxes()).map((m) => m.calendar)).toEqual([cal]);
      expect(await other.mailboxesWithWork()).toEqual([cal]);
      await other.close();
      await store.close();
    });
  });

  describe('named targets and route lookups (issue #14)', () => {
    it('records the target a mailbox is delivered by; a move forgets the old target\'s rows and pending ops', async () => {
      const store = await stores.open();
      const lease = (await store.claimMailbox(cal, 'w1', 60_000))!;
      expect(await store.assignTarget(cal, 'onprem', lease)).toBeNull();
      expect(await store.assignTarget(cal, 'onprem', lease)).toBeNull();
      expect(await store.mailbox(cal)).toMatchObject({ target: 'onprem' });
      await store.recordInventory(cal, [item('k', 'i1')], lease);
      await store.replacePendingOps(cal, [create('n')], lease);
      // Moved: everything that belonged to "onprem" goes, and the mailbox is listed again on "online".
      expect(await store.assignTarget(cal, 'online', lease)).toBe('onprem');
      expect(await store.deliveredFor(cal)).toEqual([]);
      expect(await store.pendingOps(cal)).toEqual([]);
      expect(await store.mailbox(cal)).toMatchObject({ target: 'online', inventoriedAt: null });
      await store.close();
    });

    it('refuses a target change under a lost lease, changing nothing', async () => {
      const store = await stores.open();
      const other = await stores.reopen(store);
      const lost = (await store.claimMailbox(cal, 'w1', 60_000))!;
      await store.assignTarget(cal, 'onprem', lost);
      await store.recordInventory(cal, [item('k', 'i1')], lost);
      const holder = (await other.takeOverMailbox(cal, 'w1', 'w2', 60_000))!;
      await expect(store.assignTarget(cal, 'online', lost)).rejects.toBeInstanceOf(LeaseLost);
      expect(await other.mailbox(cal)).toMatchObject({ target: 'onprem' });
      expect((await other.deliveredFor(cal)).map((row) => row.itemId)).toEqual(['i1']);
      expect(await other.assignTarget(cal, 'online', holder)).toBe('onprem');
      await other.close();
      await store.close();
    });

    it('remembers a route lookup\'s answer per mailbox, replaces it and forgets it', async () => {
      const store = await stores.open();
      const row = { calendar: cal, target: 'online', answer: 'Graph: the mailbox answers', checkedAt: '2026-01-01T00:00:00.000Z' };
      expect(await store.routeLookup(cal)).toBeNull();
      await store.saveRouteLookup(row);
      await store.saveRouteLookup({ ...row, target: 'onprem', answer: 'Autodiscover: on-premises' });
      const again = await stores.reopen(store);
      expect(await again.routeLookup(cal)).toEqual({ ...row, target: 'onprem', answer: 'Autodiscover: on-premises' });
      await again.forgetRouteLookup(cal);
      expect(await store.routeLookup(cal)).toBeNull();
      await again.close();
      await store.close();
    });
  });

  describe('delegated access and alerts (issue #16)', () => {
    const at = '2026-09-01T08:00:00.000Z';
    const alice = { calendar: 'alice@contoso.edu', userObjectId: 'oid', homeAccountId: 'oid.tid', username: 'alice@contoso.edu', state: 'connected' as const, reason: null, reasonMessage: null, connectedAt: at, changedAt: at, lastRefreshAt: null };
    const keyring = (...ids: string[]) => new Keyring(ids.map((id) => ({ id, key: randomBytes(32) })));

    it('keeps a connection with its token cache sealed: opened only with the key, replaced on refresh, dropped on disconnect', async () => {
      const keys = keyring('k1');
      const store = await stores.open({ keyring: keys });
      await store.saveConnection(alice, '{"RefreshToken":"rt-1"}');
      expect(await store.connection(alice.calendar)).toEqual(alice);
      expect(await store.connectionTokenCache(alice.calendar)).toBe('{"RefreshToken":"rt-1"}');
      expect(await store.saveConnectionTokenCache(alice.calendar, '{"RefreshToken":"rt-2"}')).toBe(true);
      const again = await stores.reopen(store, { keyring: keys });
      expect(await again.connectionTokenCache(alice.calendar)).toBe('{"RefreshToken":"rt-2"}');
      expect((await again.connection(alice.calendar))!.lastRefreshAt).not.toBeNull();
      // Without the key: a clear refusal naming the fix, never a token.
      const keyless = await stores.reopen(store);
      await expect(keyless.connectionTokenCache(alice.calendar)).rejects.toBeInstanceOf(SealError);
      await expect(keyless.saveConnection({ ...alice, calendar: 'bob@contoso.edu' }, 'x')).rejects.toMatchObject({ code: 'NoEncryptionKey' });
      expect(await again.disconnect(alice.calendar, 'ConsentRevoked', 'the consent was revoked')).toBe(true);
      expect(await again.disconnect(alice.calendar, 'ConsentRevoked', 'again')).toBe(false);
      expect(await store.connectionTokenCache(alice.calendar)).toBeNull();
      expect(await store.saveConnectionTokenCache(alice.calendar, 'x')).toBe(false);
      expect(await store.connections()).toMatchObject([{ calendar: alice.calendar, state: 'disconnected', reason: 'ConsentRevoked' }]);
      for (const handle of [keyless, again, store]) await handle.close();
    });

    it('refuses a second calendar of the same person while one is connected (both are /me), writing nothing', async () => {
      const store = await stores.open({ keyring: keyring('k1') });
      const alias = { ...alice, calendar: 'a.smith@contoso.edu' };
      expect(await store.saveConnection(alice, 'cache-1')).toBeNull();
      expect(await store.saveConnection(alias, 'cache-2')).toEqual(alice);
      expect(await store.connection(alias.calendar)).toBeNull();
      // Connecting the same calendar again is a reconnect, not a second calendar.
      expect(await store.saveConnection(alice, 'cache-3')).toBeNull();
      expect(await store.connectionTokenCache(alice.calendar)).toBe('cache-3');
      // Once the first is disconnected, the other address may be connected.
      await store.disconnect(alice.calendar, 'DisconnectedByPerson', 'by the person');
      expect(await store.saveConnection(alias, 'cache-2')).toBeNull();
      expect(await store.connection(alias.calendar)).toMatchObject({ state: 'connected' });
      await store.close();
    });

    it('a calendar connected by another person forgets what was delivered to the old mailbox, so the new one is listed', async () => {
      const store = await stores.open({ keyring: keyring('k1') });
      const other = 'other@contoso.edu';
      const lease = (await store.claimMailbox(alice.calendar, 'w1', 60_000))!;
      const otherLease = (await store.claimMailbox(other, 'w1', 60_000))!;
      const deliver = async () => {
        await store.recordInventory(alice.calendar, [item('k', 'i1', alice.calendar)], lease);
        await store.replacePendingOps(alice.calendar, [create('n', alice.calendar)], lease);
      };
      await store.recordInventory(other, [item('k', 'o1', other)], otherLease);
      await store.saveConnection(alice, 'cache-1');
      await deliver();
      // The same person again (a reconnect): the rows stay.
      await store.saveConnection(alice, 'cache-2');
      expect((await store.deliveredFor(alice.calendar)).map((row) => row.itemId)).toEqual(['i1']);
      // The address was given to someone new, who connects it: their mailbox is another, with other item ids.
      await store.disconnect(alice.calendar, 'DisconnectedByAdmin', 'the address moved');
      expect(await store.saveConnection({ ...alice, userObjectId: 'oid-2', homeAccountId: 'oid-2.tid' }, 'cache-3')).toBeNull();
      expect(await store.deliveredFor(alice.calendar)).toEqual([]);
      expect(await store.pendingOps(alice.calendar)).toEqual([]);
      expect(await store.mailbox(alice.calendar)).toMatchObject({ inventoriedAt: null });
      expect((await store.deliveredFor(other)).map((row) => row.itemId)).toEqual(['o1']);
      await store.close();
    });

    it('hands a sign-in in progress out once, and forgets expired ones', async () => {
      const store = await stores.open({ keyring: keyring('k1') });
      const request = { id: 'a'.repeat(64), bindingHash: 'b'.repeat(64), purpose: 'connect' as const, calendar: null, codeVerifier: 'verifier-1', nonce: 'n', expiresAtMs: 2_000 };
      await store.saveConsentRequest(request);
      await store.saveConsentRequest({ ...request, id: 'c'.repeat(64), expiresAtMs: 500 });
      expect(await store.takeConsentRequest('c'.repeat(64), 1_000)).toBeNull();
      expect(await store.takeConsentRequest(request.id, 1_000)).toEqual(request);
      expect(await store.takeConsentRequest(request.id, 1_000)).toBeNull();
      await store.close();
    });

    it('re-wraps every sealed value under the new key (rotate-key); afterwards the old key is not needed', async () => {
      const [k1, k2] = [keyring('k1'), keyring('k2')];
      const store = await stores.open({ keyring: k1 });
      await store.saveConnection(alice, 'cache-1');
      await store.saveConsentRequest({ id: 'd'.repeat(64), bindingHash: 'b'.repeat(64), purpose: 'connect', calendar: null, codeVerifier: 'v', nonce: 'n', expiresAtMs: 9e15 });
      const both = new Keyring([k2.current, k1.current]);
      const rotating = await stores.reopen(store, { keyring: both });
      expect(await rotating.rotateEncryptionKey()).toEqual({ rewrapped: 2, current: 0, keyId: 'k2' });
      expect(await rotating.rotateEncryptionKey()).toEqual({ rewrapped: 0, current: 2, keyId: 'k2' });
      const newOnly = await stores.reopen(store, { keyring: k2 });
      expect(await newOnly.connectionTokenCache(alice.calendar)).toBe('cache-1');
      expect((await newOnly.takeConsentRequest('d'.repeat(64), 0))!.codeVerifier).toBe('v');
      for (const handle of [newOnly, rotating, store]) await handle.close();
    });

    it('fires an alert once until it resolves, and sends its notifications from an outbox with retries', async () => {
      const store = await stores.open();
      const alert = { key: 'access-lost:alice@contoso.edu', kind: 'access-lost', subject: alice.calendar, firedAt: at };
      const note = [{ channel: 'webhook:0', payload: '{"fired":true}' }, { channel: 'email', payload: '{"fired":true}' }];
      expect(await store.fireAlert(alert, note, 1_000)).toBe(true);
      expect(await store.fireAlert(alert, note, 1_000)).toBe(false);
      expect(await store.firingAlerts()).toEqual([alert]);
      const claimed = await store.claimAlertDeliveries(1_000, 60_000, 10);
      expect(claimed.map((d) => d.channel).sort()).toEqual(['email', 'webhook:0']);
      // Claimed: another sender does not see them until the claim runs out.
      expect(await store.claimAlertDeliveries(1_000, 60_000, 10)).toEqual([]);
      await store.recordAlertDelivery(claimed[0]!.id, { ok: true });
      await store.recordAlertDelivery(claimed[1]!.id, { ok: false, error: 'HTTP 503', nextAttemptAtMs: 5_000 });
      expect(await store.claimAlertDeliveries(5_000, 60_000, 10)).toMatchObject([{ id: claimed[1]!.id, attempts: 1, lastError: 'HTTP 503' }]);
      expect(await store.resolveAlert(alert.key, [{ channel: 'email', payload: '{"resolved":true}' }], 6_000)).toBe(true);
      expect(await store.resolveAlert(alert.key, [], 6_000)).toBe(false);
      expect(await store.firingAlerts()).toEqual([]);
      expect(await store.fireAlert({ ...alert, firedAt: '2026-09-02T00:00:00.000Z' }, [], 7_000)).toBe(true);
      await store.close();
    });
  });

  describe('the resource agent (issue #15)', () => {
    const vmr = 'vmr-scheduling@contoso.edu';
    const meeting = (uid: string, answer: 'accepted' | 'declined' | 'cancelled' = 'accepted') => ({
      mailbox: vmr, uid, answer, reason: answer === 'accepted' ? 'Your request was accepted.' : 'no', rule: answer === 'declined' ? 'organizer' : null,
      subject: `Meeting ${uid}`, organizer: 'ann@contoso.edu', startMs: 2_000, endMs: 3_000, alias: null, instructions: 'none' as const,
    });

    it('keeps a cursor per mailbox, across handles; null starts over', async () => {
      const store = await stores.open();
      expect(await store.agentCursor(vmr)).toBeNull();
      await store.saveAgentCursor(vmr, 'https://graph/delta?$deltatoken=1');
      await store.saveAgentCursor('room@contoso.edu', 'H4sI…sync-state');
      const again = await stores.reopen(store);
      expect(await again.agentCursor(vmr)).toBe('https://graph/delta?$deltatoken=1');
      await again.saveAgentCursor(vmr, null);
      expect(await store.agentCursor(vmr)).toBeNull();
      expect(await store.agentCursor('room@contoso.edu')).toBe('H4sI…sync-state');
      await again.close();
      await store.close();
    });

    it('records one answer per meeting, replaced by the next, soonest first', async () => {
      const store = await stores.open();
      await store.saveAgentMeeting({ ...meeting('b'), startMs: 5_000 });
      await store.saveAgentMeeting(meeting('a'));
      await store.saveAgentMeeting({ ...meeting('a', 'declined'), alias: null });
      expect(await store.agentMeeting(vmr, 'a')).toMatchObject({ answer: 'declined', rule: 'organizer', subject: 'Meeting a', startMs: 2_000, endMs: 3_000, instructions: 'none' });
      expect((await store.agentMeeting(vmr, 'a'))!.answeredAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      expect((await store.agentMeetings(vmr)).map((m) => m.uid)).toEqual(['a', 'b']);
      expect(await store.agentMeeting(vmr, 'zzz')).toBeNull();
      expect(await store.agentMeetings('other@contoso.edu')).toEqual([]);
      await store.close();
    });

    it('keeps a decision recorded before its answer unsettled until it is settled; a record can be forgotten', async () => {
      const store = await stores.open();
      await store.saveAgentMeeting({ ...meeting('b'), startMs: 5_000, alias: 'vmr1001', instructions: 'body', settled: false });
      await store.saveAgentMeeting({ ...meeting('a'), settled: false });
      await store.saveAgentMeeting(meeting('c'));
      expect((await store.unsettledAgentMeetings(vmr)).map((m) => [m.uid, m.settled])).toEqual([['a', false], ['b', false]]);
      expect(await store.unsettledAgentMeetings('other@contoso.edu')).toEqual([]);
      const again = await stores.reopen(store);
      expect(await again.agentMeeting(vmr, 'b')).toMatchObject({ alias: 'vmr1001', instructions: 'body', settled: false });
      await again.saveAgentMeeting({ ...meeting('b'), startMs: 5_000, alias: 'vmr1001', instructions: 'body' });
      await again.forgetAgentMeeting(vmr, 'a');
      expect(await store.unsettledAgentMeetings(vmr)).toEqual([]);
      expect(await store.agentMeeting(vmr, 'a')).toBeNull();
      expect(await store.agentMeeting(vmr, 'b')).toMatchObject({ settled: true });
      expect(await store.agentMeeting(vmr, 'c')).toMatchObject({ settled: true });
      await again.close();
      await store.close();
    });

    it('hands out the lowest free alias, the same one again for the same meeting, another to each meeting, none past the range', async () => {
      const store = await stores.open();
      const range = { from: 1001, to: 1003 };
      expect(await store.allocateAlias(vmr, 'm1', range)).toBe(1001);
      expect(await store.allocateAlias(vmr, 'm2', range)).toBe(1002);
      expect(await store.allocateAlias(vmr, 'm1', range)).toBe(1001);
      // Another mailbox has its own numbers.
      expect(await store.allocateAlias('vmr2@contoso.edu', 'm1', range)).toBe(1001);
      await store.releaseAlias(vmr, 'm1');
      expect(await store.allocateAlias(vmr, 'm3', range)).toBe(1001);
      expect(await store.allocateAlias(vmr, 'm4', range)).toBe(1003);
      expect(await store.allocateAlias(vmr, 'm5', range)).toBeNull();
      await store.close();
    });

    it('hands a number out again once the meeting holding it has ended (the store’s clock); a number held until released, or by a meeting not over, stays taken', async () => {
      const store = await stores.open();
      const range = { from: 1, to: 3 };
      // Long past / far ahead of any clock this runs under (no dependence on the time of day).
      const ended = Date.parse('2001-01-01T10:00:00Z');
      const ahead = Date.parse('2999-01-01T10:00:00Z');
      expect(await store.allocateAlias(vmr, 'over', range, ahead)).toBe(1);
      expect(await store.allocateAlias(vmr, 'series', range, null)).toBe(2);
      expect(await store.allocateAlias(vmr, 'later', range, ahead)).toBe(3);
      expect(await store.allocateAlias(vmr, 'new', range, ahead)).toBeNull();
      // A meeting asking again keeps its number, with its new end — here one that has passed.
      expect(await store.allocateAlias(vmr, 'over', range, ended)).toBe(1);
      // The range is full but for the meeting that has ended: its number goes to the new meeting.
      expect(await store.allocateAlias(vmr, 'new', range, ahead)).toBe(1);
      expect(await store.allocateAlias(vmr, 'another', range, ahead)).toBeNull();
      // The meeting that had ended, moved into the future, asks again: its number has gone to another meeting.
      expect(await store.allocateAlias(vmr, 'over', range, ahead)).toBeNull();
      // The series held until released keeps its number; the released one is free as before.
      await store.releaseAlias(vmr, 'series');
      expect(await store.allocateAlias(vmr, 'another', range, ahead)).toBe(2);
      await store.close();
    });

    it('refuses the agent’s writes under a lease another worker took over, recording nothing; the holder’s writes go through', async () => {
      const store = await stores.open();
      const other = await stores.reopen(store);
      const lost = (await store.claimMailbox(vmr, 'w1/agent', 60_000))!;
      await store.saveAgentCursor(vmr, 'before', lost);
      expect(await store.allocateAlias(vmr, 'kept', { from: 1, to: 9 }, null, lost)).toBe(1);
      const held = (await other.takeOverMailbox(vmr, 'w1/agent', 'w2/agent', 60_000))!;
      await expect(store.saveAgentCursor(vmr, 'after', lost)).rejects.toBeInstanceOf(LeaseLost);
      await expect(store.saveAgentMeeting(meeting('a'), lost)).rejects.toBeInstanceOf(LeaseLost);
      await expect(store.allocateAlias(vmr, 'a', { from: 1, to: 9 }, null, lost)).rejects.toBeInstanceOf(LeaseLost);
      await expect(store.releaseAlias(vmr, 'kept', lost)).rejects.toBeInstanceOf(LeaseLost);
      expect(await other.agentCursor(vmr)).toBe('before');
      expect(await other.agentMeeting(vmr, 'a')).toBeNull();
      // 'kept' still holds 1, and 'a' got nothing: the next meeting gets 2.
      expect(await other.allocateAlias(vmr, 'b', { from: 1, to: 9 }, null, held)).toBe(2);
      await other.saveAgentCursor(vmr, 'after', held);
      await other.saveAgentMeeting(meeting('a'), held);
      await other.releaseAlias(vmr, 'kept', held);
      expect(await store.agentCursor(vmr)).toBe('after');
      expect(await store.agentMeeting(vmr, 'a')).toMatchObject({ answer: 'accepted' });
      await other.close();
      await store.close();
    });

    it('two handles allocating at once never give one number twice', async () => {
      const store = await stores.open();
      const other = await stores.reopen(store);
      const range = { from: 1, to: 40 };
      const numbers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).allocateAlias(vmr, `c${i}`, range)));
      expect(new Set(numbers).size).toBe(20);
      expect([...numbers].sort((a, b) => a! - b!)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      await other.close();
      await store.close();
    });
  });

  describe('watching for drift (issue #15)', () => {
    const drift = (key: string, policy: 'restore' | 'respect' | 'detach', kind: 'edited' | 'deleted' = 'edited') => ({
      key, kind, policy, itemId: `i-${key}`, changeKey: kind === 'edited' ? `ck-${key}` : null, contentHash: policy === 'respect' ? 'h' : null,
    });

    it('keeps a sync state per mailbox with its target, across handles; a full round is dated, null starts over', async () => {
      const store = await stores.open();
      expect(await store.watchState(cal)).toBeNull();
      await store.saveWatchState(cal, 'online', 'delta-1', true);
      await store.saveWatchState(cal, 'online', 'delta-2', false);
      const again = await stores.reopen(store);
      const row = (await again.watchState(cal))!;
      expect(row).toMatchObject({ calendar: cal, target: 'online', state: 'delta-2' });
      expect(row.fullAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      // Another target's state: the full round's date belongs to the old one.
      await again.saveWatchState(cal, 'onprem', null, false);
      expect(await store.watchState(cal)).toMatchObject({ target: 'onprem', state: null, fullAt: null });
      await again.close();
      await store.close();
    });

    it('records one finding per event, replaced by the next; counts by policy and kind; a restored deletion relists the mailbox', async () => {
      const store = await stores.open();
      await store.recordInventory(cal, [item('a', 'i-a')]);
      await store.recordMailboxOk(cal, (await store.mailbox(cal))!.desiredVersion);
      expect(await store.changedMailboxes()).toEqual([]);
      expect((await store.mailbox(cal))!.inventoriedAt).not.toBeNull();
      await store.recordDrift(cal, [drift('a', 'restore'), drift('b', 'respect', 'deleted')], false);
      expect((await store.mailbox(cal))!.inventoriedAt).not.toBeNull();
      // The edited item's ChangeKey as the person left it.
      expect((await store.deliveredFor(cal)).map((row) => row.changeKey)).toEqual(['ck-a']);
      // Something to restore: the mailbox is due for delivery.
      expect((await store.changedMailboxes()).map((m) => m.calendar)).toEqual([cal]);
      await store.recordDrift(cal, [drift('a', 'detach', 'deleted')], true);
      expect((await store.mailbox(cal))!.inventoriedAt).toBeNull();
      await store.recordDrift('b@contoso.edu', [drift('c', 'respect')], false);
      expect((await store.driftFor(cal)).map((r) => [r.key, r.policy, r.kind, r.changeKey, r.contentHash])).toEqual([
        ['a', 'detach', 'deleted', null, null],
        ['b', 'respect', 'deleted', null, 'h'],
      ]);
      expect((await store.driftFor(cal))[0]!.seenAt).toMatch(/^\d{4}-\d{2}-\d{2}T/);
      expect(await store.driftCounts()).toEqual([
        { policy: 'detach', kind: 'deleted', count: 1 },
        { policy: 'respect', kind: 'deleted', count: 1 },
        { policy: 'respect', kind: 'edited', count: 1 },
      ]);
      expect(await store.driftRows(2)).toHaveLength(2);
      await store.close();
    });

    it('a deletion to restore is recorded and its delivered item forgotten under a new generation in one transaction', async () => {
      const store = await stores.open();
      await store.recordInventory(cal, [item('a', 'i-a'), item('b', 'i-b')]);
      const before = (await store.generations(cal)).get('a') ?? 0;
      await store.recordDrift(cal, [drift('a', 'restore', 'deleted'), drift('b', 'respect', 'deleted')], true);
      // Only the deletion to restore is forgotten: a respected one stays delivered (nothing is created again).
      expect((await store.deliveredFor(cal)).map((row) => row.itemId)).toEqual(['i-b']);
      expect((await store.generations(cal)).get('a')).toBe(before + 1);
      expect((await store.driftFor(cal)).map((r) => [r.key, r.kind, r.policy])).toEqual([['a', 'deleted', 'restore'], ['b', 'deleted', 'respect']]);
      // Under a lost lease neither half is written.
      const other = await stores.reopen(store);
      const lost = (await store.claimMailbox('c@contoso.edu', 'w1', 60_000))!;
      await store.recordInventory('c@contoso.edu', [item('c', 'i-c', 'c@contoso.edu')]);
      await other.takeOverMailbox('c@contoso.edu', 'w1', 'w2', 60_000);
      await expect(store.recordDrift('c@contoso.edu', [drift('c', 'restore', 'deleted')], true, lost)).rejects.toBeInstanceOf(LeaseLost);
      expect((await other.deliveredFor('c@contoso.edu')).map((row) => row.itemId)).toEqual(['i-c']);
      expect(await other.driftFor('c@contoso.edu')).toEqual([]);
      await other.close();
      await store.close();
    });

    it('keeps each mailbox\'s subscription row (replaced, forgotten) and adds up notification counts per target', async () => {
      const store = await stores.open();
      const row = { target: 'online', subscriptionId: 'sub-1', expiresAt: '2026-09-04T08:00:00.000Z', lastError: null, lastErrorAt: null };
      await store.saveSubscription(cal, row);
      await store.saveSubscription('b@contoso.edu', { ...row, subscriptionId: null, expiresAt: null, lastError: 'Forbidden: not allowed', lastErrorAt: '2026-09-01T08:00:00.000Z' });
      await store.saveSubscription(cal, { ...row, subscriptionId: 'sub-2' });
      const again = await stores.reopen(store);
      expect((await again.subscriptionRows()).map((r) => [r.calendar, r.target, r.subscriptionId, r.lastError])).toEqual([
        [cal, 'online', 'sub-2', null],
        ['b@contoso.edu', 'online', null, 'Forbidden: not allowed'],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
      await again.saveSubscription(cal, null);
      expect((await store.subscriptionRows()).map((r) => r.calendar)).toEqual(['b@contoso.edu']);
      await store.countNotifications('online', 3, 0);
      await again.countNotifications('online', 1, 2);
      await store.countNotifications('', 0, 1);
      expect(await store.notificationCounts()).toEqual([{ target: '', received: 0, rejected: 1 }, { target: 'online', received: 4, rejected: 2 }]);
      await again.close();
      await store.close();
    });

    it('refuses a finding or a sync state under a lease another worker took over, recording nothing', async () => {
      const store = await stores.open();
      const other = await stores.reopen(store);
      const lost = (await store.claimMailbox(cal, 'w1', 60_000))!;
      await other.takeOverMailbox(cal, 'w1', 'w2', 60_000);
      await expect(store.recordDrift(cal, [drift('a', 'restore')], true, lost)).rejects.toBeInstanceOf(LeaseLost);
      await expect(store.saveWatchState(cal, 'default', 's', true, lost)).rejects.toBeInstanceOf(LeaseLost);
      expect(await other.driftFor(cal)).toEqual([]);
      expect(await other.watchState(cal)).toBeNull();
      await other.close();
      await store.close();
    });
  });

  describe('API keys and feed state', () => {
    it('stores API keys by their hash, revokes once, and notes their use', async () => {
      const store = await stores.open();
      const row = { id: 'aaaaaaaaaaaa', name: 'timetable', hash: 'h', scope: 'write' as const, calendars: ['*@contoso.edu'], createdAt: '2026-01-01T00:00:00.000Z', revokedAt: null, lastUsedAt: null };
      await store.createApiKey(row);
      await store.createApiKey({ ...row, id: 'bbbbbbbbbbbb', scope: 'helpdesk', calendars: null, createdAt: '2026-01-02T00:00:00.000Z' });
      await expect(store.createApiKey({ ...row, id: 'cccccccccccc', scope: 'root' as never })).rejects.toThrow();
      expect(await store.apiKey('aaaaaaaaaaaa')).toEqual(row);
      expect((await store.apiKeys()).map((k) => k.id)).toEqual(['aaaaaaaaaaaa', 'bbbbbbbbbbbb']);
      await store.touchApiKey('aaaaaaaaaaaa');
      expect((await store.apiKey('aaaaaaaaaaaa'))!.lastUsedAt).not.toBeNull();
      expect(await store.revokeApiKey('aaaaaaaaaaaa')).toBe(true);
      expect(await store.revokeApiKey('aaaaaaaaaaaa')).toBe(false);
      expect(await store.revokeApiKey('nonexistent1')).toBe(false);
      expect(await store.apiKey('nonexistent1')).toBeNull();
      await store.close();
    });

    it('remembers a feed per calendar and replaces it', async () => {
      const store = await stores.open();
      const state = { calendar: cal, url: 'fp', etag: '"1"', lastModified: null, consecutiveEmpty: 0, lastFetchAt: '2026-01-01T00:00:00.000Z', lastFullFetchAt: null, lastOutcome: 'changed', lastError: null, lastChangeAt: null, consecutiveFailures: 0 };
      expect(await store.feedState(cal)).toBeNull();
      await store.saveFeedState(state);
      await store.saveFeedState({ ...state, etag: '"2"', consecutiveEmpty: 1, lastOutcome: 'empty-unconfirmed' });
      expect(await store.feedState(cal)).toEqual({ ...state, etag: '"2"', consecutiveEmpty: 1, lastOutcome: 'empty-unconfirmed' });
      // Failed polls in a row (the alerts' feed condition), and back to 0 after one that did not fail.
      await store.saveFeedState({ ...state, lastOutcome: 'failed', lastError: 'HTTP 500', consecutiveFailures: 3 });
      expect(await store.feedState(cal)).toMatchObject({ lastOutcome: 'failed', consecutiveFailures: 3 });
      await store.saveFeedState({ ...state, consecutiveFailures: 0 });
      expect((await store.feedState(cal))!.consecutiveFailures).toBe(0);
      await store.close();
    });

    it('counts per calendar and in total, and shows one event with what is delivered and pending', async () => {
      const store = await stores.open();
      await store.applyDesired({ calendars: [cal], events: [event('a'), event('b')], held: [] });
      const a = event('a');
      await store.replacePendingOps(cal, [{ ...create(a.key), lastError: null }]);
      await store.recordOpFailure(cal, a.key, 'Timeout: no answer');
      await store.completeOps([{ op: create('other'), delivered: item('other', 'i1') }]);
      expect(await store.calendarCounts(cal)).toEqual({ desired: 2, delivered: 1, pending: 1, failedOps: 1 });
      expect(await store.totals()).toEqual({ desired: 2, delivered: 1, pending: 1, failedOps: 1, mailboxes: { pending: 1, ok: 0, failed: 0 } });
      expect(await store.desiredCounts()).toEqual(new Map([[cal, 2]]));
      const state = await store.eventState(cal, a.key);
      expect(state.desired).toMatchObject({ sourceId: 'a' });
      expect(state.pending).toMatchObject([{ key: a.key, lastError: 'Timeout: no answer' }]);
      expect(state.mailbox).toMatchObject({ calendar: cal });
      await store.close();
    });
  });
});
}
