// The scheduler: the one place in calpush that decides when a request is sent, and how long anything waits.
//
// Every request to a target goes through submit(). It passes three lanes (engine/lanes.ts), and starts only when
// each has room:
// - global: at most `globalConcurrency` requests in flight across everything;
// - account (when the target declares one for the calendar, CalendarTarget.laneFor): an EWS service account serves
//   many mailboxes, and Exchange counts and throttles its requests together (EWSMaxConcurrency, the EWS budgets:
//   https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange) — its
//   concurrency and an optional items-per-minute budget;
// - mailbox: `mailboxConcurrency` in flight and `mailboxBudget.requests` per rolling `mailboxBudget.windowMs` —
//   Outlook's limits per app per mailbox are 4 concurrent and 10,000 per 10 minutes
//   (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits). A request may stand for several
//   (a JSON $batch of 20 costs 20 against the budgets: "each request inside it is throttled on its own",
//   https://learn.microsoft.com/graph/json-batching) and hold several of its mailbox's places (a parallel batch runs
//   up to 4 of its items at once).
//
// A throttling answer names its level (TargetError.throttles): that lane waits out the Retry-After (EWS:
// BackOffMilliseconds) while the others go on (https://learn.microsoft.com/graph/throttling), and its concurrency is
// halved, growing back by one after a run of successes. Items throttled inside a batch pause their lane the same
// way before the next request starts (SubmitOptions.answers); delivery sends them again in a request of their own.
// Other transient failures are retried after an exponential back-off. calpush serve's "when to try a mailbox
// again" (a failed or busy delivery) and its pause after a failure no mailbox can get past are kept here too
// (deferMailbox, pauseAll).
//
// Ready mailboxes take turns; a request on an event that starts soon (within `urgentWithinMs`) goes before every
// non-urgent one, whichever mailbox it is for, and within a mailbox the soonest start goes first. Mailboxes waiting
// for their account's room take turns the same way.
//
// Two kinds of time: what time it is (is this event's start within `urgentWithinMs`?) comes from the injected
// Clock, so tests can run at a fixed moment; how long to wait (Retry-After, back-off, the budget windows) is elapsed
// time on the monotonic clock (performance.now()), which a fixed or fake clock cannot stop and a wall-clock step
// (NTP, a changed time zone) cannot stretch or cut short. The timer is a real setTimeout, and there is one.
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../model/clock.ts';
import { TargetError, type LaneLevel, type ServiceLane } from '../targets/target.ts';
import { backoffAfter, Deferrals, SERVE_RETRIES, type RetryPolicy } from './deferrals.ts';
import { Heap, Lane, TurnQueue } from './lanes.ts';

export interface SchedulerOptions extends RetryPolicy {
  globalConcurrency: number;
  mailboxConcurrency: number;
  mailboxBudget: { requests: number; windowMs: number };
  /** Failed attempts of one request before it is given up (throttling answers count as `throttledRetries` says). */
  maxAttempts: number;
  /** Back-off when a transient failure carries no Retry-After: base · 2^(attempt-1), capped. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /**
   * The least wait of an account throttled by an answer that names none (IIS's 503 in front of EWS has no
   * Retry-After; Exchange's own ErrorServerBusy names its BackOffMilliseconds). A mailbox or everything throttled
   * without a named wait backs off as after any transient failure (at least `baseBackoffMs`).
   */
  throttledPauseMs: number;
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
  throttledPauseMs: 5_000,
  urgentWithinMs: 48 * 3_600_000,
  ...SERVE_RETRIES,
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
  /** Throttling answers, at any level (a batch whose items were throttled counts once per level). */
  throttled: number;
  maxInFlight: number;
  maxInFlightPerMailbox: number;
}

/** A lane between everything and the mailboxes, as the dashboard or a benchmark may see it. */
export interface AccountLaneState {
  key: string;
  /** Concurrency it may use now, and when nothing throttles it. */
  concurrency: number;
  maxConcurrency: number;
  inFlight: number;
  /** Throttling answers it got. */
  throttled: number;
  /** How long until it may send again (0: it may). */
  resumesInMs: number;
}

