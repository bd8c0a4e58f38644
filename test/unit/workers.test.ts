// Several workers on one store, as the engine sees it: Outlook's per-mailbox budget is not reset by a lease
// handover (the request ledger), and a worker that lost a mailbox's lease stops and records nothing.
import { describe, expect, it } from 'vitest';
import { deliver } from '../../src/engine/delivery.ts';
import { LeaseKeeper } from '../../src/engine/lease.ts';
import type { MailboxRoute, MailboxRoutes } from '../../src/engine/routes.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { TargetError } from '../../src/targets/target.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { MemoryTarget } from '../support/memory-target.ts';
import { desired } from '../server/helpers.ts';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { hostname, tmpdir } from 'node:os';

const A = 'a@contoso.edu';
const clock = fixedClock('2026-01-15T12:00:00Z');
const lecture = (n: number) => desired(A, `e${n}`, { start: '2026-03-02T09:00', end: '2026-03-02T10:00', timeZone: 'Europe/Amsterdam', subject: `Lecture ${n}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the scheduler and what other workers spent', () => {
  it('counts requests other processes sent to a mailbox against its budget, replacing what it was told before', async () => {
    const scheduler = new Scheduler({ mailboxBudget: { requests: 5, windowMs: 300 } });
    scheduler.spentElsewhere('m', [{ agoMs: 0, cost: 5 }]);
    const t0 = performance.now();
    await scheduler.submit('m', async () => {});
    // The window was full: the request waited until the others' spending rolled out of it.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    // Told again (a later claim): the new account replaces the old one, it is not added to it.
    scheduler.spentElsewhere('m', [{ agoMs: 250, cost: 4 }]);
    scheduler.spentElsewhere('m', [{ agoMs: 250, cost: 4 }]);
    const t1 = performance.now();
    await scheduler.submit('m', async () => {});
    expect(performance.now() - t1).toBeLessThan(200);
  });
});

describe('delivery by one of several workers', () => {
  it('charges the ledger before each request, and waits for the budget another worker used up', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-workers-')), 's.sqlite'), { clock });
    await store.applyDesiredOps([1, 2, 3].map((n) => ({ kind: 'upsert' as const, desired: lecture(n) })));
    const target = new MemoryTarget();
    // This worker delivers: a listing and 3 creates, each charged to it.
    const summary = await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 't', calendars: [A], workerId: 'w1' });
    expect(summary.mailboxes[0]).toMatchObject({ status: 'ok', created: 3 });
    const charged = await store.requestsSpentByOthers(A, 'w2', 600_000);
    expect(charged.reduce((sum, s) => sum + s.cost, 0)).toBe(target.requests);

    // Another worker takes the mailbox over with the budget (here 4 per 10 minutes) spent: it sends nothing.
    await store.applyDesiredOps([{ kind: 'upsert', desired: lecture(4) }]);
    const before = target.requests;
    const scheduler = new Scheduler({ clock, mailboxBudget: { requests: 4, windowMs: 600_000 } });
    const second = deliver({ clock, store, target, scheduler, instance: 't', calendars: [A], workerId: 'w2' });
    await sleep(400);
    expect(target.requests).toBe(before);
    scheduler.abandonAll(new (await import('../../src/targets/target.ts')).TargetError('fatal', 'ShuttingDown', 'test over'));
    await second;
    await store.close();
  });

  it('counts what its previous process spent against the budget when a worker is restarted under the same --worker-id', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-workers-')), 's.sqlite'), { clock });
    await store.applyDesiredOps([1, 2, 3].map((n) => ({ kind: 'upsert' as const, desired: lecture(n) })));
    const target = new MemoryTarget();
    // The first process of worker "fixed": a listing and 3 creates, then it stops.
    await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 't', calendars: [A], workerId: 'fixed' });
    expect(target.requests).toBe(4);
    // Restarted (a new scheduler, which knows nothing of those 4) with the budget (here 4 per 10 minutes) spent.
    await store.applyDesiredOps([{ kind: 'upsert', desired: lecture(4) }]);
    const scheduler = new Scheduler({ clock, mailboxBudget: { requests: 4, windowMs: 600_000 } });
    const second = deliver({ clock, store, target, scheduler, instance: 't', calendars: [A], workerId: 'fixed' });
    await sleep(400);
    expect(target.requests).toBe(4);
    scheduler.abandonAll(new TargetError('fatal', 'ShuttingDown', 'test over'));
    await second;
    await store.close();
  });

  it('does not count twice what its own scheduler sent, across the deliver() calls that share it (the serve loop)', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-workers-')), 's.sqlite'), { clock });
    await store.applyDesiredOps([1, 2, 3].map((n) => ({ kind: 'upsert' as const, desired: lecture(n) })));
    const target = new MemoryTarget();
    // 5 per 10 minutes: the listing and 3 creates, then room for exactly one more.
    const scheduler = new Scheduler({ clock, mailboxBudget: { requests: 5, windowMs: 600_000 } });
    const calls = { clock, store, target, scheduler, instance: 't', calendars: [A], workerId: 'w1', ledgerId: 'w1#serve' };
    await deliver(calls);
    expect(target.requests).toBe(4);
    await store.applyDesiredOps([{ kind: 'upsert', desired: lecture(4) }]);
    const summary = await deliver(calls);
    expect(summary.mailboxes[0]).toMatchObject({ status: 'ok', created: 1 });
    expect(target.requests).toBe(5);
    await store.close();
  });

  it('does not take for its own a lease held by a replica with the same host name and pid (another container)', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-workers-')), 's.sqlite'), { clock });
    await store.applyDesiredOps([{ kind: 'upsert', desired: lecture(1) }]);
    // What such a replica's default worker id was: host:pid, the same as this process's.
    await store.claimMailbox(A, `${hostname()}:${process.pid}`, 60_000);
    const target = new MemoryTarget();
    const summary = await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 't', calendars: [A] });
    expect(summary.mailboxes[0]).toMatchObject({ status: 'busy' });
    expect(target.requests).toBe(0);
    await store.close();
  });

  it("charges every request to the ledger: the scheduler's resend of a throttled request and a batch's throttled items sent again included", async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-workers-')), 's.sqlite'), { clock });
    await store.applyDesiredOps([1, 2, 3].map((n) => ({ kind: 'upsert' as const, desired: lecture(n) })));
    const target = new MemoryTarget({ instance: 't' }).enableBatch(3);
    const throttled = () => new TargetError('transient', 'ApplicationThrottled', 'Too many requests', { status: 429, retryAfterMs: 20 });
    // What reached the target, in operations (a batch is charged its number of items), listing pages included.
    let sent = 0;
    const listOwned = target.listOwned.bind(target);
    target.listOwned = (calendar, cursor) => {
      sent++;
      return listOwned(calendar, cursor);
    };
    const run = target.batch!.run;
    let calls = 0;
    target.batch = {
      ...target.batch!,
      run: async (calendar, ops, mode) => {
        sent += ops.length;
        calls++;
        // 1st: the first item done, the others throttled inside the batch; 2nd (those two again): throttled as a
        // whole, so the scheduler sends it again; 3rd: done.
        if (calls === 1) return [...(await run(calendar, ops.slice(0, 1), mode)), ...ops.slice(1).map(() => ({ ok: false as const, error: throttled() }))];
        if (calls === 2) throw throttled();
        return run(calendar, ops, mode);
      },
    };
    const summary = await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 't', calendars: [A], workerId: 'w1' });
    expect(summary.mailboxes[0]).toMatchObject({ status: 'ok', created: 3 });
    expect(calls).toBe(3);
    expect(target.subjects(A)).toHaveLength(3);
    const charged = await store.requestsSpentByOthers(A, 'w2', 600_000);
    expect(charged.reduce((sum, s) => sum + s.cost, 0)).toBe(sent);
    expect(sent).toBe(1 + 3 + 2 + 2);
    await store.close();
  });

  it('stops a mailbox whose lease another worker took over, sending and recording nothing more under it, and reports it busy', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-workers-')), 's.sqlite'), { clock });
    await store.applyDesiredOps(Array.from({ length: 40 }, (_, n) => ({ kind: 'upsert' as const, desired: lecture(n) })));
    const target = new MemoryTarget();
    await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 't', calendars: [A], workerId: 'w1' });
    // Every event changes: 40 updates (an update is not marked before it is sent, as a create is: only the
    // heartbeat can stop them).
    await store.applyDesiredOps(Array.from({ length: 40 }, (_, n) => ({ kind: 'upsert' as const, desired: desired(A, `e${n}`, { start: '2026-03-02T09:00', end: '2026-03-02T10:00', timeZone: 'Europe/Amsterdam', subject: `Moved ${n}` }) })));
    target.delayMs = 25;
    target.writes.length = 0;
    const scheduler = new Scheduler({ clock, mailboxConcurrency: 1 });
    // A short lease with its heartbeat every 50 ms; the other worker takes the mailbox over once a few are sent.
    const leases = new LeaseKeeper(store, 200);
    const delivery = deliver({ clock, store, target, scheduler, instance: 't', calendars: [A], workerId: 'w1', leases });
    while (target.writes.length < 3) await sleep(5);
    const version = (await store.mailbox(A))!.deliveredVersion;
    expect(await store.takeOverMailbox(A, 'w1', 'w2', 60_000)).not.toBeNull();
    const summary = await delivery;
    expect(summary.mailboxes[0]).toMatchObject({ status: 'busy' });
    const sent = target.writes.length;
    // Stopped within a heartbeat or two (50 ms each, 25 ms per request), not after the 40.
    expect(sent).toBeLessThan(15);
    expect(await store.mailbox(A)).toMatchObject({ state: 'ok', deliveredVersion: version });
    expect(await store.leaseHolder(A)).toBe('w2');
    await sleep(100);
    expect(target.writes.length).toBe(sent);
    await store.close();
  });

  it('composes with routing: the lease holds across the route, the heartbeat stops the routed target, and a lost lease is no reason to look the mailbox up again', async () => {
    const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-workers-')), 's.sqlite'), { clock });
    await store.applyDesiredOps(Array.from({ length: 40 }, (_, n) => ({ kind: 'upsert' as const, desired: lecture(n) })));
    const online = new MemoryTarget();
    const scheduler = new Scheduler({ clock, mailboxConcurrency: 1 });
    const asked: boolean[] = [];
    const route: MailboxRoute = { name: 'online', target: online, scheduler, reason: 'looked up: Exchange Online', lookedUp: true };
    const routes: MailboxRoutes = {
      route: async (_calendar, options = {}) => {
        asked.push(options.fresh ?? false);
        return route;
      },
      schedulers: () => [scheduler],
      through: () => routes as never,
    };
    online.delayMs = 25;
    const leases = new LeaseKeeper(store, 200);
    const delivery = deliver({ clock, store, routes, instance: 't', calendars: [A], workerId: 'w1', leases });
    while (online.writes.length < 3) await sleep(5);
    expect(await store.mailbox(A)).toMatchObject({ target: 'online' });
    expect(await store.takeOverMailbox(A, 'w1', 'w2', 60_000)).not.toBeNull();
    const summary = await delivery;
    expect(summary.mailboxes[0]).toMatchObject({ status: 'busy', target: 'online' });
    expect(online.writes.length).toBeLessThan(15);
    // Asked once: a lost lease is not the target refusing the mailbox (which would ask again, fresh).
    expect(asked).toEqual([false]);
    expect(await store.mailbox(A)).toMatchObject({ state: 'pending', lastErrorCode: null });
    expect(await store.leaseHolder(A)).toBe('w2');
    await store.close();
  });
});
