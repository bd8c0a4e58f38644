// Delivery: brings each mailbox's calendar to its desired state.
//
// Per mailbox: claim it (lease), adopt what the target says we own when our record of it may be incomplete,
// plan, persist the plan as pending work, then run each operation through the scheduler and record its answer
// the moment it arrives. Every request goes through the scheduler; nothing here sends on its own.
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../model/clock.ts';
import { describe, type CanonicalEvent } from '../model/event.ts';
import { plan, transactionIdFor } from '../planner/plan.ts';
import { StoreError } from '../store/errors.ts';
import type { DeliveredRow, DesiredRow, PendingOp, Store } from '../store/store.ts';
import { TargetError, type BatchOp, type BatchOutcome, type CalendarTarget, type ItemRef } from '../targets/target.ts';
import { OUTLOOK_LIMITS, type Scheduler } from './scheduler.ts';

/** What delivery needs of a scheduler: the Scheduler itself, or a view of a shared one (calpush serve). */
export type DeliveryScheduler = Pick<Scheduler, 'submit' | 'pause' | 'succeeded' | 'abandonMailbox' | 'abandonAll' | 'activeMailboxes' | 'globalConcurrency'>;

export interface DeliveryOptions {
  store: Store;
  target: CalendarTarget;
  scheduler: DeliveryScheduler;
  instance: string;
  calendars: string[];
  /** List every mailbox's tagged items again, even where the store has a record of them. */
  reinventory?: boolean;
  /** Mailboxes whose pipelines run at once; requests are still gated per mailbox by the scheduler. */
  parallelMailboxes?: number;
  /** Identifies this worker in mailbox leases. */
  workerId?: string;
  leaseMs?: number;
  onProgress?: (progress: { done: number; total: number }) => void;
  /** Sends of one operation inside batches before it counts as failed. */
  maxAttempts?: number;
  /** How often the store is asked for desired-state changes made while this delivery runs. */
  watchIntervalMs?: number;
  /** Structured log (pino's shape); nothing is logged without one. Never given secrets. */
  log?: DeliveryLog;
  /** Operations on events starting sooner than this are urgent: batched only with each other (the scheduler's window). */
  urgentWithinMs?: number;
  /**
   * Where changes recorded while this delivery runs come from: a subscription that calls back with the changed
   * calendar (calpush serve's loop, which already watches the store) and returns its unsubscribe; without one,
   * the store is asked every `watchIntervalMs`.
   */
  changes?: (listener: (calendar: string) => void) => () => void;
  /**
   * How long to keep trying a mailbox another process is delivering ("busy"): once its lease is free it is
   * delivered here (or found delivered). 0 (the default) reports it busy at once.
   */
  busyWaitMs?: number;
  /** Called each time a mailbox's delivery ends (also "busy" and "failed"), while the rest goes on. */
  onMailboxDone?: (summary: MailboxSummary) => void;
  /** What time it is: which operations are urgent (default: the system clock). Waits are measured monotonically. */
  clock?: Clock;
}

export interface DeliveryLog {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface ItemFailure {
  id: string;
  operation: PendingOp['kind'];
  code: string;
  message: string;
}

export interface MailboxSummary {
  calendar: string;
  status: 'ok' | 'failed' | 'busy';
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  failed: number;
  requests: number;
  error?: { code: string; message: string; remedy?: string };
  failures: ItemFailure[];
}

export interface DeliverySummary {
  mailboxes: MailboxSummary[];
  totals: { created: number; updated: number; deleted: number; unchanged: number; failed: number; requests: number; failedMailboxes: number };
  /** What stopped the whole run; `source: 'store'` when it was the store (disk full, locked…), not the target. */
  fatal?: { code: string; message: string; remedy?: string; source?: 'store' };
}

function mergeSummaries(a: MailboxSummary, b: MailboxSummary): MailboxSummary {
  return {
    calendar: a.calendar,
    status: b.status,
    created: a.created + b.created,
    updated: a.updated + b.updated,
    deleted: a.deleted + b.deleted,
    unchanged: b.unchanged,
    failed: b.failed,
    requests: a.requests + b.requests,
    ...(b.error ? { error: b.error } : {}),
    failures: b.failures,
  };
}

/**
 * The mailboxes of one delivery: which wait, which run, which are done, and changes that arrive meanwhile.
 * Workers take mailboxes with next(); it resolves undefined once nothing is waiting and nothing runs.
 */
class MailboxQueue {
  private readonly waiting: string[];
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private wakers: Array<() => void> = [];

