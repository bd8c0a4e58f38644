// The pure part of drift (planner/drift.ts) and the parsers of the watch answers (Graph delta pages, EWS
// SyncFolderItems changes), property-tested: whatever a service answers, only items calpush delivered are ever found,
// and the plan never touches a detached event.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DeliveredRow } from '../../src/model/rows.ts';
import { applyDrift, findDrift, type DriftDecision, type SeenChange } from '../../src/planner/drift.ts';
import { plan } from '../../src/planner/plan.ts';
import { syncChanges } from '../../src/targets/ews/watch.ts';
import { deltaChanges } from '../../src/targets/graph/watch.ts';

const cal = 's0001@contoso.edu';
const row = (n: number, changeKey: string | null = `ck${n}`, startsAtMs: number | null = 1_000 + n): DeliveredRow => ({ calendar: cal, key: `k${n}`, itemId: `i${n}`, changeKey, transactionId: null, contentHash: `h${n}`, startsAtMs });
const restoreAll = () => ({ edited: 'restore' as const, deleted: 'restore' as const });

const change: fc.Arbitrary<SeenChange> = fc.oneof(
  fc.record({ kind: fc.constant('changed' as const), itemId: fc.oneof(fc.constantFrom('i0', 'i1', 'i2', 'i3'), fc.string()), changeKey: fc.option(fc.constantFrom('ck0', 'ck1', 'x', 'y'), { nil: null }) }),
  fc.record({ kind: fc.constant('removed' as const), itemId: fc.oneof(fc.constantFrom('i0', 'i1', 'i2', 'i3'), fc.string()) }),
);

describe('finding drift', () => {
  it('finds only items calpush delivered, at most one finding per event, and never one for a detached event', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 30 }), fc.boolean(), (changes, detachFirst) => {
        const delivered = [row(0), row(1), row(2, null)];
        const known: DriftDecision[] = detachFirst ? [{ key: 'k0', kind: 'edited', policy: 'detach', itemId: 'i0', changeKey: 'x', contentHash: null }] : [];
        const found = findDrift({ delivered, desired: [], changes, known, window: null, policyOf: restoreAll });
        const keys = found.map((f) => f.key);
        expect(new Set(keys).size).toBe(keys.length);
        for (const f of found) expect(delivered.some((d) => d.itemId === f.itemId && d.key === f.key)).toBe(true);
        if (detachFirst) expect(keys).not.toContain('k0');
        // An item whose ChangeKey calpush does not know (k2) is never found edited.
        expect(found.some((f) => f.key === 'k2' && f.kind === 'edited')).toBe(false);
      }),
    );
  });

  it('an edit is a different ChangeKey; the same one is calpush’s own write; a finding seen again is not new', () => {
    const delivered = [row(1)];
    const find = (changes: SeenChange[], known: DriftDecision[] = []) => findDrift({ delivered, desired: [{ key: 'k1', contentHash: 'h1' }], changes, known, window: null, policyOf: () => ({ edited: 'respect', deleted: 'restore' }) });
    expect(find([{ kind: 'changed', itemId: 'i1', changeKey: 'ck1' }])).toEqual([]);
    const [edit] = find([{ kind: 'changed', itemId: 'i1', changeKey: 'ck9' }]);
    expect(edit).toEqual({ key: 'k1', kind: 'edited', policy: 'respect', itemId: 'i1', changeKey: 'ck9', contentHash: 'h1' });
    expect(find([{ kind: 'changed', itemId: 'i1', changeKey: 'ck9' }], [edit!])).toEqual([]);
    // The last change of an item counts: edited, then deleted.
    expect(find([{ kind: 'changed', itemId: 'i1', changeKey: 'ck9' }, { kind: 'removed', itemId: 'i1' }]).map((f) => f.kind)).toEqual(['deleted']);
  });

  it('a removal of an item calpush placed outside Graph’s window is no deletion (it left the window)', () => {
    const delivered = [row(1, 'ck1', 50), row(2, 'ck2', 500), row(3, 'ck3', null)];
    const changes: SeenChange[] = delivered.map((d) => ({ kind: 'removed', itemId: d.itemId }));
    const found = findDrift({ delivered, desired: [], changes, known: [], window: { start: 100, end: 1_000 }, policyOf: restoreAll });
    expect(found.map((f) => f.key).sort()).toEqual(['k2', 'k3']);
  });
});

