import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { TargetError } from '../../src/targets/target.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('scheduler', () => {
  it('never has more than the mailbox limit in flight per mailbox, while mailboxes run side by side', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4, globalConcurrency: 64 });
    const inFlight = new Map<string, number>();
    let maxPerMailbox = 0;
    let maxOverall = 0;
    let overall = 0;
    const job = (mailbox: string) => async () => {
      inFlight.set(mailbox, (inFlight.get(mailbox) ?? 0) + 1);
      overall++;
      maxPerMailbox = Math.max(maxPerMailbox, inFlight.get(mailbox)!);
      maxOverall = Math.max(maxOverall, overall);
      await sleep(5);
      inFlight.set(mailbox, inFlight.get(mailbox)! - 1);
      overall--;
    };
    await Promise.all(['a', 'b', 'c'].flatMap((m) => Array.from({ length: 30 }, () => scheduler.submit(m, job(m)))));
    expect(maxPerMailbox).toBe(4);
    expect(maxOverall).toBe(12);
    expect(scheduler.stats().maxInFlightPerMailbox).toBe(4);
  });

  it('respects the global limit', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4, globalConcurrency: 3 });
    let overall = 0;
    let max = 0;
    await Promise.all(
      ['a', 'b', 'c', 'd'].flatMap((m) =>
        Array.from({ length: 5 }, () =>
          scheduler.submit(m, async () => {
            max = Math.max(max, ++overall);
            await sleep(2);
            overall--;
          }),
        ),
      ),
    );
    expect(max).toBe(3);
  });

  it('honours Retry-After for the throttled mailbox only', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4 });
    const started: Array<[string, number]> = [];
    const t0 = Date.now();
    let throttledOnce = false;
    const throttled = scheduler.submit('slow', async () => {
      started.push(['slow', Date.now() - t0]);
      if (!throttledOnce) {
        throttledOnce = true;
        throw new TargetError('transient', 'ApplicationThrottled', 'over RequestRate', { status: 429, retryAfterMs: 300 });
      }
      return 'done';
    });
    const others = Array.from({ length: 5 }, () => scheduler.submit('fast', async () => started.push(['fast', Date.now() - t0])));
    await Promise.all(others);
    const fastDoneAt = Date.now() - t0;
    expect(await throttled).toBe('done');
    const slowStarts = started.filter(([m]) => m === 'slow').map(([, t]) => t);
    expect(slowStarts).toHaveLength(2);
    expect(slowStarts[1]! - slowStarts[0]!).toBeGreaterThanOrEqual(295);
    expect(fastDoneAt).toBeLessThan(200);
    expect(scheduler.stats().throttled).toBe(1);
  });

  it('tells who waits out a throttling answer now (the dashboard), and not a mailbox backing off after a 500', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4, baseBackoffMs: 300 });
    let first = true;
    const throttled = scheduler.submit('slow', async () => {
      if (first) {
        first = false;
        throw new TargetError('transient', 'ApplicationThrottled', 'over RequestRate', { status: 429, retryAfterMs: 400 });
      }
      return 'done';
    });
    let failedOnce = false;
    const backingOff = scheduler.submit('flaky', async () => {
      if (!failedOnce) {
        failedOnce = true;
        throw new TargetError('transient', 'InternalServerError', 'HTTP 500', { status: 500 });
      }
      return 'done';
    });
    await sleep(50);
    const now = scheduler.throttledMailboxes();
    expect(now.map((t) => t.mailbox)).toEqual(['slow']);
    expect(now[0]!.resumesInMs).toBeGreaterThan(200);
    expect(now[0]!.resumesInMs).toBeLessThanOrEqual(400);
    expect(now[0]!.concurrency).toBe(2);
    // Items of a batch answer one by one: a 429 among them is the mailbox's throttling, a 503 with Retry-After a pause.
    const items = (...answers: Array<TargetError | null>) => ({ answers: () => answers });
    await scheduler.submit('batchy', async () => 'ok', items(null, new TargetError('transient', 'ApplicationThrottled', 'item throttled', { status: 429, retryAfterMs: 1_000 })));
    expect(scheduler.throttledMailboxes().map((t) => t.mailbox)).toEqual(['batchy', 'slow']);
    await scheduler.submit('quiet', async () => 'ok', items(new TargetError('transient', 'ServiceUnavailable', 'item unavailable', { status: 503, retryAfterMs: 1_000 }), null));
    expect(scheduler.throttledMailboxes().map((t) => t.mailbox)).not.toContain('quiet');
    await Promise.all([throttled, backingOff]);
    expect(scheduler.throttledMailboxes().map((t) => t.mailbox)).toEqual(['batchy']);
  });

  it('pauses the whole mailbox on Retry-After, not only the request that got it', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 1 });
    const t0 = Date.now();
    const times: number[] = [];
    let first = true;
    await Promise.all([
      scheduler.submit('m', async () => {
        if (first) {
          first = false;
          throw new TargetError('transient', 'TooManyRequests', 'slow down', { status: 429, retryAfterMs: 250 });
        }
      }),
      scheduler.submit('m', async () => void times.push(Date.now() - t0)),
    ]);
    expect(times[0]).toBeGreaterThanOrEqual(245);
  });

  it('keeps to the rolling request budget per mailbox', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4, mailboxBudget: { requests: 5, windowMs: 300 } });
    const t0 = Date.now();
    const times: number[] = [];
    await Promise.all(Array.from({ length: 12 }, () => scheduler.submit('m', async () => void times.push(Date.now() - t0))));
    times.sort((a, b) => a - b);
    // In any 300 ms window at most 5 requests started.
    for (let i = 5; i < times.length; i++) expect(times[i]! - times[i - 5]!).toBeGreaterThanOrEqual(295);
  });

  it('runs the most urgent request of a mailbox first', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 1 });
    const order: number[] = [];
    const blocker = scheduler.submit('m', () => sleep(20));
    const jobs = [500, 100, 300, 200].map((priority) => scheduler.submit('m', async () => void order.push(priority), priority));
    await Promise.all([blocker, ...jobs]);
    expect(order).toEqual([100, 200, 300, 500]);
  });

  it('gives up after maxAttempts transient failures and rejects permanent ones at once', async () => {
    const scheduler = new Scheduler({ maxAttempts: 3, baseBackoffMs: 1 });
    let calls = 0;
    await expect(
      scheduler.submit('m', async () => {
        calls++;
        throw new TargetError('transient', 'ServiceUnavailable', 'busy', { status: 503 });
      }),
    ).rejects.toMatchObject({ code: 'ServiceUnavailable' });
    expect(calls).toBe(3);
    calls = 0;
    await expect(
      scheduler.submit('n', async () => {
        calls++;
        throw new TargetError('mailbox', 'ErrorAccessDenied', 'no');
      }),
    ).rejects.toMatchObject({ code: 'ErrorAccessDenied' });
    expect(calls).toBe(1);
  });

  it('drops the queued work of an abandoned mailbox and keeps serving others', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 1 });
    const denied = new TargetError('mailbox', 'ErrorAccessDenied', 'Access to OData is disabled.');
    let ran = 0;
    const first = scheduler.submit('m', async () => {
      await sleep(10);
      scheduler.abandonMailbox('m', denied);
    });
    const queued = Array.from({ length: 3 }, () => scheduler.submit('m', async () => void ran++));
    const other = scheduler.submit('o', async () => 'fine');
    await first;
    for (const q of queued) await expect(q).rejects.toBe(denied);
    expect(ran).toBe(0);
    expect(await other).toBe('fine');
    await expect(scheduler.submit('m', async () => 1)).rejects.toBe(denied);
  });

  it('runs urgent work before the backlog of every other mailbox', async () => {
    const clock = fixedClock('2026-01-15T02:30:00Z');
    const scheduler = new Scheduler({ clock, globalConcurrency: 1, urgentWithinMs: 48 * 3_600_000 });
    const order: string[] = [];
    const farFuture = clock.now() + 90 * 86_400_000;
    const jobs = [];
    for (const mailbox of ['a', 'b', 'c']) {
      for (let i = 0; i < 5; i++) jobs.push(scheduler.submit(mailbox, async () => { order.push(mailbox); await sleep(2); }, farFuture + i));
    }
    await sleep(3);
    const tomorrow = clock.now() + 86_400_000;
    jobs.push(scheduler.submit('z', async () => void order.push('urgent'), tomorrow));
    await Promise.all(jobs);
    // At most the request already in flight (and the one started as it finished) go before the urgent one.
    expect(order.indexOf('urgent')).toBeLessThanOrEqual(2);
    expect(order.length).toBe(16);
  });

  it('halves a mailbox’s concurrency after a 429 and grows it back after successes', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4 });
    let first = true;
    await scheduler.submit('m', async () => {
      if (first) {
        first = false;
        throw new TargetError('transient', 'ApplicationThrottled', 'MailboxConcurrency', { status: 429, retryAfterMs: 10 });
      }
    });
    expect(scheduler.mailboxLimit('m')).toBe(2);
    let inFlight = 0;
    let max = 0;
    await Promise.all(Array.from({ length: 8 }, () => scheduler.submit('m', async () => { max = Math.max(max, ++inFlight); await sleep(3); inFlight--; })));
    expect(max).toBe(2);
    await Promise.all(Array.from({ length: 40 }, () => scheduler.submit('m', async () => sleep(1))));
    expect(scheduler.mailboxLimit('m')).toBe(4);
  });

  it('charges a batch its number of requests against the budget and its slots against concurrency', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4, mailboxBudget: { requests: 10, windowMs: 300 } });
    const t0 = Date.now();
    const times: number[] = [];
    await Promise.all(Array.from({ length: 4 }, () => scheduler.submit('m', async () => void times.push(Date.now() - t0), { cost: 4 })));
    times.sort((a, b) => a - b);
    // 4 + 4 fit in the window of 10; the third batch of 4 waits for the window to roll.
    expect(times[1]!).toBeLessThan(100);
    expect(times[2]!).toBeGreaterThanOrEqual(295);
    let inFlight = 0;
    let together = false;
    await Promise.all([
      scheduler.submit('p', async () => { inFlight++; await sleep(20); inFlight--; }, { slots: 4 }),
      scheduler.submit('p', async () => { together ||= inFlight > 0; }, { slots: 1 }),
    ]);
    expect(together).toBe(false);
  });

  it('counts the mailboxes with work queued or in flight, down to none when all is done or dropped', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 1 });
    expect(scheduler.activeMailboxes()).toBe(0);
    const gate = Promise.withResolvers<void>();
    const jobs = ['a', 'a', 'b', 'c'].map((m) => scheduler.submit(m, () => gate.promise));
    const dropped = scheduler.submit('c', async () => 1);
    expect(scheduler.activeMailboxes()).toBe(3);
    scheduler.abandonMailbox('c', new TargetError('mailbox', 'ErrorAccessDenied', 'denied'));
    await expect(dropped).rejects.toThrow('denied');
    expect(scheduler.activeMailboxes()).toBe(3);
    gate.resolve();
    await Promise.all(jobs);
    expect(scheduler.activeMailboxes()).toBe(0);
    expect(scheduler.globalConcurrency).toBe(64);
  });
});
