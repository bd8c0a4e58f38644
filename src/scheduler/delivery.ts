// Delivery: brings each mailbox's calendar to its desired state.
//
// Per mailbox: claim it (lease), adopt what the target says we own when our record of it may be incomplete,
// plan, persist the plan as pending work, then run each operation through the scheduler and record its answer
// the moment it arrives. Every request goes through the scheduler; nothing here sends on its own.
import { hostname } from 'node:os';
import { describe, type CanonicalEvent } from '../model/event.ts';
import { plan, transactionIdFor } from '../planner/plan.ts';
import type { DeliveredRow, DesiredRow, PendingOp, Store } from '../store/store.ts';
import { TargetError, type CalendarTarget } from '../targets/target.ts';
import type { Scheduler } from './scheduler.ts';

export interface DeliveryOptions {
  store: Store;
  target: CalendarTarget;
  scheduler: Scheduler;
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

  /** Claims the mailbox; a lease left by a dead calpush process on this host (killed mid-sync) is taken over. */
  async function claim(calendar: string): Promise<boolean> {
    if (await store.claimMailbox(calendar, workerId, leaseMs)) return true;
    const holder = await store.leaseHolder(calendar);
    if (holder && isDeadLocalProcess(holder)) return store.takeOverMailbox(calendar, holder, workerId, leaseMs);
    return false;
  }

  async function deliverMailbox(calendar: string): Promise<MailboxSummary> {
    const summary: MailboxSummary = { calendar, status: 'ok', created: 0, updated: 0, deleted: 0, unchanged: 0, failed: 0, requests: 0, failures: [] };
    const request = <T>(work: () => Promise<T>, priority: number): Promise<T> =>
      scheduler.submit(
        calendar,
        () => {
          summary.requests++;
          return work();
        },
        priority,
      );

    if (!(await claim(calendar))) {
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
      if (options.reinventory || outcomeUnknown || !mailbox?.inventoriedAt) {
        const owned: DeliveredRow[] = [];
        let cursor: string | undefined;
        do {
          const page = await request(() => target.listOwned(calendar, cursor), Number.MIN_SAFE_INTEGER);
          for (const item of page.items) owned.push({ calendar, ...item });
          cursor = page.next;
        } while (cursor);
        await store.recordInventory(calendar, owned);
      }

      const desired = await store.desiredFor(calendar);
      const desiredByKey = new Map(desired.map((row) => [row.key, row]));
      const generations = await store.generations(calendar);
      const result = plan({ instance: options.instance, calendar, desired, delivered: await store.deliveredFor(calendar), generations });
      await store.replacePendingOps(calendar, result.ops);
      summary.unchanged = result.unchanged;
      progress.total += result.ops.length;
      report();

      let stop: TargetError | null = null;
      const runOp = async (op: PendingOp) => {
        try {
          await execute(op, desiredByKey.get(op.key), generations);
        } catch (error) {
          if (error instanceof TargetError && (error.scope === 'mailbox' || error.scope === 'fatal')) {
            // Stop the mailbox at once (queued requests are dropped); report after in-flight ones have settled.
            if (!stop) {
              stop = error;
              if (error.scope === 'fatal') scheduler.abandonAll(error);
              else scheduler.abandonMailbox(calendar, error);
            }
            return;
          }
          const failure = describeError(error);
          summary.failed++;
          summary.failures.push({ id: desiredByKey.get(op.key)?.sourceId ?? op.key, operation: op.kind, code: failure.code, message: failure.message });
          await store.recordOpFailure(calendar, op.key, `${failure.code}: ${failure.message}`);
        } finally {
          progress.done++;
          report();
        }
      };

      const execute = async (op: PendingOp, row: DesiredRow | undefined, gens: Map<string, number>) => {
        const priority = op.startsAtMs ?? Number.MAX_SAFE_INTEGER;
        if (op.kind === 'delete') {
          await request(() => target.remove(calendar, { itemId: op.itemId!, changeKey: null }), priority);
          await store.completeDelete(op);
          summary.deleted++;
          return;
        }
        const desiredEvent = describe(row!.event as CanonicalEvent);
        if (op.kind === 'update') {
          try {
            const ref = await request(() => target.update(desiredEvent, { itemId: op.itemId!, changeKey: null }), priority);
            await store.completeUpdate(op, { calendar, key: op.key, itemId: ref.itemId, changeKey: ref.changeKey, transactionId: null, contentHash: desiredEvent.contentHash });
            summary.updated++;
            return;
          } catch (error) {
            if (!(error instanceof TargetError) || error.scope !== 'gone') throw error;
            // Someone deleted our item in Outlook; the source still wants the event, so it is created anew.
            await store.forgetDelivered(calendar, op.key, op.itemId!);
            const generation = (gens.get(op.key) ?? 0) + 1;
            gens.set(op.key, generation);
            const recreate: PendingOp = { ...op, kind: 'create', itemId: null, transactionId: transactionIdFor(options.instance, calendar, op.key, desiredEvent.contentHash, generation) };
            await store.replacePendingOps(calendar, [...(await store.pendingOps(calendar)).filter((p) => p.key !== op.key), recreate]);
            return execute(recreate, row, gens);
          }
        }
        await store.markOpAttempt(calendar, op.key);
        const ref = await request(() => target.create(desiredEvent, op.transactionId!), priority);
        await store.completeCreate(op, { calendar, key: op.key, itemId: ref.itemId, changeKey: ref.changeKey, transactionId: op.transactionId, contentHash: desiredEvent.contentHash });
        summary.created++;
      };

      await Promise.all(result.ops.map(runOp));
      if (stop) throw stop;
      // Complete only when every operation landed; otherwise the next run picks the mailbox up again.
      if (summary.failed === 0) await store.recordMailboxOk(calendar, desiredVersion);
    } catch (error) {
      const failure = describeError(error);
      summary.status = 'failed';
      summary.error = failure;
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
  const summaries: MailboxSummary[] = [];
  for (const calendar of options.calendars) {
    if (!needing.has(calendar)) {
      summaries.push({ calendar, status: 'ok', created: 0, updated: 0, deleted: 0, unchanged: counts.get(calendar) ?? 0, failed: 0, requests: 0, failures: [] });
    }
  }
  const queue = options.calendars.filter((calendar) => needing.has(calendar));
  const lanes = Math.max(1, Math.min(options.parallelMailboxes ?? 256, queue.length));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let calendar = queue.shift(); calendar !== undefined; calendar = queue.shift()) {
        summaries.push(await deliverMailbox(calendar));
      }
    }),
  );
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
