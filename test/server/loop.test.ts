// The serve loop: delivers changes as they come (from this process or another), honours leases, backs off from
// failing mailboxes without giving up on them, pauses on fatal errors, and stops cleanly.
import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock, type Clock } from '../../src/model/clock.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { DeliveryLoop } from '../../src/engine/loop.ts';
import type { DeliveryScheduler, MailboxRoutes } from '../../src/engine/routes.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { TargetError } from '../../src/targets/target.ts';
import { MemoryTarget } from '../support/memory-target.ts';
import { desired } from './helpers.ts';

const A = 'a@contoso.edu';
const B = 'b@contoso.edu';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const loops: DeliveryLoop[] = [];
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.stop(0);
});

function setup(options: { pollMs?: number; retryMinMs?: number; parallelMailboxes?: number; mailboxConcurrency?: number; delayMs?: number; clock?: Clock } = {}) {
  const { clock } = options;
  const store = new SqliteStore(':memory:', { clock });
  const target = new MemoryTarget();
  target.delayMs = options.delayMs ?? 0;
  const delivered: Array<{ calendar: string; status: string; latencyMs: number | null }> = [];
  const loop = new DeliveryLoop({
    store,
    target,
    scheduler: new Scheduler({
      clock,
      baseBackoffMs: 5,
      maxBackoffMs: 20,
      retryMinMs: options.retryMinMs ?? 100,
      busyRetryMs: 50,
      ...(options.mailboxConcurrency ? { mailboxConcurrency: options.mailboxConcurrency } : {}),
    }),
    instance: 'loop-test',
    maxAttempts: 3,
    parallelMailboxes: options.parallelMailboxes ?? 8,
    pollMs: options.pollMs ?? 50,
    workerId: 'test-host:1',
    clock,
    onDelivered: (summary, latencyMs) => delivered.push({ calendar: summary.calendar, status: summary.failed ? 'failed' : summary.status, latencyMs }),
  });
  loops.push(loop);
  return { store, target, loop, delivered };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

describe('delivery loop', () => {
  it('delivers a change as soon as it is nudged, and one made by another process at the next poll', async () => {
    const { store, target, loop, delivered } = setup({ pollMs: 100 });
    loop.start();
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'one', { subject: 'One' }) }]);
    loop.nudge(A);
    await until(() => target.subjects(A).length === 1);
    expect(target.subjects(A)).toEqual(['One']);
    await until(() => delivered.length === 1);
    expect(delivered[0]).toMatchObject({ calendar: A, status: 'ok' });
    expect(delivered[0]!.latencyMs).toBeGreaterThanOrEqual(0);

    // Written without a nudge (another process): found by polling.
    await store.applyDesiredOps([
      { kind: 'upsert', desired: desired(B, 'two', { subject: 'Two' }) },
      { kind: 'upsert', desired: desired(A, 'one', { subject: 'One, changed' }) },
    ]);
    await until(() => target.subjects(B).length === 1 && target.subjects(A)[0] === 'One, changed');
    await loop.idle();
    expect(await store.changedMailboxes()).toEqual([]);
    expect(loop.status()).toMatchObject({ state: 'running', fatal: null, delivering: [] });
  });

  it('leaves a mailbox another worker holds, and delivers it once the lease is released', async () => {
    const { store, target, loop, delivered } = setup();
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'one') }]);
    expect(await store.claimMailbox(A, 'other-host:99', 60_000)).not.toBeNull();
    loop.start();
    await until(() => delivered.length > 0 || target.requests > 0, 300).catch(() => {});
    expect(target.requests).toBe(0);
    await sleep(150);
    expect(target.subjects(A)).toEqual([]);
    await store.releaseMailbox(A, 'other-host:99');
    await until(() => target.subjects(A).length === 1);
  });

  it('backs off from a mailbox that answers 403 while the others go on, and tries it again later', async () => {
    const { store, target, loop } = setup({ retryMinMs: 150 });
    target.forbidden.add(A);
    await store.applyDesiredOps([
      { kind: 'upsert', desired: desired(A, 'one') },
      { kind: 'upsert', desired: desired(B, 'two') },
    ]);
    loop.start();
    await until(() => target.subjects(B).length === 1);
    await until(async () => (await store.mailbox(A))?.state === 'failed');
    const requestsAfterFailure = target.requests;
    await sleep(60);
    expect(target.requests).toBe(requestsAfterFailure); // backing off, not hammering
    target.forbidden.delete(A); // the administrator fixed the access policy
    await until(() => target.subjects(A).length === 1, 3_000);
    expect((await store.mailbox(A))!.state).toBe('ok');
  });

  it('deliverNow forgets a failed mailbox\'s back-off and delivers it at once (the dashboard\'s "deliver now"), with the remedy recorded meanwhile', async () => {
    const { store, target, loop } = setup({ retryMinMs: 600_000 });
    target.forbidden.add(A);
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'one') }]);
    loop.start();
    await until(async () => (await store.mailbox(A))?.state === 'failed');
    expect((await store.mailbox(A))!.lastErrorCode).toBe('ErrorAccessDenied');
    target.forbidden.delete(A); // the administrator fixed the access policy; the back-off has ten minutes to go
    await sleep(150);
    expect(target.subjects(A)).toEqual([]);
    loop.deliverNow(A);
    await until(() => target.subjects(A).length === 1, 3_000);
    await until(async () => (await store.mailbox(A))?.state === 'ok');
    expect((await store.mailbox(A))!.lastErrorRemedy).toBeNull();
  });

  it('deliverNow of an up-to-date mailbox sends nothing', async () => {
    const { store, target, loop } = setup();
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'one') }]);
    loop.start();
    await until(() => target.subjects(A).length === 1);
    await loop.idle();
    const requests = target.requests;
    loop.deliverNow(A);
    await sleep(100);
    await loop.idle();
    expect(target.requests).toBe(requests);
  });

  it('pauses everything on a fatal error and resumes after it', async () => {
    const { store, target, loop } = setup({ retryMinMs: 200 });
    target.fatal = new TargetError('fatal', 'AADSTS7000215', 'Invalid client secret provided.', { remedy: 'fix the secret' });
    await store.applyDesiredOps([
      { kind: 'upsert', desired: desired(A, 'one') },
      { kind: 'upsert', desired: desired(B, 'two') },
    ]);
    loop.start();
    await until(() => loop.status().fatal !== null);
    expect(loop.status()).toMatchObject({ state: 'paused', fatal: { code: 'AADSTS7000215', remedy: 'fix the secret' } });
    const requests = target.requests;
    await sleep(80);
    expect(target.requests).toBe(requests);
    target.fatal = null;
    await until(() => target.subjects(A).length === 1 && target.subjects(B).length === 1, 3_000);
    await until(() => loop.status().fatal === null);
  });

  it('with a scheduler per target: a fatal error of one target pauses only that target while the others deliver, and a failed mailbox waits out its back-off in every one', async () => {
    const store = new SqliteStore(':memory:');
    const one = new MemoryTarget({ instance: 'loop-test' });
    const two = new MemoryTarget({ instance: 'loop-test' });
    const scheduler = () => new Scheduler({ baseBackoffMs: 5, maxBackoffMs: 20, retryMinMs: 1_000, busyRetryMs: 50 });
    const targets = { one: { target: one, scheduler: scheduler() }, two: { target: two, scheduler: scheduler() } };
    const routesOver = <S extends DeliveryScheduler>(entries: Record<'one' | 'two', { target: MemoryTarget; scheduler: S }>): MailboxRoutes<S> => ({
      route: async (calendar) => {
        const name = calendar === A ? 'one' : 'two';
        return { name, ...entries[name], reason: 'test', lookedUp: false };
      },
      schedulers: () => [entries.one.scheduler, entries.two.scheduler],
      through: (view) => routesOver({ one: { target: one, scheduler: view(entries.one.scheduler, 'one') }, two: { target: two, scheduler: view(entries.two.scheduler, 'two') } }),
    });
    const delivered: Array<{ calendar: string; status: string; target?: string }> = [];
    const loop = new DeliveryLoop({
      store,
      routes: routesOver(targets),
      instance: 'loop-test',
      maxAttempts: 3,
      parallelMailboxes: 8,
      pollMs: 50,
      workerId: 'test-host:1',
      onDelivered: (summary) => delivered.push({ calendar: summary.calendar, status: summary.status, ...(summary.target ? { target: summary.target } : {}) }),
    });
    loops.push(loop);
    one.fatal = new TargetError('fatal', 'AADSTS7000215', 'Invalid client secret provided.', { remedy: 'fix the secret' });
    // Both in the first delivery call: the other target's mailbox is not stopped by the first one's failure.
    await store.applyDesiredOps([
      { kind: 'upsert', desired: desired(A, 'one') },
      { kind: 'upsert', desired: desired(B, 'two') },
    ]);
    loop.start();
    await until(() => loop.status().fatal !== null && two.subjects(B).length === 1);
    expect(targets.one.scheduler.pausedAll()).toMatchObject({ error: { code: 'AADSTS7000215' } });
    expect(targets.two.scheduler.pausedAll()).toBeNull();
    expect(loop.status()).toMatchObject({ state: 'running', fatal: { code: 'AADSTS7000215', remedy: 'fix the secret' } });
    await until(() => delivered.some((d) => d.calendar === B));
    expect(delivered.find((d) => d.calendar === B)).toEqual({ calendar: B, status: 'ok', target: 'two' });
    expect((await store.mailbox(B))!.state).toBe('ok');
    // During the pause: a change for the other target is delivered at once, the paused target's mailbox waits.
    const sent = one.requests;
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(B, 'two', { subject: 'During the pause' }) }]);
    loop.nudge(B);
    await until(() => two.subjects(B).includes('During the pause'));
    expect(targets.one.scheduler.pausedAll()).not.toBeNull();
    expect(one.requests).toBe(sent);
    one.fatal = null;
    await until(() => one.subjects(A).length === 1, 3_000);
    await until(() => loop.status().fatal === null);
    // A mailbox that fails through one target is deferred in every scheduler (the loop learns its target only by
    // delivering it), and cleared in every one once delivered.
    one.forbidden.add(A);
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'one', { subject: 'Changed' }) }]);
    loop.nudge(A);
    await until(async () => (await store.mailbox(A))?.state === 'failed');
    await until(() => targets.one.scheduler.mailboxDeferredMs(A) > 0 && targets.two.scheduler.mailboxDeferredMs(A) > 0);
    one.forbidden.delete(A);
    loop.deliverNow(A);
    await until(() => one.subjects(A).includes('Changed'), 3_000);
    await until(() => targets.one.scheduler.mailboxDeferredMs(A) === 0 && targets.two.scheduler.mailboxDeferredMs(A) === 0);
  });

  it('pauses on a fatal error for elapsed time — a clock that stands still does not hold it — and gives the retry time by that clock', async () => {
    const clock = fixedClock('2031-03-30T01:30:00Z');
    const { store, target, loop } = setup({ retryMinMs: 400, clock });
    target.fatal = new TargetError('fatal', 'AADSTS7000215', 'Invalid client secret provided.', { remedy: 'fix the secret' });
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'one') }]);
    loop.start();
    await until(() => loop.status().fatal !== null);
    const retryAt = Date.parse(loop.status().fatal!.retryAt);
    expect(retryAt).toBeGreaterThan(clock.now());
    expect(retryAt).toBeLessThanOrEqual(clock.now() + 400);
    target.fatal = null;
    const paused = Date.now();
    await until(() => target.subjects(A).length === 1, 3_000);
    // Delivered after the pause, the clock never moved.
    expect(Date.now() - paused).toBeGreaterThanOrEqual(250);
    expect(new Date(clock.now()).toISOString()).toBe('2031-03-30T01:30:00.000Z');
    await until(() => loop.status().fatal === null);
  });

  it('stops within the grace period: in-flight requests finish, the rest waits for the next start, no duplicates', async () => {
    const { store, target, loop } = setup();
    target.delayMs = 30;
    await store.applyDesiredOps(Array.from({ length: 40 }, (_, n) => ({ kind: 'upsert' as const, desired: desired(A, `e${n}`, { subject: `E${n}` }) })));
    loop.start();
    await until(() => target.subjects(A).length >= 2);
    const started = Date.now();
    await loop.stop(50);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(loop.status().state).toBe('stopped');
    const partial = target.subjects(A).length;
    expect(partial).toBeLessThan(40);
    expect(await store.leaseHolder(A)).toBeNull();
    expect((await store.changedMailboxes()).map((m) => m.calendar)).toEqual([A]);

    // The next serve picks it up and converges without duplicates.
    const next = new DeliveryLoop({ store, target, scheduler: new Scheduler(), instance: 'loop-test', maxAttempts: 3, parallelMailboxes: 8, pollMs: 50, workerId: 'test-host:2' });
    loops.push(next);
    target.delayMs = 0;
    next.start();
    await until(() => target.subjects(A).length === 40);
    await next.idle();
    expect(target.subjects(A)).toEqual(Array.from({ length: 40 }, (_, n) => `E${n}`).sort());
  });

  it('delivers an interactive change at once while a bulk load fills every mailbox slot, and frees slots per mailbox', async () => {
    const { store, target, loop } = setup({ delayMs: 10, mailboxConcurrency: 1, parallelMailboxes: 2, pollMs: 1_000 });
    // A bulk load: 8 mailboxes × 30 events, 2 mailboxes at a time (~300 ms each).
    const bulk = Array.from({ length: 8 }, (_, m) => `bulk${m}@contoso.edu`);
    await store.applyDesiredOps(bulk.flatMap((calendar) => Array.from({ length: 30 }, (_, n) => ({ kind: 'upsert' as const, desired: desired(calendar, `e${n}`) }))));
    loop.start();
    for (const calendar of bulk) loop.nudge(calendar, 30);
    await until(() => target.subjects(bulk[0]!).length > 0);
    // Someone moves one event in a mailbox the bulk load has not reached.
    const urgent = 'urgent@contoso.edu';
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(urgent, 'moved', { subject: 'Moved' }) }]);
    const submitted = Date.now();
    loop.nudge(urgent, 1);
    await until(() => target.subjects(urgent).length === 1, 2_000);
    const latency = Date.now() - submitted;
    const bulkLeft = (await store.changedMailboxes()).filter((m) => m.calendar.startsWith('bulk')).length;
    expect(bulkLeft).toBeGreaterThan(2);
    expect(latency).toBeLessThan(500);
    await loop.idle(10_000);
    for (const calendar of bulk) expect(target.subjects(calendar)).toHaveLength(30);
  });

  it('re-plans a mailbox it is delivering when another process changes it (seen by polling), ahead of its backlog', async () => {
    const { store, target, loop } = setup({ delayMs: 15, mailboxConcurrency: 1, parallelMailboxes: 4, pollMs: 50 });
    // One a day from 2027-01-01: e59 starts last, so it is the delivery's last create.
    const dayOf = (n: number) => new Date(Date.UTC(2027, 0, 1) + n * 86_400_000).toISOString().slice(0, 10);
    await store.applyDesiredOps(Array.from({ length: 60 }, (_, n) => ({ kind: 'upsert' as const, desired: desired(A, `e${n}`, { subject: `E${n}`, start: `${dayOf(n)}T09:00`, end: `${dayOf(n)}T10:00` }) })));
    loop.start();
    loop.nudge(A, 60);
    await until(() => target.subjects(A).length >= 5);
    // Another process (no nudge) renames the event the delivery would send last.
    await store.applyDesiredOps([{ kind: 'upsert', desired: desired(A, 'e59', { subject: 'Renamed elsewhere', start: '2026-11-30T09:00', end: '2026-11-30T10:00' }) }]);
    await until(() => target.subjects(A).includes('Renamed elsewhere'), 3_000);
    expect(target.subjects(A).length).toBeLessThan(45);
    await loop.idle(10_000);
    expect(target.subjects(A)).toHaveLength(60);
    expect(target.subjects(A)).not.toContain('E59');
    expect(target.writes).toHaveLength(60);
  });
});
