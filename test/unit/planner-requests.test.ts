// The planner's request decisions (src/planner/requests.ts, listing.ts): which operations share a request, the
// request's place in the scheduler, a batch's shape, and when a mailbox is listed before it is planned.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PendingOp } from '../../src/model/rows.ts';
import { listingReason } from '../../src/planner/listing.ts';
import { batchShape, requestGroups, requestPriority } from '../../src/planner/requests.ts';

const op = (key: string, startsAtMs: number | null, kind: PendingOp['kind'] = 'create', attempts = 0): PendingOp => ({
  calendar: 'a@contoso.edu',
  key,
  kind,
  itemId: kind === 'create' ? null : `item-${key}`,
  contentHash: kind === 'delete' ? null : 'h',
  transactionId: null,
  startsAtMs,
  attempts,
  lastError: null,
});
const NOW = Date.UTC(2026, 0, 15, 12);
const HOUR = 3_600_000;
const urgentBefore = NOW + 48 * HOUR;
const keysOf = (groups: PendingOp[][]) => groups.map((group) => group.map((o) => o.key));

describe('request groups', () => {
  it('fills groups up to the batch size, soonest start first; an unknown start counts as the far future', () => {
    const ops = [op('late', NOW + 900 * HOUR), op('unknown', null), op('soon', NOW + 100 * HOUR), op('sooner', NOW + 60 * HOUR)];
    expect(keysOf(requestGroups(ops, { maxOps: 2, urgentBefore }))).toEqual([
      ['sooner', 'soon'],
      ['late', 'unknown'],
    ]);
    expect(keysOf(requestGroups(ops, { maxOps: 1, urgentBefore }))).toEqual([['sooner'], ['soon'], ['late'], ['unknown']]);
  });

  it('never lets an urgent operation share a request with far-future ones', () => {
    const ops = [op('far1', NOW + 900 * HOUR), op('tomorrow', NOW + 20 * HOUR), op('far2', NOW + 901 * HOUR), op('today', NOW + 2 * HOUR)];
    expect(keysOf(requestGroups(ops, { maxOps: 20, urgentBefore }))).toEqual([
      ['today', 'tomorrow'],
      ['far1', 'far2'],
    ]);
  });

  it('every operation once, groups within the size, in start order, each all urgent or all not (property)', () => {
    const start = fc.option(fc.integer({ min: NOW - 10 * HOUR, max: NOW + 200 * HOUR }), { nil: null });
    fc.assert(
      fc.property(fc.array(start, { maxLength: 60 }), fc.integer({ min: 1, max: 20 }), (starts, maxOps) => {
        const ops = starts.map((s, i) => op(`k${i}`, s));
        const groups = requestGroups(ops, { maxOps, urgentBefore });
        expect(groups.flat().map((o) => o.key).sort()).toEqual(ops.map((o) => o.key).sort());
        const at = (o: PendingOp) => o.startsAtMs ?? Number.MAX_SAFE_INTEGER;
        const flat = groups.flat();
        for (let i = 1; i < flat.length; i++) expect(at(flat[i]!)).toBeGreaterThanOrEqual(at(flat[i - 1]!));
        for (const group of groups) {
          expect(group.length).toBeGreaterThan(0);
          expect(group.length).toBeLessThanOrEqual(maxOps);
          expect(new Set(group.map((o) => at(o) < urgentBefore)).size).toBe(1);
        }
      }),
    );
  });

  it("places a request by its soonest event's start", () => {
    expect(requestPriority([op('a', NOW + 5), op('b', NOW + 1), op('c', null)])).toBe(NOW + 1);
    expect(requestPriority([op('c', null)])).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('batch shape', () => {
  const shape = (mode: 'chain' | 'parallel' | 'auto' | undefined, activeMailboxes: number) => batchShape({ mode, parallelism: 4, activeMailboxes, globalConcurrency: 64 });

  it('keeps what the target says when it is not "auto"; no batch at all is a chain of one', () => {
    expect(shape('chain', 1000)).toBe('chain');
    expect(shape('parallel', 1)).toBe('parallel');
    expect(shape(undefined, 1000)).toBe('chain');
  });

  it('"auto": chains while the active mailboxes × 4 fit in the global request slots, parallel batches once they do not', () => {
    expect(shape('auto', 1)).toBe('chain');
    expect(shape('auto', 16)).toBe('chain');
    expect(shape('auto', 17)).toBe('parallel');
  });
});

describe('listing before planning', () => {
  const never = () => {
    throw new Error('pending operations asked although the listing was requested');
  };

  it('lists when asked, without looking at the pending operations', () => {
    expect(listingReason({ reinventory: true, inventoriedAt: '2026-01-01T00:00:00Z', pending: never })).toBe('requested');
  });

  it('lists a mailbox it has no record of, and one where a create was sent but its answer never recorded', () => {
    expect(listingReason({ reinventory: false, inventoriedAt: null, pending: () => [] })).toBe('no record of this mailbox');
    expect(listingReason({ reinventory: false, inventoriedAt: '2026-01-01T00:00:00Z', pending: () => [op('k', NOW, 'create', 1)] })).toBe('outcome of a create unknown');
    expect(listingReason({ reinventory: false, inventoriedAt: null, pending: () => [op('k', NOW, 'create', 1)] })).toBe('outcome of a create unknown');
  });

  it('plans from the store when its record is complete: never-sent creates and unanswered updates need no listing', () => {
    const pending = [op('new', NOW, 'create', 0), op('changed', NOW, 'update', 2), op('gone', NOW, 'delete', 1)];
    expect(listingReason({ reinventory: false, inventoriedAt: '2026-01-01T00:00:00Z', pending: () => pending })).toBeNull();
  });
});