export interface SubmitOptions<T = unknown> {
  /** Lower runs first; delivery passes the event's start (ms since epoch). */
  priority?: number;
  /** What the request costs against the rolling budgets (a batch: its number of items). */
  cost?: number;
  /** Mailbox places it holds while in flight (a parallel batch: up to 4). */
  slots?: number;
  /** The lane between everything and the mailbox that the target declares for the calendar (laneFor). */
  lane?: ServiceLane | null;
  /**
   * The answers inside a result (a batch: one per item; null for an item done). Their successes grow the lanes'
   * concurrency, and their throttling pauses the lanes it names before the next request starts: the items that
   * came back throttled are sent again by the caller, in a request of their own, after that pause.
   */
  answers?: (result: T) => ReadonlyArray<TargetError | null>;
}

interface Job {
  priority: number;
  cost: number;
  slots: number;
  sequence: number;
  /** Failed attempts so far, and throttling answers since the last one that counted as a failed attempt. */
  failures: number;
  freeThrottled: number;
  run: () => Promise<unknown>;
  answers: ((result: unknown) => ReadonlyArray<TargetError | null>) | undefined;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** The account lane the target declared for it (a mailbox may move to another account: each request counts where it was sent). */
  account: AccountLane | null;
}

class MailboxLane extends Lane {
  queue: Job[] = [];
  abandoned: TargetError | null = null;
  /** Counted among the scheduler's active mailboxes (work queued or in flight). */
  active = false;
  /**
   * Where the lane stands: idle (nothing queued, or no free place), ready (in the turn queue), waiting (for a time),
   * parked (on its account, for its room).
   */
  state: 'idle' | 'ready' | 'waiting' | 'parked' = 'idle';
  /** Bumped whenever the lane leaves a queue, so stale entries are skipped. */
  ticket = 0;

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

class AccountLane extends Lane {
  /** Mailboxes whose next request waits for this account's room, in turn order. */
  readonly parked = new TurnQueue<MailboxLane>((lane) => lane.state === 'parked');
  /** When its entry in the waiting heap wakes it (Infinity: none). */
  wakesAt = Infinity;
}

/** What the waiting heap holds: a mailbox waiting for its pause or budget, or an account for its. */
type Waiter = [MailboxLane, number, number] | [AccountLane, number];

export class Scheduler {
  private readonly options: SchedulerOptions;
  private readonly clock: Clock;
  private readonly global: Lane;
  private readonly lanes = new Map<string, MailboxLane>();
  private readonly accounts = new Map<string, AccountLane>();
  private readonly ready = new TurnQueue<MailboxLane>((lane) => lane.state === 'ready');
  /** Lanes waiting for a pause or a budget to pass, earliest first (monotonic time). */
  private readonly waiting = new Heap<Waiter>((a, b) => a[1] < b[1]);
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private activeLanes = 0;
  private sequence = 0;
  private fatal: TargetError | null = null;
  private dispatching = false;
  private readonly deferrals: Deferrals;
  /** serve's pause after a failure no mailbox can get past, and how many came in a row. */
  private paused: { error: TargetError; failures: number } | null = null;
  private readonly statistics: SchedulerStats = { started: 0, retried: 0, throttled: 0, maxInFlight: 0, maxInFlightPerMailbox: 0 };

  constructor(setup: SchedulerSetup = {}) {
    const { clock = systemClock, ...options } = setup;
    this.clock = clock;
    this.options = { ...OUTLOOK_LIMITS, ...options, mailboxBudget: { ...OUTLOOK_LIMITS.mailboxBudget, ...options.mailboxBudget } };
    this.global = new Lane('global', '', this.options.globalConcurrency);
    this.deferrals = new Deferrals(this.options);
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
      if (lane.throttledUntil > now && !lane.abandoned) throttled.push({ mailbox: lane.key, resumesInMs: Math.ceil(lane.throttledUntil - now), concurrency: lane.limit });
    }
    return throttled.sort((a, b) => b.resumesInMs - a.resumesInMs);
  }

