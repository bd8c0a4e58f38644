// The scheduler: the one place in calpush that owns concurrency.
//
// Every request to a target goes through submit(). Per mailbox it keeps at most `mailboxConcurrency` requests in
// flight and at most `mailboxBudget.requests` in any rolling `mailboxBudget.windowMs` — Outlook's limits per app
// per mailbox are 4 concurrent and 10,000 per 10 minutes (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
// A mailbox that answers 429/503 waits out its own Retry-After while the others go on
// (https://learn.microsoft.com/graph/throttling). Across mailboxes, ready mailboxes take turns (round robin), and
// within a mailbox the most urgent request (lowest priority number, e.g. the soonest start) goes first.
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
}

export const OUTLOOK_LIMITS: SchedulerOptions = {
  globalConcurrency: 64,
  mailboxConcurrency: 4,
  mailboxBudget: { requests: 10_000, windowMs: 600_000 },
  maxAttempts: 8,
  baseBackoffMs: 500,
  maxBackoffMs: 60_000,
};

export interface SchedulerStats {
  started: number;
  retried: number;
  throttled: number;
  maxInFlight: number;
  maxInFlightPerMailbox: number;
}

interface Job {
  mailbox: string;
  priority: number;
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
  pausedUntil = 0;
  /** Send times within the budget window, oldest first. */
  sent: number[] = [];
  abandoned: TargetError | null = null;

  constructor(name: string) {
    this.name = name;
  }

  enqueue(job: Job): void {
    // Sorted insert: lower priority number first, then submission order. Queues per mailbox are short.
    let index = this.queue.length;
    while (index > 0) {
      const before = this.queue[index - 1]!;
      if (before.priority < job.priority || (before.priority === job.priority && before.sequence < job.sequence)) break;
      index--;
    }
    this.queue.splice(index, 0, job);
  }
}

export class Scheduler {
  private readonly options: SchedulerOptions;
  private readonly lanes = new Map<string, MailboxLane>();
  /** Mailboxes with queued work, in turn order. */
  private readonly turn: MailboxLane[] = [];
  private inFlight = 0;
  private sequence = 0;
  private fatal: TargetError | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private readonly statistics: SchedulerStats = { started: 0, retried: 0, throttled: 0, maxInFlight: 0, maxInFlightPerMailbox: 0 };

  constructor(options: Partial<SchedulerOptions> = {}) {
    this.options = { ...OUTLOOK_LIMITS, ...options, mailboxBudget: { ...OUTLOOK_LIMITS.mailboxBudget, ...options.mailboxBudget } };
  }

  stats(): SchedulerStats {
    return { ...this.statistics };
  }

  /** Runs `run` when the mailbox's limits allow it; retries transient failures; rejects with the final error. */
  submit<T>(mailbox: string, run: () => Promise<T>, priority = 0): Promise<T> {
    const lane = this.lane(mailbox);
    if (this.fatal) lane.abandoned ??= this.fatal;
    if (lane.abandoned) return Promise.reject(lane.abandoned);
    return new Promise<T>((resolve, reject) => {
      const job: Job = { mailbox, priority, sequence: this.sequence++, attempts: 0, run, resolve: resolve as (v: unknown) => void, reject };
      this.enqueue(lane, job);
      this.dispatch();
    });
  }

  /**
   * Stops a mailbox for this scheduler's lifetime: its queued and future requests fail with `error`. Used when the
   * mailbox answered a permanent error (403/404): no point, and no good citizenship, in sending the rest.
   */
  abandonMailbox(mailbox: string, error: TargetError): void {
    const lane = this.lane(mailbox);
    lane.abandoned = error;
    for (const job of lane.queue.splice(0)) job.reject(error);
  }

  /** Stops every mailbox: for failures that no mailbox can get past (bad credentials, unreachable endpoint). */
  abandonAll(error: TargetError): void {
    for (const mailbox of this.lanes.keys()) this.abandonMailbox(mailbox, error);
    this.fatal = error;
  }

  private lane(mailbox: string): MailboxLane {
    let lane = this.lanes.get(mailbox);
    if (!lane) {
      lane = new MailboxLane(mailbox);
      this.lanes.set(mailbox, lane);
    }
    return lane;
  }

  private enqueue(lane: MailboxLane, job: Job): void {
    if (lane.queue.length === 0 && !this.turn.includes(lane)) this.turn.push(lane);
    lane.enqueue(job);
  }

  /** When the lane may send next (0 = now), or Infinity when only a finishing request can free it. */
  private readyAt(lane: MailboxLane, now: number): number {
    if (lane.inFlight >= this.options.mailboxConcurrency) return Infinity;
    let at = lane.pausedUntil > now ? lane.pausedUntil : 0;
    const { requests, windowMs } = this.options.mailboxBudget;
    while (lane.sent.length > 0 && lane.sent[0]! <= now - windowMs) lane.sent.shift();
    if (lane.sent.length >= requests) at = Math.max(at, lane.sent[lane.sent.length - requests]! + windowMs);
    return at;
  }

  private dispatch(): void {
    const now = Date.now();
    let earliest = Infinity;
    let progressed = true;
    while (progressed && this.inFlight < this.options.globalConcurrency) {
      progressed = false;
      for (let i = 0; i < this.turn.length && this.inFlight < this.options.globalConcurrency; ) {
        const lane = this.turn[i]!;
        if (lane.queue.length === 0) {
          this.turn.splice(i, 1);
          continue;
        }
        const at = this.readyAt(lane, now);
        if (at > now) {
          earliest = Math.min(earliest, at);
          i++;
          continue;
        }
        this.start(lane, lane.queue.shift()!, now);
        progressed = true;
        // Round robin: the lane that just sent goes to the back of the turn order.
        this.turn.splice(i, 1);
        if (lane.queue.length > 0) this.turn.push(lane);
      }
    }
    this.wakeAt(earliest);
  }

  private wakeAt(at: number): void {
    if (at === Infinity || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.dispatch();
    }, Math.max(0, at - Date.now()));
  }

  private start(lane: MailboxLane, job: Job, now: number): void {
    lane.inFlight++;
    lane.sent.push(now);
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
        this.finish(lane);
        job.resolve(value);
      },
      (error: unknown) => {
        this.finish(lane);
        this.failed(lane, job, error);
      },
    );
  }

  private finish(lane: MailboxLane): void {
    lane.inFlight--;
    this.inFlight--;
    // Defer so a burst of completions dispatches once.
    queueMicrotask(() => this.dispatch());
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
    if (error.status === 429) this.statistics.throttled++;
    const backoff = Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** (job.attempts - 1));
    const delay = error.retryAfterMs ?? backoff;
    // Retry-After is about the mailbox (app + mailbox limits), so the whole lane waits, not just this request.
    lane.pausedUntil = Math.max(lane.pausedUntil, Date.now() + delay);
    this.enqueue(lane, job);
    this.dispatch();
  }
}
