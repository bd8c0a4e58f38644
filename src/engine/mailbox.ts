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
import { abandonEverywhere, type MailboxRoute } from './routes.ts';
import type { DeliveryRun } from './run.ts';
import { OUTLOOK_LIMITS } from './scheduler.ts';
import { sendGroup } from './sending.ts';
import { describeError, emptySummary, supportIds, type MailboxSummary } from './summary.ts';

/** Delivers one mailbox; a failure is reported in the summary (and, when it stops the run, in `run.fatal`). */
export async function deliverMailbox(run: DeliveryRun, calendar: string): Promise<MailboxSummary> {
  const { store } = run.options;
  const lease = await claimMailbox(store, calendar, run.workerId, run.leaseMs);
  if (!lease) {
    // The lease holder delivers it, changes included; this run leaves the mailbox alone.
    run.plannedVersions.set(calendar, Number.POSITIVE_INFINITY);
    return { ...emptySummary(calendar), status: 'busy' };
  }
  const holding = new LeaseHolding(lease);
  run.leases.hold(lease, () => holding.lose());
  const summary = emptySummary(calendar);
  let route: MailboxRoute | null = null;
  try {
    route = await run.routes.route(calendar);
    route = await deliverThrough(run, calendar, route, summary, holding);
  } catch (error) {
    await mailboxFailed(run, summary, error, route, lease).catch((failure: unknown) => {
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
  return summary;
}

/**
 * The lease a delivery holds its mailbox by, and the delivery under way through it (a mailbox found moved is
 * delivered again through its new target): when the heartbeat loses the lease, that delivery halts.
 */
class LeaseHolding {
  readonly lease: Lease;
  private lost: TargetError | null = null;
  private work: MailboxWork | null = null;
  constructor(lease: Lease) {
    this.lease = lease;
  }

  /** The delivery under way from now; one that starts after the lease was lost halts at once. */
  through(work: MailboxWork): void {
    this.work = work;
    work.lease = this.lease;
    if (this.lost) work.halt(this.lost);
  }

  lose(): void {
    this.lost ??= leaseLost(this.lease);
    this.work?.halt(this.lost);
  }
}

/**
 * Delivers the mailbox through its route. When the route came from a lookup and the target refuses the mailbox (on-
 * premises EWS: ErrorNonExistentMailbox; Graph: 404 MailboxNotEnabledForRESTAPI), the mailbox may have moved since
 * it was looked up: it is looked up again, and delivered once more through the new target when that is another.
 * Returns the route that delivered it; throws (with the route in use) when it failed.
 */
async function deliverThrough(run: DeliveryRun, calendar: string, first: MailboxRoute, summary: MailboxSummary, holding: LeaseHolding): Promise<MailboxRoute> {
  let route = first;
  for (;;) {
    try {
      const work = new MailboxDelivery(run, calendar, route, summary);
      holding.through(work);
      await countSpentElsewhere(run, route, calendar);
      await work.deliver();
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
  // A lost lease is no refusal by the target: the mailbox stays where it is, another worker delivers it.
  return error instanceof TargetError && error.scope === 'mailbox' && error.code !== 'LeaseLost';
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

/**
 * Outlook's budget is per app and mailbox: what other workers sent to this mailbox in the window (the store's
 * request ledger) counts here too, in the scheduler of the target that delivers it, so a lease handover does not
 * start the 10 minutes afresh.
 */
async function countSpentElsewhere(run: DeliveryRun, route: MailboxRoute, calendar: string): Promise<void> {
  const { store } = run.options;
  if (!store.requestsSpentByOthers) return;
  route.scheduler.spentElsewhere(calendar, await store.requestsSpentByOthers(calendar, run.ledgerId, OUTLOOK_LIMITS.mailboxBudget.windowMs));
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
    await this.claimTarget();
    await this.holdForCreatesInFlight();
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

  /**
   * Records that this route's target delivers the mailbox. When another one did before (a mailbox move: Exchange
   * keeps the items and their named properties, so our tagged events are in the new place), the store forgets the
   * old target's delivered rows and pending operations and the listing below adopts the tagged events the new
   * target holds: nothing is created twice, nothing lost, and the old target is not written again.
   */
  private async claimTarget(): Promise<void> {
    const previous = await this.run.options.store.assignTarget(this.calendar, this.route.name, this.lease);
    if (!previous) return;
    this.summary.movedFrom = previous;
    this.run.options.log?.info({ calendar: this.calendar, from: previous, to: this.route.name, reason: this.route.reason }, 'the mailbox moved to another target: adopting its tagged events there');
  }

  /**
   * A create sent under an earlier holding of the mailbox (a worker that lost the lease, a process that was killed)
   * may still be on its way: a listing now would miss it and the plan create it again. The scheduler holds the
   * mailbox — the listing first — until it can have landed (engine/in-flight.ts); the lease is kept meanwhile.
   */
  private async holdForCreatesInFlight(): Promise<void> {
    const ms = await this.run.options.store.createsLandWithin(this.calendar);
    if (ms <= 0) return;
    this.run.options.log?.info({ calendar: this.calendar, waitMs: ms }, 'a create sent earlier may still land: listing the mailbox once it can have');
    this.scheduler.holdMailbox(this.calendar, ms);
  }

  /** Adoption: what the target says we own replaces what the store thought was delivered. */
  private async inventory(reason: ListingReason): Promise<void> {
    const { store, log } = this.run.options;
    const owned = await listOwned(this.scheduler, this.target, this.calendar, async () => {
      this.summary.requests++;
      await store.chargeRequests?.(this.calendar, this.run.ledgerId, 1);
    });
    await store.recordInventory(this.calendar, owned, this.lease);
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
 * A lost lease is no failure: another worker holds the mailbox now and delivers it.
 */
async function mailboxFailed(run: DeliveryRun, summary: MailboxSummary, thrown: unknown, started: MailboxRoute | null, lease: Lease): Promise<void> {
  const { store, log } = run.options;
  const { calendar } = summary;
  const error = thrown instanceof RoutedFailure ? thrown.error : thrown;
  const route = thrown instanceof RoutedFailure ? thrown.route : started;
  if (error instanceof LeaseLost || (error instanceof TargetError && error.code === 'LeaseLost')) {
    // Nothing to report, nothing recorded under this lease.
    log?.warn({ calendar }, 'lost the mailbox lease to another worker; it delivers the mailbox');
    route?.scheduler.abandonMailbox(calendar, error instanceof TargetError ? error : leaseLost(lease));
    summary.status = 'busy';
    return;
  }
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
    await store.recordMailboxFailure(calendar, failure.code, failure.message, failure.remedy, lease);
  }
}
