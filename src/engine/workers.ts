// The run over mailboxes: workers take mailboxes from the queue and deliver them; changes recorded while the run
// goes on are picked up; mailboxes another process was delivering are waited for.
import { performance } from 'node:perf_hooks';
import { deliverMailbox } from './mailbox.ts';
import { MailboxQueue } from './mailbox-queue.ts';
import type { DeliveryRun } from './run.ts';
import { mergeSummaries, type MailboxSummary } from './summary.ts';

/**
 * A changed mailbox that is not being delivered starts at once on a worker of its own instead of waiting for one of
 * the regular workers to finish a whole mailbox; its operations then go first in the scheduler when they are
 * urgent. Bounded, so a flood of changes falls back to the queue order.
 */
const MAX_EXTRA_WORKERS = 32;

export class MailboxWorkers {
  private readonly run: DeliveryRun;
  private readonly queue: MailboxQueue;
  private readonly scope: Set<string>;
  private readonly extraWorkers = new Set<Promise<void>>();
  /** Each mailbox's summary so far (those with nothing to do are in it from the start). */
  readonly byCalendar: Map<string, MailboxSummary>;

  /**
   * The desired version of each mailbox as last acted on before its delivery planned it: from the start of the run
   * (the version it waits to be delivered at) and from each change seen since. A mailbox that waits is "changed" in
   * the store until its delivery plans it; acting on that again at every look would take the whole queue into
   * extra workers and reorder it at every look (2,000 mailboxes each 250 ms: a few % of a delivery's CPU).
   */
  private readonly queuedAt: Map<string, number>;

  constructor(run: DeliveryRun, waiting: string[], byCalendar: Map<string, MailboxSummary>, queuedAt = new Map<string, number>()) {
    this.run = run;
    this.queuedAt = queuedAt;
    this.queue = new MailboxQueue(waiting);
    this.scope = new Set(run.options.calendars);
    this.byCalendar = byCalendar;
  }

  inScope(calendar: string): boolean {
    return this.scope.has(calendar);
  }

  /** `workers` at a time until no mailbox waits; a change seen at the end starts another round. */
  async drain(workers: number): Promise<void> {
    do {
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (let calendar = await this.queue.next(); calendar !== undefined; calendar = await this.queue.next()) await this.deliver(calendar);
        }),
      );
      while (this.extraWorkers.size) await Promise.all([...this.extraWorkers]);
      // Leases are released by now; a change recorded meanwhile is either seen here or its own process could
      // claim the mailbox. Either way it is delivered.
      await this.watch();
    } while (this.queue.hasWaiting() && !this.run.halted());
  }

  /**
   * A change recorded while this delivery runs (by another calpush process, or the API): a mailbox not yet started
   * starts at once, one being delivered is re-planned around its requests in flight, one already delivered is
   * delivered again. Urgent operations then go first in the scheduler.
   */
  changed(calendar: string, desiredVersion: number): void {
    if (!this.scope.has(calendar) || desiredVersion <= (this.run.plannedVersions.get(calendar) ?? this.queuedAt.get(calendar) ?? -1)) return;
    this.queuedAt.set(calendar, desiredVersion);
    const replanRunning = this.run.running.get(calendar);
    if (replanRunning) {
      replanRunning();
      return;
    }
    if (this.extraWorkers.size < MAX_EXTRA_WORKERS && this.queue.take(calendar)) {
      const worker: Promise<void> = this.deliver(calendar).finally(() => this.extraWorkers.delete(worker));
      this.extraWorkers.add(worker);
    } else {
      this.queue.changed(calendar);
    }
  }

  /** Asks the store for the mailboxes that changed. */
  async watch(): Promise<void> {
    for (const { calendar, desiredVersion } of await this.run.options.store.changedMailboxes()) this.changed(calendar, desiredVersion);
  }

  /**
   * Mailboxes another process was delivering: wait for its lease, then deliver what is left (usually nothing: the
   * lease holder picks up changes recorded while it runs), so that "ok" means delivered. Elapsed time (monotonic),
   * not the clock: a fixed clock in a test must not make this wait forever.
   */
  async waitForBusy(busyWaitMs: number): Promise<void> {
    const { store } = this.run.options;
    const waitUntil = performance.now() + busyWaitMs;
    for (;;) {
      const busy = [...this.byCalendar.values()].filter((s) => s.status === 'busy').map((s) => s.calendar);
      if (!busy.length || this.run.halted() || performance.now() >= waitUntil) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, waitUntil - performance.now())));
      const stillNeeding = new Set(await store.calendarsNeedingDelivery(busy));
      const delivered = busy.filter((calendar) => !stillNeeding.has(calendar));
      const desiredCounts = delivered.length ? await store.desiredCounts() : new Map<string, number>();
      for (const calendar of delivered) {
        this.byCalendar.set(calendar, { ...this.byCalendar.get(calendar)!, status: 'ok', unchanged: desiredCounts.get(calendar) ?? 0 });
      }
      await Promise.all(busy.filter((calendar) => stillNeeding.has(calendar)).map((calendar) => this.deliver(calendar)));
    }
  }

  private async deliver(calendar: string): Promise<void> {
    const summary = await deliverMailbox(this.run, calendar);
    this.run.options.onMailboxDone?.(summary);
    const earlier = this.byCalendar.get(calendar);
    this.byCalendar.set(calendar, earlier ? mergeSummaries(earlier, summary) : summary);
    this.queue.finished(calendar);
  }
}
