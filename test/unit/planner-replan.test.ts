// Re-planning a mailbox while it is delivered (src/planner/replan.ts) and re-creating an event whose item is gone
// (src/planner/recreate.ts): pure functions of rows and operations.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DeliveredRow, DesiredRow, PendingOp } from '../../src/model/rows.ts';
import { plan, transactionIdFor } from '../../src/planner/plan.ts';
import { recreate } from '../../src/planner/recreate.ts';
import { keysInFlight, opIdentity, replan } from '../../src/planner/replan.ts';

const cal = 'a@contoso.edu';
const desired = (key: string, hash: string): DesiredRow => ({ calendar: cal, key, sourceId: `src-${key}`, contentHash: hash, startsAtMs: 0, event: {} as DesiredRow['event'] });
const delivered = (key: string, hash: string): DeliveredRow => ({ calendar: cal, key, itemId: `item-${key}`, changeKey: null, transactionId: null, contentHash: hash });
const planned = (d: DesiredRow[], v: DeliveredRow[]) => plan({ instance: 'i', calendar: cal, desired: d, delivered: v, generations: new Map() }).ops;
const input = (d: DesiredRow[], v: DeliveredRow[], queued: PendingOp[], busy = new Set<string>()) => ({ instance: 'i', calendar: cal, desired: d, delivered: v, generations: new Map<string, number>(), busy, queued });

describe('re-plan', () => {
  it('keeps queued operations still wanted, supersedes those no longer wanted, plans the new ones', () => {
    const queued = planned([desired('k1', 'h1'), desired('k2', 'h2')], [delivered('k3', 'h3')]);
    // The source changed k2, dropped k1, and wants k3 after all.
    const result = replan(input([desired('k2', 'h2-new'), desired('k3', 'h3')], [delivered('k3', 'h3')], queued));
    expect(result.superseded.map((op) => [op.kind, op.key])).toEqual([
      ['create', 'k1'],
      ['create', 'k2'],
      ['delete', 'k3'],
    ]);
    expect(result.fresh.map((op) => [op.kind, op.key, op.contentHash])).toEqual([['create', 'k2', 'h2-new']]);
    expect(result.unchanged).toBe(1);
  });

  it('keeps the very queued operation (its request), not a copy of it', () => {
    const queued = planned([desired('k1', 'h1')], []);
    const result = replan(input([desired('k1', 'h1')], [], queued));
    expect(result).toEqual({ superseded: [], fresh: [], unchanged: 0 });
  });

  it('leaves keys with a request out alone', () => {
    const result = replan(input([desired('k1', 'h1-new'), desired('k2', 'h2')], [delivered('k1', 'h1')], [], new Set(['k1'])));
    expect(result.fresh.map((op) => op.key)).toEqual(['k2']);
  });

  it('keeps a create queued to be sent again on a busy key, however the source changed it', () => {
    // Its first attempt may have landed: a create with the new content would carry another transactionId.
    const [resend] = planned([desired('k1', 'h1')], []);
    const result = replan(input([desired('k1', 'h1-new')], [], [resend!], new Set(['k1'])));
    expect(result).toEqual({ superseded: [], fresh: [], unchanged: 0 });
    expect(replan(input([], [], [resend!], new Set(['k1']))).superseded).toEqual([]);
  });

  it('without requests out or queued, it is the plan itself (property)', () => {
    const keys = fc.constantFrom('k1', 'k2', 'k3', 'k4');
    const hashes = fc.constantFrom('h1', 'h2');
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(keys, hashes), { selector: ([k]) => k }), fc.uniqueArray(fc.tuple(keys, hashes), { selector: ([k]) => k }), (want, have) => {
        const d = want.map(([k, h]) => desired(k, h));
        const v = have.map(([k, h]) => delivered(k, h));
        expect(replan(input(d, v, [])).fresh.map(opIdentity)).toEqual(planned(d, v).map(opIdentity));
      }),
    );
  });

  it('says which requests out no longer bring their key to the desired state', () => {
    const [create, update] = planned([desired('k1', 'h1'), desired('k2', 'h2')], [delivered('k2', 'old'), delivered('k3', 'h3')]);
    const remove = planned([], [delivered('k3', 'h3')])[0]!;
    const now = new Map([
      ['k1', desired('k1', 'h1')], // still as sent
      ['k2', desired('k2', 'h2-newer')], // changed again while the update was out
      ['k3', desired('k3', 'h3')], // wanted again while its delete was out
    ]);
    const { busy, deferred } = keysInFlight([create!, update!, remove], now);
    expect([...busy]).toEqual(['k1', 'k2', 'k3']);
    expect([...deferred]).toEqual(['k2', 'k3']);
  });
});

describe('re-create after the item is gone', () => {
  it('creates the event under its next generation, with a transactionId of its own, in place of the update', () => {
    const [update] = planned([desired('k1', 'h2')], [delivered('k1', 'h1')]);
    const copyDelete: PendingOp = { ...update!, kind: 'delete', itemId: 'copy', contentHash: null };
    const other = planned([desired('k2', 'h1')], [])[0]!;
    const { created, pending } = recreate(update!, { instance: 'i', generation: 1, pending: [update!, copyDelete, other] });
    expect(created).toMatchObject({ kind: 'create', key: 'k1', itemId: null, changeKey: null, contentHash: 'h2' });
    expect(created.transactionId).toBe(transactionIdFor('i', cal, 'k1', 'h2', 1));
    expect(created.transactionId).not.toBe(transactionIdFor('i', cal, 'k1', 'h2', 0));
    expect(pending).toEqual([copyDelete, other, created]);
  });
});