  /** The lanes between everything and the mailboxes that targets declared (EWS service accounts). Read-only. */
  accountLanes(): AccountLaneState[] {
    const now = elapsed();
    return [...this.accounts.values()].map((lane) => ({
      key: lane.key,
      concurrency: lane.limit,
      maxConcurrency: lane.max,
      inFlight: lane.inFlight,
      throttled: lane.throttles,
      resumesInMs: Math.max(0, Math.ceil(lane.pausedUntil - now)),
    }));
  }

  /** Runs `run` when its lanes allow it; retries transient failures; rejects with the final error. */
  submit<T>(mailbox: string, run: () => Promise<T>, options: SubmitOptions<T> | number = {}): Promise<T> {
    const { priority = 0, cost = 1, slots = 1, lane: service = null, answers } = typeof options === 'number' ? { priority: options } : options;
    const lane = this.lane(mailbox);
    if (this.fatal) lane.abandoned ??= this.fatal;
    if (lane.abandoned) return Promise.reject(lane.abandoned);
    const account = this.account(service);
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        priority,
        cost: Math.max(1, cost),
        slots: Math.max(1, Math.min(slots, this.options.mailboxConcurrency)),
        sequence: this.sequence++,
        failures: 0,
        freeThrottled: 0,
        run,
        answers: answers as Job['answers'],
        resolve: resolve as (v: unknown) => void,
        reject,
        account,
      };
      lane.enqueue(job);
      this.track(lane);
      // A new, more urgent head may move the lane to the front of its queue.
      if (lane.state !== 'idle' && lane.state !== 'waiting' && lane.queue[0] === job) this.unready(lane);
      this.consider(lane);
      this.dispatch();
    });
  }

  /**
   * What other processes sent to the mailbox within the budget window (the store's request ledger, read when this
   * process takes the mailbox's lease): it counts against the mailbox lane's budget here as if sent `agoMs` ago, in
   * place of what was told before. Outlook's 10,000 per 10 minutes are per app and mailbox, not per process.
   */
  spentElsewhere(mailbox: string, spent: Array<{ agoMs: number; cost: number }>): void {
    const lane = this.lane(mailbox);
    const now = elapsed();
    lane.spentElsewhere(spent.map(({ agoMs, cost }) => ({ at: now - agoMs, cost })));
    if (lane.state === 'ready' || lane.state === 'waiting') this.unready(lane);
    this.consider(lane);
    this.dispatch();
  }

  /**
   * Nothing of the mailbox starts before `forMs` have passed (requests queued meanwhile wait): a create sent by its
   * previous holder may still land until then (engine/in-flight.ts), and the listing must not miss it.
   */
  holdMailbox(mailbox: string, forMs: number): void {
    const lane = this.lane(mailbox);
    lane.pause(elapsed() + Math.max(0, forMs));
    if (lane.state === 'ready' || lane.state === 'waiting') this.unready(lane);
    this.consider(lane);
    this.dispatch();
  }

  /**
   * Stops a mailbox for this scheduler's lifetime: its queued and future requests fail with `error`. Used when the
   * mailbox answered a permanent error (403/404): no point, and no good citizenship, in sending the rest.
   */
  abandonMailbox(mailbox: string, error: TargetError): void {
    const lane = this.lane(mailbox);
    lane.abandoned = error;
    if (lane.state !== 'idle') this.unready(lane);
    for (const job of lane.queue.splice(0)) job.reject(error);
    this.track(lane);
  }

  /** Stops every mailbox: for failures that no mailbox can get past (bad credentials, unreachable endpoint). */
  abandonAll(error: TargetError): void {
    this.fatal = error;
    for (const mailbox of this.lanes.keys()) this.abandonMailbox(mailbox, error);
  }

  // ---- calpush serve: when to try a mailbox, or everything, again ---------------------------------------------

  /** serve: the mailbox's delivery failed (`failed`, back-off) or another process was delivering it (`busy`). */
  deferMailbox(mailbox: string, why: 'failed' | 'busy'): void {
    this.deferrals.defer(mailbox, why, elapsed());
  }

  /** serve: milliseconds until the mailbox's delivery may be tried again (0: now). */
  mailboxDeferredMs(mailbox: string): number {
    return this.deferrals.remaining(mailbox, elapsed());
  }

  /** serve: the mailbox was delivered, or an operator asked for it now: no back-off any more. */
  clearDeferral(mailbox: string): void {
    this.deferrals.clear(mailbox);
  }

  /**
   * serve: a failure no mailbox can get past (credentials, the endpoint). Every queued request fails with it
   * (requests in flight finish), and nothing starts before a back-off has passed (retryMinMs · 2^(n-1) for the
   * n-th in a row, at most retryMaxMs): a global pause, so that an administrator's fix is tried within the hour
   * without a request every poll meanwhile.
   */
  pauseAll(error: TargetError): void {
    const failures = (this.paused?.failures ?? 0) + 1;
    this.paused = { error, failures };
    this.global.pause(elapsed() + backoffAfter(this.options, failures));
    for (const lane of this.lanes.values()) {
      if (lane.state !== 'idle') this.unready(lane);
      for (const job of lane.queue.splice(0)) job.reject(error);
      this.track(lane);
    }
  }

  /** serve: what paused everything and how long it still lasts, while it does. */
  pausedAll(): { error: TargetError; resumesInMs: number } | null {
    const resumesInMs = Math.ceil(this.global.pausedUntil - elapsed());
    return this.paused && resumesInMs > 0 ? { error: this.paused.error, resumesInMs } : null;
  }

  /** serve: a delivery went through without such a failure after the pause: the next starts from the shortest. */
  resumedAll(): void {
    if (this.paused && !this.pausedAll()) this.paused = null;
  }

  // ---- lanes ----------------------------------------------------------------------------------------------------

  private lane(mailbox: string): MailboxLane {
    let lane = this.lanes.get(mailbox);
    if (!lane) {
      const { requests, windowMs } = this.options.mailboxBudget;
      lane = new MailboxLane('mailbox', mailbox, this.options.mailboxConcurrency, { units: requests, windowMs });
      this.lanes.set(mailbox, lane);
    }
    return lane;
  }

  /** The account lane the target declared (one lane per key, shared by every mailbox it serves). */
  private account(service: ServiceLane | null): AccountLane | null {
    if (!service) return null;
    const budget = service.itemsPerMinute ? { units: service.itemsPerMinute, windowMs: 60_000 } : null;
    let account = this.accounts.get(service.key);
    if (!account) {
      account = new AccountLane('account', service.key, service.concurrency, budget);
      this.accounts.set(service.key, account);
    } else {
      account.reshape(service.concurrency, budget);
    }
    account.throttledRetries = service.throttledRetries ?? 0;
    return account;
  }

  /** The lane at `level` for this request of the mailbox (the mailbox's own when the request has no account). */
  private laneAt(lane: MailboxLane, job: Job, level: LaneLevel): Lane {
    return level === 'global' ? this.global : level === 'account' ? (job.account ?? lane) : lane;
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

  private urgent(job: Job): boolean {
    return job.priority < this.clock.now() + this.options.urgentWithinMs;
  }

  /** When the lane's next job may start as far as the mailbox goes: 0 = now, Infinity = when a place frees. */
  private readyAt(lane: MailboxLane, now: number): number {
    const job = lane.queue[0];
    if (!job || !lane.hasRoom(job.slots)) return Infinity;
    return lane.readyAt(job.cost, now);
  }

  /** Puts an idle lane where it belongs: the turn queue, the waiting heap, or nowhere (no work or no free place). */
  private consider(lane: MailboxLane): void {
    if (lane.state !== 'idle' || lane.abandoned) return;
    const now = elapsed();
    const at = this.readyAt(lane, now);
    if (at === Infinity) return;
    if (at > now) {
      lane.state = 'waiting';
      this.waiting.push([lane, at, lane.ticket]);
      this.wakeAt(at);
      return;
    }
    lane.state = 'ready';
    const head = lane.queue[0]!;
    this.ready.push(lane, this.urgent(head), head.priority);
  }

  /** Parks a mailbox on its account until the account has room (a place, its pause or budget passed at `at`). */
  private park(lane: MailboxLane, account: AccountLane, at: number): void {
    lane.state = 'parked';
    const head = lane.queue[0]!;
    account.parked.push(lane, this.urgent(head), head.priority);
    if (at !== Infinity && at < account.wakesAt) {
      account.wakesAt = at;
      this.waiting.push([account, at]);
      this.wakeAt(at);
    }
  }

  /**
   * Offers an account's room to the mailboxes parked on it, in turn: as many as it has places free now. Whether one
   * of them then starts is for the dispatch to find (another mailbox may take the place first: it is parked again).
   */
  private unpark(account: AccountLane, now: number): boolean {
    if (account.parked.empty) return false;
    const at = account.readyAt(1, now);
    if (at > now) {
      if (at < account.wakesAt) {
        account.wakesAt = at;
        this.waiting.push([account, at]);
        this.wakeAt(at);
      }
      return false;
    }
    let offered = false;
    for (let room = Math.max(account.inFlight === 0 ? 1 : 0, account.limit - account.inFlight); room > 0; ) {
      const lane = account.parked.pop();
      if (!lane) break;
      this.unready(lane);
      this.consider(lane);
      // One that waits for its own mailbox (a pause) takes no place: the next one is offered it.
      if (lane.state === 'ready') {
        room--;
        offered = true;
      }
    }
    return offered;
  }

  /**
   * Accounts with mailboxes parked on them but nothing in flight and no time to wake at: nothing else would offer
   * them their room (the mailboxes offered it last went on waiting for their own pause, or were stopped).
   */
  private unparkIdle(now: number): boolean {
    let offered = false;
    for (const account of this.accounts.values()) {
      if (account.inFlight === 0 && account.wakesAt === Infinity && !account.parked.empty) offered = this.unpark(account, now) || offered;
    }
    return offered;
  }

  // ---- dispatching ----------------------------------------------------------------------------------------------

  private dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    let swept = false;
    try {
      for (;;) {
        const now = elapsed();
        if (!this.global.hasRoom(1)) break;
        const globalAt = this.global.readyAt(1, now);
        if (globalAt > now) {
          this.wakeAt(globalAt);
          break;
        }
        const lane = this.ready.pop();
        if (!lane) {
          // Once per dispatch, so that a mailbox parked again for its account's budget cannot spin it.
          if (!swept && this.accounts.size > 0 && this.unparkIdle(now)) {
            swept = true;
            continue;
          }
          break;
        }
        this.unready(lane);
        // Still ready? (a pause or budget change may have come since it was queued)
        if (this.readyAt(lane, now) !== 0) {
          this.consider(lane);
          continue;
        }
        const head = lane.queue[0]!;
        const account = head.account;
        const accountAt = account ? (account.hasRoom(1) ? account.readyAt(head.cost, now) : Infinity) : 0;
        if (account && accountAt !== 0) {
          this.park(lane, account, accountAt);
          continue;
        }
        this.start(lane, lane.queue.shift()!, now);
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
      const waiter = this.waiting.pop()!;
      if (waiter[0] instanceof AccountLane) {
        const account = waiter[0];
        if (account.wakesAt !== waiter[1]) continue;
        account.wakesAt = Infinity;
        this.unpark(account, now);
        continue;
      }
      const [lane, , ticket] = waiter as [MailboxLane, number, number];
      if (lane.state !== 'waiting' || lane.ticket !== ticket) continue;
      this.unready(lane);
      this.consider(lane);
    }
    if (this.waiting.size > 0) this.wakeAt(this.waiting.peek()![1]);
    this.dispatch();
  }

  private start(lane: MailboxLane, job: Job, now: number): void {
    const account = job.account;
    lane.take(job.slots, job.cost, now);
    account?.take(1, job.cost, now);
    this.global.take(1, 1, now);
    this.statistics.started++;
    this.statistics.maxInFlight = Math.max(this.statistics.maxInFlight, this.global.inFlight);
    this.statistics.maxInFlightPerMailbox = Math.max(this.statistics.maxInFlightPerMailbox, lane.inFlight);
    let settled: Promise<unknown>;
    try {
      settled = Promise.resolve(job.run());
    } catch (error) {
      settled = Promise.reject(error);
    }
    settled.then(
      (value) => this.settle(lane, job, () => this.succeeded(lane, job, value)),
      // The failure (a Retry-After pause) must be in place before the freed place is offered to the next job.
      (error: unknown) => this.settle(lane, job, () => this.failed(lane, job, error)),
    );
  }

  /** A request is back: its places free, `outcome` acts on its answer, then the lanes that may go on do. */
  private settle(lane: MailboxLane, job: Job, outcome: () => void): void {
    lane.release(job.slots);
    job.account?.release(1);
    this.global.release(1);
    this.track(lane);
    outcome();
    if (job.account) this.unpark(job.account, elapsed());
    this.consider(lane);
    this.dispatch();
  }

  private succeeded(lane: MailboxLane, job: Job, value: unknown): void {
    let answers: ReadonlyArray<TargetError | null> = [];
    try {
      answers = job.answers?.(value) ?? [];
    } catch {
      // A result the caller cannot read is the caller's to report; the request itself went through.
    }
    if (answers.length === 0) this.grow(lane, job);
    for (const answer of answers) if (!answer) this.grow(lane, job);
    this.honour(lane, job, answers.filter((answer): answer is TargetError => answer !== null && answer.scope === 'transient'), 0);
    job.resolve(value);
  }

  private grow(lane: MailboxLane, job: Job): void {
    lane.succeeded();
    job.account?.succeeded();
    this.global.succeeded();
  }

  /**
   * Acts on transient answers: each lane a throttling answer names waits its Retry-After (or the back-off when it
   * names none) and is slowed down, once per request however many of its items were throttled; another answer's
   * Retry-After pauses the mailbox. `backoffMs`: the wait for an answer that names none (0 for a batch's items: sent
   * again at once unless throttled).
   */
  private honour(lane: MailboxLane, job: Job, answers: TargetError[], backoffMs: number): void {
    if (answers.length === 0) return;
    const now = elapsed();
    const waits = new Map<Lane, { ms: number; throttled: boolean }>();
    for (const answer of answers) {
      const level = answer.throttles;
      const at = this.laneAt(lane, job, level ?? 'mailbox');
      const ms = answer.retryAfterMs ?? Math.max(backoffMs, level === 'account' ? this.options.throttledPauseMs : level ? this.options.baseBackoffMs : 0);
      const before = waits.get(at);
      waits.set(at, { ms: Math.max(before?.ms ?? 0, ms), throttled: (before?.throttled ?? false) || level !== undefined });
    }
    for (const [at, { ms, throttled }] of waits) {
      if (throttled) {
        this.statistics.throttled++;
        at.throttled(now + ms);
      } else if (ms > 0) {
        at.pause(now + ms);
      }
    }
    // A pause the lane did not have when it was queued: it waits instead (its account's and the global pause are
    // looked at when its turn comes).
    if (lane.state === 'ready') this.unready(lane);
  }

  private failed(lane: MailboxLane, job: Job, error: unknown): void {
    if (!(error instanceof TargetError) || error.scope !== 'transient') {
      job.reject(error);
      return;
    }
    if (this.spendsAttempt(lane, job, error)) job.failures++;
    // Retry-After is about the lane (app + mailbox limits, the account's budget), so the whole lane waits, not just
    // this request — also when this was its last attempt.
    this.honour(lane, job, [error], Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** Math.max(0, job.failures - 1)));
    if (lane.abandoned || job.failures >= this.options.maxAttempts) {
      job.reject(lane.abandoned ?? error);
      return;
    }
    this.statistics.retried++;
    lane.enqueue(job);
    this.track(lane);
    if (lane.state === 'ready') this.unready(lane);
  }

  /**
   * Whether the answer counts as a failed attempt. A throttling answer of a lane that tolerates some (an EWS
   * account: ErrorServerBusy says "not now", and a budget-bound account gets many) counts only after that many in
   * a row: the request is not failing, the account is busy.
   */
  private spendsAttempt(lane: MailboxLane, job: Job, error: TargetError): boolean {
    const tolerated = error.throttles ? this.laneAt(lane, job, error.throttles).throttledRetries : 0;
    if (job.freeThrottled < tolerated) {
      job.freeThrottled++;
      return false;
    }
    job.freeThrottled = 0;
    return true;
  }
}
