// The scheduler's lanes (src/engine/scheduler.ts, src/engine/lanes.ts): a service account's lane between everything
// and its mailboxes — its concurrency, budget and throttling shared by every mailbox it serves — throttling at each
// level, the items of a batch throttled one by one, and no request left behind whatever the lanes do.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { TargetError, type LaneLevel, type ServiceLane } from '../../src/targets/target.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const svc = (key: string, concurrency: number, extra: Partial<ServiceLane> = {}): ServiceLane => ({ key, concurrency, ...extra });
const throttling = (level: LaneLevel, retryAfterMs?: number) =>
  new TargetError('transient', 'Busy', `the ${level} is busy`, { throttles: level, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });

/** Counts requests in flight per key while they run. */
function gauge() {
  const current = new Map<string, number>();
  const max = new Map<string, number>();
  return {
    max,
    async hold(keys: string[], ms: number) {
      for (const key of keys) {
        current.set(key, (current.get(key) ?? 0) + 1);
        max.set(key, Math.max(max.get(key) ?? 0, current.get(key)!));
      }
      await sleep(ms);
      for (const key of keys) current.set(key, current.get(key)! - 1);
    },
  };
}

describe('the account lane', () => {
  it('keeps the mailboxes of one account within the account’s concurrency, side by side with another account and with mailboxes of none', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4, globalConcurrency: 64 });
    const g = gauge();
    const jobs: Array<Promise<void>> = [];
    for (let m = 0; m < 6; m++) {
      for (let n = 0; n < 4; n++) {
        jobs.push(scheduler.submit(`a${m}`, () => g.hold(['A', `a${m}`], 5), { lane: svc('A', 3) }));
        jobs.push(scheduler.submit(`b${m}`, () => g.hold(['B', `b${m}`], 5), { lane: svc('B', 2) }));
        jobs.push(scheduler.submit(`c${m}`, () => g.hold(['none'], 5)));
      }
    }
    await Promise.all(jobs);
    expect(g.max.get('A')).toBe(3);
    expect(g.max.get('B')).toBe(2);
    // Mailboxes without an account are held to their own limit only.
    expect(g.max.get('none')).toBeGreaterThan(3);
    expect(scheduler.accountLanes().map((lane) => [lane.key, lane.inFlight])).toEqual([
      ['A', 0],
      ['B', 0],
    ]);
  });

  it('a throttling answer of the account pauses every mailbox it serves, not the others, and halves the account’s concurrency only', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 4 });
    const lane = svc('A', 8);
    const starts = new Map<string, number[]>();
    const record = (key: string) => starts.set(key, [...(starts.get(key) ?? []), now()]);
    let busy = true;
    const t0 = now();
    const first = scheduler.submit(
      'a1',
      async () => {
        record('a1');
        if (busy) {
          busy = false;
          throw throttling('account', 300);
        }
      },
      { lane },
    );
    await sleep(20);
    const sameAccount = scheduler.submit('a2', async () => record('a2'), { lane });
    const otherAccount = scheduler.submit('b1', async () => record('b1'), { lane: svc('B', 8) });
    await Promise.all([first, sameAccount, otherAccount]);
    expect(starts.get('a1')![1]! - t0).toBeGreaterThanOrEqual(295);
    expect(starts.get('a2')![0]! - t0).toBeGreaterThanOrEqual(295);
    expect(starts.get('b1')![0]! - t0).toBeLessThan(200);
    expect(scheduler.accountLanes().find((l) => l.key === 'A')).toMatchObject({ throttled: 1, concurrency: 4, maxConcurrency: 8 });
    expect(scheduler.mailboxLimit('a1')).toBe(4);
    expect(scheduler.throttledMailboxes()).toEqual([]);
    expect(scheduler.stats().throttled).toBe(1);
  });

  it('regrows the account’s concurrency by one after 8 × limit successes', async () => {
    const scheduler = new Scheduler();
    const lane = svc('A', 4);
    let busy = true;
    await scheduler.submit('a1', async () => {
      if (busy) {
        busy = false;
        throw throttling('account', 5);
      }
    }, { lane });
    expect(scheduler.accountLanes()[0]!.concurrency).toBe(2);
    // The retry that went through was the first success; 14 more, in any of the account's mailboxes.
    for (let n = 0; n < 14; n++) await scheduler.submit(`a${n % 5}`, async () => undefined, { lane });
    expect(scheduler.accountLanes()[0]!.concurrency).toBe(2);
    await scheduler.submit('a1', async () => undefined, { lane });
    expect(scheduler.accountLanes()[0]!.concurrency).toBe(3);
  });

  it('spends the account’s budget by items across its mailboxes; another account goes on', async () => {
    const scheduler = new Scheduler();
    const lane = svc('A', 8, { itemsPerMinute: 5 });
    await scheduler.submit('a1', async () => undefined, { lane, cost: 3 });
    await scheduler.submit('a2', async () => undefined, { lane, cost: 2 });
    let started = false;
    const waiting = scheduler.submit('a3', async () => void (started = true), { lane });
    waiting.catch(() => {});
    expect(await scheduler.submit('b1', async () => 'other account', { lane: svc('B', 8, { itemsPerMinute: 5 }), cost: 5 })).toBe('other account');
    await sleep(150);
    expect(started).toBe(false);
    expect(scheduler.accountLanes().find((l) => l.key === 'A')!.resumesInMs).toBe(0);
    scheduler.abandonAll(new TargetError('fatal', 'TestOver', 'the test is over'));
    await expect(waiting).rejects.toThrow('the test is over');
  });

  it('an account throttled without a named wait pauses at least throttledPauseMs (IIS’s 503 in front of EWS)', async () => {
    const scheduler = new Scheduler({ throttledPauseMs: 250 });
    const times: number[] = [];
    await scheduler.submit('a1', async () => {
      times.push(now());
      if (times.length === 1) throw throttling('account');
    }, { lane: svc('A', 2) });
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(245);
  });

  it('tolerates `throttledRetries` throttling answers of the account before one counts as a failed attempt', async () => {
    const scheduler = new Scheduler({ maxAttempts: 1 });
    const lane = svc('A', 2, { throttledRetries: 2 });
    const busyTimes = (times: number) => {
      let calls = 0;
      return async () => {
        if (++calls <= times) throw throttling('account', 5);
        return calls;
      };
    };
    expect(await scheduler.submit('a1', busyTimes(2), { lane })).toBe(3);
    await expect(scheduler.submit('a1', busyTimes(3), { lane })).rejects.toThrow('the account is busy');
    // A mailbox's throttling (Graph's 429) is a failed attempt at once, as before.
    await expect(scheduler.submit('m', busyTimes(1))).rejects.toThrow('the mailbox is busy'.replace('mailbox', 'account'));
    await expect(scheduler.submit('m', async () => Promise.reject(throttling('mailbox', 5)))).rejects.toThrow('the mailbox is busy');
  });

  it('moves a mailbox to the account the target now names, the request in flight released where it started', async () => {
    const scheduler = new Scheduler();
    const g = gauge();
    const inA = scheduler.submit('m', () => g.hold(['A'], 30), { lane: svc('A', 1) });
    await sleep(5);
    const inB = scheduler.submit('m', () => g.hold(['B'], 5), { lane: svc('B', 1) });
    const nextInA = scheduler.submit('n', () => g.hold(['A'], 5), { lane: svc('A', 1) });
    await Promise.all([inA, inB, nextInA]);
    expect(scheduler.accountLanes().map((l) => [l.key, l.inFlight])).toEqual([
      ['A', 0],
      ['B', 0],
    ]);
    expect(g.max.get('A')).toBe(1);
  });
});

