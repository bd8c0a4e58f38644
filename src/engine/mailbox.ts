// One mailbox's delivery: claim it (lease), list what the target says we own when our record of it may be
// incomplete, plan, persist the plan as pending work, then run each operation through the scheduler and record its
// answer the moment it arrives (engine/sending.ts). Every request goes through the scheduler; nothing here sends on
// its own.
import { listingReason, type ListingReason } from '../planner/listing.ts';
import { StoreError } from '../store/errors.ts';
import type { PendingOp } from '../model/rows.ts';
import { TargetError } from '../targets/target.ts';
import { claimMailbox } from './lease.ts';
import { listOwned } from './listing.ts';
import { MailboxWork } from './mailbox-work.ts';
import { replanMailbox } from './replanning.ts';
import { abandonEverywhere, type MailboxRoute } from './routes.ts';
import type { DeliveryRun } from './run.ts';
import { OUTLOOK_LIMITS } from './scheduler.ts';
import { sendGroup } from './sending.ts';
import { describeError, emptySummary, supportIds, type MailboxSummary } from './summary.ts';

/** Delivers one mailbox; a failure is reported in the summary (and, when it stops the run, in `run.fatal`). */
export async function deliverMailbox(run: DeliveryRun, calendar: string): Promise<MailboxSummary> {
  const { store } = run.options;
  if (!(await claimMailbox(store, calendar, run.workerId, run.leaseMs))) {
    // The lease holder delivers it, changes included; this run leaves the mailbox alone.
    run.plannedVersions.set(calendar, Number.POSITIVE_INFINITY);
    return { ...emptySummary(calendar), status: 'busy' };
  }
  const summary = emptySummary(calendar);
  let route: MailboxRoute | null = null;
  try {
    route = await run.routes.route(calendar);
    route = await deliverThrough(run, calendar, route, summary);
  } catch (error) {
    await mailboxFailed(run, summary, error, route);
  } finally {
    // A store that failed cannot release the lease either: it expires (a later run on this host takes it over).
    await store.releaseMailbox(calendar, run.workerId).catch((error: unknown) => {
      if (!(error instanceof StoreError && run.fatal)) throw error;
    });
  }
  return summary;
}

/**
 * Delivers the mailbox through its route. When the route came from a lookup and the target refuses the mailbox (on-
 * premises EWS: ErrorNonExistentMailbox; Graph: 404 MailboxNotEnabledForRESTAPI), the mailbox may have moved since
 * it was looked up: it is looked up again, and delivered once more through the new target when that is another.
 * Returns the route that delivered it; throws (with the route in use) when it failed.
 */
async function deliverThrough(run: DeliveryRun, calendar: string, first: MailboxRoute, summary: MailboxSummary): Promise<MailboxRoute> {
  let route = first;
  for (;;) {
    try {
      await new MailboxDelivery(run, calendar, route, summary).deliver();
      return route;
    } catch (error) {
      const again = route === first && route.lookedUp && refusesMailbox(error) ? await run.routes.route(calendar, { fresh: true }).catch(() => route) : route;
      if (again.name === route.name) throw new RoutedFailure(error, route);
      run.options.log?.info({ calendar, from: route.name, to: again.name, code: (error as TargetError).code, reason: again.reason }, 'the mailbox is no longer where it was looked up: delivering it through its new target');
      route = again;
    }
  }
}

function refusesMailbox(error: unknown): boolean {
  return error instanceof TargetError && error.scope === 'mailbox';
}

/** A failure together with the route that met it (its scheduler is the one to stop). */
class RoutedFailure {
  readonly error: unknown;
  readonly route: MailboxRoute;
  constructor(error: unknown, route: MailboxRoute) {
    this.error = error;
    this.route = route;
  }
}

class MailboxDelivery extends MailboxWork {
  private replanning: Promise<void> | null = null;
  private replanAgain = false;

  async deliver(): Promise<void> {
    const { store, reinventory, urgentWithinMs } = this.run.options;
    await this.claimTarget();
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
    if (this.summary.failed === 0) await store.recordMailboxOk(this.calendar, this.plannedVersion);
  }

  /**
   * Records that this route's target delivers the mailbox. When another one did before (a mailbox move: Exchange
   * keeps the items and their named properties, so our tagged events are in the new place), the store forgets the
   * old target's delivered rows and pending operations and the listing below adopts the tagged events the new
   * target holds: nothing is created twice, nothing lost, and the old target is not written again.
   */
  private async claimTarget(): Promise<void> {
    const previous = await this.run.options.store.assignTarget(this.calendar, this.route.name);
    if (!previous) return;
    this.summary.movedFrom = previous;
    this.run.options.log?.info({ calendar: this.calendar, from: previous, to: this.route.name, reason: this.route.reason }, 'the mailbox moved to another target: adopting its tagged events there');
  }

  /** Adoption: what the target says we own replaces what the store thought was delivered. */
  private async inventory(reason: ListingReason): Promise<void> {
    const { store, log } = this.run.options;
    const owned = await listOwned(this.scheduler, this.target, this.calendar, () => this.summary.requests++);
    await store.recordInventory(this.calendar, owned);
    this.summary.listed = owned.length;
    log?.info({ calendar: this.calendar, target: this.route.name, owned: owned.length, reason }, 'listed our tagged events');
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

/**
 * Reports why the mailbox failed. A failure no mailbox of its target can get past stops that target (its scheduler
 * refuses everything from then on); a failing store stops every target. Each is logged once, by the first mailbox.
 */
async function mailboxFailed(run: DeliveryRun, summary: MailboxSummary, thrown: unknown, started: MailboxRoute | null): Promise<void> {
  const { store, log } = run.options;
  const { calendar } = summary;
  const error = thrown instanceof RoutedFailure ? thrown.error : thrown;
  const route = thrown instanceof RoutedFailure ? thrown.route : started;
  const failure = describeError(error);
  summary.status = 'failed';
  summary.error = failure;
  const fatal = error instanceof TargetError && error.scope === 'fatal';
  const seenBefore = error instanceof StoreError ? run.storeFailed : fatal && route !== null && run.stoppedTargets.has(route.name);
  if (seenBefore) log?.debug({ calendar, code: failure.code }, 'stopped by the failure logged before');
  else log?.error({ calendar, code: failure.code, remedy: failure.remedy, ...(route ? { target: route.name } : {}), ...supportIds(error) }, failure.message);
  if (fatal) {
    run.fatal ??= error;
    if (route) {
      run.stoppedTargets.set(route.name, error);
      route.scheduler.abandonAll(error);
    }
  } else if (error instanceof StoreError) {
    // The store cannot record what happens (disk full, locked, damaged): no mailbox can go on. Nothing is recorded
    // about this mailbox either; what was recorded so far was recorded whole (one transaction each).
    const stop = new TargetError('fatal', error.code, error.message, { remedy: error.remedy, cause: error });
    run.fatal ??= stop;
    run.storeFailed = true;
    abandonEverywhere(run.routes, stop);
  } else {
    // 403/404 for the mailbox, or no route for it: stop sending to it, report why; the other mailboxes go on.
    if (error instanceof TargetError) route?.scheduler.abandonMailbox(calendar, error);
    await store.recordMailboxFailure(calendar, failure.code, failure.message, failure.remedy);
  }
}
