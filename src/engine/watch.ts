// One watch round over mailboxes (docs/drift.md): for each, read what changed in its calendar since the sync state
// the store keeps (Graph calendarView/delta, EWS SyncFolderItems, CalDAV sync-collection), page by page, each page
// one request through the target's scheduler (so the mailbox's limits and Retry-After hold for watching too), find
// what people did to calpush's events (planner/drift.ts) and record it with the policy that answers it.
//
// A round holds the mailbox's lease, as a delivery does: the two never work on one mailbox at once, and what the round
// records is fenced like a delivery's writes. A mailbox another process holds is left for the next round. Restoring
// is delivery's work: the round returns the mailboxes that have something to restore (`toDeliver`), and the caller
// delivers them (calpush serve's loop, `calpush watch --once`). A deletion to restore makes the mailbox listed before
// it is planned, so what is created is decided by what the calendar holds, never by the watch: nothing twice.
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../model/clock.ts';
import { findDrift, type DriftDecision, type DriftPolicies } from '../planner/drift.ts';
import { LeaseLost, type DeliveryStore, type Lease } from '../store/store.ts';
import type { WatchStateRow, WatchStore } from '../store/watch.ts';
import { TargetError, WATCH_STATE_NOT_FOUND, type WatchChange, type WatchPage } from '../targets/target.ts';
import { claimMailbox, DEFAULT_LEASE_MS, defaultWorkerId, leaseOwner, LeaseKeeper, ledgerName } from './lease.ts';
import type { MailboxRoute, MailboxRoutes } from './routes.ts';
import type { DeliveryLog } from './run.ts';
import { describeError } from './summary.ts';
import { withoutNonEdits } from './edits.ts';

export interface WatchOptions {
  store: DeliveryStore & WatchStore;
  routes: MailboxRoutes;
  calendars: string[];
  policyOf: (calendar: string) => DriftPolicies;
  /** The window Graph's delta reads, in days around now. */
  window: { pastDays: number; futureDays: number };
  workerId?: string;
  leaseMs?: number;
  clock?: Clock;
  log?: DeliveryLog;
  /** Told of each finding as it is recorded (the metrics). */
  onDrift?: (calendar: string, decision: DriftDecision) => void;
  /** Pages one mailbox's round may read at most (a service that never says the round is over cannot hold it). */
  maxPages?: number;
  /**
   * The backstop (watch.reconcileHours): a mailbox whose last full round is older is read in full again and listed
   * before its next plan (the listing adopts what the calendar holds, as --reinventory does); a target that cannot
   * watch is only listed. Absent: never.
   */
  reconcileMs?: number;
  /** Mailboxes read from no sync state this round (Graph said notifications were missed). */
  fullFor?: ReadonlySet<string>;
}

export type WatchStatus = 'watched' | 'full' | 'busy' | 'unwatched' | 'failed';

export interface WatchMailboxSummary {
  calendar: string;
  target: string | null;
  /** watched: read on from the sync state; full: read from no state (first round, or the service forgot it); unwatched: the target cannot watch. */
  status: WatchStatus;
  /** The backstop was due: the mailbox is listed before its next plan. */
  reconciled: boolean;
  changes: number;
  requests: number;
  drift: DriftDecision[];
  error?: { code: string; message: string; remedy?: string };
}

export interface WatchSummary {
  mailboxes: WatchMailboxSummary[];
  /** Mailboxes with drift to restore: deliver them. */
  toDeliver: string[];
  durationMs: number;
}

const DAY_MS = 86_400_000;
const DEFAULT_MAX_PAGES = 10_000;

export async function watchMailboxes(options: WatchOptions): Promise<WatchSummary> {
  const started = performance.now();
  const mailboxes: WatchMailboxSummary[] = [];
  for (const calendar of options.calendars) mailboxes.push(await watchMailbox(options, calendar));
  const toDeliver = mailboxes.filter((m) => m.reconciled || m.drift.some((d) => d.policy === 'restore')).map((m) => m.calendar);
  return { mailboxes, toDeliver, durationMs: Math.round(performance.now() - started) };
}

