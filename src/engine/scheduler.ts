// The scheduler: the one place in calpush that owns concurrency.
//
// Every request to a target goes through submit(). Per mailbox it keeps at most `mailboxConcurrency` requests in
// flight and spends at most `mailboxBudget.requests` in any rolling `mailboxBudget.windowMs` — Outlook's limits
// per app per mailbox are 4 concurrent and 10,000 per 10 minutes
// (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits). A request may stand for several
// (a JSON $batch of 20 costs 20 against the budget: "each request inside it is throttled on its own",
// https://learn.microsoft.com/graph/json-batching) and hold several concurrency slots (a parallel batch runs up to
// 4 of its items at once).
//
// A mailbox that answers 429/503 waits out its own Retry-After while the others go on
// (https://learn.microsoft.com/graph/throttling), and its concurrency is halved, growing back by one after a run
// of successes (additive increase, multiplicative decrease). Ready mailboxes take turns; a request on an event
// that starts soon (within `urgentWithinMs`) goes before every non-urgent one, whichever mailbox it is for, and
// within a mailbox the soonest start goes first.
//
// Two kinds of time: what time it is (is this event's start within `urgentWithinMs`?) comes from the injected
// Clock, so tests can run at a fixed moment; how long to wait (Retry-After, back-off, the budget window) is elapsed
// time on the monotonic clock (performance.now()), which a fixed or fake clock cannot stop and a wall-clock step
// (NTP, a changed time zone) cannot stretch or cut short. The timers are real setTimeout.
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../model/clock.ts';
import { TargetError } from '../targets/target.ts';

export interface SchedulerOptions {
  globalConcurrency: number;
  mailboxConcurrency: number;
  mailboxBudget: { requests: number; windowMs: number };
  /** Transient failures of one request before it is given up. */
  maxAttempts: number;
  /** Back-off when a transient failure carries no Retry-After: base · 2^(attempt-1), capped. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Work on events starting sooner than this from now is urgent. */
  urgentWithinMs: number;
}

export const OUTLOOK_LIMITS: SchedulerOptions = {
  globalConcurrency: 64,
  mailboxConcurrency: 4,
  mailboxBudget: { requests: 10_000, windowMs: 600_000 },
  maxAttempts: 8,
  baseBackoffMs: 500,
  maxBackoffMs: 60_000,
  urgentWithinMs: 48 * 3_600_000,
};

/** The limits, and the Clock that says what time it is (default: the system clock). */
export interface SchedulerSetup extends Partial<SchedulerOptions> {
  clock?: Clock;
}

/** Milliseconds on the monotonic clock: what every wait is measured in. */
const elapsed = (): number => performance.now();

export interface SchedulerStats {
  started: number;
  retried: number;
  throttled: number;
  maxInFlight: number;
  maxInFlightPerMailbox: number;
}

export interface SubmitOptions {
  /** Lower runs first; delivery passes the event's start (ms since epoch). */
  priority?: number;
  /** What the request costs against the mailbox's rolling budget (a batch: its number of items). */
  cost?: number;
  /** Concurrency slots it holds while in flight (a parallel batch: up to 4). */
  slots?: number;
}

interface Job {
  priority: number;
  cost: number;
  slots: number;
  sequence: number;
  attempts: number;
  run: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

class MailboxLane {
  readonly name: string;
  queue: Job[] = [];
  inFlight = 0;
  /** Slots it may use now: lowered by 429s, regrown by successes. */
  limit: number;
  successesSinceChange = 0;
  pausedUntil = 0;
  /** Until when it waits out a throttling answer's Retry-After (monotonic time; within pausedUntil). */
  throttledUntil = 0;
  /** Requests spent in the budget window: [time, cost, by another process?], oldest first, and their sum. */
  spent: Array<[number, number, boolean?]> = [];
  spentTotal = 0;
  abandoned: TargetError | null = null;
  /** Counted among the scheduler's active mailboxes (work queued or in flight). */
  active = false;
  /** Where the lane stands: idle (nothing queued or waiting for a slot), ready (in a ready queue), waiting (timer). */
  state: 'idle' | 'ready' | 'waiting' = 'idle';
  /** Bumped whenever the lane leaves a ready queue, so stale heap entries are skipped. */
  ticket = 0;

  constructor(name: string, limit: number) {
    this.name = name;
    this.limit = limit;
  }