describe('drift in the plan', () => {
  const desired = [0, 1, 2].map((n) => ({ calendar: cal, key: `k${n}`, sourceId: `s${n}`, contentHash: `h${n}`, startsAtMs: 1_000, event: {} as never }));
  const delivered = [row(0), row(1), row(2)];
  const planOf = (drift: DriftDecision[], wanted = desired, there = delivered) => {
    const rows = applyDrift(wanted, there, drift);
    return plan({ instance: 'x', calendar: cal, desired: rows.desired, delivered: rows.delivered, generations: new Map() }).ops.map((op) => `${op.kind}:${op.key}`);
  };

  it('restore: the item as the person left it is updated back; once calpush wrote it (a new ChangeKey) no more', () => {
    const drift: DriftDecision[] = [{ key: 'k1', kind: 'edited', policy: 'restore', itemId: 'i1', changeKey: 'ck1', contentHash: null }];
    expect(planOf(drift)).toEqual(['update:k1']);
    expect(planOf(drift, desired, [row(0), row(1, 'ck-after-our-write'), row(2)])).toEqual([]);
  });

  it('respect: left while the source keeps the event; planned again once it changes', () => {
    const drift: DriftDecision[] = [{ key: 'k1', kind: 'deleted', policy: 'respect', itemId: 'i1', changeKey: null, contentHash: 'h1' }];
    expect(planOf(drift, desired, [row(0), row(2)])).toEqual([]);
    expect(planOf(drift, desired.map((d) => (d.key === 'k1' ? { ...d, contentHash: 'h1-new' } : d)), [row(0), row(2)])).toEqual(['create:k1']);
  });

  it('detach: never created, updated or deleted, whatever the source does', () => {
    fc.assert(
      fc.property(fc.subarray(desired), fc.subarray(delivered), fc.boolean(), (wanted, there, changed) => {
        const drift: DriftDecision[] = [{ key: 'k1', kind: 'edited', policy: 'detach', itemId: 'i1', changeKey: 'x', contentHash: null }];
        const source = wanted.map((d) => (changed ? { ...d, contentHash: `${d.contentHash}-new` } : d));
        expect(planOf(drift, source, there).some((op) => op.endsWith(':k1'))).toBe(false);
      }),
    );
  });
});

describe('reading the watch answers', () => {
  it('Graph: @removed entries are removals, others changes with their etag; anything without a string id is skipped', () => {
    expect(
      deltaChanges([
        { id: 'a', '@odata.etag': 'W/"1"' },
        { id: 'b', changeKey: '2' },
        { id: 'c', '@removed': { reason: 'deleted' } },
        { id: 42 },
        null,
        'junk',
        { '@removed': {} },
      ]),
    ).toEqual([
      { kind: 'changed', itemId: 'a', changeKey: 'W/"1"' },
      { kind: 'changed', itemId: 'b', changeKey: 'W/"2"' },
      { kind: 'removed', itemId: 'c' },
    ]);
    fc.assert(fc.property(fc.jsonValue(), (value) => void deltaChanges(value)));
  });

  it('EWS: Create and Update with their item’s ItemId and ChangeKey, Delete with its ItemId; a change without an id is skipped', () => {
    const changes = {
      Create: [{ CalendarItem: { ItemId: { '@_Id': 'A', '@_ChangeKey': 'ck-a' } } }, { CalendarItem: {} }],
      Update: { CalendarItem: { ItemId: { '@_Id': 'B', '@_ChangeKey': 'ck-b' } } },
      Delete: { ItemId: { '@_Id': 'C', '@_ChangeKey': 'ck-c' } },
    };
    expect(syncChanges(changes)).toEqual([
      { kind: 'changed', itemId: 'A', changeKey: 'ck-a' },
      { kind: 'changed', itemId: 'B', changeKey: 'ck-b' },
      { kind: 'removed', itemId: 'C' },
    ]);
    expect(syncChanges(null)).toEqual([]);
    fc.assert(fc.property(fc.dictionary(fc.constantFrom('Create', 'Update', 'Delete', 'x'), fc.jsonValue()), (value) => void syncChanges(value)));
  });
});