async function watchMailbox(options: WatchOptions, calendar: string): Promise<WatchMailboxSummary> {
  const summary: WatchMailboxSummary = { calendar, target: null, status: 'watched', reconciled: false, changes: 0, requests: 0, drift: [] };
  const workerId = options.workerId ?? defaultWorkerId();
  // The round holds the mailbox under its own owner id: a delivery of the same worker (or of another) and the round
  // exclude each other — the round reading while calpush writes would take calpush's own writes for a person's, or
  // miss a create that lands during a full round — and releasing the round's lease frees no delivery's.
  const owner = leaseOwner(workerId, 'watch');
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const lease = await claimMailbox(options.store, calendar, owner, leaseMs);
  if (!lease) return { ...summary, status: 'busy' };
  // Kept alive while the round's pages wait their turn at the lowest priority; lost → the round stops (its writes are
  // fenced by the lease token anyway).
  const keeper = new LeaseKeeper(options.store, leaseMs);
  const holding = { lost: false };
  keeper.hold(lease, () => {
    holding.lost = true;
  });
  try {
    const route = await options.routes.route(calendar);
    summary.target = route.name;
    const stored = await options.store.watchState(calendar);
    summary.reconciled = reconcileDue(options, stored);
    if (summary.reconciled) await options.store.invalidateInventory(calendar);
    if (!route.target.watch) {
      // Nothing to read: the periodic listing is all there is; the state row only dates it.
      if (summary.reconciled || !stored) await options.store.saveWatchState(calendar, route.name, null, true, lease);
      return { ...summary, status: 'unwatched' };
    }
    // A state of another target (the mailbox moved) means nothing to this one; the backstop reads in full.
    const state = stored?.target === route.name && !summary.reconciled && !options.fullFor?.has(calendar) ? stored.state : null;
    await new MailboxWatch(options, route, lease, summary, ledgerName(workerId), holding).run(state);
  } catch (error) {
    const failure = describeError(error);
    summary.status = 'failed';
    summary.error = failure;
    options.log?.warn({ calendar, code: failure.code, remedy: failure.remedy }, `watching the mailbox failed: ${failure.message}`);
  } finally {
    keeper.drop(calendar);
    await options.store.releaseMailbox(calendar, owner);
  }
  return summary;
}

/** Whether the backstop is due: the last full round (or, for a target that cannot watch, listing) is older than reconcileMs. */
function reconcileDue(options: WatchOptions, stored: WatchStateRow | null): boolean {
  if (!stored || options.reconcileMs === undefined) return false;
  const since = Date.parse(stored.fullAt ?? stored.updatedAt);
  return !Number.isFinite(since) || (options.clock ?? systemClock).now() - since >= options.reconcileMs;
}

/** One mailbox's round: pages from its sync state (or from none) to the end, each page's findings recorded. */
class MailboxWatch {
  private readonly options: WatchOptions;
  private readonly route: MailboxRoute;
  private readonly lease: Lease;
  private readonly summary: WatchMailboxSummary;
  private readonly ledgerId: string;
  private readonly calendar: string;

  private readonly holding: { lost: boolean };

  constructor(options: WatchOptions, route: MailboxRoute, lease: Lease, summary: WatchMailboxSummary, ledgerId: string, holding: { lost: boolean }) {
    this.holding = holding;
    this.options = options;
    this.route = route;
    this.lease = lease;
    this.summary = summary;
    this.ledgerId = ledgerId;
    this.calendar = summary.calendar;
  }

  async run(state: string | null): Promise<void> {
    try {
      await this.round(state);
    } catch (error) {
      if (!(error instanceof TargetError && error.code === WATCH_STATE_NOT_FOUND) || state === null) throw error;
      // The service forgot the state (Graph 410, EWS ErrorInvalidSyncStateData, CalDAV valid-sync-token): a full round.
      this.options.log?.info({ calendar: this.calendar, target: this.route.name }, 'the sync state was forgotten by the service: reading the calendar in full');
      await this.options.store.saveWatchState(this.calendar, this.route.name, null, false, this.lease);
      await this.round(null);
    }
  }

