// One mailbox's delivery: claim it (lease), list what the target says we own when our record of it may be
// incomplete, plan, persist the plan as pending work, then run each operation through the scheduler and record its
// answer the moment it arrives (engine/sending.ts). Every request goes through the scheduler; nothing here sends on
// its own.
import { listingReason, type ListingReason } from '../planner/listing.ts';
import { StoreError } from '../store/errors.ts';
import { LeaseLost, type Lease } from '../store/store.ts';
import type { PendingOp } from '../model/rows.ts';
import { TargetError } from '../targets/target.ts';
import { claimMailbox } from './lease.ts';
import { listOwned } from './listing.ts';
import { MailboxWork } from './mailbox-work.ts';
import { replanMailbox } from './replanning.ts';
import type { DeliveryRun } from './run.ts';
import { OUTLOOK_LIMITS } from './scheduler.ts';
import { sendGroup } from './sending.ts';
import { describeError, supportIds, type MailboxSummary } from './summary.ts';

/** Delivers one mailbox; a failure is reported in the summary (and, when it stops the run, in `run.fatal`). */
export async function deliverMailbox(run: DeliveryRun, calendar: string): Promise<MailboxSummary> {
  const { store } = run.options;
  const work = new MailboxDelivery(run, calendar);
  const lease = await claimMailbox(store, calendar, run.workerId, run.leaseMs);
  if (!lease) {
    // The lease holder delivers it, changes included; this run leaves the mailbox alone.
    run.plannedVersions.set(calendar, Number.POSITIVE_INFINITY);
    work.summary.status = 'busy';
    return work.summary;
  }
  work.lease = lease;
  run.leases.hold(lease, () => work.halt(leaseLost(lease)));
  try {
    await countSpentElsewhere(run, calendar);
    await work.deliver();
  } catch (error) {
    await mailboxFailed(run, work.summary, error, lease).catch((failure: unknown) => {
      // Recording the failure under a lease that was lost meanwhile: the new holder reports on the mailbox.
      if (!(failure instanceof LeaseLost)) throw failure;
    });
  } finally {
    run.leases.drop(calendar);
    // A store that failed cannot release the lease either: it expires (a later run on this host takes it over).
    await store.releaseMailbox(calendar, run.workerId).catch((error: unknown) => {
      if (!(error instanceof StoreError && run.fatal)) throw error;
    });
  }
  return work.summary;
}

/**
 * Outlook's budget is per app and mailbox: what other workers sent to this mailbox in the window (the store's
 * request ledger) counts here too, so a lease handover does not start the 10 minutes afresh.
 */
async function countSpentElsewhere(run: DeliveryRun, calendar: string): Promise<void> {
  const { store, scheduler } = run.options;
  if (!store.requestsSpentByOthers) return;
  scheduler.spentElsewhere(calendar, await store.requestsSpentByOthers(calendar, run.workerId, OUTLOOK_LIMITS.mailboxBudget.windowMs));
}

/** The mailbox's lease passed to another worker: this delivery stops; the holder delivers it. */
function leaseLost(lease: Lease): TargetError {
  const lost = new LeaseLost(lease);
  return new TargetError('mailbox', lost.code, lost.message, { remedy: lost.remedy, cause: lost });
}

class MailboxDelivery extends MailboxWork {
  private replanning: Promise<void> | null = null;
  private replanAgain = false;

  async deliver(): Promise<void> {
    const { store, reinventory, urgentWithinMs } = this.run.options;
    const pendingBefore = await store.pendingOps(this.calendar);
    const mailbox = await store.mailbox(this.calendar);
    const desiredVersion = mailbox?.desiredVersion ?? 0;
    this.run.plannedVersions.set(this.calendar, desiredVersion);
    const reason = listingReason({ reinventory: reinventory ?? false, inventoriedAt: mailbox?.inventoriedAt, pending: () => pendingBefore });
    if (reason) await this.inventory(reason);
    this.generations = await store.generations(this.calendar);
    this.plannedVersion = desiredVersion;
    this.urgentBefore = this.run.clock.now() + (urgentWithinMs ?? OUTLOOK_LIMITS.urgentWithinMs);
    await this.replan();
    this.run.running.set(this.calendar, () => this.track(this.replan()));
    try {
      await this.drain();
    } finally {
      // From here (also after a failure, with the lease about to be released) a change goes through the queue
      // (MailboxQueue.changed), never into this finished delivery.
      this.run.running.delete(this.calendar);
    }
    if (this.stop) throw this.stop;
    // Complete only when every operation landed; otherwise the next run picks the mailbox up again.
    if (this.summary.failed === 0) await store.recordMailboxOk(this.calendar, this.plannedVersion, this.lease);
  }

