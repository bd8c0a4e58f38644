// Delivery of one mailbox while its desired state changes: the change is planned around the requests in flight
// and overtakes the mailbox's own backlog; urgent operations never wait inside a batch of far-future ones.
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { deliver } from '../../src/engine/delivery.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { DesiredEvent } from '../../src/model/event.ts';
import { TargetError, type ItemRef } from '../../src/targets/target.ts';
import { MemoryTarget } from '../support/memory-target.ts';
import { desired } from '../server/helpers.ts';

const A = 'a@contoso.edu';
// "Within 48 hours" must not depend on the hour the tests run (at 02:30 UTC in winter, day(2) 09:00 Amsterdam is
// 53.5 hours away, and the urgent test failed every night): everything here asks this fixed clock for "now", at
// which day(1) 09:00 Amsterdam is 20 hours away and day(2) 09:00 is 44 hours away.
const clock = fixedClock('2026-01-15T12:00:00Z');
const day = (offsetDays: number) => new Date(clock.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);
const at = (date: string, subject: string) => ({ start: `${date}T09:00`, end: `${date}T10:00`, timeZone: 'Europe/Amsterdam', subject });
const farFuture = (n: number) => desired(A, `e${n}`, at(day(60 + (n % 30)), `Lecture ${n}`));

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('delivery of a mailbox that changes while it is delivered', () => {
  it('re-plans at once: the change overtakes the backlog, superseded work is never sent, the end state is exact', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const target = new MemoryTarget();
    target.delayMs = 15;
    await store.applyDesiredOps(Array.from({ length: 60 }, (_, n) => ({ kind: 'upsert' as const, desired: farFuture(n) })));
    // One request at a time for the mailbox: the backlog takes ~60 × 15 ms.
    const scheduler = new Scheduler({ clock, mailboxConcurrency: 1 });
    const delivery = deliver({ clock, store, target, scheduler, instance: 'delivery-test', calendars: [A], watchIntervalMs: 1_000 });
    await until(() => target.subjects(A).length >= 5);
    // e59 is still queued (far future, last in start order): it moves to tomorrow; e58 gets another subject.
    await store.applyDesiredOps([
      { kind: 'upsert', desired: desired(A, 'e59', at(day(1), 'Moved to tomorrow')) },
      { kind: 'upsert', desired: desired(A, 'e58', at(day(60 + 28), 'Renamed')) },
      { kind: 'remove', calendar: A, key: farFuture(57).key },
    ]);
    await until(() => target.subjects(A).includes('Moved to tomorrow'));
    // It arrived while most of the mailbox's own backlog was still waiting (not after it).
    expect(target.subjects(A).length).toBeLessThan(40);
    const summary = await delivery;
    expect(summary.mailboxes[0]).toMatchObject({ status: 'ok', failed: 0 });
    const subjects = target.subjects(A);
    expect(subjects).toHaveLength(59);
    expect(subjects).toContain('Renamed');
    expect(subjects).not.toContain('Lecture 59');
    expect(subjects).not.toContain('Lecture 58');
    expect(subjects).not.toContain('Lecture 57');
    // Superseded creates were skipped, not sent and then corrected: one write per event, nothing more.
    expect(target.writes.flat().filter((s) => s.startsWith('(delete'))).toEqual([]);
    expect(target.writes).toHaveLength(59);
    expect(await store.changedMailboxes()).toEqual([]);
    expect(await store.pendingOps(A)).toEqual([]);
    await store.close();
  });

  it('waits for a request in flight before planning its event again, and then corrects it', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const target = new MemoryTarget();
    target.delayMs = 150;
    await store.applyDesiredOps([{ kind: 'upsert', desired: farFuture(0) }]);
    const delivery = deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 'delivery-test', calendars: [A], watchIntervalMs: 20 });
    // The create of e0 is out (the listing was the first request): change e0 meanwhile.
    await until(() => target.requests >= 2);
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'e0', at(day(2), 'Changed in flight')) }]);
    const summary = await delivery;
    expect(summary.mailboxes[0]).toMatchObject({ status: 'ok', created: 1, updated: 1 });
    expect(target.subjects(A)).toEqual(['Changed in flight']);
    expect(await store.changedMailboxes()).toEqual([]);
    await store.close();
  });

  it('never supersedes a create sent again whose first answer was lost: the event is created once, then corrected', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const target = new MemoryTarget().enableBatch(5);
    await store.applyDesiredOps([0, 1, 2].map((n) => ({ kind: 'upsert' as const, desired: farFuture(n) })));
    // The first batch lands whole, but e1's answer is a 504 with a Retry-After (Graph's gateway timed out: the
    // create may have run). While its resend waits that out, the source changes e1 — and that re-plans the mailbox.
    const batch = target.batch!;
    let answers = 0;
    target.batch = {
      ...batch,
      run: async (calendar, ops, mode) => {
        const outcomes = await batch.run(calendar, ops, mode);
        if (answers++ > 0) return outcomes;
        await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'e1', at(day(61), 'Changed while resent')) }]);
        const lost = ops.findIndex((op) => op.kind === 'create' && op.desired.key === farFuture(1).key);
        outcomes[lost] = { ok: false, error: new TargetError('transient', 'GatewayTimeout', 'the gateway timed out', { status: 504, retryAfterMs: 300 }) };
        return outcomes;
      },
    };
    const summary = await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 'delivery-test', calendars: [A] });
    expect(summary.mailboxes[0]).toMatchObject({ status: 'ok', created: 3, updated: 1, failed: 0 });
    // One item for e1 (the resend found the first one by its transactionId), carrying the change; none lost.
    expect(target.subjects(A)).toEqual(['Changed while resent', 'Lecture 0', 'Lecture 2']);
    expect(await store.pendingOps(A)).toEqual([]);
    expect(await store.changedMailboxes()).toEqual([]);
    await store.close();
  });

  it('sends urgent operations in batches of their own, before the far-future ones', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const target = new MemoryTarget().enableBatch(20);
    await store.applyDesiredOps([
      ...Array.from({ length: 45 }, (_, n) => ({ kind: 'upsert' as const, desired: farFuture(n) })),
      { kind: 'upsert', desired: desired(A, 'tomorrow', at(day(1), 'Tomorrow')) },
      { kind: 'upsert', desired: desired(A, 'day-after', at(day(2), 'Day after')) },
    ]);
    const summary = await deliver({ clock, store, target, scheduler: new Scheduler({ clock, mailboxConcurrency: 1 }), instance: 'delivery-test', calendars: [A] });
    expect(summary.totals).toMatchObject({ created: 47, failed: 0 });
    expect(target.writes[0]).toEqual(['Tomorrow', 'Day after']);
    expect(target.writes.slice(1).map((w) => w.length)).toEqual([20, 20, 5]);
    expect(target.writes.slice(1).flat().every((s) => s.startsWith('Lecture'))).toBe(true);
    await store.close();
  });

  it('waits for a mailbox another process holds when asked to, then delivers what is left; otherwise reports it busy', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const target = new MemoryTarget();
    await store.applyDesiredOps([{ kind: 'upsert', desired: farFuture(1) }]);
    expect(await store.claimMailbox(A, 'other-host:7', 60_000)).not.toBeNull();
    const options = { clock, store, target, scheduler: new Scheduler({ clock }), instance: 'delivery-test', calendars: [A], workerId: 'this-host:1' };
    expect((await deliver(options)).mailboxes[0]!.status).toBe('busy');
    expect((await deliver({ ...options, busyWaitMs: 300 })).mailboxes[0]!.status).toBe('busy');
    setTimeout(() => void store.releaseMailbox(A, 'other-host:7'), 300);
    const waited = await deliver({ ...options, busyWaitMs: 5_000 });
    expect(waited.mailboxes[0]).toMatchObject({ status: 'ok', created: 1 });
    expect(target.subjects(A)).toEqual(['Lecture 1']);
    await store.close();
  });

  it('auto batches: chains while the active mailboxes leave request slots for them, parallel batches when they do not', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const mailboxes = ['m1@contoso.edu', 'm2@contoso.edu', 'm3@contoso.edu'];
    await store.applyDesiredOps(mailboxes.flatMap((calendar) => Array.from({ length: 40 }, (_, n) => ({ kind: 'upsert' as const, desired: desired(calendar, `e${n}`, at(day(60 + (n % 20)), `Lecture ${n}`)) }))));
    // 64 request slots: 3 mailboxes × 4 chains fit, so chains (the round trip hidden behind the other chains).
    const roomy = new MemoryTarget().enableBatch(20, 'auto');
    await deliver({ clock, store, target: roomy, scheduler: new Scheduler({ clock, globalConcurrency: 64 }), instance: 'auto-roomy', calendars: mailboxes });
    expect(new Set(roomy.batchModes)).toEqual(new Set(['chain']));
    // 4 request slots for 3 mailboxes: each slot does more as a parallel batch.
    const tight = new MemoryTarget().enableBatch(20, 'auto');
    const summary = await deliver({ clock, store, target: tight, scheduler: new Scheduler({ clock, globalConcurrency: 4 }), instance: 'auto-tight', calendars: mailboxes, reinventory: true });
    expect(summary.totals).toMatchObject({ failed: 0 });
    expect(tight.batchModes.filter((m) => m === 'parallel').length).toBeGreaterThan(0);
    await store.close();
  });

  it('hands the target the ChangeKey each update and delete was planned with (the one the last write answered)', async () => {
    /** Answers every write with a fresh ChangeKey and records the one each update and delete arrived with. */
    class VersionedTarget extends MemoryTarget {
      readonly received: Array<[string, string | null]> = [];
      private version = 0;
      override async create(desired: DesiredEvent, transactionId: string): Promise<ItemRef> {
        return { ...(await super.create(desired, transactionId)), changeKey: `ck${++this.version}` };
      }
      override async update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
        this.received.push(['update', item.changeKey]);
        return { ...(await super.update(desired, item)), changeKey: `ck${++this.version}` };
      }
      override async remove(calendar: string, item: ItemRef): Promise<void> {
        this.received.push(['delete', item.changeKey]);
        await super.remove(calendar, item);
      }
    }
    const store = new SqliteStore(':memory:');
    const target = new VersionedTarget();
    const options = { store, target, scheduler: new Scheduler(), instance: 'changekey-test', calendars: [A] };
    await store.applyDesiredOps([farFuture(1), farFuture(2)].map((d) => ({ kind: 'upsert' as const, desired: d })));
    await deliver(options);
    const keyOf = async (key: string) => (await store.deliveredFor(A)).find((row) => row.key === key)!.changeKey;
    const first = await keyOf(farFuture(1).key);
    const second = await keyOf(farFuture(2).key);
    expect([first, second].sort()).toEqual(['ck1', 'ck2']);
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'e1', at(day(61), 'Renamed')) }, { kind: 'remove', calendar: A, key: farFuture(2).key }]);
    await deliver(options);
    expect(target.received.sort()).toEqual([
      ['delete', second],
      ['update', first],
    ]);
    // The update's answer is what the next write of that event will carry.
    expect(await keyOf(farFuture(1).key)).toBe('ck3');
    await store.close();
  });
});