describe('the global lane', () => {
  it('a throttling answer for everything pauses every mailbox', async () => {
    const scheduler = new Scheduler();
    const starts: number[] = [];
    const t0 = now();
    let busy = true;
    const first = scheduler.submit('a', async () => {
      if (busy) {
        busy = false;
        throw throttling('global', 250);
      }
    });
    await sleep(10);
    await Promise.all([first, scheduler.submit('b', async () => void starts.push(now() - t0)), scheduler.submit('c', async () => void starts.push(now() - t0), { lane: svc('C', 4) })]);
    for (const start of starts) expect(start).toBeGreaterThanOrEqual(245);
  });
});

describe('items throttled inside a batch', () => {
  it('pause their lane before the next request starts, once per level, and regrow it by their successes', async () => {
    const scheduler = new Scheduler({ mailboxConcurrency: 1 });
    const item429 = () => new TargetError('transient', 'ApplicationThrottled', 'item', { status: 429, retryAfterMs: 300 });
    const t0 = now();
    const batch = scheduler.submit('m', async () => ['ok', 'throttled', 'throttled'], {
      answers: () => [null, item429(), item429()],
    });
    // Queued behind the batch: it starts only after the items' Retry-After.
    const next = scheduler.submit('m', async () => now() - t0);
    expect(await batch).toEqual(['ok', 'throttled', 'throttled']);
    expect(await next).toBeGreaterThanOrEqual(295);
    expect(scheduler.stats().throttled).toBe(1);
    const grown = new Scheduler({ mailboxConcurrency: 4 });
    await grown.submit('m', async () => 'x', { answers: () => [null, item429()] });
    expect(grown.mailboxLimit('m')).toBe(2);
    // 16 successes (8 × 2) since, in items of batches: one more place.
    await grown.submit('m', async () => null, { answers: () => Array.from({ length: 15 }, () => null) });
    expect(grown.mailboxLimit('m')).toBe(2);
    await grown.submit('m', async () => null, { answers: () => [null] });
    expect(grown.mailboxLimit('m')).toBe(3);
  });

  it('an account’s throttling inside a batch (EWS ErrorServerBusy per item) pauses the account', async () => {
    const scheduler = new Scheduler();
    const lane = svc('A', 4);
    const t0 = now();
    await scheduler.submit('a1', async () => 'half done', { lane, answers: () => [null, throttling('account', 250)] });
    expect(await scheduler.submit('a2', async () => now() - t0, { lane })).toBeGreaterThanOrEqual(245);
    expect(scheduler.accountLanes()[0]).toMatchObject({ throttled: 1, concurrency: 2 });
  });

  it('items that failed without a wait named pause nothing', async () => {
    const scheduler = new Scheduler();
    const t0 = now();
    await scheduler.submit('m', async () => 'x', { answers: () => [new TargetError('transient', 'InternalServerError', 'item failed', { status: 500 })] });
    expect(await scheduler.submit('m', async () => now() - t0)).toBeLessThan(100);
    expect(scheduler.stats().throttled).toBe(0);
  });
});

