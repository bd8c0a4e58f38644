// What one mailbox's delivery holds while it runs (issue #14, memory): the content of each planned create/update is
// kept until its operation is answered, failed or superseded, and then let go — a mailbox of thousands of events
// queues them all at once, and holding every one to the end of the mailbox kept them all alive.
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import type { PendingOp } from '../../src/model/rows.ts';
import { MailboxWork } from '../../src/engine/mailbox-work.ts';
import { replanMailbox } from '../../src/engine/replanning.ts';
import { DeliveryRun } from '../../src/engine/run.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { sendGroup } from '../../src/engine/sending.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { MemoryTarget } from '../support/memory-target.ts';
import { desired } from '../server/helpers.ts';

const A = 'a@contoso.edu';
const clock = fixedClock('2026-01-15T12:00:00Z');
const lecture = (n: number, subject = `Lecture ${n}`) => desired(A, `e${n}`, { start: '2026-03-10T09:00', end: '2026-03-10T10:00', timeZone: 'Europe/Amsterdam', subject });

/** The engine's mailbox work, driven step by step: plan, send, settle. */
class Work extends MailboxWork {
  replan(): Promise<void> {
    return replanMailbox(this);
  }
  send(ops: PendingOp[]): void {
    for (const group of this.groups(ops)) this.track(sendGroup(this, group, 1));
  }
}

async function setUp(events: number) {
  const store = new SqliteStore(':memory:', { clock });
  const target = new MemoryTarget({ instance: 'memory-test' }).enableBatch(5);
  await store.applyDesiredOps(Array.from({ length: events }, (_, n) => ({ kind: 'upsert' as const, desired: lecture(n) })));
  // One request at a time for the mailbox, each taking a while: the plan is queued while it is looked at.
  target.delayMs = 20;
  const scheduler = new Scheduler({ clock, mailboxConcurrency: 1 });
  const run = new DeliveryRun({ clock, store, target, scheduler, instance: 'memory-test', calendars: [A] });
  return { store, target, work: new Work(run, A, { name: 'default', target, scheduler, reason: 'the only target', lookedUp: false }) };
}

describe("a mailbox's delivery lets go of what it sent", () => {
  it('keeps the content of each queued create until it is answered, then none', async () => {
    const { store, target, work } = await setUp(20);
    await work.replan();
    expect(work.contentOf.size).toBe(20);
    // What is kept is the event as planned, and what is sent is exactly that.
    const [first] = [...work.contentOf.values()];
    expect(JSON.parse(first!.eventJson)).toMatchObject({ calendar: A, subject: expect.stringMatching(/^Lecture /) });
    await work.settle();
    expect(target.subjects(A)).toHaveLength(20);
    expect(work.contentOf.size).toBe(0);
    expect(work.queued.size + work.inFlight.size).toBe(0);
    await store.close();
  });

  it('lets go of superseded operations at once', async () => {
    const { store, target, work } = await setUp(10);
    await work.replan();
    // Before anything is answered: e9 changes (its queued create is superseded by a new one), e8 is removed.
    await store.applyDesiredOps([
      { kind: 'upsert', desired: lecture(9, 'Changed') },
      { kind: 'remove', calendar: A, key: lecture(8).key },
    ]);
    await work.replan();
    expect(work.contentOf.size).toBe(work.queued.size + work.inFlight.size);
    await work.settle();
    expect(target.subjects(A)).toContain('Changed');
    expect(target.subjects(A)).toHaveLength(9);
    expect(work.contentOf.size).toBe(0);

    await store.close();
  });
});
