// An update found its item gone (someone deleted our event in Outlook) while the source still wants the event: it
// is created anew. Pure; the engine forgets the gone item in the store and sends the create.
import type { PendingOp } from '../model/rows.ts';
import { transactionIdFor } from './plan.ts';

export interface Recreated {
  /** The create that replaces the update. */
  created: PendingOp;
  /** The mailbox's pending operations with it: the key's create/update replaced, its deletes of other copies kept. */
  pending: PendingOp[];
}

/**
 * The create under the key's next `generation` (its deletions so far, plus this one): a new transactionId, so the
 * new create cannot be mistaken for the one that made the gone item (https://learn.microsoft.com/graph/api/resources/event,
 * transactionId).
 */
export function recreate(op: PendingOp, input: { instance: string; generation: number; pending: readonly PendingOp[] }): Recreated {
  const transactionId = transactionIdFor(input.instance, op.calendar, op.key, op.contentHash!, input.generation);
  const created: PendingOp = { ...op, kind: 'create', itemId: null, changeKey: null, transactionId };
  return { created, pending: [...input.pending.filter((p) => p.key !== op.key || p.kind === 'delete'), created] };
}