  private async round(from: string | null): Promise<void> {
    const full = from === null;
    if (full) this.summary.status = 'full';
    const now = (this.options.clock ?? systemClock).now();
    const window = { start: now - this.options.window.pastDays * DAY_MS, end: now + this.options.window.futureDays * DAY_MS };
    let state = from;
    // A full round reports every item there is (in Graph's window): our items it did not report are gone.
    const seen = full ? new Set<string>() : null;
    for (let pages = 0; ; pages++) {
      if (this.holding.lost) throw new LeaseLost(this.lease);
      if (pages >= (this.options.maxPages ?? DEFAULT_MAX_PAGES)) throw new TargetError('transient', 'WatchTooLong', `the watch of ${this.calendar} read ${pages} pages without reaching the end of the round; it goes on from there next round`);
      const page = await this.page(state, window);
      this.summary.changes += page.changes.length;
      for (const change of page.changes) seen?.add(change.itemId);
      await this.record(page.changes, window);
      if (seen && !page.more) await this.record(await this.missing(seen, window), window);
      await this.options.store.saveWatchState(this.calendar, this.route.name, page.state, full && pages === 0, this.lease);
      state = page.state;
      if (!page.more) return;
    }
  }

  /** Our delivered items a full round did not report, as removals (Graph: only those known to start in its window). */
  private async missing(seen: Set<string>, window: { start: number; end: number }): Promise<WatchChange[]> {
    const windowed = this.route.target.kind === 'graph';
    const inWindow = (starts: number | null | undefined) => !windowed || (typeof starts === 'number' && starts >= window.start && starts < window.end);
    return (await this.options.store.deliveredFor(this.calendar)).filter((row) => !seen.has(row.itemId) && inWindow(row.startsAtMs)).map((row) => ({ kind: 'removed', itemId: row.itemId }));
  }

  private page(state: string | null, window: { start: number; end: number }): Promise<WatchPage> {
    const { target, scheduler } = this.route;
    // Background work: after every write of the mailbox in its line (the scheduler runs lower priorities first).
    return scheduler.submit(
      this.calendar,
      async () => {
        this.summary.requests++;
        await this.options.store.chargeRequests?.(this.calendar, this.ledgerId, 1);
        return target.watch!.changes(this.calendar, state, window);
      },
      { priority: Number.MAX_SAFE_INTEGER, lane: target.laneFor?.(this.calendar) ?? null },
    );
  }

  /** One read of the round (edits.ts) through the scheduler, as a page is. */
  private read<T>(run: () => Promise<T>, cost: number): Promise<T> {
    const { target, scheduler } = this.route;
    return scheduler.submit(
      this.calendar,
      async () => {
        this.summary.requests++;
        await this.options.store.chargeRequests?.(this.calendar, this.ledgerId, cost);
        return run();
      },
      { priority: Number.MAX_SAFE_INTEGER, cost, lane: target.laneFor?.(this.calendar) ?? null },
    );
  }

  /** The page's findings, with the policy that answers each, recorded under the lease. */
  private async record(changes: WatchChange[], window: { start: number; end: number }): Promise<void> {
    if (!changes.length) return;
    const { store, log } = this.options;
    const [delivered, desired, known] = await Promise.all([store.deliveredFor(this.calendar), store.desiredFor(this.calendar), store.driftFor(this.calendar)]);
    changes = await withoutNonEdits(changes, { calendar: this.calendar, watch: this.route.target.watch!, delivered, desired, submit: (run, cost) => this.read(run, cost) });
    const policies = this.options.policyOf(this.calendar);
    const found = findDrift({ delivered, desired, changes, known, window: this.route.target.kind === 'graph' ? window : null, policyOf: () => policies });
    if (!found.length) return;
    // A deletion to restore is forgotten under a new generation in the same transaction (store/watch.ts).
    const relist = found.some((d) => d.kind === 'deleted' && d.policy === 'restore');
    await store.recordDrift(this.calendar, found, relist, this.lease);
    for (const decision of found) {
      this.summary.drift.push(decision);
      this.options.onDrift?.(this.calendar, decision);
      log?.info({ calendar: this.calendar, key: decision.key, kind: decision.kind, policy: decision.policy, itemId: decision.itemId }, `a person ${decision.kind === 'edited' ? 'changed' : 'deleted'} one of our events: ${POLICY_WORDS[decision.policy]}`);
    }
  }
}

const POLICY_WORDS: Record<DriftDecision['policy'], string> = {
  restore: 'restoring it as desired',
  respect: 'leaving the change (respect) while the source keeps the event as it is',
  detach: 'no longer managing the event (detach)',
};
