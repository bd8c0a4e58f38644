// Sending a mailbox's planned operations and recording their answers. Each group of operations is one request
// through the scheduler (a batch, or a single call); each answer is recorded the moment it arrives.
import type { CanonicalEvent, DesiredEvent } from '../model/event.ts';
import type { PendingOp } from '../model/rows.ts';
import { batchShape, requestPriority } from '../planner/requests.ts';
import { recreate } from '../planner/recreate.ts';
import { StoreError } from '../store/errors.ts';
import { LeaseLost } from '../store/store.ts';
import { TargetError, type BatchOp, type BatchOutcome, type ItemRef } from '../targets/target.ts';
import { createLandsWithinMs, nothingCanLand } from './in-flight.ts';
import type { MailboxWork } from './mailbox-work.ts';
import { outcomeAction } from './outcomes.ts';

type Answered = { op: PendingOp; item: ItemRef | undefined };

/**
 * Sends one group (attempt 1, or a retry of batch items) and acts on each operation's answer. Items that come back
 * throttled or not run are sent again in a request of their own: the scheduler has paused the lanes their answers
 * named (SubmitOptions.answers), so they go when it says.
 */
export async function sendGroup(work: MailboxWork, group: PendingOp[], attempt: number): Promise<void> {
  const { log } = work.run.options;
  const outcomes = await request(work, group);
  const answered: Answered[] = [];
  const retry: PendingOp[] = [];
  const codes = new Set<string>();
  for (const [op, outcome] of outcomes) {
    const action = outcomeAction(op, outcome, { requestSize: outcomes.length, attempt, maxAttempts: work.run.maxAttempts });
    if (action.kind === 'answered') answered.push({ op, item: action.item });
    else if (action.kind === 'halt') await haltOn(work, op, action.error);
    else if (action.kind === 'recreate') retry.push(await recreateGone(work, op));
    else if (action.kind === 'retry') {
      retry.push(op);
      codes.add(action.error.code);
    } else await work.fail(op, action.error);
  }
  await record(work, answered);
  for (const { op } of answered) work.contentOf.delete(op);
  for (const [op] of outcomes) {
    work.inFlight.delete(op);
    // A create sent again may have landed already: its key stays busy until it is answered (MailboxWork.resending).
    if (op.kind === 'create' && retry.includes(op)) work.resending.add(op);
    else work.resending.delete(op);
  }
  for (const op of retry) work.queued.add(op);
  // The source changed this mailbox while the request was out, or a key left alone for it is answered now.
  if (!work.stop && (outcomes.some(([op]) => work.deferred.has(op.key)) || (await work.desiredVersion()) > work.plannedVersion)) {
    work.track(work.replan());
  }
  if (!retry.length || work.stop) return;
  if (codes.size) log?.warn({ calendar: work.calendar, retry: retry.length, codes: [...codes] }, 'batch items throttled or failed: sending them again when the scheduler allows');
  await Promise.all(work.groups(retry).map((next) => sendGroup(work, next, attempt + 1)));
}

/**
 * One request for a group of operations through the scheduler. The operations still planned when its turn comes
 * are sent (the rest were superseded by a re-plan) and come back with an outcome each.
 */
async function request(work: MailboxWork, group: PendingOp[]): Promise<Array<[PendingOp, BatchOutcome]>> {
  const { store } = work.run.options;
  const { target, scheduler } = work;
  const batch = target.batch;
  let taken: PendingOp[] | null = null;
  const take = (): PendingOp[] => {
    if (taken) return taken;
    taken = group.filter((op) => work.queued.delete(op));
    for (const op of taken) work.inFlight.add(op);
    return taken;
  };
  const mode = batchShape({ mode: batch?.mode, parallelism: batch?.parallelism ?? 1, activeMailboxes: scheduler.activeMailboxes(), globalConcurrency: scheduler.globalConcurrency });
  const slots = mode === 'parallel' ? Math.min(batch!.parallelism, group.length) : 1;
  const send = async (): Promise<BatchOutcome[]> => {
    const ops = take();
    if (!ops.length) return [];
    // Charged for the workers that may hold this mailbox next (Outlook's budget is per app); a store may write the
    // charge with its next write (SQLite: sqlite-ledger.ts), which for a request with creates is the mark below.
    await store.chargeRequests?.(work.calendar, work.run.ledgerId, ops.length);
    const creates = ops.filter((op) => op.kind === 'create').map((op) => op.key);
    // Marked before the request leaves (each time: the scheduler's retries too): a crash from here on means "outcome
    // unknown" (list before re-planning), and the next holder lists only once this can have landed (in-flight.ts).
    if (creates.length) await store.markOpAttempts(work.calendar, creates, work.lease, createLandsWithinMs(target));
    work.summary.requests++;
    if (ops.length === 1 || !batch) {
      const item = await sendOne(work, toBatchOp(work, ops[0]!));
      return [{ ok: true, ...(item ? { item } : {}) }];
    }
    return batch.run(work.calendar, ops.map((op) => toBatchOp(work, op)), mode);
  };
  try {
    const outcomes = await scheduler.submit(work.calendar, send, {
      priority: requestPriority(group),
      cost: group.length,
      slots,
      lane: target.laneFor?.(work.calendar) ?? null,
      // A batch's items answer one by one: the scheduler counts their successes and honours their throttling.
      answers: (outcomes) => (outcomes.length > 1 ? outcomes.map((outcome) => (outcome.ok ? null : outcome.error)) : []),
    });
    return take().map((op, index) => [op, outcomes[index]!]);
  } catch (error) {
    // The store failing (disk full…) stops the run, a lost lease the mailbox: neither is a failure of these operations.
    if (error instanceof StoreError || error instanceof LeaseLost) throw error;
    const failure = error instanceof TargetError ? error : new TargetError('item', 'InternalError', error instanceof Error ? error.message : String(error));
    return take().map((op) => [op, { ok: false, error: failure }]);
  }
}