describe('whatever the lanes do', () => {
  it('every request settles, and no lane ever has more in flight than it allows', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          accounts: fc.array(fc.record({ concurrency: fc.integer({ min: 1, max: 3 }), budget: fc.option(fc.integer({ min: 3, max: 6 }), { nil: undefined }) }), { minLength: 1, maxLength: 3 }),
          global: fc.integer({ min: 1, max: 6 }),
          jobs: fc.array(
            fc.record({
              mailbox: fc.integer({ min: 0, max: 7 }),
              account: fc.integer({ min: -1, max: 2 }),
              cost: fc.integer({ min: 1, max: 3 }),
              slots: fc.integer({ min: 1, max: 4 }),
              ms: fc.integer({ min: 0, max: 3 }),
              answer: fc.constantFrom('ok', 'ok', 'ok', 'account', 'mailbox', 'global', 'error', 'abandon', 'items'),
            }),
            { minLength: 1, maxLength: 25 },
          ),
        }),
        async ({ accounts, global, jobs }) => {
          const scheduler = new Scheduler({ globalConcurrency: global, mailboxConcurrency: 4, maxAttempts: 2, baseBackoffMs: 1, throttledPauseMs: 5 });
          const lanes = accounts.map((a, i) => svc(`acc${i}`, a.concurrency, a.budget ? { itemsPerMinute: 1000 * a.budget } : {}));
          const inFlight = new Map<string, number>();
          const problems: string[] = [];
          const enter = (key: string, places: number, limit: number) => {
            inFlight.set(key, (inFlight.get(key) ?? 0) + places);
            if (inFlight.get(key)! > limit && inFlight.get(key)! > places) problems.push(`${key}: ${inFlight.get(key)} in flight > ${limit}`);
          };
          const leave = (key: string, places: number) => inFlight.set(key, inFlight.get(key)! - places);
          const settled = jobs.map((job, n) => {
            const mailbox = `m${job.mailbox}`;
            const lane = job.account >= 0 && job.account < lanes.length ? lanes[job.account]! : null;
            let first = true;
            return scheduler
              .submit(
                mailbox,
                async () => {
                  enter('global', 1, global);
                  enter(mailbox, job.slots, 4);
                  if (lane) enter(lane.key, 1, lane.concurrency);
                  await sleep(job.ms);
                  leave('global', 1);
                  leave(mailbox, job.slots);
                  if (lane) leave(lane.key, 1);
                  if (first && ['account', 'mailbox', 'global'].includes(job.answer)) {
                    first = false;
                    throw throttling(job.answer as LaneLevel, 3);
                  }
                  if (job.answer === 'error') throw new TargetError('transient', 'HTTP500', 'failed', { status: 500 });
                  if (job.answer === 'abandon') scheduler.abandonMailbox(mailbox, new TargetError('mailbox', 'ErrorAccessDenied', `job ${n}: denied`));
                  return n;
                },
                { lane, cost: job.cost, slots: job.slots, ...(job.answer === 'items' ? { answers: () => [null, throttling('account', 2)] } : {}) },
              )
              .then(
                () => 'done',
                (error: unknown) => (error instanceof TargetError ? 'failed' : `unexpected: ${String(error)}`),
              );
          });
          const outcome = await Promise.race([Promise.all(settled), sleep(5_000).then(() => 'stuck')]);
          expect(outcome).not.toBe('stuck');
          expect((outcome as string[]).filter((o) => o.startsWith('unexpected'))).toEqual([]);
          expect(problems).toEqual([]);
          expect(scheduler.activeMailboxes()).toBe(0);
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