describe('mailboxes waiting for a worker', () => {
  it('are not taken for changed by the watch while they wait: one worker delivers them one after the other, in order', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const target = new MemoryTarget();
    target.delayMs = 10;
    const calendars = ['a@contoso.edu', 'b@contoso.edu', 'c@contoso.edu', 'd@contoso.edu'];
    await store.applyDesiredOps(calendars.flatMap((calendar) => [0, 1, 2].map((n) => ({ kind: 'upsert' as const, desired: desired(calendar, `e${n}`, at(day(60 + n), `${calendar} ${n}`)) }))));
    // Each request, by mailbox: its listing (a mailbox never delivered is listed first) and its creates.
    const written: string[] = [];
    const [list, create] = [target.listOwned.bind(target), target.create.bind(target)];
    target.listOwned = (calendar, cursor) => {
      written.push(`list ${calendar}`);
      return list(calendar, cursor);
    };
    target.create = (event, transactionId) => {
      written.push(event.event.calendar);
      return create(event, transactionId);
    };
    // The watch looks every 5 ms: each mailbox takes ~4 × 10 ms (its listing, three creates), so it looks many times
    // while the later ones wait. They were waiting with this desired version from the start: nothing changed.
    const summary = await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 'delivery-test', calendars, parallelMailboxes: 1, watchIntervalMs: 5 });
    expect(summary.mailboxes.map((m) => m.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(written).toEqual(calendars.flatMap((calendar) => [`list ${calendar}`, calendar, calendar, calendar]));
    await store.close();
  });
});