/**
 * The mailbox (or the run) stops on this answer. A create it refused or never sent cannot land later: it is recorded
 * so, that the mailbox's next delivery need not wait for it (in-flight.ts) — a revoked consent, a lost mailbox.
 */
async function haltOn(work: MailboxWork, op: PendingOp, error: TargetError): Promise<void> {
  work.halt(error);
  if (op.kind === 'create' && nothingCanLand(error)) await work.run.options.store.recordOpFailure(work.calendar, op.key, `${error.code}: ${error.message}`, work.lease, true);
}

/**
 * What the target is asked to do for a planned operation, with the content it was planned from. Its key, content
 * hash and start are the operation's, as planned from the desired row (validateEvent derived them from this very
 * event): not derived again per request (two SHA-256 and a time-zone conversion per event).
 */
function toBatchOp(work: MailboxWork, op: PendingOp): BatchOp {
  const desiredOf = (op: PendingOp): DesiredEvent => {
    const content = work.contentOf.get(op)!;
    return { event: JSON.parse(content.eventJson) as CanonicalEvent, key: op.key, contentHash: op.contentHash!, startsAtMs: content.startsAtMs };
  };
  return op.kind === 'create'
    ? { kind: 'create', desired: desiredOf(op), transactionId: op.transactionId! }
    : op.kind === 'update'
      ? { kind: 'update', desired: desiredOf(op), item: { itemId: op.itemId!, changeKey: op.changeKey ?? null } }
      : { kind: 'delete', calendar: work.calendar, item: { itemId: op.itemId!, changeKey: op.changeKey ?? null } };
}

function sendOne(work: MailboxWork, op: BatchOp): Promise<ItemRef | undefined> {
  const { target } = work;
  return op.kind === 'create'
    ? target.create(op.desired, op.transactionId)
    : op.kind === 'update'
      ? target.update(op.desired, op.item)
      : target.remove(work.calendar, op.item).then(() => undefined);
}

/** Records the answers of one request (a batch's successes together, in one store transaction). */
async function record(work: MailboxWork, answered: Answered[]): Promise<void> {
  if (!answered.length) return;
  await work.run.options.store.completeOps(
    answered.map(({ op, item }) => ({
      op,
      delivered:
        op.kind === 'delete'
          ? null
          : {
              calendar: work.calendar,
              key: op.key,
              itemId: item!.itemId,
              changeKey: item!.changeKey,
              transactionId: op.kind === 'create' ? op.transactionId : null,
              contentHash: op.contentHash!,
              startsAtMs: work.contentOf.get(op)?.startsAtMs ?? null,
            },
    })),
    work.lease,
  );
  for (const { op } of answered) {
    if (op.kind === 'create') work.summary.created++;
    else if (op.kind === 'update') work.summary.updated++;
    else work.summary.deleted++;
  }
  work.run.progress.done += answered.length;
  work.run.report();
}

/** Someone deleted our item in Outlook; the source still wants the event, so it is created anew (planner/recreate.ts). */
async function recreateGone(work: MailboxWork, op: PendingOp): Promise<PendingOp> {
  const { store, instance } = work.run.options;
  await store.forgetDelivered(work.calendar, op.key, op.itemId!, work.lease);
  const generation = (work.generations.get(op.key) ?? 0) + 1;
  work.generations.set(op.key, generation);
  const { created, pending } = recreate(op, { instance, generation, pending: await store.pendingOps(work.calendar) });
  work.contentOf.set(created, work.contentOf.get(op)!);
  work.contentOf.delete(op);
  await store.replacePendingOps(work.calendar, pending, work.lease);
  return created;
}
