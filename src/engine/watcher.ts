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
  /** Before each round of every mailbox, with those mailboxes: the change-notification subscriptions' upkeep. */
  upkeep?: (calendars: string[]) => Promise<void>;
}

export class MailboxWatcher {
  private readonly options: WatcherOptions;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private last: WatchSummary | null = null;
  /** A round of every mailbox is wanted. */
  private wantAll = false;
  private count = 0;
  /** Mailboxes wanted soon (a change notification), each with whether from no sync state. */
  private readonly wanted = new Map<string, boolean>();

  constructor(options: WatcherOptions) {
    this.options = options;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref?.();
  }

  /** A round of every mailbox now, or right after the one running. */
  tick(): Promise<void> {
    this.wantAll = true;
    return this.drain();
  }

  /**
   * A round of only these mailboxes soon (a change notification said they changed): right after the round running,
   * the requests of many notifications coalesced into one round. full: read them from no sync state.
   */
  watchSoon(calendars: string[], full = false): Promise<void> {
    for (const calendar of calendars) this.wanted.set(calendar, full || (this.wanted.get(calendar) ?? false));
    return this.drain();
  }

  /** Rounds run since the start (every mailbox's and a notification's alike). */
  get rounds(): number {
    return this.count;
  }

  /** Resolves when no round is running or wanted. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
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

  private drain(): Promise<void> {
    this.running ??= (async () => {
      while (this.wantAll || this.wanted.size) {
        const all = this.wantAll;
        const full = new Set([...this.wanted].filter(([, f]) => f).map(([c]) => c));
        const only = all ? null : new Set(this.wanted.keys());
        this.wantAll = false;
        this.wanted.clear();
        await this.round(only, full);
      }
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** One round of `only` (null: every delivered mailbox, after the subscriptions' upkeep). */
  private async round(only: ReadonlySet<string> | null, fullFor: Set<string>): Promise<void> {
    const { store, log } = this.options;
    this.count++;
    try {
      // The mailboxes a target delivered at least once: only those hold events of ours to watch.
      const delivered = (await store.mailboxes()).filter((m) => m.target).map((m) => m.calendar);
      const calendars = only ? delivered.filter((c) => only.has(c)) : delivered;
      if (!only) await this.upkeep(delivered);
      const summary = await watchMailboxes({
        store,
        routes: this.options.routes,
        calendars,
        policyOf: this.options.policyOf,
        window: this.options.window,
        reconcileMs: this.options.reconcileMs,
        fullFor,
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

  private async upkeep(calendars: string[]): Promise<void> {
    try {
      await this.options.upkeep?.(calendars);
    } catch (error) {
      this.options.log?.error({ err: error }, 'the change-notification subscriptions’ upkeep failed; the watch round goes on');
    }
  }
}