  /** Adoption: what the target says we own replaces what the store thought was delivered. */
  private async inventory(reason: ListingReason): Promise<void> {
    const { store, target, scheduler, log } = this.run.options;
    const owned = await listOwned(scheduler, target, this.calendar, async () => {
      this.summary.requests++;
      await store.chargeRequests?.(this.calendar, this.run.workerId, 1);
    });
    await store.recordInventory(this.calendar, owned, this.lease);
    log?.info({ calendar: this.calendar, owned: owned.length, reason }, 'listed our tagged events');
  }

  /** Until every request has settled and no change is left to plan (or the mailbox was stopped). */
  private async drain(): Promise<void> {
    for (;;) {
      await this.settle();
      if (this.stop) return;
      const moved = (await this.desiredVersion()) > this.plannedVersion;
      if (!moved && !this.deferred.size && !this.busy) return;
      if (!this.busy) this.track(this.replan());
    }
  }

  replan(): Promise<void> {
    if (this.replanning) {
      this.replanAgain = true;
      return this.replanning;
    }
    this.replanning = (async () => {
      do {
        this.replanAgain = false;
        await replanMailbox(this);
      } while (this.replanAgain && !this.stop);
    })().finally(() => {
      this.replanning = null;
    });
    return this.replanning;
  }

  send(ops: PendingOp[]): void {
    for (const group of this.groups(ops)) this.track(sendGroup(this, group, 1));
  }
}

/** Reports why the mailbox failed; a failure no mailbox can get past stops the run (logged once, by the first). */
async function mailboxFailed(run: DeliveryRun, summary: MailboxSummary, error: unknown, lease: Lease): Promise<void> {
  const { store, scheduler, log } = run.options;
  const { calendar } = summary;
  if (error instanceof LeaseLost || (error instanceof TargetError && error.code === 'LeaseLost')) {
    // Another worker holds the mailbox now and delivers it: nothing to report, nothing recorded under this lease.
    log?.warn({ calendar }, 'lost the mailbox lease to another worker; it delivers the mailbox');
    scheduler.abandonMailbox(calendar, error instanceof TargetError ? error : leaseLost({ calendar, owner: run.workerId, token: 0 }));
    summary.status = 'busy';
    return;
  }
  const failure = describeError(error);
  summary.status = 'failed';
  summary.error = failure;
  const runWide = (error instanceof TargetError && error.scope === 'fatal') || error instanceof StoreError;
  if (runWide && run.fatal) log?.debug({ calendar, code: failure.code }, 'stopped by the failure logged before');
  else log?.error({ calendar, code: failure.code, remedy: failure.remedy, ...supportIds(error) }, failure.message);
  if (error instanceof TargetError && error.scope === 'fatal') {
    run.fatal ??= error;
    scheduler.abandonAll(error);
  } else if (error instanceof StoreError) {
    // The store cannot record what happens (disk full, locked, damaged): no mailbox can go on. Nothing is recorded
    // about this mailbox either; what was recorded so far was recorded whole (one transaction each).
    const stop = new TargetError('fatal', error.code, error.message, { remedy: error.remedy, cause: error });
    run.fatal ??= stop;
    scheduler.abandonAll(stop);
  } else {
    // 403/404 for the mailbox: stop sending to it, report why; the other mailboxes go on.
    if (error instanceof TargetError) scheduler.abandonMailbox(calendar, error);
    await store.recordMailboxFailure(calendar, failure.code, failure.message, failure.remedy, lease);
  }
}
