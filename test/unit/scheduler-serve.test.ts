// calpush serve's waits, kept by the scheduler (src/engine/scheduler.ts, src/engine/deferrals.ts): when a mailbox
// may be tried again after a failed or busy delivery, and the pause of everything after a failure no mailbox can get
// past. Elapsed time: a clock that stands still changes nothing.
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { TargetError } from '../../src/targets/target.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What is left of a wait that was `ms` a moment ago: at most `ms`, and not much less. */
const about = (ms: number) => expect.toSatisfy((left: number) => left <= ms && left > ms - 50, `about ${ms} ms`);

describe('a mailbox’s delivery tried again', () => {
  it('after min · 2^(n-1) for n failures in a row, at most max; a delivery (or an operator) clears it', () => {
    const scheduler = new Scheduler({ clock: fixedClock('2026-01-15T02:30:00Z'), retryMinMs: 1_000, retryMaxMs: 5_000 });
    const waits: number[] = [];
    for (let n = 0; n < 5; n++) {
      scheduler.deferMailbox('a', 'failed');
      waits.push(scheduler.mailboxDeferredMs('a'));
    }
    expect(waits).toEqual([about(1_000), about(2_000), about(4_000), about(5_000), about(5_000)]);
    expect(scheduler.mailboxDeferredMs('b')).toBe(0);
    scheduler.clearDeferral('a');
    expect(scheduler.mailboxDeferredMs('a')).toBe(0);
    scheduler.deferMailbox('a', 'failed');
    expect(scheduler.mailboxDeferredMs('a')).toEqual(about(1_000));
  });

  it('another process delivering it: the short fixed wait, and its failures are kept', () => {
    const scheduler = new Scheduler({ retryMinMs: 1_000, busyRetryMs: 200 });
    scheduler.deferMailbox('a', 'failed');
    scheduler.deferMailbox('a', 'busy');
    expect(scheduler.mailboxDeferredMs('a')).toEqual(about(200));
    scheduler.deferMailbox('a', 'failed');
    expect(scheduler.mailboxDeferredMs('a')).toEqual(about(2_000));
  });

  it('waits elapsed time', async () => {
    const clock = fixedClock('2031-03-30T01:30:00Z');
    const scheduler = new Scheduler({ clock, retryMinMs: 100 });
    scheduler.deferMailbox('a', 'failed');
    await sleep(110);
    expect(scheduler.mailboxDeferredMs('a')).toBe(0);
  });
});

describe('a failure no mailbox can get past (serve)', () => {
  const fatal = () => new TargetError('fatal', 'invalid_client', 'the secret is wrong');

  it('fails every queued request with it, lets requests in flight finish, and starts nothing before the pause has passed', async () => {
    const scheduler = new Scheduler({ retryMinMs: 250, mailboxConcurrency: 1 });
    const gate = Promise.withResolvers<void>();
    const inFlight = scheduler.submit('a', async () => {
      await gate.promise;
      return 'answered';
    });
    const queued = [scheduler.submit('a', async () => 'sent'), scheduler.submit('b', async () => 'sent', { lane: { key: 'acct', concurrency: 1 } })];
    await sleep(5);
    // b's request went already (nothing held it); a's waits behind the one in flight.
    await expect(queued[1]).resolves.toBe('sent');
    const error = fatal();
    scheduler.pauseAll(error);
    await expect(queued[0]).rejects.toBe(error);
    gate.resolve();
    await expect(inFlight).resolves.toBe('answered');
    expect(scheduler.pausedAll()).toMatchObject({ error, resumesInMs: expect.toSatisfy((ms: number) => ms > 0 && ms <= 250) });
    const t0 = performance.now();
    const after = await scheduler.submit('c', async () => performance.now() - t0);
    expect(after).toBeGreaterThanOrEqual(150);
    expect(scheduler.pausedAll()).toBeNull();
  });

  it('pauses longer each time in a row, until a delivery goes through after the pause', async () => {
    const scheduler = new Scheduler({ retryMinMs: 40, retryMaxMs: 1_000 });
    scheduler.pauseAll(fatal());
    expect(scheduler.pausedAll()!.resumesInMs).toEqual(about(40));
    // Not passed yet: a run that ends meanwhile does not forget the count.
    scheduler.resumedAll();
    scheduler.pauseAll(fatal());
    expect(scheduler.pausedAll()!.resumesInMs).toEqual(about(80));
    await sleep(90);
    expect(scheduler.pausedAll()).toBeNull();
    scheduler.resumedAll();
    scheduler.pauseAll(fatal());
    expect(scheduler.pausedAll()!.resumesInMs).toEqual(about(40));
  });
});
