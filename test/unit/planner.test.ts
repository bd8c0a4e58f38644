import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { plan, transactionIdFor } from '../../src/planner/plan.ts';
import type { DeliveredRow, DesiredRow } from '../../src/model/rows.ts';

const cal = 'a@contoso.edu';
const desired = (key: string, hash: string, startsAtMs = 0): DesiredRow => ({ calendar: cal, key, sourceId: `src-${key}`, contentHash: hash, startsAtMs, event: {} as DesiredRow['event'] });
const delivered = (key: string, hash: string, itemId = `item-${key}`): DeliveredRow => ({ calendar: cal, key, itemId, changeKey: null, transactionId: null, contentHash: hash });
const run = (d: DesiredRow[], v: DeliveredRow[], generations = new Map<string, number>()) => plan({ instance: 'i', calendar: cal, desired: d, delivered: v, generations });

describe('planner', () => {
  it('creates the missing, updates the changed, deletes the undesired and leaves the rest', () => {
    const result = run([desired('k1', 'h1'), desired('k2', 'h2'), desired('k3', 'h3')], [delivered('k2', 'h2'), delivered('k3', 'old'), delivered('k4', 'h4')]);
    expect(result.unchanged).toBe(1);
    expect(result.ops.map((op) => [op.kind, op.key, op.itemId])).toEqual([
      ['create', 'k1', null],
      ['update', 'k3', 'item-k3'],
      ['delete', 'k4', 'item-k4'],
    ]);
  });

  it('carries the delivered ChangeKey / ETag on every update and delete (the target sends it with the write)', () => {
    const withKey = (row: DeliveredRow, changeKey: string): DeliveredRow => ({ ...row, changeKey });
    const result = run(
      [desired('k1', 'new'), desired('k2', 'h2')],
      [withKey(delivered('k1', 'old'), 'ck-1'), withKey(delivered('k2', 'h2', 'keep'), 'ck-2'), withKey(delivered('k2', 'old', 'copy'), 'ck-3'), withKey(delivered('k3', 'h3'), 'ck-4')],
    );
    expect(result.ops.map((op) => [op.kind, op.itemId, op.changeKey])).toEqual([
      ['update', 'item-k1', 'ck-1'],
      ['delete', 'copy', 'ck-3'],
      ['delete', 'item-k3', 'ck-4'],
    ]);
    expect(run([desired('k1', 'h1')], []).ops[0]!.changeKey ?? null).toBeNull();
  });

  it('plans nothing when everything is delivered as desired', () => {
    expect(run([desired('k1', 'h1')], [delivered('k1', 'h1')]).ops).toEqual([]);
  });

  it('removes duplicates of one key, keeping the item that already has the right content', () => {
    const result = run([desired('k1', 'h1')], [delivered('k1', 'old', 'a'), delivered('k1', 'h1', 'b'), delivered('k1', 'h1', 'c')]);
    expect(result.ops.map((op) => [op.kind, op.itemId])).toEqual([
      ['delete', 'a'],
      ['delete', 'c'],
    ]);
    expect(result.unchanged).toBe(1);
  });

  it('gives a cancellation the start of the event it removes, and a move the sooner of its two starts', () => {
    const tomorrow = Date.UTC(2026, 10, 27, 9);
    const nextMonth = Date.UTC(2026, 11, 27, 9);
    const result = run(
      [desired('moved-away', 'new', nextMonth), desired('moved-in', 'new', tomorrow)],
      [
        { ...delivered('moved-away', 'old'), startsAtMs: tomorrow },
        { ...delivered('moved-in', 'old'), startsAtMs: nextMonth },
        { ...delivered('cancelled', 'h'), startsAtMs: tomorrow },
        delivered('listed', 'h'),
      ],
    );
    expect(result.ops.map((op) => [op.kind, op.key, op.startsAtMs])).toEqual([
      ['update', 'moved-away', tomorrow],
      ['update', 'moved-in', tomorrow],
      ['delete', 'cancelled', tomorrow],
      // Found by a listing (local state lost): its start is unknown, so it goes with the far-future work.
      ['delete', 'listed', null],
    ]);
  });

  it('derives the transactionId from content and generation, so a re-created event gets a new one', () => {
    const first = run([desired('k1', 'h1')], []).ops[0]!.transactionId;
    expect(first).toBe(transactionIdFor('i', cal, 'k1', 'h1', 0));
    expect(run([desired('k1', 'h1')], [], new Map([['k1', 1]])).ops[0]!.transactionId).not.toBe(first);
    expect(run([desired('k1', 'h2')], []).ops[0]!.transactionId).not.toBe(first);
    expect(first).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('only ever updates or deletes items it was given as delivered (property)', () => {
    const keys = fc.constantFrom('k1', 'k2', 'k3', 'k4', 'k5');
    const hashes = fc.constantFrom('h1', 'h2');
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(keys, hashes), { selector: ([k]) => k }),
        fc.array(fc.tuple(keys, hashes, fc.integer({ min: 0, max: 3 })), { maxLength: 8 }),
        (want, have) => {
          const deliveredRows = have.map(([k, h, n]) => delivered(k, h, `${k}-${n}`));
          const unique = [...new Map(deliveredRows.map((r) => [r.itemId, r])).values()];
          const result = run(want.map(([k, h]) => desired(k, h)), unique);
          const known = new Set(unique.map((r) => r.itemId));
          for (const op of result.ops) if (op.kind !== 'create') expect(known.has(op.itemId!)).toBe(true);
          // Applying the plan yields exactly one item per desired key, with the desired content.
          const after = new Map<string, string[]>();
          const deleted = new Set(result.ops.filter((o) => o.kind === 'delete').map((o) => o.itemId));
          for (const r of unique) if (!deleted.has(r.itemId)) after.set(r.key, [...(after.get(r.key) ?? []), r.contentHash]);
          for (const op of result.ops) if (op.kind === 'create') after.set(op.key, [op.contentHash!]);
          for (const op of result.ops) if (op.kind === 'update') after.set(op.key, [op.contentHash!]);
          expect([...after.keys()].sort()).toEqual(want.map(([k]) => k).sort());
          for (const [k, h] of want) expect(after.get(k)).toEqual([h]);
        },
      ),
    );
  });
});
