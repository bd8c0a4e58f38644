// Planning a mailbox again while it is being delivered (the source changed it meanwhile): which queued operations
// stay, which are superseded, which are new. Pure; the engine reads the rows and acts on the answer.
//
// Keys with a request out are left alone: their answer is not in yet, so what is delivered for them is unknown. So
// are keys whose create is queued to be sent again after an answer that did not say whether it ran (a 5xx, a lost
// answer): that queued create keeps its place, since a new one would carry another transactionId and could land next
// to the first (a duplicate no listing finds). The key is planned again once the resend is answered.
// A queued operation the new plan still wants keeps its place (and its request); one it no longer wants is
// superseded: its request skips it when its turn comes. So a change reaches the calendar within about one request's
// time, never after the rest of the mailbox, and superseded work is never sent.
import type { DeliveredRow, DesiredRow, PendingOp } from '../model/rows.ts';
import { plan } from './plan.ts';

/** Two operations with the same identity do the same thing: a re-plan keeps the queued one. */
export function opIdentity(op: PendingOp): string {
  return `${op.kind}\n${op.key}\n${op.itemId ?? ''}\n${op.contentHash ?? ''}`;
}

/**
 * The keys with a request out (`busy`), and those of them whose request no longer brings the calendar to the
 * desired state (`deferred`: the source changed them while the request was out), to be planned again once answered.
 */
export function keysInFlight(inFlight: Iterable<PendingOp>, desiredByKey: ReadonlyMap<string, Pick<DesiredRow, 'contentHash'>>): { busy: Set<string>; deferred: Set<string> } {
  const busy = new Set<string>();
  const deferred = new Set<string>();
  for (const op of inFlight) {
    busy.add(op.key);
    const wanted = desiredByKey.get(op.key);
    const settles = op.kind === 'delete' ? wanted === undefined : wanted?.contentHash === op.contentHash;
    if (!settles) deferred.add(op.key);
  }
  return { busy, deferred };
}

export interface ReplanInput {
  instance: string;
  calendar: string;
  desired: ReadonlyArray<Omit<DesiredRow, 'event'>>;
  delivered: readonly DeliveredRow[];
  generations: Map<string, number>;
  /** Keys with a request out (keysInFlight): left out of this plan, their queued operations (a resend) kept. */
  busy: ReadonlySet<string>;
  /** Operations planned before and still waiting for their request. */
  queued: Iterable<PendingOp>;
}

export interface Replan {
  /** Queued operations the new plan no longer wants. */
  superseded: PendingOp[];
  /** Operations the new plan wants that are not queued yet. */
  fresh: PendingOp[];
  /** Desired events already delivered with the same content. */
  unchanged: number;
}

export function replan(input: ReplanInput): Replan {
  const idle = <T extends { key: string }>(row: T) => !input.busy.has(row.key);
  const result = plan({ instance: input.instance, calendar: input.calendar, desired: input.desired.filter(idle), delivered: input.delivered.filter(idle), generations: input.generations });
  const wanted = new Map(result.ops.map((op) => [opIdentity(op), op]));
  const superseded: PendingOp[] = [];
  for (const op of input.queued) if (!input.busy.has(op.key) && !wanted.delete(opIdentity(op))) superseded.push(op);
  return { superseded, fresh: [...wanted.values()], unchanged: result.unchanged };
}
