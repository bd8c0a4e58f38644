// The delivery loop of `calpush serve`: delivers every mailbox whose desired state changed, continuously.
//
// It looks for changed mailboxes in the store (store.changedMailboxes(): desired version ahead of the delivered
// one) when woken by a write of this process (API, feed) and every `pollMs` for writes of other processes (a
// `calpush sync` or `import`, another serve). Each set of changed mailboxes that are not being delivered yet goes
// to its own deliver() call, so that one long mailbox does not hold up a change elsewhere; deliver() itself
// claims each mailbox's lease (a mailbox another process holds comes back as "busy" and is tried again shortly)
// and re-plans a mailbox that changes while it runs.
//
// All calls share one Scheduler per target (engine/routes.ts), so Outlook's per-mailbox and global limits hold
// across them. A scheduler stops a mailbox that answered 403/404, and everything after a fatal error, for its
// lifetime; a serve lives long and an administrator fixes such things, so each deliver() call gets a view of each
// scheduler whose stops last only for that call. When a mailbox may be tried again is the schedulers' too
// (deferMailbox: a back-off after a failure, a short wait when another process was delivering it), and so is the
// pause of a target after a failure none of its mailboxes can get past (pauseAll): the loop decides what to deliver,
// the schedulers when. Such a failure pauses only the scheduler of the target that met it (a wrong EWS password
// says nothing about Graph); the store failing pauses them all. The loop does not know a mailbox's target before it
// is delivered (a lookup may name it), so it tells every target's scheduler of a mailbox's back-off, and holds a
// mailbox back while the target it was last delivered through is paused.
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../model/clock.ts';
import { deliver } from './delivery.ts';
import type { DeliveryLog } from './run.ts';
import type { DeliverySummary, MailboxSummary } from './summary.ts';
import type { Scheduler } from './scheduler.ts';
import { DEFAULT_LEASE_MS, defaultWorkerId, LeaseKeeper, ledgerName } from './lease.ts';
import { singleRoute, type MailboxRoutes } from './routes.ts';
import { ScopedScheduler } from './scoped-scheduler.ts';
import type { DeliveryStore } from '../store/store.ts';
import { TargetError, type CalendarTarget } from '../targets/target.ts';

export interface DeliveryLoopOptions {
  store: DeliveryStore;
  /** Which target serves each mailbox, each target with its own shared scheduler (engine/routes.ts). */
  routes?: MailboxRoutes<Scheduler>;
  /** Without `routes`: the one target and scheduler for every mailbox. */
  target?: CalendarTarget;
  scheduler?: Scheduler;
  instance: string;
  maxAttempts: number;
  /** Mailboxes delivered at once, across all running deliver() calls. */
  parallelMailboxes: number;
  pollMs: number;
  /** Names this worker in mailbox leases (default defaultWorkerId()); an operator's --worker-id. */
  workerId?: string;
  /** How long a mailbox lease lasts without this worker's heartbeat (default DEFAULT_LEASE_MS). */
  leaseMs?: number;
  /** Structured log passed to deliver() (pino's shape). */
  log?: DeliveryLog;
  onDelivered?: (summary: MailboxSummary, latencyMs: number | null) => void;
  onError?: (error: unknown) => void;
  /** What time it is: latency, the status's times; passed on to deliver() (default: the system clock). */
  clock?: Clock;
}

export interface DeliveryLoopStatus {
  state: 'running' | 'stopping' | 'stopped' | 'paused';
  delivering: string[];
  /** A failure no mailbox can get past (credentials, endpoint); delivery resumes after `retryAt`. */
  fatal: { code: string; message: string; remedy?: string; retryAt: string } | null;
  lastRunAt: string | null;
}

/** At most this many changed events in one write make a mailbox's change interactive (one $batch's worth). */
const INTERACTIVE_EVENTS = 20;
/** Mailboxes with interactive changes delivered beyond `parallelMailboxes`. */
const INTERACTIVE_EXTRA = 32;

const STOPPING = () => new TargetError('fatal', 'ShuttingDown', 'calpush serve is shutting down; the rest is delivered after the restart');

