// Delivery: brings each mailbox's calendar to its desired state.
//
// The mailboxes that need it are delivered by workers (engine/workers.ts), each mailbox on its own
// (engine/mailbox.ts): claimed with a lease, listed when our record of it may be incomplete, planned by the pure
// planner (src/planner/), its operations sent through the scheduler (engine/sending.ts) and each answer recorded the
// moment it arrives. Every request goes through the scheduler; nothing here sends on its own.
import { DeliveryRun, type DeliveryOptions } from './run.ts';
import { deliverySummary, emptySummary, type DeliverySummary, type MailboxSummary } from './summary.ts';
import { MailboxWorkers } from './workers.ts';

export async function deliver(options: DeliveryOptions): Promise<DeliverySummary> {
  const run = new DeliveryRun(options);
  // Mailboxes with nothing to do cost one query here, not a plan each: a no-op resync stays a no-op.
  const needing = new Set(options.reinventory ? options.calendars : await options.store.calendarsNeedingDelivery(options.calendars));
  const byCalendar = await settledMailboxes(options, needing);
  // The desired version each waiting mailbox is queued at: until its delivery plans it, the store reports it as
  // changed (desired above delivered), which is nothing new to act on (engine/workers.ts, changed).
  const queuedAt = new Map((await options.store.changedMailboxes()).map((row) => [row.calendar, row.desiredVersion]));
  const workers = new MailboxWorkers(
    run,
    options.calendars.filter((calendar) => needing.has(calendar)),
    byCalendar,
    queuedAt,
  );
  const stopWatching = watchChanges(options, workers);
  try {
    await workers.drain(Math.max(1, Math.min(options.parallelMailboxes ?? 256, needing.size || 1)));
    await workers.waitForBusy(options.busyWaitMs ?? 0);
  } finally {
    stopWatching();
  }
  return deliverySummary(byCalendar.values(), run.fatal);
}

/** The summaries of the mailboxes in scope with nothing to do: delivered, their desired events unchanged. */
async function settledMailboxes(options: DeliveryOptions, needing: Set<string>): Promise<Map<string, MailboxSummary>> {
  const byCalendar = new Map<string, MailboxSummary>();
  if (needing.size === options.calendars.length) return byCalendar;
  const counts = await options.store.desiredCounts();
  // Which target each was last delivered through (nothing is asked of the routing: nothing is sent to them).
  const targets = new Map((await options.store.mailboxes()).map((row) => [row.calendar, row.target ?? null]));
  for (const calendar of options.calendars) {
    if (needing.has(calendar)) continue;
    const target = targets.get(calendar);
    byCalendar.set(calendar, { ...emptySummary(calendar, counts.get(calendar) ?? 0), ...(target ? { target } : {}) });
  }
  return byCalendar;
}

/**
 * Changes recorded while this delivery runs (by another calpush process, or the API) are picked up: told of them
 * (calpush serve's loop), or else asking the store every `watchIntervalMs`. Returns what stops watching.
 */
function watchChanges(options: DeliveryOptions, workers: MailboxWorkers): () => void {
  const unsubscribe = options.changes?.((calendar) => {
    if (!workers.inScope(calendar)) return;
    void options.store
      .mailbox(calendar)
      .then((row) => row && workers.changed(calendar, row.desiredVersion))
      .catch(() => {});
  });
  const watcher = options.changes ? null : setInterval(() => void workers.watch().catch(() => {}), options.watchIntervalMs ?? 250);
  return () => {
    if (watcher) clearInterval(watcher);
    unsubscribe?.();
  };
}