  enqueue(job: Job): void {
    // Sorted insert from the back: delivery submits in start order, so this is usually O(1).
    let index = this.queue.length;
    while (index > 0) {
      const before = this.queue[index - 1]!;
      if (before.priority < job.priority || (before.priority === job.priority && before.sequence < job.sequence)) break;
      index--;
    }
    this.queue.splice(index, 0, job);
  }
}

/** A binary min-heap. */
class Heap<T> {
  private readonly items: T[] = [];
  private readonly less: (a: T, b: T) => boolean;
  constructor(less: (a: T, b: T) => boolean) {
    this.less = less;
  }
  get size(): number {
    return this.items.length;
  }
  peek(): T | undefined {
    return this.items[0];
  }
  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }
  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < items.length && this.less(items[left]!, items[smallest]!)) smallest = left;
        if (right < items.length && this.less(items[right]!, items[smallest]!)) smallest = right;
        if (smallest === i) break;
        [items[i], items[smallest]] = [items[smallest]!, items[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

export class Scheduler {
  private readonly options: SchedulerOptions;
  private readonly clock: Clock;
  private readonly lanes = new Map<string, MailboxLane>();
  /** Ready lanes whose next job is not urgent, in turn order (a FIFO with a moving head). */
  private readyFifo: Array<[MailboxLane, number]> = [];
  private readyHead = 0;
  /** Ready lanes whose next job is urgent, soonest first. */
  private readonly readyUrgent = new Heap<[MailboxLane, number, number]>((a, b) => a[2] < b[2]);
  /** Lanes waiting for a pause or the budget to pass, earliest first (monotonic time). */
  private readonly waiting = new Heap<[MailboxLane, number]>((a, b) => a[1] < b[1]);
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private inFlight = 0;
  private activeLanes = 0;
  private sequence = 0;
  private fatal: TargetError | null = null;
  private dispatching = false;
  private readonly statistics: SchedulerStats = { started: 0, retried: 0, throttled: 0, maxInFlight: 0, maxInFlightPerMailbox: 0 };

  constructor(setup: SchedulerSetup = {}) {
    const { clock = systemClock, ...options } = setup;
    this.clock = clock;
    this.options = { ...OUTLOOK_LIMITS, ...options, mailboxBudget: { ...OUTLOOK_LIMITS.mailboxBudget, ...options.mailboxBudget } };
  }

  stats(): SchedulerStats {
    return { ...this.statistics };
  }

  /** Requests in flight across all mailboxes, at most. */
  get globalConcurrency(): number {
    return this.options.globalConcurrency;
  }

  /** Mailboxes with work queued or in flight now. */
  activeMailboxes(): number {
    return this.activeLanes;
  }

  /** Concurrency the mailbox may use now (lowered by throttling, regrown by successes). */
  mailboxLimit(mailbox: string): number {
    return this.lanes.get(mailbox)?.limit ?? this.options.mailboxConcurrency;
  }

  /**
   * Mailboxes waiting out a throttling answer (429, or a Retry-After inside a batch) now: how long until they may
   * send again and the concurrency they are down to. Read-only, for the dashboard.
   */
  throttledMailboxes(): Array<{ mailbox: string; resumesInMs: number; concurrency: number }> {
    const now = elapsed();
    const throttled: Array<{ mailbox: string; resumesInMs: number; concurrency: number }> = [];
    for (const lane of this.lanes.values()) {
      if (lane.throttledUntil > now && !lane.abandoned) throttled.push({ mailbox: lane.name, resumesInMs: Math.ceil(lane.throttledUntil - now), concurrency: lane.limit });
    }
    return throttled.sort((a, b) => b.resumesInMs - a.resumesInMs);
  }

  /** Runs `run` when the mailbox's limits allow it; retries transient failures; rejects with the final error. */
  submit<T>(mailbox: string, run: () => Promise<T>, options: SubmitOptions | number = {}): Promise<T> {
    const { priority = 0, cost = 1, slots = 1 } = typeof options === 'number' ? { priority: options } : options;
    const lane = this.lane(mailbox);
    if (this.fatal) lane.abandoned ??= this.fatal;
    if (lane.abandoned) return Promise.reject(lane.abandoned);
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        priority,
        cost: Math.max(1, cost),
        slots: Math.max(1, Math.min(slots, this.options.mailboxConcurrency)),
        sequence: this.sequence++,
        attempts: 0,
        run,
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      lane.enqueue(job);
      this.track(lane);
      // A new, more urgent head may move the lane from the turn order to the urgent queue.
      if (lane.state === 'ready' && lane.queue[0] === job) this.unready(lane);
      this.consider(lane);
      this.dispatch();
    });
  }

  /**
   * Makes the mailbox wait (a Retry-After seen outside submit's own retry, e.g. on items inside a batch) and
   * counts it as throttling when `throttled`.
   */
  pause(mailbox: string, ms: number, throttled = true): void {
    const lane = this.lane(mailbox);
    lane.pausedUntil = Math.max(lane.pausedUntil, elapsed() + ms);
    if (throttled) {
      this.throttledOn(lane);
      lane.throttledUntil = lane.pausedUntil;
    }
    if (lane.state === 'ready') this.unready(lane);
    this.consider(lane);
  }

  /**
   * What other processes sent to the mailbox within the budget window (the store's request ledger, read when this
   * process takes the mailbox's lease): it counts against the budget here as if sent `agoMs` ago, in place of what
   * was told before. Outlook's 10,000 per 10 minutes are per app and mailbox, not per process.
   */
  spentElsewhere(mailbox: string, spent: Array<{ agoMs: number; cost: number }>): void {
    const lane = this.lane(mailbox);
    const now = elapsed();
    lane.spent = [...lane.spent.filter(([, , elsewhere]) => !elsewhere), ...spent.map(({ agoMs, cost }): [number, number, boolean] => [now - agoMs, cost, true])];
    lane.spent.sort((a, b) => a[0] - b[0]);
    lane.spentTotal = lane.spent.reduce((sum, [, cost]) => sum + cost, 0);
    if (lane.state === 'ready') this.unready(lane);
    this.consider(lane);
    this.dispatch();
  }

  /** A request for the mailbox succeeded outside submit's own bookkeeping (e.g. each item of a batch). */
  succeeded(mailbox: string): void {
    this.grow(this.lane(mailbox));
  }

  /**
   * Stops a mailbox for this scheduler's lifetime: its queued and future requests fail with `error`. Used when the
   * mailbox answered a permanent error (403/404): no point, and no good citizenship, in sending the rest.
   */
  abandonMailbox(mailbox: string, error: TargetError): void {
    const lane = this.lane(mailbox);
    lane.abandoned = error;
    if (lane.state === 'ready') this.unready(lane);
    lane.state = 'idle';
    for (const job of lane.queue.splice(0)) job.reject(error);
    this.track(lane);
  }

  /** Stops every mailbox: for failures that no mailbox can get past (bad credentials, unreachable endpoint). */
  abandonAll(error: TargetError): void {
    this.fatal = error;
    for (const mailbox of this.lanes.keys()) this.abandonMailbox(mailbox, error);
  }

  private lane(mailbox: string): MailboxLane {
    let lane = this.lanes.get(mailbox);
    if (!lane) {
      lane = new MailboxLane(mailbox, this.options.mailboxConcurrency);
      this.lanes.set(mailbox, lane);
    }
    return lane;
  }

  /** Keeps the count of active mailboxes in step with the lane. */
  private track(lane: MailboxLane): void {
    const active = lane.queue.length > 0 || lane.inFlight > 0;
    if (active !== lane.active) {
      lane.active = active;
      this.activeLanes += active ? 1 : -1;
    }
  }

  private unready(lane: MailboxLane): void {
    lane.ticket++;
    lane.state = 'idle';
  }

  /** When the lane's next job may start: 0 = now, Infinity = when a slot frees, else a monotonic time. */
  private readyAt(lane: MailboxLane, now: number): number {
    const job = lane.queue[0];
    if (!job) return Infinity;
    if (lane.inFlight > 0 && lane.inFlight + job.slots > lane.limit) return Infinity;
    let at = lane.pausedUntil > now ? lane.pausedUntil : 0;
    const { requests, windowMs } = this.options.mailboxBudget;
    while (lane.spent.length > 0 && lane.spent[0]![0] <= now - windowMs) lane.spentTotal -= lane.spent.shift()![1];
    if (lane.spentTotal + job.cost > requests && lane.spent.length > 0) {
      // Wait until enough of the window has rolled off for this job's cost.
      let freed = 0;
      const needed = lane.spentTotal + job.cost - requests;
      for (const [time, cost] of lane.spent) {
        freed += cost;
        if (freed >= needed) {
          at = Math.max(at, time + windowMs);
          break;
        }
      }
    }
    return at;
  }

  /** Puts an idle lane where it belongs: a ready queue, the waiting heap, or nowhere (no work or no free slot). */
  private consider(lane: MailboxLane): void {
    if (lane.state !== 'idle' || lane.abandoned) return;
    const now = elapsed();
    const at = this.readyAt(lane, now);
    if (at === Infinity) return;
    if (at > now) {
      lane.state = 'waiting';
      this.waiting.push([lane, at]);
      this.wakeAt(at);
      return;
    }
    lane.state = 'ready';
    const head = lane.queue[0]!;
    if (head.priority < this.clock.now() + this.options.urgentWithinMs) this.readyUrgent.push([lane, lane.ticket, head.priority]);
    else this.readyFifo.push([lane, lane.ticket]);
  }

  private nextReady(): MailboxLane | undefined {
    while (this.readyUrgent.size > 0) {
      const [lane, ticket] = this.readyUrgent.pop()!;
      if (lane.ticket === ticket && lane.state === 'ready') return lane;
    }
    while (this.readyHead < this.readyFifo.length) {
      const [lane, ticket] = this.readyFifo[this.readyHead++]!;
      if (this.readyHead > 4096 && this.readyHead * 2 > this.readyFifo.length) {
        this.readyFifo = this.readyFifo.slice(this.readyHead);
        this.readyHead = 0;
      }
      if (lane.ticket === ticket && lane.state === 'ready') return lane;
    }
    return undefined;
  }

  private dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.inFlight < this.options.globalConcurrency) {
        const lane = this.nextReady();
        if (!lane) break;
        this.unready(lane);
        // Still ready? (a pause or budget change may have come since it was queued)
        if (this.readyAt(lane, elapsed()) !== 0) {
          this.consider(lane);
          continue;
        }
        this.start(lane, lane.queue.shift()!);
        // Round robin: back of the line, if it can send more.
        this.consider(lane);
      }
    } finally {
      this.dispatching = false;
    }
  }

  private wakeAt(at: number): void {
    if (at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.wake(), Math.max(0, at - elapsed()));
  }

  private wake(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = elapsed();
    while (this.waiting.size > 0 && this.waiting.peek()![1] <= now) {
      const [lane] = this.waiting.pop()!;
      if (lane.state !== 'waiting') continue;
      lane.state = 'idle';
      this.consider(lane);
    }
    if (this.waiting.size > 0) this.wakeAt(this.waiting.peek()![1]);
    this.dispatch();
  }

  private start(lane: MailboxLane, job: Job): void {
    const now = elapsed();
    lane.inFlight += job.slots;
    lane.spent.push([now, job.cost]);
    lane.spentTotal += job.cost;
    this.inFlight++;
    job.attempts++;
    this.statistics.started++;
    this.statistics.maxInFlight = Math.max(this.statistics.maxInFlight, this.inFlight);
    this.statistics.maxInFlightPerMailbox = Math.max(this.statistics.maxInFlightPerMailbox, lane.inFlight);
    let settled: Promise<unknown>;
    try {
      settled = Promise.resolve(job.run());
    } catch (error) {
      settled = Promise.reject(error);
    }
    settled.then(
      (value) => {
        this.release(lane, job);
        this.grow(lane);
        job.resolve(value);
        this.consider(lane);
        this.dispatch();
      },
      (error: unknown) => {
        this.release(lane, job);
        // The failure (a Retry-After pause) must be in place before the freed slot is offered to the next job.
        this.failed(lane, job, error);
        this.consider(lane);
        this.dispatch();
      },
    );
  }

  private release(lane: MailboxLane, job: Job): void {
    lane.inFlight -= job.slots;
    this.inFlight--;
    this.track(lane);
  }

  private grow(lane: MailboxLane): void {
    if (lane.limit >= this.options.mailboxConcurrency) return;
    if (++lane.successesSinceChange >= 8 * lane.limit) {
      lane.limit++;
      lane.successesSinceChange = 0;
    }
  }

  private throttledOn(lane: MailboxLane): void {
    this.statistics.throttled++;
    lane.limit = Math.max(1, Math.floor(lane.limit / 2));
    lane.successesSinceChange = 0;
  }

  private failed(lane: MailboxLane, job: Job, error: unknown): void {
    if (!(error instanceof TargetError) || error.scope !== 'transient' || job.attempts >= this.options.maxAttempts) {
      job.reject(error);
      return;
    }
    if (lane.abandoned) {
      job.reject(lane.abandoned);
      return;
    }
    this.statistics.retried++;
    if (error.status === 429) this.throttledOn(lane);
    const backoff = Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** (job.attempts - 1));
    const delay = error.retryAfterMs ?? backoff;
    // Retry-After is about the mailbox (app + mailbox limits), so the whole lane waits, not just this request.
    lane.pausedUntil = Math.max(lane.pausedUntil, elapsed() + delay);
    if (error.status === 429) lane.throttledUntil = lane.pausedUntil;
    lane.enqueue(job);
    this.track(lane);
    if (lane.state === 'ready') this.unready(lane);
  }
}
