// A create still on its way when its worker loses the mailbox's lease (cut off from the database, or taken over):
// the next holder must not list and plan the mailbox before that create can have landed, or it creates the event a
// second time — on EWS (no transactionId of its own across processes) always, on Graph when the event changed
// meanwhile (its transactionId covers the content). Run against both stores: SQLite (the store's Clock) and
// PostgreSQL (the database's clock).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver } from '../../src/engine/delivery.ts';
import { LeaseKeeper } from '../../src/engine/lease.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { PostgresStore } from '../../src/store/postgres.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/store.ts';
import { TargetError } from '../../src/targets/target.ts';
import { desired } from '../server/helpers.ts';
import { MemoryCalendars, MemoryTarget } from '../support/memory-target.ts';
import { startPostgres, type PostgresCluster } from '../support/postgres.ts';

const A = 'a@contoso.edu';
const clock = fixedClock('2026-01-15T12:00:00Z');
const lecture = (subject: string) => desired(A, 'e1', { start: '2026-03-02T09:00', end: '2026-03-02T10:00', timeZone: 'Europe/Amsterdam', subject });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: PostgresCluster;
beforeAll(async () => {
  cluster = await startPostgres();
}, 120_000);
afterAll(() => cluster?.stop());

const stores: Array<[string, () => Promise<Store>]> = [
  ['SQLite', async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), 'calpush-inflight-')), 's.sqlite'), { clock })],
  ['PostgreSQL', () => PostgresStore.open({ url: cluster.url, schema: cluster.schema('inflight'), poolSize: 4 })],
];

/**
 * Worker w1 sends the create of e1; its answer takes `landsAfterMs` (the request is on its way, as on a slow or
 * partitioned network). Meanwhile w2 takes the lease over (`change`: the source changed the event first) and
 * delivers the mailbox through its own connection to the same calendars. Returns both summaries and what the
 * calendar holds after both finished.
 */
async function takeOverMidCreate(store: Store, options: { ewsLike: boolean; change: boolean }) {
  await store.applyDesiredOps([{ kind: 'upsert', desired: lecture('Lecture 1') }]);
  const calendars = new MemoryCalendars();
  const target = (delayMs: number) => {
    const made = new MemoryTarget({ calendars });
    made.delayMs = delayMs;
    made.requestTimeoutMs = 400;
    made.honoursTransactionIds = !options.ewsLike;
    return made;
  };
  const slow = target(300);
  const fast = target(0);
  // w1's heartbeat every 50 ms: it sees the takeover and stops; its create's answer is refused (fencing).
  const first = deliver({ clock, store, target: slow, scheduler: new Scheduler({ clock }), instance: 'test', calendars: [A], workerId: 'w1', leases: new LeaseKeeper(store, 200) });
  // The listing, then the create: once the create has reached the target, the lease passes to w2.
  while (slow.requests < 2) await sleep(5);
  expect(await store.takeOverMailbox(A, 'w1', 'w2', 60_000)).not.toBeNull();
  if (options.change) await store.applyDesiredOps([{ kind: 'upsert', desired: lecture('Lecture 1, moved') }]);
  const started = performance.now();
  const second = await deliver({ clock, store, target: fast, scheduler: new Scheduler({ clock }), instance: 'test', calendars: [A], workerId: 'w2' });
  const waitedMs = performance.now() - started;
  const firstSummary = await first;
  return { first: firstSummary.mailboxes[0]!, second: second.mailboxes[0]!, subjects: fast.subjects(A), waitedMs };
}

describe.each(stores)('a create in flight when its worker loses the lease (%s)', (_name, open) => {
  it('is not created again by the next holder on a target without transactionIds (EWS): it waits, lists, adopts', async () => {
    const store = await open();
    const { first, second, subjects, waitedMs } = await takeOverMidCreate(store, { ewsLike: true, change: false });
    expect(first).toMatchObject({ status: 'busy' });
    expect(second).toMatchObject({ status: 'ok', created: 0 });
    expect(subjects).toEqual(['Lecture 1']);
    // The window of a create sent with a 400 ms request timeout: 2 × 400 + 400 (engine/in-flight.ts).
    expect(waitedMs).toBeGreaterThanOrEqual(800);
    expect(await store.pendingOps(A)).toEqual([]);
    await store.close();
  });

  it('is not created again when the event changed meanwhile (a new transactionId on Graph): adopted, then updated', async () => {
    const store = await open();
    const { second, subjects } = await takeOverMidCreate(store, { ewsLike: false, change: true });
    expect(second).toMatchObject({ status: 'ok', created: 0, updated: 1 });
    expect(subjects).toEqual(['Lecture 1, moved']);
    await store.close();
  });

  const refusals: Array<[string, () => TargetError]> = [
    ['refused for the item (400)', () => new TargetError('item', 'ErrorInvalidRequest', 'refused', { status: 400 })],
    ['refused for the whole mailbox (403)', () => new TargetError('mailbox', 'ErrorAccessDenied', 'access denied', { status: 403 })],
    ['never sent (no token: a revoked consent)', () => Object.assign(new TargetError('mailbox', 'DelegatedAccessLost', 'consent revoked'), { unsent: true })],
  ];
  it.each(refusals)('does not hold the next delivery for a create %s: nothing of it can land', async (_how, refusal) => {
    const store = await open();
    await store.applyDesiredOps([{ kind: 'upsert', desired: lecture('Lecture 1') }]);
    const target = new MemoryTarget();
    // A minute's request timeout: a create whose outcome were unknown would hold the mailbox for 2 × 60 s + 10 s.
    target.requestTimeoutMs = 60_000;
    const create = target.create.bind(target);
    target.create = async () => Promise.reject(refusal());
    await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 'test', calendars: [A], workerId: 'w1' });
    expect(await store.createsLandWithin(A)).toBe(0);
    target.create = create;
    const started = performance.now();
    const again = await deliver({ clock, store, target, scheduler: new Scheduler({ clock }), instance: 'test', calendars: [A], workerId: 'w2' });
    expect(again.mailboxes[0]).toMatchObject({ status: 'ok', created: 1 });
    expect(performance.now() - started).toBeLessThan(10_000);
    await store.close();
  });
});
