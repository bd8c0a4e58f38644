// The planner: a pure function from (desired, delivered) to the operations that make a calendar match.
//
// It only ever sees items that carry our tag (delivered rows come from our own creates or from a listing
// filtered on our tag), so every update or delete it plans is on an item calpush created. Updates and deletes carry
// the item's ChangeKey / ETag as delivered, so the target can send it (a stale one is re-read there). No I/O here.
import { hash } from 'node:crypto';
import type { DeliveredRow, DesiredRow, PendingOp } from '../model/rows.ts';

export interface PlanInput {
  instance: string;
  calendar: string;
  /** The desired rows; their events are not needed (the content hash stands for the content). */
  desired: Array<Omit<DesiredRow, 'event'>>;
  delivered: DeliveredRow[];
  /** Deletions so far per key: part of the transactionId, so a re-created event is not mistaken for its predecessor. */
  generations: Map<string, number>;
}

export interface Plan {
  ops: PendingOp[];
  /** Desired events already delivered with the same content. */
  unchanged: number;
}

/**
 * Graph's transactionId: deterministic, so that a retried create (after a timeout, a crash, a lost answer) is
 * recognised by Graph as the same create (https://learn.microsoft.com/graph/api/resources/event, transactionId).
 * It covers the content because Graph refuses the same transactionId for a different event (ErrorDuplicateTransactionId).
 */
export function transactionIdFor(instance: string, calendar: string, key: string, contentHash: string, generation: number): string {
  const hex = hash('sha256', `${instance}\n${calendar}\n${key}\n${contentHash}\n${generation}`);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function plan(input: PlanInput): Plan {
  const ops: PendingOp[] = [];
  let unchanged = 0;
  const deliveredByKey = new Map<string, DeliveredRow[]>();
  for (const item of input.delivered) {
    const list = deliveredByKey.get(item.key);
    if (list) list.push(item);
    else deliveredByKey.set(item.key, [item]);
  }

  const base = { calendar: input.calendar, attempts: 0, lastError: null };
  for (const desired of input.desired) {
    const items = deliveredByKey.get(desired.key) ?? [];
    deliveredByKey.delete(desired.key);
    // Keep the item that already has the right content, else the first by id (deterministic); any further
    // item with the same key is a duplicate (e.g. copied in Outlook with our tag) and goes.
    const keeper = items.find((item) => item.contentHash === desired.contentHash) ?? items[0];
    for (const extra of items) {
      if (extra !== keeper) ops.push({ ...base, key: desired.key, kind: 'delete', itemId: extra.itemId, changeKey: extra.changeKey, contentHash: null, transactionId: null, startsAtMs: desired.startsAtMs });
    }
    if (!keeper) {
      const generation = input.generations.get(desired.key) ?? 0;
      ops.push({
        ...base,
        key: desired.key,
        kind: 'create',
        itemId: null,
        contentHash: desired.contentHash,
        transactionId: transactionIdFor(input.instance, input.calendar, desired.key, desired.contentHash, generation),
        startsAtMs: desired.startsAtMs,
      });
    } else if (keeper.contentHash !== desired.contentHash) {
      // A move is as urgent as the sooner of its two times: tomorrow's lecture moved to next month must leave
      // tomorrow's calendar as soon as one moved into tomorrow must appear there.
      const startsAtMs = Math.min(desired.startsAtMs, keeper.startsAtMs ?? desired.startsAtMs);
      ops.push({ ...base, key: desired.key, kind: 'update', itemId: keeper.itemId, changeKey: keeper.changeKey, contentHash: desired.contentHash, transactionId: null, startsAtMs });
    } else {
      unchanged++;
    }
  }
  // Whatever is left is ours and no longer desired. A cancellation is as urgent as the event it removes (its start
  // is known when we delivered it; an item found by a listing has none and goes with the far-future work).
  for (const [key, items] of deliveredByKey) {
    for (const item of items) {
      ops.push({ ...base, key, kind: 'delete', itemId: item.itemId, changeKey: item.changeKey, contentHash: null, transactionId: null, startsAtMs: item.startsAtMs ?? null });
    }
  }
  return { ops, unchanged };
}
