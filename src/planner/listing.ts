// Whether a mailbox's tagged items are listed before it is planned. One rule for a delivery (engine/mailbox.ts) and
// a dry run (engine/dry-run.ts), so a dry run lists exactly where a real run would.
import type { PendingOp } from '../model/rows.ts';

/** Why a mailbox is listed first: the words delivery logs. */
export type ListingReason = 'requested' | 'outcome of a create unknown' | 'no record of this mailbox';

export interface ListingInput {
  /** `--reinventory`: list every mailbox again. */
  reinventory: boolean;
  /** When the mailbox was last listed (MailboxRow.inventoriedAt); null or absent: never, or the store was rebuilt. */
  inventoriedAt: string | null | undefined;
  /** The mailbox's pending operations; not asked when the listing is requested anyway. */
  pending: () => Iterable<PendingOp>;
}

/**
 * The reason to list the mailbox before planning it, or null when the store's record of what was delivered is
 * complete. A create that was sent but whose answer was never recorded (a crash, a lost answer) counts: only a
 * listing shows whether it landed, so nothing is created twice even after the transactionId window has passed.
 */
export function listingReason(input: ListingInput): ListingReason | null {
  if (input.reinventory) return 'requested';
  for (const op of input.pending()) if (op.kind === 'create' && op.attempts > 0) return 'outcome of a create unknown';
  return input.inventoriedAt ? null : 'no record of this mailbox';
}
