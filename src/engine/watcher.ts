// calpush serve's watch (docs/drift.md): every `watch.intervalSeconds` one watch round (engine/watch.ts) over the
// mailboxes calpush delivers, through each target's shared scheduler (so watching spends the same budgets as
// delivery, at the lowest priority), and the mailboxes with something to restore handed to the delivery loop. One
// round at a time: a round that takes longer than the interval delays the next, it never runs two at once.
import { systemClock, type Clock } from '../model/clock.ts';
import type { DriftDecision, DriftPolicies } from '../planner/drift.ts';
import type { DeliveryStore } from '../store/store.ts';
import type { WatchStore } from '../store/watch.ts';
import type { MailboxRoutes } from './routes.ts';
import type { DeliveryLog } from './run.ts';
import { watchMailboxes, type WatchSummary } from './watch.ts';

export interface WatcherOptions {
  store: DeliveryStore & WatchStore;
  routes: MailboxRoutes;
  intervalMs: number;
  reconcileMs: number;
  window: { pastDays: number; futureDays: number };
  policyOf: (calendar: string) => DriftPolicies;
  /** Where the mailboxes with something to restore go (the delivery loop's deliverSoon). */
  deliverSoon: (calendars: string[]) => void;
  workerId?: string;
  clock?: Clock;
  log?: DeliveryLog;
  onDrift?: (calendar: string, decision: DriftDecision) => void;
  onRound?: (summary: WatchSummary) => void;
}

export class MailboxWatcher {
  private readonly options: WatcherOptions;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private last: WatchSummary | null = null;

  constructor(options: WatcherOptions) {
    this.options = options;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref?.();
  }

  /** One round now, unless one is running (then that one). */
  tick(): Promise<void> {
    this.running ??= this.round().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** The last round's summary (the status, the dashboard). */
  lastRound(): WatchSummary | null {
    return this.last;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  private async round(): Promise<void> {
    const { store, log } = this.options;
    try {
      // The mailboxes a target delivered at least once: only those hold events of ours to watch.
      const calendars = (await store.mailboxes()).filter((m) => m.target).map((m) => m.calendar);
      const summary = await watchMailboxes({
        store,
        routes: this.options.routes,
        calendars,
        policyOf: this.options.policyOf,
        window: this.options.window,
        reconcileMs: this.options.reconcileMs,
        clock: this.options.clock ?? systemClock,
        ...(this.options.workerId !== undefined ? { workerId: this.options.workerId } : {}),
        ...(log ? { log } : {}),
        ...(this.options.onDrift ? { onDrift: this.options.onDrift } : {}),
      });
      this.last = summary;
      this.options.onRound?.(summary);
      if (summary.toDeliver.length) this.options.deliverSoon(summary.toDeliver);
    } catch (error) {
      log?.error({ err: error }, 'the watch round failed; the next one tries again');
    }
  }
}
