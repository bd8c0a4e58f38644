// serve's watched EWS mailboxes with streaming notifications (target.streaming.watchMailboxes): a student's delete
// of a delivered lecture is heard at once and asks the watcher for a round of that mailbox — no watch cadence runs
// here, only the first round that armed the stream — and the round hands it to delivery to restore. Only as many
// mailboxes as watchMailboxes allows are streamed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliver } from '../../src/engine/delivery.ts';
import { WatchedMailboxStreams } from '../../src/engine/ews-streaming.ts';
import { singleRoute } from '../../src/engine/routes.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { MailboxWatcher } from '../../src/engine/watcher.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { eventKey, validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { graphIdFromEws } from '../../src/sandbox/ews/items.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import { INSTANCE, lecture, NOW } from './harness.ts';

const STUDENTS = ['s0001@contoso.edu', 's0002@contoso.edu'];
const clock = fixedClock(NOW);
let sandbox: SandboxInternals;

beforeAll(async () => {
  sandbox = await startSandbox({ clock });
});
afterAll(async () => {
  await sandbox?.close();
});

async function until(seen: () => boolean, what: string, ms: number): Promise<void> {
  const started = performance.now();
  while (!seen()) {
    if (performance.now() - started > ms) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('watched EWS mailboxes with streaming notifications', () => {
  it('a student’s delete asks for a round of that mailbox at once, which restores the lecture; one mailbox streamed of two', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const target = new EwsTarget({
      instance: INSTANCE,
      url: sandbox.ewsUrl,
      caPem: sandbox.caPem,
      access: 'impersonation',
      auth: 'basic',
      accounts: [{ username: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD }],
      serverVersion: 'Exchange2013_SP1',
      allDayTimeZone: 'Europe/Amsterdam',
      streaming: { watchMailboxes: 1 },
    });
    const scheduler = new Scheduler({ clock, baseBackoffMs: 10, maxBackoffMs: 100 });
    const routes = singleRoute(target, scheduler);
    const events: DesiredEvent[] = STUDENTS.map((calendar) => {
      const result = validateEvent(lecture(calendar, 1));
      if (!result.ok) throw new Error('bad lecture');
      return result.desired;
    });
    await store.applyDesired({ calendars: STUDENTS, events, held: [] });
    await deliver({ store, routes, instance: INSTANCE, calendars: STUDENTS, clock });

    const restore: string[][] = [];
    const streams = new WatchedMailboxStreams(routes, (calendars) => void watcher.watchSoon(calendars));
    const watcher: MailboxWatcher = new MailboxWatcher({
      store,
      routes,
      // Never started: the only rounds are the first one below and those the stream asks for.
      intervalMs: 3_600_000,
      reconcileMs: 86_400_000,
      window: { pastDays: 1, futureDays: 400 },
      policyOf: () => ({ edited: 'restore', deleted: 'restore' }),
      deliverSoon: (calendars) => restore.push(calendars),
      clock,
      upkeep: (calendars) => streams.upkeep(calendars),
    });
    const before = sandbox.ews.streaming.stats();
    await watcher.tick();
    await until(() => sandbox.ews.streaming.stats().open > before.open, 'streaming connection', 10_000);
    // watchMailboxes 1: the first mailbox in address order only.
    expect(sandbox.ews.streaming.stats().subscriptions - before.subscriptions).toBe(1);
    await watcher.idle();
    const rounds = watcher.rounds;
    restore.length = 0;

    const row = (await store.deliveredFor(STUDENTS[0]!)).find((r) => r.key === eventKey(STUDENTS[0]!, 'lecture-1'))!;
    sandbox.outlook(STUDENTS[0]!).deleteEvent(graphIdFromEws(row.itemId));
    await until(() => restore.some((calendars) => calendars.includes(STUDENTS[0]!)), 'round handing the deleted lecture to delivery', 5_000);
    expect(watcher.rounds).toBeGreaterThan(rounds);

    // The other student is not streamed: the same delete waits for the next watch round.
    restore.length = 0;
    const other = (await store.deliveredFor(STUDENTS[1]!)).find((r) => r.key === eventKey(STUDENTS[1]!, 'lecture-1'))!;
    sandbox.outlook(STUDENTS[1]!).deleteEvent(graphIdFromEws(other.itemId));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(restore.flat()).not.toContain(STUDENTS[1]!);

    await watcher.stop();
    await streams.stop();
    await target.close();
    await store.close();
  }, 60_000);
});
