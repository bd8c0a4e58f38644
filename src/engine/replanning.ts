// Planning a mailbox (again) while it is delivered: the store's current desired state against what is delivered,
// around the requests in flight and the creates waiting to be sent again (planner/replan.ts decides; this reads the
// rows and acts on the answer).
import { applyDrift } from '../planner/drift.ts';
import { keysInFlight, replan } from '../planner/replan.ts';
import type { MailboxWork } from './mailbox-work.ts';

/**
 * Plans the mailbox against the store's current desired state, leaving alone keys with a request out or a create
 * whose outcome is unknown waiting to be sent again (MailboxWork.resending). An operation
 * already queued and still wanted keeps its place; one no longer wanted is superseded; new ones are queued now (an
 * urgent one goes before the far-future work already queued: the scheduler orders by start). So a change to a
 * mailbox being delivered is sent within about one request's time, not after the rest of the mailbox.
 */
export async function replanMailbox(work: MailboxWork): Promise<void> {
  const { store, instance, log } = work.run.options;
  const { calendar, run } = work;
  work.plannedVersion = (await store.mailbox(calendar))?.desiredVersion ?? work.plannedVersion;
  run.plannedVersions.set(calendar, work.plannedVersion);
  // The events as the store keeps them, JSON, not parsed: only the fresh operations keep theirs (contentOf), and a
  // request parses it when it is sent.
  const desired = await store.desiredJsonFor(calendar);
  work.desiredByKey = new Map(desired.map(({ eventJson: _eventJson, ...row }) => [row.key, row]));
  // Taken before the delivered rows are read: an answer is recorded before its operation leaves inFlight, so every
  // key not left alone here has its answer in the rows read below.
  const { busy, deferred } = keysInFlight([...work.inFlight, ...work.resending], work.desiredByKey);
  work.deferred = deferred;
  // What people did to our events (docs/drift.md): detached and respected events are left out, edits to restore are stale.
  const drifted = applyDrift(desired, await store.deliveredFor(calendar), (await store.driftFor?.(calendar)) ?? []);
  const result = replan({ instance, calendar, desired: drifted.desired, delivered: drifted.delivered, generations: work.generations, busy, queued: work.queued });
  for (const op of result.superseded) {
    work.queued.delete(op);
    work.contentOf.delete(op);
    run.progress.total--;
  }
  const { fresh } = result;
  const eventOf = new Map(desired.map((row) => [row.key, row]));
  for (const op of fresh) {
    const row = op.kind === 'delete' ? undefined : eventOf.get(op.key);
    if (row) work.contentOf.set(op, { eventJson: row.eventJson, startsAtMs: row.startsAtMs });
  }
  await store.replacePendingOps(calendar, [...work.inFlight, ...work.queued, ...fresh], work.lease);
  log?.debug({ calendar, version: work.plannedVersion, ops: fresh.length, unchanged: result.unchanged, inFlight: work.inFlight.size }, 'planned');
  work.summary.unchanged = result.unchanged;
  run.progress.total += fresh.length;
  run.report();
  for (const op of fresh) work.queued.add(op);
  work.send(fresh);
}
