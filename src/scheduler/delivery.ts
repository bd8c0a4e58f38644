// Delivery: brings each mailbox's calendar to its desired state.
//
// Per mailbox: claim it (lease), adopt what the target says we own when our record of it may be incomplete,
// plan, persist the plan as pending work, then run each operation through the scheduler and record its answer
// the moment it arrives. Every request goes through the scheduler; nothing here sends on its own.
import { hostname } from 'node:os';
import { describe, type CanonicalEvent } from '../model/event.ts';
import { plan, transactionIdFor } from '../planner/plan.ts';
import type { DeliveredRow, PendingOp, Store } from '../store/store.ts';
import { TargetError, type BatchOp, type BatchOutcome, type CalendarTarget, type ItemRef } from '../targets/target.ts';
import type { Scheduler, SubmitOptions } from './scheduler.ts';

/** What delivery needs of a scheduler: the Scheduler itself, or a view of a shared one (calpush serve). */
export type DeliveryScheduler = Pick<Scheduler, 'submit' | 'pause' | 'succeeded' | 'abandonMailbox' | 'abandonAll'>;

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
  fatal?: { code: string; message: string; remedy?: string };
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
  if (error instanceof TargetError) return { code: error.code, message: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) };
  return { code: 'InternalError', message: error instanceof Error ? error.message : String(error) };
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

  /** Claims the mailbox; a lease left by a dead calpush process on this host (killed mid-sync) is taken over. */
  async function claim(calendar: string): Promise<boolean> {
    if (await store.claimMailbox(calendar, workerId, leaseMs)) return true;
    const holder = await store.leaseHolder(calendar);
    if (holder && isDeadLocalProcess(holder)) return store.takeOverMailbox(calendar, holder, workerId, leaseMs);
    return false;
  }

  async function deliverMailbox(calendar: string): Promise<MailboxSummary> {
    const summary: MailboxSummary = { calendar, status: 'ok', created: 0, updated: 0, deleted: 0, unchanged: 0, failed: 0, requests: 0, failures: [] };
    const request = <T>(work: () => Promise<T>, submit: SubmitOptions): Promise<T> =>
      scheduler.submit(
        calendar,
        () => {
          summary.requests++;
          return work();
        },
        submit,
      );

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
          const page = await request(() => target.listOwned(calendar, cursor), { priority: Number.MIN_SAFE_INTEGER });
          for (const item of page.items) owned.push({ calendar, ...item });
          cursor = page.next;
        } while (cursor);
        await store.recordInventory(calendar, owned);
        options.log?.info({ calendar, owned: owned.length, reason: options.reinventory ? 'requested' : outcomeUnknown ? 'outcome of a create unknown' : 'no record of this mailbox' }, 'listed our tagged events');
      }

      const desired = await store.desiredFor(calendar);
      const desiredByKey = new Map(desired.map((row) => [row.key, row]));
      const generations = await store.generations(calendar);
      const result = plan({ instance: options.instance, calendar, desired, delivered: await store.deliveredFor(calendar), generations });
      await store.replacePendingOps(calendar, result.ops);
      options.log?.debug({ calendar, version: desiredVersion, ops: result.ops.length, unchanged: result.unchanged }, 'planned');
      summary.unchanged = result.unchanged;
      progress.total += result.ops.length;
      report();

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
        options.log?.warn({ calendar, id: desiredByKey.get(op.key)?.sourceId, operation: op.kind, code: failure.code }, failure.message);
        summary.failed++;
        summary.failures.push({ id: desiredByKey.get(op.key)?.sourceId ?? op.key, operation: op.kind, code: failure.code, message: failure.message });
        await store.recordOpFailure(calendar, op.key, `${failure.code}: ${failure.message}`);
        progress.done++;
        report();
      };
      const desiredOf = (op: PendingOp) => describe(desiredByKey.get(op.key)!.event as CanonicalEvent);
      const toBatchOp = (op: PendingOp): BatchOp =>
        op.kind === 'create'
          ? { kind: 'create', desired: desiredOf(op), transactionId: op.transactionId! }
          : op.kind === 'update'
            ? { kind: 'update', desired: desiredOf(op), item: { itemId: op.itemId!, changeKey: null } }
            : { kind: 'delete', calendar, item: { itemId: op.itemId!, changeKey: null } };
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
                : { calendar, key: op.key, itemId: item!.itemId, changeKey: item!.changeKey, transactionId: op.kind === 'create' ? op.transactionId : null, contentHash: op.contentHash! },
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
        const created: PendingOp = { ...op, kind: 'create', itemId: null, transactionId: transactionIdFor(options.instance, calendar, op.key, op.contentHash!, generation) };
        await store.replacePendingOps(calendar, [...(await store.pendingOps(calendar)).filter((p) => p.key !== op.key || p.kind === 'delete'), created]);
        return created;
      };

      /** Sends a group of operations (one request: a batch, or a single call) and turns every answer into an outcome. */
      const send = async (group: PendingOp[]): Promise<BatchOutcome[]> => {
        const creates = group.filter((op) => op.kind === 'create').map((op) => op.key);
        if (creates.length) await store.markOpAttempts(calendar, creates);
        const priority = Math.min(...group.map((op) => op.startsAtMs ?? Number.MAX_SAFE_INTEGER));
        try {
          if (group.length === 1 || !batch) {
            const item = await request(() => sendOne(toBatchOp(group[0]!)), { priority });
            return [{ ok: true, ...(item ? { item } : {}) }];
          }
          const slots = batch.mode === 'parallel' ? Math.min(batch.parallelism, group.length) : 1;
          return await request(() => batch.run(calendar, group.map(toBatchOp)), { priority, cost: group.length, slots });
        } catch (error) {
          const failure = error instanceof TargetError ? error : new TargetError('item', 'InternalError', error instanceof Error ? error.message : String(error));
          return group.map(() => ({ ok: false, error: failure }));
        }
      };

      const chunked = (ops: PendingOp[]) => {
        const size = batch ? batch.maxOps : 1;
        const groups: PendingOp[][] = [];
        for (let i = 0; i < ops.length; i += size) groups.push(ops.slice(i, i + size));
        return groups;
      };

      const run = async (group: PendingOp[], attempt: number): Promise<void> => {
        const outcomes = await send(group);
        const retry: PendingOp[] = [];
        let pauseMs = 0;
        let throttled = false;
        const answered: Array<{ op: PendingOp; item: ItemRef | undefined }> = [];
        for (const [index, op] of group.entries()) {
          const outcome = outcomes[index]!;
          if (outcome.ok) {
            if (group.length > 1) scheduler.succeeded(calendar);
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
          if (error.scope === 'transient' && group.length > 1 && attempt < maxAttempts) {
            retry.push(op);
            if (error.status === 429) throttled = true;
            pauseMs = Math.max(pauseMs, error.retryAfterMs ?? 0);
            continue;
          }
          await fail(op, error);
        }
        await record(answered);
        if (!retry.length || stop) return;
        if (pauseMs > 0 || throttled) {
          options.log?.warn({ calendar, retry: retry.length, pauseMs: pauseMs || 1000, throttled }, 'batch items throttled or failed: sending them again after Retry-After');
          scheduler.pause(calendar, pauseMs || 1000, throttled);
        }
        await Promise.all(chunked(retry).map((next) => run(next, attempt + 1)));
      };

      const ordered = [...result.ops].sort((a, b) => (a.startsAtMs ?? Number.MAX_SAFE_INTEGER) - (b.startsAtMs ?? Number.MAX_SAFE_INTEGER));
      await Promise.all(chunked(ordered).map((group) => run(group, 1)));
      if (stop) throw stop;
      // Complete only when every operation landed; otherwise the next run picks the mailbox up again.
      if (summary.failed === 0) await store.recordMailboxOk(calendar, desiredVersion);
    } catch (error) {
      const failure = describeError(error);
      summary.status = 'failed';
      summary.error = failure;
      options.log?.error({ calendar, code: failure.code, remedy: failure.remedy }, failure.message);
      if (error instanceof TargetError && error.scope === 'fatal') {
        fatal ??= error;
        scheduler.abandonAll(error);
      } else if (error instanceof TargetError) {
        // 403/404 for the mailbox: stop sending to it, report why; the other mailboxes go on.
        scheduler.abandonMailbox(calendar, error);
        await store.recordMailboxFailure(calendar, failure.code, failure.message);
      } else {
        await store.recordMailboxFailure(calendar, failure.code, failure.message);
      }
    } finally {
      await store.releaseMailbox(calendar, workerId);
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
  // not yet started moves to the front, one being delivered is planned again when it finishes, one already
  // delivered is delivered again. Urgent operations then go first in the scheduler.
  const runOne = async (calendar: string) => {
    const summary = await deliverMailbox(calendar);
    const earlier = byCalendar.get(calendar);
    byCalendar.set(calendar, earlier ? mergeSummaries(earlier, summary) : summary);
    queue.finished(calendar);
  };
  // A changed mailbox that is not being delivered starts at once on a worker of its own instead of waiting for
  // one of the regular workers to finish a whole mailbox; its operations then go first in the scheduler when
  // they are urgent. Bounded, so a flood of changes falls back to the queue order.
  const MAX_EXTRA_WORKERS = 32;
  const extraWorkers = new Set<Promise<void>>();
  const watch = async () => {
    for (const { calendar, desiredVersion } of await store.changedMailboxes()) {
      if (!inScope.has(calendar) || desiredVersion <= (plannedVersions.get(calendar) ?? -1)) continue;
      if (extraWorkers.size < MAX_EXTRA_WORKERS && queue.take(calendar)) {
        const worker: Promise<void> = runOne(calendar).finally(() => extraWorkers.delete(worker));
        extraWorkers.add(worker);
      } else {
        queue.changed(calendar);
      }
    }
  };
  const watcher = setInterval(() => void watch().catch(() => {}), options.watchIntervalMs ?? 250);
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
  } finally {
    clearInterval(watcher);
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
  return { mailboxes: summaries, totals, ...(fatal ? { fatal: describeError(fatal) } : {}) };
}