export class DeliveryLoop {
  private readonly options: DeliveryLoopOptions;
  private readonly routes: MailboxRoutes<Scheduler>;
  private readonly clock: Clock;
  private readonly workerId: string;
  /** The loop's scheduler counts every request of its deliver() calls: one ledger name for all of them. */
  private readonly ledgerId: string;
  /** The heartbeat of this worker's mailbox leases, one for all its deliver() calls. */
  private readonly leases: LeaseKeeper;
  /** Mailboxes in the scope of a running deliver() call (it delivers them again if they change meanwhile). */
  private readonly inFlight = new Set<string>();
  /** Mailboxes handed to a deliver() call whose delivery has not ended yet: what `parallelMailboxes` limits. */
  private readonly active = new Set<string>();
  /** Mailboxes an operator asked to deliver now (deliverNow), not yet handed to a deliver() call. */
  private readonly requested = new Set<string>();
  /** Mailboxes the watch found drift to restore in, or the reconcile listed again (bulk work), not yet handed to a deliver() call. */
  private readonly recheck = new Set<string>();
  /** Mailboxes with an interactive change not yet handed to a deliver() call. */
  private readonly interactive = new Set<string>();
  /** Running deliver() calls listening for changes to the mailboxes in their scope. */
  private readonly listeners = new Set<(calendar: string) => void>();
  /** The desired version each mailbox in flight was last told about. */
  private readonly told = new Map<string, number>();
  private readonly runs = new Set<Promise<void>>();
  /** Mailbox → when its first undelivered change was seen. */
  private readonly changedAt = new Map<string, number>();
  /** Each target's shared scheduler, by the target's name. */
  private readonly byTarget = new Map<string, Scheduler>();
  /** The target each mailbox was last delivered through (its summary's `target`): whose pause it waits for. */
  private readonly targetOf = new Map<string, string>();
  private stopping: TargetError | null = null;
  private state: DeliveryLoopStatus['state'] = 'stopped';
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private again = false;
  private firstTick = true;
  private lastRunAt: string | null = null;

  constructor(options: DeliveryLoopOptions) {
    this.options = options;
    if (!options.routes && !(options.target && options.scheduler)) throw new Error('DeliveryLoop needs routes, or a target and a scheduler');
    this.routes = options.routes ?? singleRoute(options.target!, options.scheduler!);
    // through() names each target's scheduler.
    this.routes.through((shared, name) => {
      this.byTarget.set(name, shared);
      return shared;
    });
    this.clock = options.clock ?? systemClock;
    this.workerId = options.workerId ?? defaultWorkerId();
    this.ledgerId = ledgerName(this.workerId);
    this.leases = new LeaseKeeper(options.store, options.leaseMs ?? DEFAULT_LEASE_MS);
  }

  start(): void {
    if (this.state === 'running') return;
    this.state = 'running';
    this.timer = setInterval(() => this.wake(), this.options.pollMs);
    this.wake();
  }

  /**
   * A change was recorded (by this process): look now rather than at the next poll. A change of a few events
   * (`events` ≤ INTERACTIVE_EVENTS: someone moved a lecture, cancelled a meeting) is interactive: its mailbox
   * starts before mailboxes of a bulk load waiting for room, and may exceed `parallelMailboxes` by up to
   * INTERACTIVE_EXTRA, so it does not wait for a drain to make room.
   */
  nudge(calendar?: string, events = 1): void {
    if (calendar && !this.changedAt.has(calendar)) this.changedAt.set(calendar, this.clock.now());
    if (calendar && events <= INTERACTIVE_EVENTS) this.interactive.add(calendar);
    // The tick this wakes also tells a running delivery of the calendar (see tick), once per new version.
    this.wake();
  }

  /**
   * These mailboxes have work their desired state does not show (drift to restore, a listing due: docs/drift.md):
   * delivered as bulk work, within `parallelMailboxes`, by the next ticks.
   */
  deliverSoon(calendars: Iterable<string>): void {
    for (const calendar of calendars) this.recheck.add(calendar);
    this.wake();
  }

  /**
   * An operator asked for the mailbox now (the dashboard's "deliver now", after fixing what made it fail): its
   * back-off is forgotten and the next tick takes it as an interactive change, whether or not its desired state
   * changed. deliver() then does what the mailbox needs (nothing, when it is up to date).
   */
  deliverNow(calendar: string): void {
    for (const scheduler of this.schedulers()) scheduler.clearDeferral(calendar);
    this.requested.add(calendar);
    this.nudge(calendar, 1);
  }