  constructor(calendars: string[]) {
    this.waiting = [...calendars];
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      const calendar = this.waiting.shift();
      if (calendar !== undefined) {
        this.running.add(calendar);
        return calendar;
      }
      if (this.running.size === 0) {
        this.wake();
        return undefined;
      }
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** Takes a mailbox that is not running (waiting, or not queued at all) to deliver it now; false if it runs. */
  take(calendar: string): boolean {
    if (this.running.has(calendar)) return false;
    const index = this.waiting.indexOf(calendar);
    if (index >= 0) this.waiting.splice(index, 1);
    this.running.add(calendar);
    return true;
  }

  finished(calendar: string): void {
    this.running.delete(calendar);
    if (this.again.delete(calendar)) this.waiting.unshift(calendar);
    this.wake();
  }

  /** The mailbox's desired state changed: deliver it next (or again, once its current delivery ends). */
  changed(calendar: string): void {
    if (this.running.has(calendar)) {
      this.again.add(calendar);
      return;
    }
    const index = this.waiting.indexOf(calendar);
    if (index >= 0) this.waiting.splice(index, 1);
    this.waiting.unshift(calendar);
    this.wake();
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const resolve of wakers) resolve();
  }
}

/** Lease owners are "host:pid"; on this host a pid that no longer exists cannot be delivering. */
function isDeadLocalProcess(owner: string): boolean {
  const separator = owner.lastIndexOf(':');
  if (owner.slice(0, separator) !== hostname()) return false;
  const pid = Number(owner.slice(separator + 1));
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function describeError(error: unknown): { code: string; message: string; remedy?: string } {
  if (error instanceof TargetError || error instanceof StoreError) return { code: error.code, message: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) };
  return { code: 'InternalError', message: error instanceof Error ? error.message : String(error) };
}

/** Graph's request-id and our client-request-id of a failed request, for the log (what Microsoft support asks for). */
function supportIds(error: unknown): { requestId?: string; clientRequestId?: string } {
  return error instanceof TargetError ? error.supportIds() : {};
}

export async function deliver(options: DeliveryOptions): Promise<DeliverySummary> {
  const { store, target, scheduler } = options;
  const workerId = options.workerId ?? `${hostname()}:${process.pid}`;
  const leaseMs = options.leaseMs ?? 15 * 60_000;
  const progress = { done: 0, total: 0 };
  const report = () => options.onProgress?.({ ...progress });
  let fatal: TargetError | null = null;
  const maxAttempts = options.maxAttempts ?? 8;
  /** The desired version each mailbox was last planned at in this run. */
  const plannedVersions = new Map<string, number>();
  /** Mailboxes being delivered now → re-plan them (a change recorded while they run). */
  const running = new Map<string, () => void>();

  /** Claims the mailbox; a lease left by a dead calpush process on this host (killed mid-sync) is taken over. */
  async function claim(calendar: string): Promise<boolean> {
    if (await store.claimMailbox(calendar, workerId, leaseMs)) return true;
    const holder = await store.leaseHolder(calendar);
    if (holder && isDeadLocalProcess(holder)) return store.takeOverMailbox(calendar, holder, workerId, leaseMs);
    return false;
  }

  async function deliverMailbox(calendar: string): Promise<MailboxSummary> {
    const summary: MailboxSummary = { calendar, status: 'ok', created: 0, updated: 0, deleted: 0, unchanged: 0, failed: 0, requests: 0, failures: [] };
    if (!(await claim(calendar))) {
      // The lease holder delivers it, changes included; this run leaves the mailbox alone.
      plannedVersions.set(calendar, Number.POSITIVE_INFINITY);
      summary.status = 'busy';
      return summary;
    }
    try {
      const pendingBefore = await store.pendingOps(calendar);
      // A create that was sent but whose answer was never recorded (crash, lost answer): list what the target
      // really has before planning, so nothing is created twice even if the transactionId window has passed.
      const outcomeUnknown = pendingBefore.some((op) => op.kind === 'create' && op.attempts > 0);
      const mailbox = await store.mailbox(calendar);
      const desiredVersion = mailbox?.desiredVersion ?? 0;
      plannedVersions.set(calendar, desiredVersion);
      if (options.reinventory || outcomeUnknown || !mailbox?.inventoriedAt) {
        const owned: DeliveredRow[] = [];
        let cursor: string | undefined;
        do {
          const page = await scheduler.submit(calendar, () => {
            summary.requests++;
            return target.listOwned(calendar, cursor);
          }, { priority: Number.MIN_SAFE_INTEGER });
          for (const item of page.items) owned.push({ calendar, ...item });
          cursor = page.next;
        } while (cursor);
        await store.recordInventory(calendar, owned);
        options.log?.info({ calendar, owned: owned.length, reason: options.reinventory ? 'requested' : outcomeUnknown ? 'outcome of a create unknown' : 'no record of this mailbox' }, 'listed our tagged events');
      }

      const generations = await store.generations(calendar);
      let plannedVersion = desiredVersion;
      let desiredByKey = new Map<string, DesiredRow>();
      /** The desired row each create/update was planned from: what it sends, even if the source changes meanwhile. */
      const contentOf = new Map<PendingOp, DesiredRow>();
      /** Planned operations waiting in the scheduler. An operation a re-plan drops from here is superseded: its
       * request skips it when its turn comes. */
      const queued = new Set<PendingOp>();
      /** Operations sent whose answers are not recorded yet; a re-plan leaves their keys alone. */
      const inFlight = new Set<PendingOp>();
      /** Keys a re-plan left alone (in flight) although the source changed them: planned again once answered. */
      const deferred = new Set<string>();
      const tasks = new Set<Promise<void>>();
      let taskError: unknown = null;
      const track = (task: Promise<unknown>) => {
        const settled: Promise<void> = task.then(
          () => {},
          (error: unknown) => {
            taskError ??= error;
          },
        ).then(() => {
          tasks.delete(settled);
        });
        tasks.add(settled);
      };

      const batch = target.batch;
      let stop: TargetError | null = null;
      const halt = (error: TargetError) => {
        if (stop) return;
        // Stop the mailbox at once (queued requests are dropped); report once in-flight ones have settled.
        stop = error;
        if (error.scope === 'fatal') scheduler.abandonAll(error);
        else scheduler.abandonMailbox(calendar, error);
      };
      const fail = async (op: PendingOp, error: unknown) => {
        const failure = describeError(error);
        options.log?.warn({ calendar, id: desiredByKey.get(op.key)?.sourceId, operation: op.kind, code: failure.code, ...supportIds(error) }, failure.message);
        summary.failed++;
        summary.failures.push({ id: desiredByKey.get(op.key)?.sourceId ?? op.key, operation: op.kind, code: failure.code, message: failure.message });
        await store.recordOpFailure(calendar, op.key, `${failure.code}: ${failure.message}`);
        progress.done++;
        report();
      };
      const desiredOf = (op: PendingOp) => describe(contentOf.get(op)!.event as CanonicalEvent);
      const toBatchOp = (op: PendingOp): BatchOp =>
        op.kind === 'create'
          ? { kind: 'create', desired: desiredOf(op), transactionId: op.transactionId! }
          : op.kind === 'update'
            ? { kind: 'update', desired: desiredOf(op), item: { itemId: op.itemId!, changeKey: op.changeKey ?? null } }
            : { kind: 'delete', calendar, item: { itemId: op.itemId!, changeKey: op.changeKey ?? null } };
      const sendOne = (op: BatchOp): Promise<ItemRef | undefined> =>
        op.kind === 'create'
          ? target.create(op.desired, op.transactionId)
          : op.kind === 'update'
            ? target.update(op.desired, op.item)
            : target.remove(calendar, op.item).then(() => undefined);

      /** Records the answers of one request (a batch's successes together, in one store transaction). */
      const record = async (answered: Array<{ op: PendingOp; item: ItemRef | undefined }>) => {
        if (!answered.length) return;
        await store.completeOps(
          answered.map(({ op, item }) => ({
            op,
            delivered:
              op.kind === 'delete'
                ? null
                : {
                    calendar,
                    key: op.key,
                    itemId: item!.itemId,
                    changeKey: item!.changeKey,
                    transactionId: op.kind === 'create' ? op.transactionId : null,
                    contentHash: op.contentHash!,
                    startsAtMs: contentOf.get(op)?.startsAtMs ?? null,
                  },
          })),
        );
        for (const { op } of answered) {
          if (op.kind === 'create') summary.created++;
          else if (op.kind === 'update') summary.updated++;
          else summary.deleted++;
        }
        progress.done += answered.length;
        report();
      };

      /** Someone deleted our item in Outlook; the source still wants the event, so it is created anew. */
      const recreate = async (op: PendingOp): Promise<PendingOp> => {
        await store.forgetDelivered(calendar, op.key, op.itemId!);
        const generation = (generations.get(op.key) ?? 0) + 1;
        generations.set(op.key, generation);
        const created: PendingOp = { ...op, kind: 'create', itemId: null, changeKey: null, transactionId: transactionIdFor(options.instance, calendar, op.key, op.contentHash!, generation) };
        contentOf.set(created, contentOf.get(op)!);
        await store.replacePendingOps(calendar, [...(await store.pendingOps(calendar)).filter((p) => p.key !== op.key || p.kind === 'delete'), created]);
        return created;
      };

      /**
       * One request for a group of operations (a batch, or a single call) through the scheduler. The operations
       * still planned when its turn comes are sent (the rest were superseded by a re-plan) and come back with an
       * outcome each.
       */
      const send = async (group: PendingOp[]): Promise<Array<[PendingOp, BatchOutcome]>> => {
        let taken: PendingOp[] | null = null;
        const take = (): PendingOp[] => {
          if (taken) return taken;
          const ops = group.filter((op) => queued.delete(op));
          for (const op of ops) inFlight.add(op);
          taken = ops;
          return ops;
        };
        const priority = Math.min(...group.map((op) => op.startsAtMs ?? Number.MAX_SAFE_INTEGER));
        const mode = batchMode();
        const slots = mode === 'parallel' ? Math.min(batch!.parallelism, group.length) : 1;
        try {
          const outcomes = await scheduler.submit(
            calendar,
            async (): Promise<BatchOutcome[]> => {
              const first = !taken;
              const ops = take();
              const creates = ops.filter((op) => op.kind === 'create').map((op) => op.key);
              // Marked before the request leaves: a crash from here on means "outcome unknown" (list before re-planning).
              if (first && creates.length) await store.markOpAttempts(calendar, creates);
              if (!ops.length) return [];
              summary.requests++;
              if (ops.length === 1 || !batch) {
                const item = await sendOne(toBatchOp(ops[0]!));
                return [{ ok: true, ...(item ? { item } : {}) }];
              }
              return batch.run(calendar, ops.map(toBatchOp), mode);
            },
            { priority, cost: group.length, slots },
          );
          return take().map((op, index) => [op, outcomes[index]!]);
        } catch (error) {
          // The store failing (disk full…) stops the run; it is no failure of these operations.
          if (error instanceof StoreError) throw error;
          const failure = error instanceof TargetError ? error : new TargetError('item', 'InternalError', error instanceof Error ? error.message : String(error));
          return take().map((op) => [op, { ok: false, error: failure }]);
        }
      };

      /**
       * "auto": chains (4 per mailbox, each one request slot for 20 × server time; the round trip is hidden) while
       * the active mailboxes leave enough global request slots for that; once they would not, one parallel batch per
       * mailbox (one request slot for ⌈20 / 4⌉ × server time + a round trip) does more with each slot.
       */
      const batchMode = (): 'chain' | 'parallel' =>
        !batch || batch.mode === 'chain' ? 'chain' : batch.mode === 'parallel' ? 'parallel' : scheduler.activeMailboxes() * batch.parallelism > scheduler.globalConcurrency ? 'parallel' : 'chain';

      const urgentBefore = (options.clock ?? systemClock).now() + (options.urgentWithinMs ?? OUTLOOK_LIMITS.urgentWithinMs);
      const startOf = (op: PendingOp) => op.startsAtMs ?? Number.MAX_SAFE_INTEGER;
      /** Groups in start order; urgent operations never share a batch with far-future ones, so they are not held up by them. */
      const chunked = (ops: PendingOp[]) => {
        const size = batch ? batch.maxOps : 1;
        const groups: PendingOp[][] = [];
        let current: PendingOp[] = [];
        for (const op of [...ops].sort((a, b) => startOf(a) - startOf(b))) {
          if (current.length === size || (current.length > 0 && startOf(current[0]!) < urgentBefore !== startOf(op) < urgentBefore)) {
            groups.push(current);
            current = [];
          }
          current.push(op);
        }
        if (current.length) groups.push(current);
        return groups;
      };

      const run = async (group: PendingOp[], attempt: number): Promise<void> => {
        const outcomes = await send(group);
        const retry: PendingOp[] = [];
        let pauseMs = 0;
        let throttled = false;
        const answered: Array<{ op: PendingOp; item: ItemRef | undefined }> = [];
        for (const [op, outcome] of outcomes) {
          if (outcome.ok) {
            if (outcomes.length > 1) scheduler.succeeded(calendar);
            answered.push({ op, item: outcome.item });
            continue;
          }
          const { error } = outcome;
          if (error.scope === 'mailbox' || error.scope === 'fatal') {
            halt(error);
            continue;
          }
          if (error.scope === 'gone' && op.kind === 'update') {
            retry.push(await recreate(op));
            continue;
          }
          // Items of a batch that were throttled or not run are sent again after the longest Retry-After among
          // them (https://learn.microsoft.com/graph/throttling, "Throttling and batching"). A single request has
          // already had its retries inside the scheduler.
          if (error.scope === 'transient' && outcomes.length > 1 && attempt < maxAttempts) {
            retry.push(op);
            if (error.status === 429) throttled = true;
            pauseMs = Math.max(pauseMs, error.retryAfterMs ?? 0);
            continue;
          }
          await fail(op, error);
        }
        await record(answered);
        for (const [op] of outcomes) inFlight.delete(op);
        for (const op of retry) queued.add(op);
        // The source changed this mailbox while the request was out, or a key left alone for it is answered now.
        if (!stop && (outcomes.some(([op]) => deferred.has(op.key)) || ((await store.mailbox(calendar))?.desiredVersion ?? 0) > plannedVersion)) {
          track(replan());
        }
        if (!retry.length || stop) return;
        if (pauseMs > 0 || throttled) {
          options.log?.warn({ calendar, retry: retry.length, pauseMs: pauseMs || 1000, throttled }, 'batch items throttled or failed: sending them again after Retry-After');
          scheduler.pause(calendar, pauseMs || 1000, throttled);
        }
        await Promise.all(chunked(retry).map((next) => run(next, attempt + 1)));
      };

      const identity = (op: PendingOp) => `${op.kind}\n${op.key}\n${op.itemId ?? ''}\n${op.contentHash ?? ''}`;
      /**
       * Plans the mailbox against the store's current desired state, leaving alone keys with a request out. An
       * operation already queued and still wanted keeps its place; one no longer wanted is superseded; new ones
       * are queued now (an urgent one goes before the far-future work already queued: the scheduler orders by
       * start). So a change to a mailbox being delivered is sent within about one request's time, not after the
       * rest of the mailbox.
       */
      const replanNow = async (): Promise<void> => {
        plannedVersion = (await store.mailbox(calendar))?.desiredVersion ?? plannedVersion;
        plannedVersions.set(calendar, plannedVersion);
        const desired = await store.desiredFor(calendar);
        desiredByKey = new Map(desired.map((row) => [row.key, row]));
        const busy = new Set([...inFlight].map((op) => op.key));
        deferred.clear();
        for (const op of inFlight) {
          const wanted = desiredByKey.get(op.key);
          const settles = op.kind === 'delete' ? wanted === undefined : wanted?.contentHash === op.contentHash;
          if (!settles) deferred.add(op.key);
        }
        const delivered = (await store.deliveredFor(calendar)).filter((row) => !busy.has(row.key));
        const result = plan({ instance: options.instance, calendar, desired: desired.filter((row) => !busy.has(row.key)), delivered, generations });
        const wanted = new Map(result.ops.map((op) => [identity(op), op]));
        for (const op of queued) {
          if (wanted.delete(identity(op))) continue;
          queued.delete(op);
          progress.total--;
        }
        const fresh = [...wanted.values()];
        for (const op of fresh) if (op.kind !== 'delete') contentOf.set(op, desiredByKey.get(op.key)!);
        await store.replacePendingOps(calendar, [...inFlight, ...queued, ...fresh]);
        options.log?.debug({ calendar, version: plannedVersion, ops: fresh.length, unchanged: result.unchanged, inFlight: inFlight.size }, 'planned');
        summary.unchanged = result.unchanged;
        progress.total += fresh.length;
        report();
        for (const op of fresh) queued.add(op);
        for (const group of chunked(fresh)) track(run(group, 1));
      };
      let replanning: Promise<void> | null = null;
      let replanAgain = false;
      const replan = (): Promise<void> => {
        if (replanning) {
          replanAgain = true;
          return replanning;
        }
        replanning = (async () => {
          do {
            replanAgain = false;
            await replanNow();
          } while (replanAgain && !stop);
        })().finally(() => {
          replanning = null;
        });
        return replanning;
      };

      await replan();
      running.set(calendar, () => track(replan()));
      try {
        for (;;) {
          while (tasks.size) await Promise.all([...tasks]);
          if (taskError) throw taskError;
          if (stop) break;
          const moved = ((await store.mailbox(calendar))?.desiredVersion ?? 0) > plannedVersion;
          if (!moved && !deferred.size && !tasks.size) break;
          if (!tasks.size) track(replan());
        }
      } finally {
        // From here (also after a failure, with the lease about to be released) a change goes through the queue
        // (MailboxQueue.changed), never into this finished delivery.
        running.delete(calendar);
      }
      if (stop) throw stop;
      // Complete only when every operation landed; otherwise the next run picks the mailbox up again.
      if (summary.failed === 0) await store.recordMailboxOk(calendar, plannedVersion);
    } catch (error) {
      const failure = describeError(error);
      summary.status = 'failed';
      summary.error = failure;
      // A run-wide failure is logged once, by the mailbox that met it first; the others it stopped only say so.
      const runWide = (error instanceof TargetError && error.scope === 'fatal') || error instanceof StoreError;
      if (runWide && fatal) options.log?.debug({ calendar, code: failure.code }, 'stopped by the failure logged before');
      else options.log?.error({ calendar, code: failure.code, remedy: failure.remedy, ...supportIds(error) }, failure.message);
      if (error instanceof TargetError && error.scope === 'fatal') {
        fatal ??= error;
        scheduler.abandonAll(error);
      } else if (error instanceof StoreError) {
        // The store cannot record what happens (disk full, locked, damaged): no mailbox can go on. Nothing is
        // recorded about this mailbox either; what was recorded so far was recorded whole (one transaction each).
        const stop = new TargetError('fatal', error.code, error.message, { remedy: error.remedy, cause: error });
        fatal ??= stop;
        scheduler.abandonAll(stop);
      } else if (error instanceof TargetError) {
        // 403/404 for the mailbox: stop sending to it, report why; the other mailboxes go on.
        scheduler.abandonMailbox(calendar, error);
        await store.recordMailboxFailure(calendar, failure.code, failure.message, failure.remedy);
      } else {
        await store.recordMailboxFailure(calendar, failure.code, failure.message, failure.remedy);
      }
    } finally {
      // A store that failed cannot release the lease either: it expires (a later run on this host takes it over).
      await store.releaseMailbox(calendar, workerId).catch((error: unknown) => {
        if (!(error instanceof StoreError && fatal)) throw error;
      });
    }
    return summary;
  }

  // Mailboxes with nothing to do cost one query here, not a plan each: a no-op resync stays a no-op.
  const needing = new Set(options.reinventory ? options.calendars : await store.calendarsNeedingDelivery(options.calendars));
  const counts = needing.size === options.calendars.length ? new Map<string, number>() : await store.desiredCounts();
  const byCalendar = new Map<string, MailboxSummary>();
  for (const calendar of options.calendars) {
    if (!needing.has(calendar)) {
      byCalendar.set(calendar, { calendar, status: 'ok', created: 0, updated: 0, deleted: 0, unchanged: counts.get(calendar) ?? 0, failed: 0, requests: 0, failures: [] });
    }
  }

  const queue = new MailboxQueue(options.calendars.filter((calendar) => needing.has(calendar)));
  const inScope = new Set(options.calendars);
  // Changes recorded while this delivery runs (by another calpush process, or the API) are picked up: a mailbox
  // not yet started starts at once (below), one being delivered is re-planned around its requests in flight, one
  // already delivered is delivered again. Urgent operations then go first in the scheduler.
  const runOne = async (calendar: string) => {
    const summary = await deliverMailbox(calendar);
    options.onMailboxDone?.(summary);
    const earlier = byCalendar.get(calendar);
    byCalendar.set(calendar, earlier ? mergeSummaries(earlier, summary) : summary);
    queue.finished(calendar);
  };
  // A changed mailbox that is not being delivered starts at once on a worker of its own instead of waiting for
  // one of the regular workers to finish a whole mailbox; its operations then go first in the scheduler when
  // they are urgent. Bounded, so a flood of changes falls back to the queue order.
  const MAX_EXTRA_WORKERS = 32;
  const extraWorkers = new Set<Promise<void>>();
  const changed = (calendar: string, desiredVersion: number) => {
    if (!inScope.has(calendar) || desiredVersion <= (plannedVersions.get(calendar) ?? -1)) return;
    const replanRunning = running.get(calendar);
    if (replanRunning) {
      replanRunning();
      return;
    }
    if (extraWorkers.size < MAX_EXTRA_WORKERS && queue.take(calendar)) {
      const worker: Promise<void> = runOne(calendar).finally(() => extraWorkers.delete(worker));
      extraWorkers.add(worker);
    } else {
      queue.changed(calendar);
    }
  };
  const watch = async () => {
    for (const { calendar, desiredVersion } of await store.changedMailboxes()) changed(calendar, desiredVersion);
  };
  // Told of changes (calpush serve's loop), or else asking the store every watchIntervalMs.
  const unsubscribe = options.changes?.((calendar) => {
    if (!inScope.has(calendar)) return;
    void store
      .mailbox(calendar)
      .then((row) => row && changed(calendar, row.desiredVersion))
      .catch(() => {});
  });
  const watcher = options.changes ? null : setInterval(() => void watch().catch(() => {}), options.watchIntervalMs ?? 250);
  try {
    const workers = Math.max(1, Math.min(options.parallelMailboxes ?? 256, needing.size || 1));
    do {
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (let calendar = await queue.next(); calendar !== undefined; calendar = await queue.next()) await runOne(calendar);
        }),
      );
      while (extraWorkers.size) await Promise.all([...extraWorkers]);
      // Leases are released by now; a change recorded meanwhile is either seen here or its own process could
      // claim the mailbox. Either way it is delivered.
      await watch();
    } while (queue.hasWaiting() && !fatal);
    // Mailboxes another process was delivering: wait for its lease, then deliver what is left (usually nothing:
    // the lease holder picks up changes recorded while it runs), so that "ok" means delivered.
    // Elapsed time (monotonic), not the clock: a fixed clock in a test must not make this wait forever.
    const waitUntil = performance.now() + (options.busyWaitMs ?? 0);
    for (;;) {
      const busy = [...byCalendar.values()].filter((s) => s.status === 'busy').map((s) => s.calendar);
      if (!busy.length || fatal || performance.now() >= waitUntil) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(250, waitUntil - performance.now())));
      const stillNeeding = new Set(await store.calendarsNeedingDelivery(busy));
      const delivered = busy.filter((calendar) => !stillNeeding.has(calendar));
      const desiredCounts = delivered.length ? await store.desiredCounts() : new Map<string, number>();
      for (const calendar of delivered) {
        byCalendar.set(calendar, { ...byCalendar.get(calendar)!, status: 'ok', unchanged: desiredCounts.get(calendar) ?? 0 });
      }
      await Promise.all(busy.filter((calendar) => stillNeeding.has(calendar)).map(runOne));
    }
  } finally {
    if (watcher) clearInterval(watcher);
    unsubscribe?.();
  }
  const summaries = [...byCalendar.values()];
  summaries.sort((a, b) => a.calendar.localeCompare(b.calendar));

  const totals = { created: 0, updated: 0, deleted: 0, unchanged: 0, failed: 0, requests: 0, failedMailboxes: 0 };
  for (const s of summaries) {
    totals.created += s.created;
    totals.updated += s.updated;
    totals.deleted += s.deleted;
    totals.unchanged += s.unchanged;
    totals.failed += s.failed;
    totals.requests += s.requests;
    if (s.status === 'failed') totals.failedMailboxes++;
  }
  // (Assigned in the workers' closures: TypeScript cannot see that it may be set here.)
  const stopped = fatal as TargetError | null;
  return { mailboxes: summaries, totals, ...(stopped ? { fatal: { ...describeError(stopped), ...(stopped.cause instanceof StoreError ? { source: 'store' as const } : {}) } } : {}) };
}
