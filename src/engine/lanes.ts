// The scheduler's lanes (engine/scheduler.ts): one level of limits each — everything calpush sends (global), a
// service account that serves many mailboxes (account: a target declares it, targets/target.ts ServiceLane), and one
// mailbox. A request starts only when every lane it passes through has room, and holds a place in each until it
// settles.
//
// Every lane keeps the same three things:
// - concurrency, adaptive: halved when the server throttles the lane, grown back by one after 8 × limit successes
//   (additive increase, multiplicative decrease, as TCP does; the mailbox's start is Outlook's 4 per app and mailbox,
//   https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits);
// - an optional rolling budget: units spent in any window (Outlook's 10,000 requests per 10 minutes per mailbox, an
//   EWS account's items per minute);
// - a pause: nothing starts in the lane before it has passed (Retry-After, BackOffMilliseconds, back-off).
// Times are milliseconds on the monotonic clock (performance.now()): elapsed time, which no fake or stepped wall
// clock can stop or stretch.
import type { LaneLevel } from '../targets/target.ts';

export interface Budget {
  /** Units (requests, items) the lane may spend in any window of `windowMs`. */
  units: number;
  windowMs: number;
}

export class Lane {
  readonly level: LaneLevel;
  readonly key: string;
  /** Concurrency when nothing throttles the lane. */
  max: number;
  /** Concurrency it may use now: lowered by throttling, regrown by successes. */
  limit: number;
  /** Places held by requests in flight (a parallel batch may hold several of its mailbox's). */
  inFlight = 0;
  budget: Budget | null;
  /** Nothing starts before this. */
  pausedUntil = 0;
  /** Until when it waits out a throttling answer (within pausedUntil): what the dashboard shows. */
  throttledUntil = 0;
  /** Throttling answers of this lane a request may get before one counts as a failed attempt. */
  throttledRetries = 0;
  /** Throttling answers it got. */
  throttles = 0;
  private successes = 0;
  /** Units spent in the budget window: [time, cost, by another process?], oldest first, and their sum. */
  private spent: Array<[number, number, boolean?]> = [];
  private spentTotal = 0;

  constructor(level: LaneLevel, key: string, concurrency: number, budget: Budget | null = null) {
    this.level = level;
    this.key = key;
    this.max = Math.max(1, Math.floor(concurrency));
    this.limit = this.max;
    this.budget = budget;
  }

  /** Whether a request holding `places` may start now as far as concurrency goes (alone, a big one always may). */
  hasRoom(places: number): boolean {
    return this.inFlight === 0 || this.inFlight + places <= this.limit;
  }

  /** When a request costing `cost` may start as far as the pause and the budget go: 0 = now, else a time. */
  readyAt(cost: number, now: number): number {
    let at = this.pausedUntil > now ? this.pausedUntil : 0;
    if (!this.budget) return at;
    const { units, windowMs } = this.budget;
    while (this.spent.length > 0 && this.spent[0]![0] <= now - windowMs) this.spentTotal -= this.spent.shift()![1];
    if (this.spentTotal + cost <= units || this.spent.length === 0) return at;
    // Wait until enough of the window has rolled off for this cost.
    let freed = 0;
    const needed = this.spentTotal + cost - units;
    for (const [time, spent] of this.spent) {
      freed += spent;
      if (freed >= needed) return Math.max(at, time + windowMs);
    }
    return at;
  }

  take(places: number, cost: number, now: number): void {
    this.inFlight += places;
    if (this.budget) {
      this.spent.push([now, cost]);
      this.spentTotal += cost;
    }
  }

  /**
   * What other processes spent in the budget window (the store's request ledger): it counts here as if spent at
   * those times, in place of what was told before. Outlook's budget is per app and mailbox, not per process.
   */
  spentElsewhere(spent: ReadonlyArray<{ at: number; cost: number }>): void {
    if (!this.budget) return;
    this.spent = [...this.spent.filter(([, , elsewhere]) => !elsewhere), ...spent.map(({ at, cost }): [number, number, boolean] => [at, cost, true])];
    this.spent.sort((a, b) => a[0] - b[0]);
    this.spentTotal = this.spent.reduce((sum, [, cost]) => sum + cost, 0);
  }

  release(places: number): void {
    this.inFlight -= places;
  }

  /** A success: after 8 × limit of them in a row, one more place. */
  succeeded(): void {
    if (this.limit >= this.max) return;
    if (++this.successes >= 8 * this.limit) {
      this.limit++;
      this.successes = 0;
    }
  }

  /** The server throttled the lane: half the concurrency, and nothing starts before `until`. */
  throttled(until: number): void {
    this.throttles++;
    this.limit = Math.max(1, Math.floor(this.limit / 2));
    this.successes = 0;
    this.pause(until);
    this.throttledUntil = Math.max(this.throttledUntil, until);
  }

  pause(until: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  /** A target declared the lane again with other limits (a changed config in a long-running serve). */
  reshape(concurrency: number, budget: Budget | null): void {
    const max = Math.max(1, Math.floor(concurrency));
    if (max !== this.max) {
      this.max = max;
      this.limit = Math.min(this.limit, max);
    }
    if (budget?.units !== this.budget?.units || budget?.windowMs !== this.budget?.windowMs) this.budget = budget;
  }
}

/** A binary min-heap. */
export class Heap<T> {
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

/** What a turn queue holds: something with a ticket that is bumped whenever it leaves the queue. */
export interface Turn {
  ticket: number;
}

/**
 * Whose turn it is: urgent entries by their priority (soonest first), then the rest in turn order (a FIFO with a
 * moving head). An entry is valid while its ticket is the one it was queued with; anything else is skipped.
 */
export class TurnQueue<T extends Turn> {
  private fifo: Array<[T, number]> = [];
  private head = 0;
  private readonly urgent = new Heap<[T, number, number]>((a, b) => a[2] < b[2]);
  private readonly valid: (entry: T) => boolean;

  constructor(valid: (entry: T) => boolean) {
    this.valid = valid;
  }

  get empty(): boolean {
    return this.urgent.size === 0 && this.head >= this.fifo.length;
  }

  /** Queues `entry` (urgent: by `priority`, else at the back). */
  push(entry: T, urgent: boolean, priority: number): void {
    if (urgent) this.urgent.push([entry, entry.ticket, priority]);
    else this.fifo.push([entry, entry.ticket]);
  }

  pop(): T | undefined {
    while (this.urgent.size > 0) {
      const [entry, ticket] = this.urgent.pop()!;
      if (entry.ticket === ticket && this.valid(entry)) return entry;
    }
    while (this.head < this.fifo.length) {
      const [entry, ticket] = this.fifo[this.head++]!;
      if (this.head > 4096 && this.head * 2 > this.fifo.length) {
        this.fifo = this.fifo.slice(this.head);
        this.head = 0;
      }
      if (entry.ticket === ticket && this.valid(entry)) return entry;
    }
    return undefined;
  }
}