  status(): DeliveryLoopStatus {
    const fatal = this.pausedAll();
    // Paused while no target can deliver; one target paused shows in `fatal` while the others go on.
    return {
      state: fatal && this.everyTargetPaused() && this.state === 'running' ? 'paused' : this.state,
      delivering: [...this.inFlight].sort(),
      // When it resumes, by this loop's clock (the pause itself is elapsed time).
      fatal: fatal
        ? {
            code: fatal.error.code,
            message: fatal.error.message,
            ...(fatal.error.remedy ? { remedy: fatal.error.remedy } : {}),
            retryAt: new Date(this.clock.now() + fatal.resumesInMs).toISOString(),
          }
        : null,
      lastRunAt: this.lastRunAt,
    };
  }

  /** Resolves once every change recorded so far is delivered (or failed, or waiting for a back-off). For tests. */
  async idle(timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      await this.ticking;
      await Promise.all([...this.runs]);
      const changed = (await this.options.store.changedMailboxes()).filter((m) => !this.waiting(m.calendar));
      if (!changed.length && !this.runs.size) return;
      if (performance.now() > deadline) throw new Error(`delivery not idle after ${timeoutMs} ms: ${changed.map((m) => m.calendar).join(', ')}`);
      this.wake();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Stops: no new deliveries; running ones may finish within `graceMs`, then their queued requests are dropped
   * (requests in flight complete and their answers are recorded). Leases are released by deliver() itself.
   */
  async stop(graceMs: number): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopping';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    const all = Promise.all([...this.runs]);
    const graceful = await Promise.race([all.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref?.())]);
    if (!graceful) {
      this.stopping = STOPPING();
      await all;
    }
    this.state = 'stopped';
  }

  /**
   * Being delivered, or a scheduler says not yet (a back-off after a failure, another process delivering it, the
   * pause of the target it was last delivered through).
   */
  private waiting(calendar: string): boolean {
    return this.inFlight.has(calendar) || this.targetPaused(calendar) || this.schedulers().some((scheduler) => scheduler.mailboxDeferredMs(calendar) > 0);
  }

  /** The target the mailbox was last delivered through is paused (a mailbox not delivered yet: not known). */
  private targetPaused(calendar: string): boolean {
    const target = this.targetOf.get(calendar);
    return target !== undefined && this.byTarget.get(target)?.pausedAll() != null;
  }

  private everyTargetPaused(): boolean {
    return this.schedulers().every((scheduler) => scheduler.pausedAll() !== null);
  }

  /** Every target's shared scheduler: each keeps serve's waits for the mailboxes it may be asked to deliver. */
  private schedulers(): Scheduler[] {
    return this.routes.schedulers();
  }

  /**
   * A failure none of a target's mailboxes can get past pauses that target's scheduler (the store failing stops
   * every target's, so it pauses them all). A mailbox that met the pause itself — routed to the paused target
   * before the loop knew its target — does not lengthen it.
   */
  private pause(shared: Scheduler, error: TargetError): void {
    if (shared.pausedAll()?.error !== error) shared.pauseAll(error);
  }

  /** What paused a target and how long it still lasts (the longest pause of any target's scheduler). */
  private pausedAll(): { error: TargetError; resumesInMs: number } | null {
    let longest: { error: TargetError; resumesInMs: number } | null = null;
    for (const scheduler of this.schedulers()) {
      const paused = scheduler.pausedAll();
      if (paused && (!longest || paused.resumesInMs > longest.resumesInMs)) longest = paused;
    }
    return longest;
  }

  /** The mailbox's delivery failed (back-off) or another process was delivering it: every scheduler waits. */
  private deferMailbox(calendar: string, why: 'failed' | 'busy'): void {
    for (const scheduler of this.schedulers()) scheduler.deferMailbox(calendar, why);
  }

  private wake(): void {
    if (this.state !== 'running') return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.tick()
      .catch((error) => this.options.onError?.(error))
      .finally(() => {
        this.ticking = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async tick(): Promise<void> {
    const { store } = this.options;
    const now = this.clock.now();
    if (this.everyTargetPaused()) return;
    const changed = await store.changedMailboxes();
    const candidates = new Set(changed.map((m) => m.calendar));
    const versions = new Map(changed.map((m) => [m.calendar, m.desiredVersion]));
    // Changes (also by other processes) to mailboxes a running call delivers: that call picks them up.
    for (const { calendar, desiredVersion } of changed) {
      if (!this.inFlight.has(calendar) || (this.told.get(calendar) ?? -1) >= desiredVersion) continue;
      this.told.set(calendar, desiredVersion);
      this.tell(calendar);
    }
    if (this.firstTick) {
      // Work left by an earlier run: pending operations, never-listed or failed mailboxes.
      this.firstTick = false;
      for (const calendar of await store.calendarsNeedingDelivery(await store.calendars())) candidates.add(calendar);
    }
    for (const calendar of this.requested) candidates.add(calendar);
    for (const calendar of this.recheck) candidates.add(calendar);
    for (const calendar of this.interactive) if (!candidates.has(calendar)) this.interactive.delete(calendar);
    const eligible = [...candidates].filter((calendar) => !this.waiting(calendar));
    const { parallelMailboxes } = this.options;
    // Interactive changes first, each set in a deliver() call of its own, so that they never wait for a bulk load.
    const urgent = eligible.filter((calendar) => this.interactive.has(calendar)).slice(0, Math.max(0, parallelMailboxes + INTERACTIVE_EXTRA - this.active.size));
    const taken = new Set(urgent);
    const bulk = eligible.filter((calendar) => !taken.has(calendar)).slice(0, Math.max(0, parallelMailboxes - this.active.size - urgent.length));
    if (this.state !== 'running') return;
    for (const calendars of [urgent, bulk]) {
      if (!calendars.length) continue;
      for (const calendar of calendars) {
        this.inFlight.add(calendar);
        this.active.add(calendar);
        this.told.set(calendar, versions.get(calendar) ?? -1);
        this.interactive.delete(calendar);
        this.requested.delete(calendar);
        this.recheck.delete(calendar);
        if (!this.changedAt.has(calendar)) this.changedAt.set(calendar, now);
      }
      const run = this.run(calendars).finally(() => {
        for (const calendar of calendars) {
          this.inFlight.delete(calendar);
          this.active.delete(calendar);
          this.told.delete(calendar);
        }
        this.runs.delete(run);
        this.wake();
      });
      this.runs.add(run);
    }
  }

  private async run(calendars: string[]): Promise<void> {
    // Each target's shared scheduler, seen through a view whose stops last only for this call.
    const routes = this.routes.through((shared) => new ScopedScheduler(shared, () => this.stopping ?? shared.pausedAll()?.error ?? null, (error) => this.pause(shared, error)));
    let summary: DeliverySummary;
    try {
      summary = await deliver({
        store: this.options.store,
        routes,
        instance: this.options.instance,
        calendars,
        workerId: this.workerId,
        ledgerId: this.ledgerId,
        leases: this.leases,
        maxAttempts: this.options.maxAttempts,
        parallelMailboxes: this.options.parallelMailboxes,
        clock: this.clock,
        ...(this.options.log ? { log: this.options.log } : {}),
        changes: (listener) => {
          this.listeners.add(listener);
          return () => this.listeners.delete(listener);
        },
        // A mailbox done makes room at once for another, not only when the whole call has ended.
        onMailboxDone: (mailbox) => {
          if (this.active.delete(mailbox.calendar)) this.wake();
        },
      });
    } catch (error) {
      this.options.onError?.(error);
      for (const calendar of calendars) this.deferMailbox(calendar, 'failed');
      return;
    }
    this.lastRunAt = new Date(this.clock.now()).toISOString();
    for (const { calendar, target } of summary.mailboxes) if (target) this.targetOf.set(calendar, target);
    // A target that delivered without being paused again: its next pause starts from the shortest back-off.
    for (const target of new Set(summary.mailboxes.map((mailbox) => mailbox.target))) if (target) this.byTarget.get(target)?.resumedAll();
    for (const mailbox of summary.mailboxes) {
      // Held by its target's pause (or everything's): tried again, with the rest, once the pause has passed.
      if (this.stopping || this.everyTargetPaused() || this.targetPaused(mailbox.calendar)) continue;
      if (mailbox.status === 'busy') {
        this.deferMailbox(mailbox.calendar, 'busy');
        continue;
      }
      if (mailbox.status === 'failed' || mailbox.failed > 0) {
        this.deferMailbox(mailbox.calendar, 'failed');
        this.options.onDelivered?.(mailbox, null);
        continue;
      }
      for (const scheduler of this.schedulers()) scheduler.clearDeferral(mailbox.calendar);
      const since = this.changedAt.get(mailbox.calendar);
      this.changedAt.delete(mailbox.calendar);
      this.options.onDelivered?.(mailbox, since === undefined ? null : this.clock.now() - since);
    }
  }

  private tell(calendar: string): void {
    for (const listener of this.listeners) listener(calendar);
  }
}
